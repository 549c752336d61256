"""RAdam: momentum steps while rho_t is small, rectified Adam steps after."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def run(tx, grads):
    state, out = tx.init(jnp.zeros(1)), []
    for g in grads:
        u, state = tx.update(jnp.array([g]), state)
        out.append(float(u[0]))
    return out


def test_early_steps_are_bias_corrected_momentum():
    out = run(gdt.scale_by_radam(), [2.0, -1.0])
    # rho_1 = 1, rho_2 ~ 2: below the threshold 5, u = m / (1 - b1^t).
    np.testing.assert_allclose(out[0], 2.0, rtol=1e-6)
    np.testing.assert_allclose(out[1], (0.9 * 0.2 - 0.1) / (1 - 0.81), rtol=1e-6)


def test_rectified_step_by_hand():
    b2 = 0.9
    grads = [1.0, 2.0, -1.0, 0.5, 1.5]
    out = run(gdt.scale_by_radam(b2=b2, threshold=4.5), grads)
    rho_inf = 2 / (1 - b2) - 1
    m = v = 0.0
    for t, g in enumerate(grads, start=1):
        m, v = 0.9 * m + 0.1 * g, b2 * v + (1 - b2) * g * g
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        m_hat, v_hat = m / (1 - 0.9**t), v / (1 - b2**t)
        if rho >= 4.5:
            r = np.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            expected = r * m_hat / (np.sqrt(v_hat) + 1e-8)
        else:
            expected = m_hat
        np.testing.assert_allclose(out[t - 1], expected, rtol=1e-5, err_msg=f"step {t}")
    assert rho_inf - 2 * 5 * b2**5 / (1 - b2**5) >= 4.5  # the last step is rectified


def test_float16_zero_gradient_stays_finite():
    tx = gdt.scale_by_radam(b2=0.9, threshold=4.5)
    state = tx.init(jnp.ones(2, jnp.float16))
    for _ in range(6):
        u, state = tx.update(jnp.zeros(2, jnp.float16), state)
        np.testing.assert_array_equal(np.asarray(u, np.float32), [0.0, 0.0])
