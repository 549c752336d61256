"""The nine readings of a loss curve (docs/notes.md §10), each a function.

Each ``read_*`` function looks at the numbers of ``_curves.py`` and returns
a :class:`Finding` or ``None``; :func:`gdtransforms.diagnose` calls them. The
thresholds are relative to the curve's own scale (so they hold for any loss)
and were calibrated on real runs with planted faults (``tests/faulty_runs.py``;
``benchmarks/doctor_reliability.py`` measures how often each is named).

The readings (``Finding.name``):

==================== ========================================================
``not_learning``      flat from the start: the gradient never reaches the weights
``overfitting``       training loss -> 0 while the validation loss pulls away
``lr_too_low``        slow steady decrease, still falling at the same pace
``slow_start``        flat start, then a drop: initialization too small
``loss_rising``       the loss goes up: gradient sign flipped (or rate far too high)
``epoch_bumps``       the same bump at every epoch: data not reshuffled
``overflow``          the curve ends in NaN/inf: numeric overflow, missing epsilon
``noisy_validation``  validation curve jumps around: validation set too small
``runs_disagree``     identical runs end far apart: doubled output activation
==================== ========================================================
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

from gdtransforms.toolkit._curves import (
    Shape,
    finite_prefix,
    first_below,
    fmt,
    robust_std,
    smooth_curve,
    trend_t,
    val_steps,
)

__all__ = [
    "MIN_STEPS",
    "READINGS",
    "Finding",
    "read_epoch_bumps",
    "read_loss_rising",
    "read_lr_too_low",
    "read_noisy_validation",
    "read_not_learning",
    "read_overfitting",
    "read_overflow",
    "read_runs_disagree",
    "read_slow_start",
]

READINGS: Mapping[str, str] = {
    "not_learning": "not learning",
    "overfitting": "overfitting",
    "lr_too_low": "learning rate too low",
    "slow_start": "slow start",
    "loss_rising": "loss rising",
    "epoch_bumps": "a bump at every epoch",
    "overflow": "overflow / NaN",
    "noisy_validation": "noisy validation",
    "runs_disagree": "identical runs disagree",
}

# Thresholds, relative to the curve's own scale so that they hold for any loss.
MIN_STEPS = 20  # below this a curve is too short to read its shape
_SIGNIFICANT_T = 5.0  # |t| of a trend that is not noise
_FLAT_REL = 0.05  # "flat": changed by less than 5% of the initial loss
_RISE_REL = 0.10  # "rising": ends 10% above where it started
_STEADY_T50 = 0.30  # half of the drop took >= 30% of the run: steady, not front-loaded
_PLATEAU_FRAC = 0.12  # a flat start of >= 12% of the run before 10% of the drop
_BIG_DROP = 0.25  # a slow start ends in a drop of >= 25% of the initial loss
_OVERFIT_TRAIN = 0.25  # training loss fell below 25% of its start
_OVERFIT_GAP = 0.25  # gap of >= 25% of the initial loss between val and train
_BUMP_SHARE = 0.30  # the epoch pattern explains >= 30% of the wiggle
_NOISY_VAL = 0.04  # evaluations sit >= 4% off the line through their neighbours
_DISAGREE = 0.25  # final losses spread over >= 25% of the improvement


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


def _finding(name: str, steps: tuple[int, int], evidence: str, advice: str, **numbers: float) -> Finding:
    return Finding(
        name,
        READINGS[name],
        (int(steps[0]), int(steps[1])),
        evidence,
        advice,
        {k: float(v) for k, v in numbers.items()},
    )


def read_overflow(
    train: np.ndarray, n_train: int, val: np.ndarray | None, n_val: int, val_every: int
) -> Finding | None:
    bad = []
    if n_train < len(train):
        bad.append((n_train, "training", train[n_train], train[:n_train]))
    if val is not None and n_val < len(val):
        bad.append(((n_val + 1) * val_every - 1, "validation", val[n_val], val[:n_val]))
    if not bad:
        return None
    step, which, value, before = min(bad, key=lambda b: b[0])
    what = "NaN" if np.isnan(value) else "inf"
    if len(before):
        last = float(before[-1])
        growth = float(np.max(np.abs(before)) / max(abs(float(before[0])), 1e-30))
        history = (
            f"; the last finite value was {fmt(last)}, the largest "
            f"{fmt(float(np.max(np.abs(before))))} ({fmt(growth)}x the first)"
        )
    else:
        last, growth, history = math.nan, math.nan, " from the very first step"
    return _finding(
        "overflow",
        (step, len(train) - 1),
        f"the {which} loss is {what} at step {step}{history}",
        "a number overflowed or divided 0 by 0: an epsilon is missing or zero (the eps of "
        "adam/rmsprop/adagrad, a division by a standard deviation, a log of a probability): "
        "put it back (e.g. eps=1e-8); if the loss grew huge first, lower the learning rate",
        step=step,
        last_finite=last,
        growth=growth,
    )


def read_loss_rising(sh: Shape) -> Finding | None:
    margin = max(_RISE_REL * abs(sh.start), 4 * sh.noise / math.sqrt(max(1, sh.n // 10)))
    if sh.end > sh.start + margin:
        return _finding(
            "loss_rising",
            (0, sh.n - 1),
            f"the loss went up from {fmt(sh.start)} (first steps) to {fmt(sh.end)} (last 10% of {sh.n} steps)",
            "the update is applied with the wrong sign (apply_updates adds the updates, so "
            "they must be -learning_rate * gradient, as gdt.sgd makes them); if the sign is "
            "right, the learning rate is far too high",
            start=sh.start,
            end=sh.end,
        )
    drop = sh.start - sh.low
    tail = max(1, sh.n // 10)
    if (
        drop > _FLAT_REL * abs(sh.start)
        and sh.low_step < sh.n - tail  # the low is behind us, not in the last stretch
        and sh.end - sh.low > max(0.5 * drop, margin)
    ):
        return _finding(
            "loss_rising",
            (sh.low_step, sh.n - 1),
            f"the loss fell from {fmt(sh.start)} to {fmt(sh.low)} at step {sh.low_step}, then "
            f"rose back to {fmt(sh.end)}",
            "the learning rate is too high for this stage of training (lower it or decay it); "
            "check the sign of the update if it never fell at all",
            start=sh.start,
            low=sh.low,
            end=sh.end,
        )
    return None


def _significant_decrease(sh: Shape, val: np.ndarray | None) -> bool:
    if sh.trend_t <= -_SIGNIFICANT_T and sh.end < sh.start:
        return True
    if val is not None and len(val) >= 8:
        return trend_t(val) <= -_SIGNIFICANT_T and val[-1] < val[0] * (1 - 0.01)
    return False


def read_not_learning(sh: Shape, val: np.ndarray | None) -> Finding | None:
    flat = _FLAT_REL * abs(sh.start)
    if abs(sh.end - sh.start) > flat or sh.low < sh.start - 2 * flat:
        return None
    if _significant_decrease(sh, val) or sh.trend_t >= _SIGNIFICANT_T:
        return None
    extra = ""
    if val is not None and len(val):
        extra = f"; validation {fmt(float(val[0]))} -> {fmt(float(val[-1]))}"
    return _finding(
        "not_learning",
        (0, sh.n - 1),
        f"the loss stayed flat over {sh.n} steps: {fmt(sh.start)} -> {fmt(sh.end)} with no "
        f"trend (t = {sh.trend_t:.1f}){extra}",
        "the gradient is not reaching the weights: check that the new params from "
        "apply_updates are the ones used next step, that the optimizer state is carried, "
        "that the loss depends on the params (no stop_gradient), and that the learning "
        "rate is not 0",
        start=sh.start,
        end=sh.end,
        trend_t=sh.trend_t,
    )


def read_slow_start(sh: Shape) -> Finding | None:
    drop = sh.start - sh.low
    if drop < _BIG_DROP * abs(sh.start):
        return None
    s = sh.smooth
    t10 = first_below(s, sh.start - 0.1 * drop)
    if t10 < _PLATEAU_FRAC * sh.n or t10 >= sh.n:
        return None
    t90 = first_below(s, sh.start - 0.9 * drop)
    done = t90 if t90 < sh.n else sh.low_step  # the drop may still be under way
    if done <= t10:
        return None
    # Then a drop: at least three times as fast as the plateau.
    plateau_pace = (sh.start - s[t10]) / t10
    drop_pace = (s[t10] - s[done]) / (done - t10)
    if drop_pace < 3 * plateau_pace:
        return None
    return _finding(
        "slow_start",
        (0, t10),
        f"the loss stayed near {fmt(sh.start)} for the first {t10} steps "
        f"({100 * t10 / sh.n:.0f}% of the run), then fell to {fmt(float(s[done]))} by step {done}"
        + ("" if t90 < sh.n else " and is still falling"),
        "the initialization is probably too small (or wrong): use Xavier (std 1/sqrt(fan_in)) "
        "or He (std sqrt(2/fan_in) for ReLU); waiting also works; momentum or Adam cross "
        "such plateaus faster",
        plateau_steps=t10,
        drop_done_step=done,
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
    t_all = np.arange(n)
    slope_all = float(np.polyfit(t_all, curve, 1)[0])
    slope_last = float(np.polyfit(np.arange(len(quarter)), quarter, 1)[0])
    # Steady: the last quarter falls at 40%-250% of the average pace (a curve
    # that speeds up is a slow start, one that levels off has converged).
    pace = slope_last / slope_all
    if t50 < _STEADY_T50 * n or not 0.4 <= pace <= 2.5:
        return None
    return _finding(
        "lr_too_low",
        (0, sh.n - 1),
        f"the loss falls slowly and steadily, {fmt(start)} -> {fmt(end)} "
        f"({100 * drop / abs(start):.1f}%); half of that drop took {100 * t50 / n:.0f}% of the "
        f"{unit} and the last quarter still falls at {pace:.0%} of the "
        "average pace",
        "raise the learning rate (try 3-10x, or a short grid/random search), or train longer",
        start=start,
        end=end,
        t50_fraction=t50 / n,
        late_pace=pace,
    )


def read_epoch_bumps(x: np.ndarray, spe: int | None) -> Finding | None:
    if not spe or spe < 2:
        return None
    n = len(x)
    epochs = n // spe
    if epochs < 4:  # epoch 0 is left out: its big drop is not a bump
        return None
    # Losses shrink by orders of magnitude; in log space a pattern that scales
    # with the loss repeats unchanged.
    y = np.log(x) if np.all(x > 0) else x
    # A moving average over exactly one epoch cancels any pattern that repeats
    # every epoch, so the residual keeps the pattern and the noise.
    csum = np.concatenate([[0.0], np.cumsum(y)])
    half = spe // 2
    body = y[spe : epochs * spe].reshape(epochs - 1, spe)
    t = np.arange(spe, epochs * spe)
    lo, hi = t - half, t - half + spe
    ok = hi <= n
    if not ok.all():  # the last epoch has no full window: drop it
        body, t, lo, hi = body[:-1], t[:-spe], lo[:-spe], hi[:-spe]
    if len(body) < 3:
        return None
    trend = (csum[hi] - csum[lo]) / spe
    resid = body - trend.reshape(body.shape)
    profile = resid.mean(axis=0)
    total = float(np.mean(resid**2))
    if total == 0.0:
        return None
    share = float(np.mean(profile**2)) / total
    threshold = max(_BUMP_SHARE, 3.0 / len(body))
    if share < threshold:
        return None
    peak = int(np.argmax(profile))
    # The bump in loss units: the average epoch's high minus its low.
    epoch_means = x[spe : spe * (len(body) + 1)].reshape(len(body), spe).mean(axis=0)
    size = float(epoch_means.max() - epoch_means.min())
    return _finding(
        "epoch_bumps",
        (spe, spe * (len(body) + 1) - 1),
        f"the loss repeats the same pattern in every epoch ({len(body)} epochs of {spe} steps): "
        f"it peaks at step {peak} of each epoch, {fmt(size)} from low to high; the "
        f"pattern explains {share:.0%} of the step-to-step wiggle (about "
        f"{1 / len(body):.0%} if the batches were reshuffled)",
        "reshuffle the training data every epoch (gdt.toolkit.minibatches / gdt.toolkit.epoch_indices with "
        "a new key per epoch); a sorted data set makes this worse",
        share=share,
        bump_size=size,
        peak_step=peak,
    )


def read_overfitting(sh: Shape, val: np.ndarray | None, val_every: int) -> Finding | None:
    if val is None or len(val) < 5:
        return None
    if sh.end > _OVERFIT_TRAIN * sh.start:
        return None
    v = smooth_curve(val, max(1, len(val) // 10))
    v_end = float(np.mean(val[-max(1, len(val) // 10) :]))
    i_min = int(np.argmin(v))
    v_min = float(v[i_min])
    steps = val_steps(len(val), val_every)
    step_min = int(min(steps[i_min], sh.n - 1))
    gap_end = v_end - sh.end
    gap_at_min = v_min - float(sh.smooth[step_min])
    if gap_end < _OVERFIT_GAP * abs(sh.start) or gap_end < 2 * sh.end:
        return None
    if gap_end <= gap_at_min + 0.02 * abs(sh.start):  # the gap is not growing
        return None
    return _finding(
        "overfitting",
        (step_min, sh.n - 1),
        f"training loss fell to {fmt(sh.end)} while validation loss bottomed at "
        f"{fmt(v_min)} (step {step_min}) and ended at {fmt(v_end)}: the gap grew from "
        f"{fmt(gap_at_min)} to {fmt(gap_end)}",
        "get more training data first (collect, augment); then regularize (weight decay "
        "as in gdt.adamw, L2, dropout) or stop at the validation minimum",
        train_end=sh.end,
        val_min=v_min,
        val_end=v_end,
        gap=gap_end,
    )


def read_noisy_validation(val: np.ndarray | None, val_every: int) -> Finding | None:
    if val is None or len(val) < 8:
        return None
    # How far each evaluation sits off the line through its two neighbours, in
    # log scale (relative to the loss) so that it holds at any loss level.
    y = np.log(val) if np.all(val > 0) else val / max(float(np.mean(np.abs(val))), 1e-30)
    jump = np.abs(y[1:-1] - 0.5 * (y[:-2] + y[2:]))
    noise = float(np.mean(jump))
    if noise < _NOISY_VAL:
        return None
    worst = int(np.argmax(jump)) + 1
    return _finding(
        "noisy_validation",
        (val_every - 1, len(val) * val_every - 1),
        f"the validation loss zig-zags: each evaluation sits {noise:.1%} off the line "
        f"through its neighbours on average ({len(val)} evaluations; the worst at step "
        f"{(worst + 1) * val_every - 1}: {fmt(float(val[worst]))})",
        "the validation set is too small to measure the loss: use hundreds to thousands of "
        "examples (don't skimp on it)",
        zigzag=noise,
    )


def read_runs_disagree(curves: Sequence[np.ndarray]) -> Finding | None:
    if len(curves) < 2:
        return None
    ends, starts, ses, broken = [], [], [], []
    for i, c in enumerate(curves):
        k = finite_prefix(c)
        if k < len(c):
            broken.append(i)
        c = c[:k]
        if len(c) < MIN_STEPS:
            continue
        tail = max(1, len(c) // 10)
        starts.append(float(np.mean(c[: max(1, len(c) // 50)])))
        ends.append(float(np.mean(c[-tail:])))
        ses.append(robust_std(c - smooth_curve(c, max(1, len(c) // 20))) / math.sqrt(tail))
    n = len(curves)
    if broken and len(broken) < n:
        return _finding(
            "runs_disagree",
            (0, max(len(c) for c in curves) - 1),
            f"{len(broken)} of {n} identical runs ended in NaN/inf and the others did not (runs {broken})",
            "identical runs should behave alike: look for a doubled output activation "
            "(softmax before a softmax-cross-entropy loss) or another numerically fragile layer",
        )
    if len(ends) < 2:
        return None
    start = float(np.median(starts))
    improvement = start - float(np.median(ends))
    spread = max(ends) - min(ends)
    if improvement < _FLAT_REL * abs(start) or spread < _DISAGREE * improvement:
        return None
    if spread < 5 * max(ses):
        return None
    return _finding(
        "runs_disagree",
        (0, max(len(c) for c in curves) - 1),
        f"{n} identical runs end at losses from {fmt(min(ends))} to {fmt(max(ends))}: a "
        f"spread of {fmt(spread)}, {spread / improvement:.0%} of the {fmt(improvement)} "
        "they improved on average",
        "identical runs should agree: look for a doubled output activation (softmax applied "
        "before a loss that applies it again, such as softmax_cross_entropy); until they "
        "agree, one run's curve says little about speed",
        spread=spread,
        improvement=improvement,
        lowest=min(ends),
        highest=max(ends),
    )
