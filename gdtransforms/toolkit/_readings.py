"""The readings of a training-loss curve's shape (docs/notes.md §10), each a function.

Each ``read_*`` function looks at the numbers of ``_curves.py`` and returns a
:class:`Finding` or ``None``; :func:`gdtransforms.toolkit.diagnose` calls them.
Every threshold is a multiple of the curve's own noise (the robust spread of
the steps around the smoothed curve) or a ratio of differences of the curve,
so adding a constant to the loss changes no reading. They were calibrated on
the bank of real runs (``benchmarks/doctor_bank.py``; the figures are printed by
``benchmarks/doctor_figures.py``). The validation, epoch, seed and NaN readings
are in ``_readings_val.py``.

The readings (``Finding.name``):

==================== ========================================================
``too_short``         too few finite steps to judge the curve's shape
``not_learning``      no trend beyond the noise (or stuck at chance, log n)
``lr_too_high``       a spike, then a dead plateau worse than before it
``overfitting``       validation rises from its minimum by more than its noise
``lr_too_low``        slow steady decrease, still falling at the same pace
``slow_start``        flat start, then a drop: initialization too small
``loss_rising``       the loss goes up: gradient sign flipped
``epoch_bumps``       the same bump at every epoch: data not reshuffled
``overflow``          NaN/inf in the curve: numeric overflow, missing epsilon
``noisy_validation``  validation noise far beyond the training curve's
``runs_disagree``     identical runs end far apart: doubled output activation
==================== ========================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np

from gdtransforms.toolkit._curves import Shape, block_trend_t, first_below, fmt, kendall_tau, robust_std, smooth_curve

__all__ = [
    "MIN_STEPS",
    "READINGS",
    "Finding",
    "finding",
    "read_loss_rising",
    "read_lr_too_high",
    "read_lr_too_low",
    "read_not_learning",
    "read_slow_start",
    "too_short",
]

READINGS: Mapping[str, str] = {
    "too_short": "too short to judge",
    "not_learning": "not learning",
    "lr_too_high": "learning rate too high",
    "overfitting": "overfitting",
    "lr_too_low": "learning rate too low",
    "slow_start": "slow start",
    "loss_rising": "loss rising",
    "epoch_bumps": "a bump at every epoch",
    "overflow": "overflow / NaN",
    "noisy_validation": "noisy validation",
    "runs_disagree": "identical runs disagree",
}

# Thresholds, in units of the curve's own noise or as ratios of its own differences.
MIN_STEPS = 20  # below this a curve is too short to read its shape
_SIGNIFICANT_T = 5.0  # |t| of a trend (over block means) that is not noise
_FLAT_SE = 5.0  # "flat": start and best level within 5 noise units of each other
_RISE_SE = 8.0  # "rising": ends 8 noise units above its start (or its low)...
_RISING_TAU = 0.5  # ...and goes up more often than down (Kendall's tau of the block means)
_STEADY_T50 = 0.25  # half of the drop took >= 25% of the run: steady, not front-loaded
_PLATEAU_FRAC = 0.06  # a flat start of >= 6% of the run before 10% of the drop
_DROP_SE = 20.0  # a slow start ends in a drop of >= 20 noise units
_SPIKE_SE = 10.0  # a spike sits >= 10 noise units of the plateau above the start
_CHANCE_BAND = (0.85, 1.05)  # "at chance": between 85% and 105% of log(num_classes) (uneven classes sit lower)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One reading of a loss curve.

    Attributes:
      name: the reading's key in :data:`READINGS` (e.g. ``"overfitting"``).
      title: its name in words.
      steps: ``(first, last)`` steps of the training curve the evidence covers.
      evidence: what was seen, with steps and numbers.
      advice: what to do about it.
      numbers: the measured values the verdict rests on.
    """

    name: str
    title: str
    steps: tuple[int, int]
    evidence: str
    advice: str
    numbers: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.title} (steps {self.steps[0]}-{self.steps[1]}): {self.evidence} -> {self.advice}"


def finding(name: str, steps: tuple[int, int], evidence: str, advice: str, **numbers: float) -> Finding:
    """A :class:`Finding` with its title from :data:`READINGS`."""
    return Finding(
        name,
        READINGS[name],
        (int(steps[0]), int(steps[1])),
        evidence,
        advice,
        {k: float(v) for k, v in numbers.items()},
    )


def too_short(n_finite: int, n: int) -> Finding:
    """The explicit verdict for a curve with fewer than :data:`MIN_STEPS` finite steps."""
    return finding(
        "too_short",
        (0, max(0, n - 1)),
        f"only {n_finite} finite steps of {n}; at least {MIN_STEPS} are needed to read a shape",
        "train longer (or log the loss at every step) before judging the curve",
        finite_steps=n_finite,
    )


def _margin(sh: Shape, a: float, b: float) -> float:
    """The noise of the difference of a mean of ``a`` steps and a mean of ``b`` steps."""
    return sh.noise * math.sqrt(1.0 / max(1.0, a) + 1.0 / max(1.0, b))


def read_loss_rising(sh: Shape) -> Finding | None:
    margin = _RISE_SE * _margin(sh, sh.head, sh.tail)
    if sh.end > sh.start + margin and kendall_tau(sh.x, sh.window) >= _RISING_TAU:
        return finding(
            "loss_rising",
            (0, sh.step(sh.n - 1)),
            f"the loss went up from {fmt(sh.start)} (first steps) to {fmt(sh.end)} (last 10% of {sh.n} steps), "
            f"{(sh.end - sh.start) / sh.noise if sh.noise else math.inf:.0f}x its step-to-step noise",
            "the update is applied with the wrong sign (apply_updates adds the updates, so "
            "they must be -learning_rate * gradient, as gdt.sgd makes them); if the sign is "
            "right, the learning rate is far too high",
            start=sh.start,
            end=sh.end,
        )
    drop = sh.start - sh.low
    low_margin = _RISE_SE * _margin(sh, sh.window, sh.tail)
    if (
        drop > max(low_margin, _RISE_SE * _margin(sh, sh.head, sh.window))
        and sh.low_step < sh.n - 2 * sh.tail  # the low is behind us, not in the last stretch
        and sh.end - sh.low > max(0.5 * drop, low_margin)
        and kendall_tau(sh.x[sh.low_step :], sh.window) >= _RISING_TAU
    ):
        return finding(
            "loss_rising",
            (sh.step(sh.low_step), sh.step(sh.n - 1)),
            f"the loss fell from {fmt(sh.start)} to {fmt(sh.low)} at step {sh.step(sh.low_step)}, then "
            f"rose back to {fmt(sh.end)}",
            "the learning rate is too high for this stage of training (lower it or decay it); "
            "check the sign of the update if it never fell at all",
            start=sh.start,
            low=sh.low,
            end=sh.end,
        )
    return None


def _at_chance(level: float, num_classes: int | None) -> bool:
    if not num_classes or num_classes < 2:
        return False
    chance = math.log(num_classes)
    return _CHANCE_BAND[0] * chance <= level <= _CHANCE_BAND[1] * chance


def read_lr_too_high(sh: Shape, val: np.ndarray | None = None, num_classes: int | None = None) -> Finding | None:
    half = sh.n // 2
    tail = sh.x[half:]
    plateau = float(np.mean(tail))
    tail_noise = robust_std(tail - sh.smooth[half:])
    start = min(sh.start, float(sh.x[0]))  # the loss before any update, unless a spike came first
    # A spike: the worst stretch of five steps in the first half, above the start.
    short = smooth_curve(sh.x, 5)[1 : max(2, half)]
    spike_at = int(np.argmax(short)) + 1
    spike = float(short[spike_at - 1])
    if spike - start <= _SPIKE_SE * tail_noise / math.sqrt(5):
        return None
    chance = _at_chance(plateau, num_classes)
    if spike_at < sh.head:
        # Blown up at once: nothing was learned before. Dead only when it then sits at chance.
        if not chance:
            return None
    else:
        # Dead: worse after the spike than before it, in validation too (a net that recovers is not dead)...
        pre = sh.x[: max(1, spike_at - 2)]  # the curve before the spike, smoothed on its own
        before = min(float(sh.x[0]), float(np.min(smooth_curve(pre, min(sh.window, max(1, len(pre) // 3))))))
        if plateau <= before + 3 * tail_noise / math.sqrt(len(tail)):
            return None
        if val is not None and len(val) >= 8 and sh.step(spike_at) * len(val) > 3 * (sh.step(sh.n - 1) + 1):
            # The evaluations taken before the spike (its five-step window) began.
            v_before = val[: int((sh.step(spike_at) - 2) * len(val) / (sh.step(sh.n - 1) + 1))]
            v_noise = robust_std(val - smooth_curve(val, 3))
            v_after = val[len(val) // 2 :]
            if float(np.mean(v_after)) <= float(np.min(v_before)) + 3 * v_noise / math.sqrt(len(v_after)):
                return None
    # ...and flat: its first and last quarters agree within the noise, or within 5% of the spike.
    q = max(1, len(tail) // 4)
    drift = abs(float(np.mean(tail[:q])) - float(np.mean(tail[-q:])))
    if drift > max(4 * tail_noise * math.sqrt(2.0 / q), 0.05 * (spike - plateau)):
        return None
    at = f", at chance level log({num_classes}) = {fmt(math.log(num_classes))}" if chance and num_classes else ""
    return finding(
        "lr_too_high",
        (sh.step(spike_at), sh.step(sh.n - 1)),
        f"the loss spiked to {fmt(spike)} at step {sh.step(spike_at)} (it started at {fmt(start)}), "
        f"then sat flat at {fmt(plateau)} for the second half of the run, no better than before the spike{at}: "
        "the net died",
        "the learning rate is far too high: lower it 10x (or use warmup and gradient clipping, "
        "gdt.clip_by_global_norm); with ReLU, units that died stay dead, so restart from a fresh init",
        spike=spike,
        plateau=plateau,
        start=start,
    )


def _significant_decrease(sh: Shape, val: np.ndarray | None) -> bool:
    if sh.trend_t <= -_SIGNIFICANT_T and sh.start - sh.end > _FLAT_SE * _margin(sh, sh.head, sh.tail):
        return True
    if val is not None and len(val) >= 8:
        k = max(2, len(val) // 10)
        noise = robust_std(val - smooth_curve(val, 5))
        drop = float(np.mean(val[:k]) - np.mean(val[-k:]))
        return block_trend_t(val, 1) <= -_SIGNIFICANT_T and drop > _FLAT_SE * noise * math.sqrt(2.0 / k)
    return False


def read_not_learning(sh: Shape, val: np.ndarray | None, num_classes: int | None = None) -> Finding | None:
    # Stuck at chance: the last 80% of the run flat at log(num_classes).
    body = sh.x[sh.n // 5 :]
    stuck = _at_chance(float(np.mean(body)), num_classes) and abs(block_trend_t(body, sh.window)) < _SIGNIFICANT_T
    flat = _FLAT_SE * _margin(sh, sh.head, sh.window)
    moved = (
        sh.start - sh.low > flat
        or abs(sh.end - sh.start) > _FLAT_SE * _margin(sh, sh.head, sh.tail)
        or float(np.mean(sh.x[:3])) - sh.low > _FLAT_SE * _margin(sh, 3, sh.window)  # a drop within the first steps
    )
    if not stuck and (moved or _significant_decrease(sh, val) or abs(sh.trend_t) >= _SIGNIFICANT_T):
        return None
    extra = ""
    if val is not None and len(val):
        extra = f"; validation {fmt(float(val[0]))} -> {fmt(float(val[-1]))}"
    if stuck and num_classes:
        extra += f"; it sits at chance level, log({num_classes}) = {fmt(math.log(num_classes))}"
    return finding(
        "not_learning",
        (0, sh.step(sh.n - 1)),
        f"the loss stayed flat over {sh.n} steps: {fmt(sh.start)} -> {fmt(sh.end)}, within its noise "
        f"({fmt(sh.noise)} a step), with no trend (t = {sh.trend_t:.1f}){extra}",
        "the gradient is not reaching the weights: check that the new params from "
        "apply_updates are the ones used next step, that the optimizer state is carried, "
        "that the loss depends on the params (no stop_gradient), that the learning "
        "rate is not 0, and that the init is not all zeros (symmetric units never differ)",
        start=sh.start,
        end=sh.end,
        trend_t=sh.trend_t,
        noise=sh.noise,
    )


def read_slow_start(sh: Shape) -> Finding | None:
    drop = sh.start - sh.low
    if drop < _DROP_SE * _margin(sh, sh.head, sh.window):
        return None
    s = sh.smooth
    t10 = first_below(s, sh.start - 0.1 * drop)
    if t10 < _PLATEAU_FRAC * sh.n or t10 >= sh.n:
        return None
    t90 = first_below(s, sh.start - 0.9 * drop)
    done = t90 if t90 < sh.n else sh.low_step  # the drop may still be under way
    if done <= t10:
        return None
    # Then a drop: at least twice as fast as the plateau.
    plateau_pace = (sh.start - s[t10]) / t10
    drop_pace = (s[t10] - s[done]) / (done - t10)
    if drop_pace < 2 * plateau_pace:
        return None
    return finding(
        "slow_start",
        (0, sh.step(t10)),
        f"the loss stayed near {fmt(sh.start)} for the first {sh.step(t10)} steps "
        f"({100 * t10 / sh.n:.0f}% of the run), then fell to {fmt(float(s[done]))} by step {sh.step(done)}"
        + ("" if t90 < sh.n else " and is still falling"),
        "the initialization is probably too small (or wrong): use Xavier (std 1/sqrt(fan_in)) "
        "or He (std sqrt(2/fan_in) for ReLU); waiting also works; momentum or Adam cross "
        "such plateaus faster",
        plateau_steps=sh.step(t10),
        drop_done_step=sh.step(done),
        start=sh.start,
        low=sh.low,
    )


def read_lr_too_low(sh: Shape, val: np.ndarray | None) -> Finding | None:
    if not _significant_decrease(sh, val):
        return None
    if val is not None and len(val) >= 8:
        curve, unit = smooth_curve(val, max(1, len(val) // 10)), "evaluations"
    else:
        curve, unit = sh.smooth, "steps"
    n = len(curve)
    start, end = float(curve[0]), float(np.mean(curve[-max(1, n // 10) :]))
    drop = start - end
    if drop <= 0:
        return None
    t50 = first_below(curve, start - 0.5 * drop)
    quarter = curve[-max(3, n // 4) :]
    slope_all = float(np.polyfit(np.arange(n), curve, 1)[0])
    slope_last = float(np.polyfit(np.arange(len(quarter)), quarter, 1)[0])
    # Steady: the last quarter falls at 40%-250% of the average pace (a curve
    # that speeds up is a slow start, one that levels off has converged).
    pace = slope_last / slope_all if slope_all else 0.0
    if t50 < _STEADY_T50 * n or not 0.4 <= pace <= 2.5:
        return None
    return finding(
        "lr_too_low",
        (0, sh.step(sh.n - 1)),
        f"the loss falls slowly and steadily, {fmt(start)} -> {fmt(end)}; half of that drop took "
        f"{100 * t50 / n:.0f}% of the {unit} and the last quarter still falls at {pace:.0%} of the "
        "average pace",
        "raise the learning rate (try 3-10x, or a short grid/random search), or train longer",
        start=start,
        end=end,
        t50_fraction=t50 / n,
        late_pace=pace,
    )
