"""Polyak's step size and DoG: hand-derived first steps."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_polyak_step_by_hand():
    tx = gdt.scale_by_polyak(f_min=1.0, max_learning_rate=10.0)
    g = {"a": jnp.array([3.0]), "b": jnp.array([4.0])}
    u, _ = tx.update(g, tx.init(g), value=jnp.float32(6.0))
    # (6 - 1) / (9 + 16) = 0.2 on the whole tree.
    np.testing.assert_allclose(u["a"], [0.6], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [0.8], rtol=1e-6)


def test_polyak_caps_and_clamps():
    g = jnp.array([0.1])
    u, _ = gdt.scale_by_polyak(max_learning_rate=2.0).update(g, gdt.EmptyState(), value=jnp.float32(5.0))
    np.testing.assert_allclose(u, [0.2], rtol=1e-6)  # 5 / 0.01 = 500, capped at 2
    u, _ = gdt.scale_by_polyak(f_min=1.0, variant="sps+").update(g, gdt.EmptyState(), value=jnp.float32(0.5))
    np.testing.assert_array_equal(u, [0.0])  # the gap -0.5 is clamped at 0
    u, _ = gdt.scale_by_polyak(f_min=1.0).update(g, gdt.EmptyState(), value=jnp.float32(0.5))
    np.testing.assert_allclose(u, [-5.0], rtol=1e-6)  # plain sps keeps the negative gap
    u, _ = gdt.scale_by_polyak().update(jnp.zeros(1), gdt.EmptyState(), value=jnp.float32(1.0))
    np.testing.assert_array_equal(u, [0.0])  # a zero gradient gives 0, not 0/0


def test_polyak_sgd_solves_a_quadratic_in_one_step():
    f = lambda w: 0.5 * jnp.sum(w**2)  # noqa: E731
    opt = gdt.polyak_sgd(max_learning_rate=10.0)
    w = jnp.array([2.0, -1.0])
    u, _ = opt.update(jax.grad(f)(w), opt.init(w), w, value=f(w))
    # f / ||g||^2 = 0.5: halfway to the minimum, as Polyak's rule gives for f = ||w||^2 / 2.
    np.testing.assert_allclose(gdt.apply_updates(w, u), [1.0, -0.5], rtol=1e-6)


def test_dog_first_two_steps_by_hand():
    tx = gdt.scale_by_distance_over_gradients(reps_rel=0.1, eps=0.0)
    w = jnp.array([3.0, 4.0])
    state = tx.init(w)
    np.testing.assert_allclose(float(state.max_dist), 0.1 * (1 + 5.0), rtol=1e-6)
    u1, state = tx.update(jnp.array([0.0, 2.0]), state, w)
    np.testing.assert_allclose(u1, [0.0, 0.6 / 2.0 * 2.0], rtol=1e-6)  # d0 / sqrt(4) * g
    assert state.grad_sum_of_squares.shape == (1,)
    w2 = w - u1  # moved 0.6 from the start
    u2, state = tx.update(jnp.array([1.0, 0.0]), state, w2)
    np.testing.assert_allclose(float(state.max_dist), 0.6, rtol=1e-6)
    np.testing.assert_allclose(u2, [0.6 / np.sqrt(5.0), 0.0], rtol=1e-6)


def test_dog_scalar_leaf_keeps_its_shape_and_dtype():
    params = {"s": jnp.float32(2.0), "h": jnp.ones(3, jnp.bfloat16)}
    tx = gdt.scale_by_distance_over_gradients()
    state = tx.init(params)
    u, state = tx.update(params, state, params)
    assert u["s"].shape == () and u["h"].dtype == jnp.bfloat16
    assert state.max_dist["h"].dtype == jnp.float32  # kept in param_dtype from the start
    _, state2 = jax.jit(tx.update)(params, state, params)
    assert jax.tree.map(lambda x: x.dtype, state2) == jax.tree.map(lambda x: x.dtype, state)


def test_dog_needs_params():
    tx = gdt.scale_by_distance_over_gradients()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
