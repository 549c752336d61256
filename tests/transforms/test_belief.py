"""AdaBelief: hand-derived first steps, and float16 zero gradients."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from tests.transforms._f16 import assert_finite_zero_where_optax_is_nan

G1, G2 = jnp.array([2.0, -1.0]), jnp.array([1.0, 3.0])


def steps(tx, grads):
    state, out = tx.init(jnp.zeros(2)), []
    for g in grads:
        u, state = tx.update(g, state)
        out.append(np.asarray(u, np.float64))
    return out, state


def reference(grads, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, nesterov=False):
    m = s = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, np.float64)
        m = b1 * m + (1 - b1) * g
        s = b2 * s + (1 - b2) * (g - m) ** 2 + eps_root
        m_hat = m / (1 - b1**t)
        if nesterov:
            m_hat = b1 * m / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        out.append(m_hat / (np.sqrt(s / (1 - b2**t)) + eps))
    return out


def test_first_step_is_sign_over_b1():
    # m1 = 0.1 g, s1 = 0.001 (0.9 g)^2 + eps_root: u1 = g / (0.9 |g|).
    out, state = steps(gdt.scale_by_belief(), [G1])
    np.testing.assert_allclose(out[0], [1 / 0.9, -1 / 0.9], rtol=3e-5)
    np.testing.assert_allclose(state.nu, 0.001 * (0.9 * np.asarray(G1)) ** 2 + 1e-16, rtol=1e-5)
    assert int(state.count) == 1


def test_second_step_by_hand():
    out, _ = steps(gdt.scale_by_belief(), [G1, G2])
    m = 0.9 * 0.2 + 0.1 * 1.0  # first coordinate: m1 = 0.2
    s = 0.999 * 0.001 * 1.8**2 + 0.001 * (1.0 - m) ** 2
    expected = (m / (1 - 0.81)) / np.sqrt(s / (1 - 0.999**2))
    np.testing.assert_allclose(out[1][0], expected, rtol=3e-5)
    # float32 holds 1 - 0.999 to about 5e-8 relative, hence 3e-5 (as for Adam).
    np.testing.assert_allclose(out, reference([G1, G2]), rtol=3e-5)


def test_nesterov_first_steps():
    out, _ = steps(gdt.scale_by_belief(b1=0.8, nesterov=True, eps=1e-8, eps_root=0.0), [G1, G2])
    np.testing.assert_allclose(out, reference([G1, G2], b1=0.8, nesterov=True, eps=1e-8, eps_root=0.0), rtol=3e-5)


def test_float16_zero_gradient_gives_zero_not_nan():
    assert_finite_zero_where_optax_is_nan("scale_by_belief")
    assert_finite_zero_where_optax_is_nan("adabelief", learning_rate=0.1)
