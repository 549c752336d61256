"""Clipping: elementwise and by global norm."""

import jax.numpy as jnp
import numpy as np

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
