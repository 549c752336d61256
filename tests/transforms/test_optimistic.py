"""Optimistic gradient: hand-derived first two steps."""

import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt


def test_first_step_is_alpha_g_then_extrapolates():
    tx = gdt.scale_by_optimistic_gradient(alpha=0.5, beta=2.0)
    state = tx.init(jnp.zeros(2))
    assert bool(state.is_initial_step)
    u1, state = tx.update(jnp.array([1.0, -2.0]), state)
    np.testing.assert_allclose(u1, [0.5, -1.0])  # (a + b) g - b g = a g
    assert not bool(state.is_initial_step)
    u2, state = tx.update(jnp.array([3.0, 0.0]), state)
    np.testing.assert_allclose(u2, [2.5 * 3.0 - 2.0 * 1.0, 2.0 * 2.0])
    np.testing.assert_allclose(state.previous_gradient, [3.0, 0.0])


def test_bilinear_game_converges_where_gradient_descent_cycles():
    # min_x max_y x * y: plain simultaneous gradient descent/ascent spirals out.
    def run(tx):
        z = jnp.array([1.0, 1.0])
        state = tx.init(z)
        for _ in range(300):
            g = jnp.array([z[1], -z[0]])  # d/dx (x y), -d/dy (x y)
            u, state = tx.update(g, state)
            z = z + u
        return float(jnp.linalg.norm(z))

    assert run(gdt.optimistic_gradient_descent(0.1)) < 0.5  # from sqrt(2), shrinking
    assert run(gdt.sgd(0.1)) > 5.0  # grows by sqrt(1 + 0.01) per step
