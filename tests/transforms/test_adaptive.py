"""AdaGrad and RMSprop scalings: hand-derived steps (docs/notes.md §5, 6)."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def two_steps(tx, g1, g2):
    state = tx.init(jnp.zeros_like(g1))
    u1, state = tx.update(g1, state)
    u2, state = tx.update(g2, state)
    return np.asarray(u1), np.asarray(u2), state


def test_scale_by_rss_adagrad_by_hand():
    u1, u2, state = two_steps(gdt.scale_by_rss(0.1, 1e-7), jnp.array([2.0]), jnp.array([1.0]))
    np.testing.assert_allclose(u1, 2.0 / np.sqrt(0.1 + 4.0 + 1e-7), rtol=1e-6)
    np.testing.assert_allclose(u2, 1.0 / np.sqrt(0.1 + 4.0 + 1.0 + 1e-7), rtol=1e-6)
    np.testing.assert_allclose(state.sum_of_squares, [5.1], rtol=1e-6)


def test_scale_by_rss_zero_accumulator_gives_zero_not_nan():
    u1, _, _ = two_steps(gdt.scale_by_rss(0.0, 0.0), jnp.array([0.0]), jnp.array([3.0]))
    np.testing.assert_array_equal(u1, [0.0])


def test_adagrad_rates_only_shrink():
    """docs/notes.md §5: per-parameter rates only shrink (learning can stall)."""
    tx = gdt.scale_by_rss(0.0, 0.0)
    state = tx.init(jnp.zeros(1))
    steps = []
    for _ in range(5):
        u, state = tx.update(jnp.ones(1), state)
        steps.append(float(u[0]))
    np.testing.assert_allclose(steps, 1 / np.sqrt(np.arange(1, 6)), rtol=1e-6)


def test_scale_by_rms_spec_section_6():
    """S := 0.9 S + 0.1 g^2; u = g / sqrt(S + 1e-8)."""
    u1, u2, state = two_steps(gdt.scale_by_rms(0.9, 1e-8), jnp.array([2.0]), jnp.array([-1.0]))
    s1 = 0.1 * 4.0
    s2 = 0.9 * s1 + 0.1 * 1.0
    np.testing.assert_allclose(u1, 2.0 / np.sqrt(s1 + 1e-8), rtol=1e-6)
    np.testing.assert_allclose(u2, -1.0 / np.sqrt(s2 + 1e-8), rtol=1e-6)
    np.testing.assert_allclose(state.nu, [s2], rtol=1e-6)


def test_scale_by_rms_bias_corrected_eps_outside_equals_adam_without_momentum():
    g1, g2 = jnp.array([2.0, -0.5]), jnp.array([-1.0, 0.25])
    rms = two_steps(gdt.scale_by_rms(0.999, 1e-8, eps_in_sqrt=False, bias_correction=True), g1, g2)
    adam = two_steps(gdt.scale_by_adam(b1=0.0, b2=0.999), g1, g2)
    np.testing.assert_allclose(rms[0], adam[0], rtol=1e-6)
    np.testing.assert_allclose(rms[1], adam[1], rtol=1e-6)
    assert int(rms[2].count) == 2


def test_scale_by_stddev_by_hand():
    u1, u2, state = two_steps(gdt.scale_by_stddev(0.9, 1e-8), jnp.array([2.0]), jnp.array([1.0]))
    m1, s1 = 0.2, 0.4
    m2, s2 = 0.9 * m1 + 0.1, 0.9 * s1 + 0.1
    np.testing.assert_allclose(u1, 2.0 / np.sqrt(s1 - m1**2 + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(u2, 1.0 / np.sqrt(s2 - m2**2 + 1e-8), rtol=1e-5)
    np.testing.assert_allclose(state.mu, [m2], rtol=1e-6)


def test_scale_by_stddev_never_nan_when_variance_rounds_negative():
    """With bias correction the first variance is g^2 - g^2 = 0 up to rounding."""
    tx = gdt.scale_by_stddev(0.9, 1e-8, eps_in_sqrt=False, bias_correction=True)
    g = jnp.array([0.3, 1.7, -2.9, 1e-3, 123.4])
    u, _ = tx.update(g, tx.init(g))
    assert bool(jnp.isfinite(u).all())


def test_initial_scale_seeds_the_average():
    u1, _, state = two_steps(gdt.scale_by_rms(0.9, 1e-8, initial_scale=1.0), jnp.array([1.0]), jnp.array([1.0]))
    np.testing.assert_allclose(u1, 1.0 / np.sqrt(0.9 + 0.1 + 1e-8), rtol=1e-6)
