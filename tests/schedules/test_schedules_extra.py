"""The schedules optax lacks: hand values, docs/notes.md §8 and torch's formulas."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def _values(schedule, steps):
    """The schedule at steps 0..steps-1, jitted on int32 counts."""
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.arange(steps, dtype=jnp.int32)))


# -- docs/notes.md §8: alpha = alpha_0 / (1 + decay_rate * epoch_num), epochs from 1.

S = 7  # steps per epoch


def test_spec_table_per_epoch_counted_from_one():
    s = gdt.epoch_schedule(gdt.inverse_time_decay(0.2, decay_rate=1.0, decay_steps=1), steps_per_epoch=S)
    got = _values(s, 4 * S).reshape(4, S)  # row k: every step of epoch k + 1
    table = np.array([0.1, 0.0667, 0.05, 0.04])
    np.testing.assert_array_equal(np.round(got.astype(np.float64), 4), np.repeat(table[:, None], S, axis=1))
    # And exactly alpha_0 / (1 + epoch_num) in float32.
    exact = np.float32(0.2) / (np.float32(1) + np.arange(1, 5, dtype=np.float32))
    np.testing.assert_array_equal(got, np.repeat(exact[:, None], S, axis=1))


def test_spec_table_after_completed_epochs():
    # decay_steps = one epoch: the value after k completed epochs is the table's entry k.
    continuous = gdt.inverse_time_decay(0.2, decay_rate=1.0, decay_steps=S)
    stairs = gdt.inverse_time_decay(0.2, decay_rate=1.0, decay_steps=S, staircase=True)
    got_c, got_s = _values(continuous, 5 * S), _values(stairs, 5 * S)
    table = [0.2, 0.1, 0.0667, 0.05, 0.04]
    assert [round(float(got_c[k * S]), 4) for k in range(5)] == table
    np.testing.assert_array_equal(np.round(got_s.astype(np.float64), 4), np.repeat(table, S))
    # Between epochs the continuous form moves every step: 0.2 / (1 + c / S).
    np.testing.assert_allclose(got_c, 0.2 / (1 + np.arange(5 * S) / S), rtol=1e-6)


def test_inverse_time_hand_values():
    s = gdt.inverse_time_decay(1.0, decay_rate=0.5, decay_steps=10)
    assert [float(s(c)) for c in (0, 10, 20, 5)] == pytest.approx([1.0, 1 / 1.5, 0.5, 0.8])


def test_inverse_sqrt_per_mini_batch_and_per_epoch():
    # Per mini-batch t = c + 1: k * alpha_0 / sqrt(t).
    s = gdt.inverse_sqrt_decay(0.1, decay_steps=1, k=2.0)
    np.testing.assert_allclose(_values(s, 50), 0.2 / np.sqrt(np.arange(1, 51)), rtol=1e-6)
    # Per epoch: epoch_num = c // S + 1.
    e = gdt.inverse_sqrt_decay(0.1, decay_steps=S, staircase=True)
    np.testing.assert_allclose(_values(e, 4 * S), 0.1 / np.sqrt(np.arange(4 * S) // S + 1), rtol=1e-6)
    assert float(e(S - 1)) == pytest.approx(0.1) and float(e(3 * S)) == pytest.approx(0.05)


def test_exponential_per_epoch_counted_from_one():
    s = gdt.epoch_schedule(gdt.exponential_decay(0.1, transition_steps=1, decay_rate=0.95), S)
    np.testing.assert_allclose(_values(s, 3 * S), 0.1 * 0.95 ** (np.arange(3 * S) // S + 1), rtol=1e-6)


def test_epoch_schedule_fractional_and_from_zero():
    s = gdt.epoch_schedule(lambda e: e * 1.0, steps_per_epoch=4, first_epoch=0, staircase=False)
    np.testing.assert_allclose(_values(s, 9), np.arange(9) / 4)
    s = gdt.epoch_schedule(lambda e: e * 1.0, steps_per_epoch=4, first_epoch=0)
    np.testing.assert_array_equal(_values(s, 9), np.arange(9) // 4)


# -- Cosine annealing with warm restarts: torch's CosineAnnealingWarmRestarts.


def _torch_warm_restarts(base_lr, t_0, t_mult, eta_min, steps):
    """torch's recursion: ``T_cur += 1; if T_cur >= T_i: T_cur -= T_i; T_i *= T_mult``."""
    out, t_cur, t_i = [], 0, t_0
    for _ in range(steps):
        out.append(eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t_cur / t_i)) / 2)
        t_cur += 1
        if t_cur >= t_i:
            t_cur, t_i = t_cur - t_i, t_i * t_mult
    return np.array(out)


@pytest.mark.parametrize(("t_0", "t_mult", "eta_min"), [(5, 1, 0.0), (3, 2, 0.01), (2, 3, 0.0)])
def test_warm_restarts_match_torch(t_0, t_mult, eta_min):
    steps = 120
    s = gdt.cosine_warm_restarts_schedule(0.1, t_0=t_0, t_mult=t_mult, eta_min=eta_min)
    expected = _torch_warm_restarts(0.1, t_0, t_mult, eta_min, steps)
    np.testing.assert_allclose(_values(s, steps), expected, rtol=1e-6, atol=1e-8)


def test_warm_restarts_restart_exactly_at_the_boundaries():
    s = gdt.cosine_warm_restarts_schedule(1.0, t_0=3, t_mult=2)
    got = _values(s, 46)
    restarts = [0, 3, 9, 21, 45]  # 3 * (2^i - 1)
    np.testing.assert_array_equal(got[restarts], 1.0)
    # The step before each restart is the last, lowest point of its cycle:
    # (1 + cos(pi (T_i - 1) / T_i)) / 2 with T_i = 3, 6, 12, 24.
    before = [(1 + math.cos(math.pi * (t - 1) / t)) / 2 for t in (3, 6, 12, 24)]
    np.testing.assert_allclose(got[[2, 8, 20, 44]], before, rtol=1e-5, atol=1e-7)


def test_warm_restarts_closed_form_with_epoch_argument():
    # torch's step(epoch) closed form: n = int(log(epoch / T_0 * (T_mult - 1) + 1, T_mult)).
    s = gdt.cosine_warm_restarts_schedule(0.5, t_0=4, t_mult=2)
    for epoch in (1, 5, 13, 30, 59, 100):  # away from restarts, where log rounding cannot bite
        n = int(math.log(epoch / 4 * (2 - 1) + 1, 2))
        t_cur, t_i = epoch - 4 * (2**n - 1) / (2 - 1), 4 * 2**n
        assert float(s(epoch)) == pytest.approx(0.5 * (1 + math.cos(math.pi * t_cur / t_i)) / 2, abs=1e-7)


# -- Cyclic learning rate: torch's CyclicLR.get_lr, by hand.


def _torch_cyclic(base_lr, max_lr, up, down, scale_fn, scale_mode, steps):
    total = up + down
    ratio = up / total
    out = []
    for last_epoch in range(steps):
        cycle = math.floor(1 + last_epoch / total)
        x = 1.0 + last_epoch / total - cycle
        scale_factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        height = (max_lr - base_lr) * scale_factor
        arg = cycle if scale_mode == "cycle" else last_epoch
        out.append(base_lr + height * scale_fn(arg))
    return np.array(out)


@pytest.mark.parametrize(
    ("mode", "scale_fn", "scale_mode"),
    [
        ("triangular", lambda x: 1.0, "cycle"),
        ("triangular2", lambda x: 1 / (2.0 ** (x - 1)), "cycle"),
        ("exp_range", lambda x: 0.99**x, "iterations"),
    ],
)
@pytest.mark.parametrize(("up", "down"), [(4, None), (3, 6)])
def test_cyclic_matches_torch(mode, scale_fn, scale_mode, up, down):
    s = gdt.cyclic_schedule(0.01, 0.1, step_size_up=up, step_size_down=down, mode=mode, gamma=0.99)
    expected = _torch_cyclic(0.01, 0.1, up, up if down is None else down, scale_fn, scale_mode, 40)
    np.testing.assert_allclose(_values(s, 40), expected, rtol=1e-5, atol=1e-8)


def test_cyclic_boundaries_by_hand():
    s = gdt.cyclic_schedule(0.1, 1.0, step_size_up=2, step_size_down=3, mode="triangular2")
    got = [float(s(c)) for c in range(11)]
    # Cycle 1: 0.1 -> 1.0 over 2 steps, back over 3; cycle 2 at half height.
    expected = [0.1, 0.55, 1.0, 0.7, 0.4, 0.1, 0.325, 0.55, 0.4, 0.25, 0.1]
    assert got == pytest.approx(expected, rel=1e-6)


def test_cyclic_custom_scale_fn():
    s = gdt.cyclic_schedule(0.0, 1.0, step_size_up=2, scale_fn=lambda n: 1.0 / n, scale_mode="iterations")
    expected = _torch_cyclic(0.0, 1.0, 2, 2, lambda n: 1.0 / n if n else math.inf, "iterations", 9)
    expected[0] = 0.0  # torch's 0 * inf at step 0 is nan; ours is 0 * inf too
    got = _values(s, 9)
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-6)


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: gdt.inverse_time_decay(0.1, 1.0, decay_steps=0), ValueError, "decay_steps"),
        (lambda: gdt.inverse_time_decay(0.1, -1.0, decay_steps=5), ValueError, "decay_rate"),
        (lambda: gdt.inverse_sqrt_decay(0.1, decay_steps=-2), ValueError, "decay_steps"),
        (lambda: gdt.cosine_warm_restarts_schedule(0.1, t_0=0), ValueError, "t_0"),
        (lambda: gdt.cosine_warm_restarts_schedule(0.1, t_0=5, t_mult=0), ValueError, "t_mult"),
        (lambda: gdt.cosine_warm_restarts_schedule(0.1, t_0=5, t_mult=1.5), TypeError, "t_mult"),
        (lambda: gdt.cyclic_schedule(0.1, 1.0, step_size_up=0), ValueError, "step_size_up"),
        (lambda: gdt.cyclic_schedule(0.1, 1.0, step_size_down=-1), ValueError, "step_size_down"),
        (lambda: gdt.cyclic_schedule(0.1, 1.0, mode="sawtooth"), ValueError, "mode"),
        (lambda: gdt.cyclic_schedule(0.1, 1.0, scale_fn=abs, scale_mode="epoch"), ValueError, "scale_mode"),
        (lambda: gdt.epoch_schedule(lambda e: e, steps_per_epoch=0), ValueError, "steps_per_epoch"),
        (lambda: gdt.epoch_schedule(0.1, steps_per_epoch=10), TypeError, "schedule"),
    ],
)
def test_bad_input_names_the_argument(build, error, match):
    with pytest.raises(error, match=match):
        build()
