"""NovoGrad: hand-derived first two steps, per-leaf norms, float16 zero gradients."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests.transforms._f16 import assert_finite_zero_where_optax_is_nan


def test_first_two_steps_by_hand():
    tx = gdt.scale_by_novograd(b1=0.9, b2=0.25, eps=1e-12, weight_decay=0.1)
    w = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([-1.0])}
    state = tx.init(w)
    u1, state = tx.update({"a": jnp.array([3.0, 4.0]), "b": jnp.array([2.0])}, state, w)
    # v = ||g||^2 per leaf at the first step: 25 and 4.
    np.testing.assert_allclose(float(state.nu["a"]), 25.0)
    np.testing.assert_allclose(u1["a"], [3 / 5 + 0.1, 4 / 5 + 0.2], rtol=1e-6)
    np.testing.assert_allclose(u1["b"], [1.0 - 0.1], rtol=1e-6)
    u2, state = tx.update({"a": jnp.array([0.0, 1.0]), "b": jnp.array([2.0])}, state, w)
    v_a = 0.25 * 25.0 + 0.75 * 1.0
    np.testing.assert_allclose(float(state.nu["a"]), v_a, rtol=1e-6)
    expected = 0.9 * np.array([0.7, 1.0]) + np.array([0.0, 1.0]) / np.sqrt(v_a) + 0.1 * np.array([1.0, 2.0])
    np.testing.assert_allclose(u2["a"], expected, rtol=1e-6)


def test_norms_are_per_leaf_on_flat_buffers():
    w = {"a": jnp.array([1.0, 2.0]), "b": jnp.array([-1.0])}
    g = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([2.0])}
    tx = gdt.novograd(0.1)
    flat = gdt.flatten_params(w)
    u_flat, _ = tx.update(flat.layout.flatten(g), tx.init(flat), flat)
    u_tree, _ = tx.update(g, tx.init(w), w)
    np.testing.assert_allclose(u_flat.unflatten()["a"], u_tree["a"], rtol=1e-6)
    np.testing.assert_allclose(u_flat.unflatten()["b"], u_tree["b"], rtol=1e-6)


def test_float16_zero_gradient_gives_zero_not_nan():
    assert_finite_zero_where_optax_is_nan("scale_by_novograd")
    assert_finite_zero_where_optax_is_nan("novograd", learning_rate=0.1)
