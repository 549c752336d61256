"""Scaling by param-block norm and RMS, centralisation and update normalisation by hand."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_scale_by_param_block_norm_and_rms():
    params = {"a": jnp.array([3.0, 4.0]), "z": jnp.zeros(2)}
    updates = {"a": jnp.ones(2), "z": jnp.ones(2)}
    tx = gdt.scale_by_param_block_norm()
    u, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(u["a"], [5.0, 5.0], rtol=1e-6)
    np.testing.assert_allclose(u["z"], [1e-3, 1e-3], rtol=1e-6)  # zero block: min_scale
    tx = gdt.scale_by_param_block_rms()
    u, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(u["a"], [np.sqrt(12.5)] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="params"):
        tx.update(updates, tx.init(params))
    with pytest.raises(ValueError, match="min_scale"):
        gdt.scale_by_param_block_rms(-1.0)


def test_centralize_leaves_vectors_alone():
    tx = gdt.centralize()
    u, _ = tx.update({"v": jnp.array([1.0, 2.0]), "m": jnp.array([[1.0, 3.0], [0.0, 4.0]])}, tx.init(None))
    np.testing.assert_array_equal(u["v"], [1.0, 2.0])
    np.testing.assert_allclose(u["m"], [[-1.0, 1.0], [-2.0, 2.0]])


def test_normalize_by_update_norm():
    tx = gdt.normalize_by_update_norm(scale_factor=2.0, eps=0.0)
    u, _ = tx.update({"a": jnp.array([3.0]), "b": jnp.array([4.0])}, tx.init(None))
    np.testing.assert_allclose(u["a"], [1.2], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [1.6], rtol=1e-6)
    with pytest.raises(ValueError, match="scale_factor"):
        gdt.normalize_by_update_norm(0.0)
