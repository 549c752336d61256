"""signSGD and Rprop: hand-derived steps."""

import jax.numpy as jnp
import numpy as np
import optax

import gdtransforms as gdt


def test_sign():
    u, _ = gdt.scale_by_sign().update(jnp.array([-3.0, 0.0, 1e-8]), gdt.EmptyState())
    np.testing.assert_array_equal(u, [-1.0, 0.0, 1.0])


def test_rprop_steps_by_hand():
    tx = gdt.scale_by_rprop(0.1, eta_minus=0.5, eta_plus=1.2, min_step_size=0.04, max_step_size=0.13)
    state = tx.init(jnp.zeros(1))
    seen = []
    for g in [1.0, 1.0, 1.0, -1.0, -1.0, 1.0]:
        u, state = tx.update(jnp.array([g]), state)
        seen.append((round(float(u[0]), 6), round(float(state.step_sizes[0]), 6)))
    # Grow 0.1 -> 0.12 -> 0.144, capped at 0.13; a flip halves it to 0.065 and skips
    # the step; the next compares with 0 and steps; a flip again halves, floored at 0.04.
    assert seen == [(0.1, 0.1), (0.12, 0.12), (0.13, 0.13), (0.0, 0.065), (-0.065, 0.065), (0.0, 0.04)]


def test_rprop_emits_this_steps_update_unlike_optax():
    """optax returns the previous step's update (PR #1725): its first update is 0."""
    grads = [jnp.array([1.0]), jnp.array([1.0])]
    ours, theirs = gdt.scale_by_rprop(0.1), optax.scale_by_rprop(0.1)
    s_ours, s_theirs = ours.init(jnp.zeros(1)), theirs.init(jnp.zeros(1))
    for g in grads:
        u_ours, s_ours = ours.update(g, s_ours)
        u_theirs, s_theirs = theirs.update(g, s_theirs)
        np.testing.assert_array_equal(u_ours, s_theirs.prev_updates)  # what optax computed
    np.testing.assert_allclose([u_theirs[0], u_ours[0]], [0.1, 0.12], rtol=1e-6)  # optax lags one step


def test_rprop_bfloat16_keeps_dtype():
    tx = gdt.scale_by_rprop(0.1)
    state = tx.init(jnp.zeros(2, jnp.bfloat16))
    u, state = tx.update(jnp.array([1.0, -1.0], jnp.bfloat16), state)
    assert u.dtype == state.step_sizes.dtype == jnp.bfloat16
