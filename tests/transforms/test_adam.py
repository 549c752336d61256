"""The Adam family: hand-derived steps (docs/notes.md §7)."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def run(tx, grads):
    state = tx.init(jnp.zeros_like(grads[0]))
    out = []
    for g in grads:
        u, state = tx.update(g, state)
        out.append(np.asarray(u, np.float64))
    return out, state


def adam_reference(grads, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0):
    """docs/notes.md §7, written out in float64."""
    v = s = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        g = np.asarray(g, np.float64)
        v = b1 * v + (1 - b1) * g
        s = b2 * s + (1 - b2) * g**2
        v_hat, s_hat = v / (1 - b1**t), s / (1 - b2**t)
        out.append(v_hat / (np.sqrt(s_hat + eps_root) + eps))
    return out


GRADS = [jnp.array([0.5, -2.0, 1e-3]), jnp.array([-1.0, -1.0, 0.0]), jnp.array([2.0, 0.5, 1e-3])]


def test_adam_first_step_is_sign_of_gradient():
    out, state = run(gdt.scale_by_adam(), GRADS[:1])
    # float32 holds 1 - 0.999 to about 5e-8, so 1e-5 is as close as it gets.
    np.testing.assert_allclose(out[0], [1.0, -1.0, 1e-3 / (1e-3 + 1e-8)], rtol=2e-5)
    assert int(state.count) == 1


def test_adam_second_step_by_hand():
    out, _ = run(gdt.scale_by_adam(), GRADS[:2])
    v = 0.9 * 0.1 * 0.5 + 0.1 * -1.0
    s = 0.999 * 0.001 * 0.25 + 0.001 * 1.0
    expected = (v / (1 - 0.9**2)) / (np.sqrt(s / (1 - 0.999**2)) + 1e-8)
    np.testing.assert_allclose(out[1][0], expected, rtol=1e-5)


def test_adam_matches_spec_reference_for_three_steps():
    out, _ = run(gdt.scale_by_adam(), GRADS)
    np.testing.assert_allclose(out, adam_reference(GRADS), rtol=1e-5, atol=1e-7)


def test_eps_root_puts_eps_inside_the_root():
    out, _ = run(gdt.scale_by_adam(eps=0.0, eps_root=1e-4), GRADS)
    np.testing.assert_allclose(out, adam_reference(GRADS, eps=0.0, eps_root=1e-4), rtol=1e-5)


def test_nadam_first_step_by_hand():
    out, _ = run(gdt.scale_by_adam(nesterov=True), GRADS[:1])
    g = np.asarray(GRADS[0], np.float64)
    m_hat = 0.9 * (0.1 * g) / (1 - 0.9**2) + 0.1 * g / (1 - 0.9)
    np.testing.assert_allclose(out[0], m_hat / (np.abs(g) + 1e-8), rtol=1e-5)


def test_mu_and_nu_dtypes():
    tx = gdt.scale_by_adam(mu_dtype=jnp.bfloat16, nu_dtype=jnp.float32)
    state = tx.init(jnp.ones(3, jnp.bfloat16))
    assert state.mu.dtype == jnp.bfloat16 and state.nu.dtype == jnp.float32
    u, state = tx.update(jnp.full(3, 0.5, jnp.bfloat16), state)
    assert u.dtype == jnp.bfloat16
    assert state.mu.dtype == jnp.bfloat16 and state.nu.dtype == jnp.float32


def test_float32_nu_keeps_float16_squares_from_underflowing():
    grads = jnp.full(2, 1e-3, jnp.float16)  # (1 - b2) g^2 = 1e-9: 0 in float16
    narrow, wide = gdt.scale_by_adam(), gdt.scale_by_adam(nu_dtype=jnp.float32)
    _, narrow_state = narrow.update(grads, narrow.init(jnp.zeros(2, jnp.float16)))
    u, wide_state = wide.update(grads, wide.init(jnp.zeros(2, jnp.float16)))
    assert float(narrow_state.nu[0]) == 0.0
    np.testing.assert_allclose(wide_state.nu, 1e-9, rtol=1e-3)
    np.testing.assert_allclose(np.asarray(u, np.float32), 1.0, rtol=1e-2)
    assert u.dtype == jnp.float16


def test_amsgrad_second_moment_never_decreases():
    grads = [jnp.array([3.0]), jnp.array([0.1]), jnp.array([0.1]), jnp.array([0.1])]
    tx = gdt.scale_by_amsgrad()
    state = tx.init(jnp.zeros(1))
    maxima = []
    for g in grads:
        _, state = tx.update(g, state)
        maxima.append(float(state.nu_max[0]))
    assert maxima == sorted(maxima)
    np.testing.assert_allclose(maxima[0], 9.0, rtol=2e-5)  # bias-corrected g1^2


def test_adamax_by_hand():
    out, state = run(gdt.scale_by_adamax(), GRADS[:2])
    np.testing.assert_allclose(out[0], [1.0, -1.0, 1e-3 / (1e-3 + 1e-8)], rtol=1e-5)
    u2 = max(1.0 + 1e-8, 0.999 * (0.5 + 1e-8))
    m2 = (0.9 * 0.05 - 0.1) / (1 - 0.81)
    np.testing.assert_allclose(out[1][0], m2 / u2, rtol=1e-5)
    np.testing.assert_allclose(state.nu[1], 2.0 * 0.999, rtol=1e-5)


@pytest.mark.parametrize("factory", [gdt.scale_by_adam, gdt.scale_by_amsgrad, gdt.scale_by_adamax])
def test_zero_gradients_stay_finite(factory):
    tx = factory()
    state = tx.init(jnp.zeros(2))
    for _ in range(3):
        u, state = tx.update(jnp.zeros(2), state)
    assert bool(jnp.isfinite(u).all()) and float(jnp.abs(u).sum()) == 0.0
