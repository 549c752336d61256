"""Clipping: elementwise and by global norm."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_clip_elementwise():
    tx = gdt.clip(1.0)
    u, _ = tx.update({"a": jnp.array([-3.0, 0.5, 2.0])}, gdt.EmptyState())
    np.testing.assert_array_equal(u["a"], [-1.0, 0.5, 1.0])


def test_global_norm_over_all_leaves():
    tree = {"a": jnp.array([3.0]), "b": [jnp.array([[4.0]]), jnp.array(12.0)]}
    np.testing.assert_allclose(gdt.global_norm(tree), 13.0)


def test_clip_by_global_norm_rescales_all_leaves_together():
    tx = gdt.clip_by_global_norm(1.0)
    u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, gdt.EmptyState())
    np.testing.assert_allclose([u["a"][0], u["b"][0]], [0.6, 0.8], rtol=1e-6)


def test_clip_by_global_norm_leaves_small_updates_alone():
    tx = gdt.clip_by_global_norm(10.0)
    u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, gdt.EmptyState())
    np.testing.assert_array_equal([u["a"][0], u["b"][0]], [3.0, 4.0])


TREE = {
    "w": jnp.linspace(-3.0, 4.0, 4096).reshape(64, 64),
    "b": jnp.linspace(1.0, 2.0, 64).astype(jnp.bfloat16),
    "s": jnp.asarray(-0.5),
}


@pytest.mark.parametrize("max_norm", [1.0, 0.25, 1e6])
def test_reciprocal_clip_multiplies_by_bound_over_norm(max_norm):
    """``reciprocal=True``: ``u * (c / n)`` when clipping, ``u`` itself when not;
    within float32 rounding of the default ``(u / n) * c``."""
    fast, exact = gdt.clip_by_global_norm(max_norm, reciprocal=True), gdt.clip_by_global_norm(max_norm)
    got = jax.jit(lambda t: fast.update(t, fast.init(t))[0])(TREE)
    want = jax.jit(lambda t: exact.update(t, exact.init(t))[0])(TREE)
    n = gdt.global_norm(TREE)
    for k in TREE:
        assert got[k].dtype == TREE[k].dtype
        if max_norm > n:
            np.testing.assert_array_equal(got[k], TREE[k])
        else:
            scale = jnp.asarray(max_norm / n).astype(TREE[k].dtype)
            np.testing.assert_array_equal(got[k], TREE[k] * scale)
        tol = 1e-2 if TREE[k].dtype == jnp.bfloat16 else 1e-6
        np.testing.assert_allclose(np.float32(got[k]), np.float32(want[k]), rtol=tol)


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="XLA's CPU fusion decisions")
def test_reciprocal_clip_fuses_into_adamw_and_moves_less_memory():
    """The default clip (a select between ``u`` and ``u / n``) makes XLA write the
    divided copy out and read it with ``u``: 60 bytes per parameter for a
    clipped AdamW step; the reciprocal clip fuses into AdamW's loops: 44."""
    params = {"a": jnp.ones(1 << 14), "b": jnp.ones(1 << 14)}

    def bytes_per_param(clip):
        tx = gdt.chain(clip, gdt.adamw(1e-3))
        step = jax.jit(lambda p, s, g: (lambda u, s: (gdt.apply_updates(p, u), s))(*tx.update(g, s, p)))
        compiled = step.lower(params, tx.init(params), params).compile()
        return compiled.cost_analysis()["bytes accessed"] / (2 << 14)

    assert bytes_per_param(gdt.clip_by_global_norm(1.0)) > 56
    assert bytes_per_param(gdt.clip_by_global_norm(1.0, reciprocal=True)) < 46
