"""Yogi: hand-derived first steps, and float16 zero gradients."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests.transforms._f16 import assert_finite_zero_where_optax_is_nan, zero_gradient_steps


def test_first_two_steps_by_hand():
    tx = gdt.scale_by_yogi(b1=0.9, b2=0.99, eps=1e-3, initial_accumulator_value=1e-6)
    state = tx.init(jnp.zeros(1))
    u1, state = tx.update(jnp.array([2.0]), state)
    # m1 = 0.9e-6 + 0.2; v1 = 1e-6 - 0.01 * sign(1e-6 - 4) * 4 = 1e-6 + 0.04.
    m1, v1 = 0.9 * 1e-6 + 0.2, 1e-6 + 0.04
    np.testing.assert_allclose(float(u1[0]), (m1 / 0.1) / (np.sqrt(v1 / 0.01) + 1e-3), rtol=1e-5)
    np.testing.assert_allclose(float(state.nu[0]), v1, rtol=1e-6)
    u2, state = tx.update(jnp.array([0.1]), state)
    # g^2 = 0.01 < v1: v moves down by 0.01 * 0.01.
    m2, v2 = 0.9 * m1 + 0.01, v1 - 0.01 * 0.01
    np.testing.assert_allclose(float(state.nu[0]), v2, rtol=1e-6)
    np.testing.assert_allclose(float(u2[0]), (m2 / 0.19) / (np.sqrt(v2 / (1 - 0.99**2)) + 1e-3), rtol=1e-5)


def test_float16_zero_gradient_gives_zero_not_nan():
    # With optax's defaults (eps = 1e-3) float16 is fine; a small eps and a zero start is not.
    assert_finite_zero_where_optax_is_nan("scale_by_yogi", eps=1e-8, initial_accumulator_value=0.0)
    ours, theirs = zero_gradient_steps("yogi", learning_rate=0.1)
    assert np.isfinite(theirs).all() and np.isfinite(ours).all()
