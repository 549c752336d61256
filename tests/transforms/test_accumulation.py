"""Momentum: hand-derived steps, docs/notes.md §2-4."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def steps(tx, grads, params=None):
    state = tx.init(jnp.zeros_like(grads[0]) if params is None else params)
    out = []
    for g in grads:
        u, state = tx.update(g, state, params)
        out.append(np.asarray(u))
    return out, state


def test_trace_heavy_ball_by_hand():
    out, state = steps(gdt.trace(0.9), [jnp.array([1.0]), jnp.array([2.0])])
    np.testing.assert_allclose(out, [[1.0], [2.0 + 0.9 * 1.0]], rtol=1e-6)
    np.testing.assert_allclose(state.trace, [2.9], rtol=1e-6)


def test_trace_decay_one_is_a_running_sum():
    """decay = 1 is accepted, as in optax: the trace is the sum of all updates so far."""
    out, state = steps(gdt.trace(1.0), [jnp.array([1.0]), jnp.array([2.0]), jnp.array([-0.5])])
    np.testing.assert_allclose(out, [[1.0], [3.0], [2.5]], rtol=1e-6)
    np.testing.assert_allclose(state.trace, [2.5], rtol=1e-6)


def test_trace_nesterov_by_hand():
    out, _ = steps(gdt.trace(0.9, nesterov=True), [jnp.array([1.0]), jnp.array([2.0])])
    # v1 = 1, u1 = 1 + 0.9 * 1; v2 = 2 + 0.9 * 1 = 2.9, u2 = 2 + 0.9 * 2.9.
    np.testing.assert_allclose(out, [[1.9], [4.61]], rtol=1e-6)


def test_trace_accumulator_dtype():
    tx = gdt.trace(0.9, accumulator_dtype=jnp.float32)
    params = jnp.ones(2, jnp.bfloat16)
    u, state = tx.update(jnp.ones(2, jnp.bfloat16), tx.init(params))
    assert state.trace.dtype == jnp.float32 and u.dtype == jnp.bfloat16


def test_ema_spec_section_2_check_values():
    """beta = 0.98: v2 = 0.0196 theta1 + 0.02 theta2, 1 - beta^2 = 0.0396."""
    theta = [jnp.array([40.0]), jnp.array([49.0])]
    raw, _ = steps(gdt.ema(0.98, debias=False), theta)
    np.testing.assert_allclose(raw[1], 0.0196 * 40.0 + 0.02 * 49.0, rtol=1e-6)
    corrected, state = steps(gdt.ema(0.98, debias=True), theta)
    np.testing.assert_allclose(corrected[0], [40.0], rtol=1e-6)  # v1 / (1 - 0.98) = theta1
    np.testing.assert_allclose(corrected[1], (0.0196 * 40.0 + 0.02 * 49.0) / 0.0396, rtol=1e-5)
    assert int(state.count) == 2 and state.count.dtype == jnp.int32


@pytest.mark.parametrize("beta, horizon", [(0.9, 10), (0.98, 50), (0.5, 2)])
def test_ema_weights_decay_as_one_over_e_after_horizon(beta, horizon):
    """docs/notes.md §2: v averages about 1/(1 - beta) values."""
    impulse = [jnp.array([1.0])] + [jnp.array([0.0])] * horizon
    out, _ = steps(gdt.ema(beta, debias=False), impulse)
    weight = out[-1][0] / out[0][0]  # beta ** horizon
    assert abs(weight - beta**horizon) < 1e-6
    assert abs(weight - np.exp(-1.0)) < 0.15


def test_sgd_momentum_is_the_heavy_ball_form_of_the_notes():
    """docs/notes.md §3: v = a v - eta dW; W := W + v."""
    grad = jax.grad(lambda w: jnp.sum(w**2 / 20.0 * jnp.array([1.0, 20.0])))
    eta, a = 0.1, 0.9
    opt = gdt.sgd(eta, momentum=a)
    w, state = jnp.array([-7.0, 2.0]), opt.init(jnp.zeros(2))
    w_ref, v_ref = np.array([-7.0, 2.0]), np.zeros(2)
    for _ in range(15):
        v_ref = a * v_ref - eta * np.asarray(grad(jnp.asarray(w_ref, jnp.float32)))
        w_ref = w_ref + v_ref
        u, state = opt.update(grad(w), state)
        w = gdt.apply_updates(w, u)
    np.testing.assert_allclose(w, w_ref, rtol=1e-5, atol=1e-6)


def test_ema_momentum_equals_heavy_ball_with_rescaled_learning_rate():
    """docs/notes.md §3: the two forms differ only by eta = alpha (1 - beta)."""
    grad = jax.grad(lambda w: jnp.sum(w**2 / 20.0 * jnp.array([1.0, 20.0])))
    ema_opt, ball_opt = gdt.ema_momentum(0.5, beta=0.9), gdt.sgd(0.05, momentum=0.9)
    w1 = w2 = jnp.array([-7.0, 2.0])
    s1, s2 = ema_opt.init(w1), ball_opt.init(w2)
    for _ in range(25):
        u1, s1 = ema_opt.update(grad(w1), s1)
        u2, s2 = ball_opt.update(grad(w2), s2)
        w1, w2 = gdt.apply_updates(w1, u1), gdt.apply_updates(w2, u2)
    np.testing.assert_allclose(w1, w2, rtol=1e-4, atol=1e-6)


def test_nesterov_tracks_the_look_ahead_form_of_the_notes():
    """docs/notes.md §4: v = g v + eta grad J(theta - g v); theta -= v.

    ``sgd(nesterov=True)`` needs only the gradient at its own point; its
    params are the notes' look-ahead point theta - gamma v.
    """
    curvature = np.array([0.1, 2.0])
    grad_np = lambda w: curvature * w
    eta, gamma = 0.1, 0.9
    theta, v = np.array([-7.0, 2.0]), np.zeros(2)
    opt = gdt.sgd(eta, momentum=gamma, nesterov=True)
    w, state = jnp.array([-7.0, 2.0]), opt.init(jnp.zeros(2))
    for _ in range(20):
        v = gamma * v + eta * grad_np(theta - gamma * v)
        theta = theta - v
        u, state = opt.update(jnp.asarray(grad_np(np.asarray(w)), jnp.float32), state)
        w = gdt.apply_updates(w, u)
        np.testing.assert_allclose(w, theta - gamma * v, rtol=1e-4, atol=1e-5)


def test_ema_tolerates_none_leaves():
    tx = gdt.ema(0.5)
    params = {"a": jnp.ones(2), "b": None}
    u, _ = tx.update({"a": jnp.ones(2), "b": None}, tx.init(params))
    assert u["b"] is None
