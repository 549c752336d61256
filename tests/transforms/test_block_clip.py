"""Block RMS clipping, unit-wise norms and adaptive gradient clipping by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_clip_by_block_rms_by_hand():
    tx = gdt.clip_by_block_rms(1.0)
    u, _ = tx.update({"a": jnp.array([3.0, 4.0]), "b": jnp.array([0.5, -0.5])}, tx.init(None))
    np.testing.assert_allclose(u["a"], np.array([3.0, 4.0]) / np.sqrt(12.5), rtol=1e-6)  # rms 3.54
    np.testing.assert_array_equal(u["b"], [0.5, -0.5])  # rms 0.5 <= 1: unchanged
    with pytest.raises(ValueError, match="threshold"):
        gdt.clip_by_block_rms(0.0)


def test_unitwise_norm_units():
    x = jnp.array([[3.0, 0.0], [4.0, 1.0]])
    np.testing.assert_allclose(gdt.transforms.unitwise_norm(x), [[5.0, 1.0], [5.0, 1.0]])  # per column
    np.testing.assert_allclose(gdt.transforms.unitwise_norm(jnp.array([3.0, 4.0])), [5.0, 5.0])
    with pytest.raises(ValueError, match="axis"):
        gdt.transforms.unitwise_norm(jnp.ones((2,) * 6))
    with pytest.raises(ValueError, match="shapes"):
        gdt.transforms.unitwise_clip(jnp.ones(2), jnp.ones(3), jnp.ones(2))


def test_adaptive_grad_clip_by_hand():
    tx = gdt.adaptive_grad_clip(0.1)
    params = {"a": jnp.array([3.0, 4.0]), "b": jnp.array([3.0, 4.0])}
    updates = {"a": jnp.array([0.6, 0.8]), "b": jnp.array([0.03, 0.04])}
    u, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(u["a"], [0.3, 0.4], rtol=1e-6)  # norm 1 > 0.1 * 5
    np.testing.assert_array_equal(u["b"], updates["b"])  # norm 0.05 < 0.5
    with pytest.raises(ValueError, match="params"):
        tx.update(updates, tx.init(params))
    with pytest.raises(ValueError, match="clipping"):
        gdt.adaptive_grad_clip(-1.0)
