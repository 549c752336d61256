"""AdaDelta: hand-derived first two steps."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def test_first_two_steps_by_hand():
    rho, eps = 0.9, 1e-6
    tx = gdt.scale_by_adadelta(rho=rho, eps=eps)
    state = tx.init(jnp.zeros(1))
    u1, state = tx.update(jnp.array([2.0]), state)
    e_g1 = 0.1 * 4.0
    u1_ref = np.sqrt(0.0 + eps) / np.sqrt(e_g1 + eps) * 2.0
    np.testing.assert_allclose(float(u1[0]), u1_ref, rtol=1e-5)
    np.testing.assert_allclose(float(state.e_x[0]), 0.1 * u1_ref**2, rtol=1e-5)
    u2, state = tx.update(jnp.array([-1.0]), state)
    e_g2, e_x1 = rho * e_g1 + 0.1 * 1.0, 0.1 * u1_ref**2
    np.testing.assert_allclose(float(u2[0]), -np.sqrt(e_x1 + eps) / np.sqrt(e_g2 + eps), rtol=1e-5)


def test_float16_small_eps_zero_gradient_is_zero():
    tx = gdt.scale_by_adadelta(eps=1e-8)  # 1e-8 is 0 in float16
    u, _ = tx.update(jnp.zeros(2, jnp.float16), tx.init(jnp.zeros(2, jnp.float16)))
    assert u.dtype == jnp.float16
    np.testing.assert_array_equal(np.asarray(u, np.float32), [0.0, 0.0])
