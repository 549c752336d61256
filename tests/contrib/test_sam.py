"""SAM and normalize: hand-derived periods, the zero gradient, opaque mode, inject_hyperparams."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_normalize_by_the_global_norm_and_zero_stays_zero():
    tx = gdt.contrib.normalize()
    u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))
    np.testing.assert_allclose([u["a"][0], u["b"][0]], [0.6, 0.8])
    z, _ = tx.update({"a": jnp.zeros(2)}, tx.init(None))
    np.testing.assert_array_equal(z["a"], [0.0, 0.0])  # optax: 0 / 0 = NaN


def test_transparent_period_by_hand():
    # Step 1 ascends rho g/|g|; step 2 returns to the cache and applies sgd to the new gradient.
    adv = gdt.chain(gdt.contrib.normalize(), gdt.sgd(0.5))
    opt = gdt.contrib.sam(gdt.sgd(0.1), adv, sync_period=2)
    p0 = jnp.array([1.0, 2.0])
    state = opt.init(p0)
    u1, state = opt.update(jnp.array([3.0, 4.0]), state, p0)
    np.testing.assert_allclose(u1, [0.3, 0.4])
    p1 = p0 + u1
    u2, state = opt.update(jnp.array([1.0, -1.0]), state, p1)
    np.testing.assert_allclose(p1 + u2, p0 - 0.1 * jnp.array([1.0, -1.0]), rtol=1e-6)
    assert int(state.steps_since_sync) == 0


def test_opaque_mode_equals_transparent_mode():
    loss = lambda p: jnp.sum((p - 1.0) ** 2 * jnp.arange(1.0, 4.0))  # noqa: E731
    adv = gdt.chain(gdt.contrib.normalize(), gdt.sgd(0.2))
    transparent = gdt.contrib.sam(gdt.sgd(0.1), adv, sync_period=3)
    opaque = gdt.contrib.sam(gdt.sgd(0.1), adv, sync_period=3, opaque_mode=True)
    p_t = p_o = jnp.array([0.0, 2.0, -1.0])
    s_t, s_o = transparent.init(p_t), opaque.init(p_o)
    for _ in range(2):
        for _ in range(3):
            u, s_t = transparent.update(jax.grad(loss)(p_t), s_t, p_t)
            p_t = p_t + u
        u, s_o = opaque.update(jax.grad(loss)(p_o), s_o, p_o, grad_fn=lambda p, i: jax.grad(loss)(p))
        p_o = p_o + u
    np.testing.assert_allclose(p_o, p_t, rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_under_inject_hyperparams(jit):
    def make(learning_rate, rho):
        return gdt.contrib.sam(gdt.sgd(learning_rate), gdt.chain(gdt.contrib.normalize(), gdt.sgd(rho)))

    params = {"w": jnp.array([0.5, -1.0]), "s": jnp.float32(0.2)}
    runs = []
    for opt in (make(0.05, 0.1), gdt.inject_hyperparams(make)(learning_rate=0.05, rho=0.1)):
        update = jax.jit(opt.update) if jit else opt.update
        p, s, out = params, opt.init(params), []
        for t in range(20):
            u, s = update(jax.tree.map(lambda x: x**3 + t, p), s, p)
            p = gdt.apply_updates(p, u)
            out.append((u, p))
        runs.append(out)
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        assert jnp.array_equal(a, b)


def test_flat_path_matches_the_tree():
    params = {"w": jnp.array([0.5, -1.0]), "v": jnp.array([2.0])}
    opt = gdt.contrib.sam(gdt.sgd(0.1), gdt.chain(gdt.contrib.normalize(), gdt.sgd(0.1)))
    flat = gdt.flatten_params(params)
    u_tree, _ = opt.update(params, opt.init(params), params)
    u_flat, _ = opt.update(flat, opt.init(flat), flat)
    for a, b in zip(jax.tree.leaves(u_flat.unflatten()), jax.tree.leaves(u_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sync_period"):
        gdt.contrib.sam(gdt.sgd(0.1), gdt.sgd(0.1), sync_period=0)
    opaque = gdt.contrib.sam(gdt.sgd(0.1), gdt.sgd(0.1), opaque_mode=True)
    with pytest.raises(ValueError, match="grad_fn"):
        opaque.update(jnp.ones(2), opaque.init(jnp.ones(2)), jnp.ones(2))
