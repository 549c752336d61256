"""scale_by_sm3: hand-derived steps and per-axis state."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_two_steps_by_hand():
    tx = gdt.scale_by_sm3(b1=0.9, eps=0.0)
    state = tx.init({"m": jnp.zeros((2, 2)), "v": jnp.zeros(2)})
    g1 = {"m": jnp.array([[1.0, 2.0], [3.0, 4.0]]), "v": jnp.array([3.0, 4.0])}
    u, state = tx.update(g1, state)
    # nu = g^2 (b2 = 1: no decay), u = g / sqrt(nu) = 1, momentum (1 - b1) * 1.
    np.testing.assert_allclose(u["m"], np.full((2, 2), 0.1), rtol=1e-6)
    np.testing.assert_allclose(u["v"], [0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(state.mu["m"][0], [4.0, 16.0])  # row maxima
    np.testing.assert_allclose(state.mu["m"][1], [9.0, 16.0])  # column maxima
    u, state = tx.update({"m": jnp.array([[1.0, 0.0], [0.0, 0.0]]), "v": jnp.zeros(2)}, state)
    # nu(0, 0) = 1 + min(row 4, column 9) = 5; other entries have g = 0.
    expected = np.full((2, 2), 0.09)
    expected[0, 0] += 0.1 / np.sqrt(5.0)
    np.testing.assert_allclose(u["m"], expected, rtol=1e-6)
    np.testing.assert_allclose(state.mu["m"][0], [5.0, 16.0])


def test_scalar_leaf_gets_one_accumulator():
    tx = gdt.scale_by_sm3()
    state = tx.init(jnp.float32(1.0))
    u, state = tx.update(jnp.float32(-2.0), state)
    np.testing.assert_allclose(u, -0.1, rtol=1e-6)
    assert len(state.mu) == 1 and state.mu[0].shape == ()


def test_bad_arguments():
    with pytest.raises(ValueError, match="b1"):
        gdt.scale_by_sm3(b1=1.0)
    with pytest.raises(ValueError, match="b2"):
        gdt.scale_by_sm3(b2=1.5)
    with pytest.raises(TypeError, match="complex"):
        gdt.scale_by_sm3().init(jnp.ones(2, jnp.complex64))
    tx = gdt.scale_by_sm3()
    with pytest.raises(TypeError, match="ScaleBySM3State"):
        tx.update(jnp.ones(2), gdt.EmptyState())
