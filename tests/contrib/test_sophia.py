"""Sophia and Hutchinson's estimator: hand-derived steps, mixed dtypes, inject_hyperparams, flat path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms.contrib._sophia import scale_by_sophia


def _quad(p):
    # Hessian diag(2, 6): Hutchinson's z * (H z) is exactly the diagonal for any signs.
    return jnp.sum(jnp.array([1.0, 3.0]) * p["w"] ** 2)


def test_hutchinson_is_exact_on_a_diagonal_hessian():
    est = gdt.contrib.hutchinson_estimator_diag_hessian(jax.random.PRNGKey(3))
    params = {"w": jnp.array([0.3, -1.0])}
    diag, state = est.update(None, est.init(params), params, obj_fn=_quad)
    np.testing.assert_allclose(diag["w"], [2.0, 6.0])
    assert not jnp.array_equal(state.key, jax.random.PRNGKey(3))


def test_first_two_steps_by_hand():
    # b1 = 0.5, gamma = 1, update_interval = 1, no clip. Step 1: nu = 0 -> u = mu_hat / eps ... clipped off,
    # so use clip_threshold=None and eps = 1: u1 = g1. Then nu1 = (1 - b2) * diag(2, 6) with b2 = 0.5.
    opt = scale_by_sophia(b1=0.5, b2=0.5, eps=1.0, gamma=1.0, clip_threshold=None, update_interval=1)
    params = {"w": jnp.array([1.0, 1.0])}
    g1, g2 = {"w": jnp.array([2.0, 4.0])}, {"w": jnp.array([2.0, 0.0])}
    state = opt.init(params)
    u1, state = opt.update(g1, state, params, obj_fn=_quad)
    np.testing.assert_allclose(u1["w"], [2.0, 4.0])
    np.testing.assert_allclose(state.nu["w"], [1.0, 3.0])
    u2, state = opt.update(g2, state, params, obj_fn=_quad)
    mu_hat = (0.5 * 0.5 * np.array([2.0, 4.0]) + 0.5 * np.array([2.0, 0.0])) / 0.75
    np.testing.assert_allclose(u2["w"], mu_hat / np.maximum([1.0, 3.0], 1.0), rtol=1e-6)


def test_mixed_dtype_tree_works():
    # optax's probe is cast to the lowest dtype, which jax.jvp refuses for float32 leaves.
    params = {"a": jnp.ones(2), "b": jnp.ones(2, jnp.bfloat16)}
    opt = gdt.contrib.sophia(0.1)
    loss = lambda p: jnp.sum(p["a"] ** 2) + jnp.sum(p["b"].astype(jnp.float32) ** 2)  # noqa: E731
    u, _ = opt.update(params, opt.init(params), params, obj_fn=loss)
    assert u["b"].dtype == jnp.bfloat16 and u["a"].dtype == jnp.float32


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_under_inject_hyperparams(jit):
    params = {"w": jnp.array([0.5, -1.0]), "s": jnp.float32(0.2)}
    loss = lambda p: jnp.sum(p["w"] ** 4) + p["s"] ** 2  # noqa: E731
    kw = dict(learning_rate=0.05, update_interval=3, gamma=0.1)
    runs = []
    for opt in (gdt.contrib.sophia(**kw), gdt.inject_hyperparams(gdt.contrib.sophia)(**kw)):
        update = jax.jit(opt.update, static_argnames="obj_fn") if jit else opt.update
        p, s, out = params, opt.init(params), []
        for _ in range(20):
            u, s = update(jax.grad(loss)(p), s, p, obj_fn=loss)
            p = gdt.apply_updates(p, u)
            out.append((u, p))
        runs.append(out)
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        if jit:  # XLA fuses the injected values' selects differently: equal to float32 rounding.
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)
        else:
            assert jnp.array_equal(a, b)


def test_flat_path_matches_the_tree():
    params = {"w": jnp.array([0.5, -1.0]), "v": jnp.array([2.0])}
    loss = lambda p: jnp.sum(p["w"] ** 4) + jnp.sum(p["v"] ** 3)  # noqa: E731
    opt = gdt.contrib.sophia(0.05, update_interval=1)
    flat = gdt.flatten_params(params)
    u_tree, _ = opt.update(jax.grad(loss)(params), opt.init(params), params, obj_fn=loss)
    flat_loss = lambda f: loss(f.unflatten())  # noqa: E731
    u_flat, _ = opt.update(gdt.flatten_params(jax.grad(loss)(params)), opt.init(flat), flat, obj_fn=loss)
    del flat_loss
    for a, b in zip(jax.tree.leaves(u_flat.unflatten()), jax.tree.leaves(u_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="b1"):
        gdt.contrib.sophia(0.1, b1=1.0)
    with pytest.raises(ValueError, match="update_interval"):
        gdt.contrib.sophia(0.1, update_interval=0)
    est = gdt.contrib.hutchinson_estimator_diag_hessian()
    with pytest.raises(ValueError, match="obj_fn"):
        est.update(None, est.init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})
    with pytest.raises(ValueError, match="params"):
        est.update(None, est.init({"w": jnp.ones(2)}), None, obj_fn=_quad)
