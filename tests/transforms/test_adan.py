"""Adan: hand-derived first two steps, and float16 zero gradients."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests.transforms._f16 import assert_finite_zero_where_optax_is_nan


def reference(grads, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=0.0):
    m = v = n = 0.0
    prev = None
    out = []
    for t, g in enumerate(grads, start=1):
        diff = 0.0 if prev is None else g - prev
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * diff
        n = b3 * n + (1 - b3) * (g + (1 - b2) * diff) ** 2
        m_hat, v_hat, n_hat = m / (1 - b1**t), v / (1 - b2**t), n / (1 - b3**t)
        out.append((m_hat + (1 - b2) * v_hat) / (np.sqrt(n_hat + eps_root) + eps))
        prev = g
    return out


def test_first_step_is_sign_and_second_by_hand():
    tx = gdt.scale_by_adan()
    state = tx.init(jnp.zeros(1))
    u1, state = tx.update(jnp.array([3.0]), state)
    np.testing.assert_allclose(float(u1[0]), 1.0, rtol=1e-5)  # m_hat = 3, n_hat = 9, diff = 0
    assert int(state.t) == 1 and float(state.g[0]) == 3.0
    u2, state = tx.update(jnp.array([1.0]), state)
    # diff = -2; m = 0.98 * 0.06 + 0.02; v = 0.08 * -2; n = 0.99 * 0.09 + 0.01 * (1 - 0.16)^2.
    m, v, n = 0.98 * 0.06 + 0.02, -0.16, 0.99 * 0.09 + 0.01 * 0.84**2
    expected = (m / (1 - 0.98**2) + 0.08 * v / (1 - 0.92**2)) / (np.sqrt(n / (1 - 0.99**2)) + 1e-8)
    np.testing.assert_allclose(float(u2[0]), expected, rtol=1e-5)


def test_five_steps_match_the_reference():
    grads = [1.0, -2.0, 0.5, 0.0, 3.0]
    tx = gdt.scale_by_adan(b1=0.9, b2=0.8, b3=0.95, eps_root=1e-8)
    state, out = tx.init(jnp.zeros(1)), []
    for g in grads:
        u, state = tx.update(jnp.array([g]), state)
        out.append(float(u[0]))
    np.testing.assert_allclose(out, reference(grads, b1=0.9, b2=0.8, b3=0.95, eps_root=1e-8), rtol=1e-5)


def test_float16_zero_gradient_gives_zero_not_nan():
    assert_finite_zero_where_optax_is_nan("scale_by_adan")
