"""The readings beyond one curve's shape: validation, epochs, seeds, NaN/inf (docs/notes.md §10).

Like ``_readings.py``: every threshold is a multiple of the curves' own noise
or a ratio of their own differences, so adding a constant to the losses
changes no reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gdtransforms.toolkit._curves import Shape, fmt, robust_std, smooth_curve, val_steps
from gdtransforms.toolkit._readings import MIN_STEPS, Finding, finding

__all__ = [
    "read_epoch_bumps",
    "read_noisy_validation",
    "read_overfitting",
    "read_overflow",
    "read_runs_disagree",
]

_BUMP_SHARE = 0.30  # the epoch pattern explains >= 30% of the wiggle
_OVERFIT_SE = 2.0  # validation rises >= 2 noise units from its minimum...
_OVERFIT_REL = 0.25  # ...and by >= 25% of its drop from the first evaluation to the minimum
_NOISY_VAL = 2.0  # validation wiggle > 2x the training curve's, smoothed over the same window
_NOISY_SCALE = 0.01  # and >= 1% of the validation curve's own range (a converged net's jitter is not noise)
_DISAGREE = 0.25  # final losses spread over >= 25% of the improvement
_DISAGREE_SE = 5.0  # and over >= 5 noise units
_ROUNDING = 1e-9  # a wiggle this small relative to the values is rounding: a constant curve has no noise


def _runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` index of each stretch of True."""
    edges = np.flatnonzero(np.diff(np.r_[0, bad.astype(np.int8), 0]))
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]


def read_overflow(train: np.ndarray, val: np.ndarray | None, val_every: int) -> Finding | None:
    """Where the training (and validation) curves are NaN/inf, and whether they recovered."""
    parts = []
    first: int | None = None
    last: int = 0
    count = 0
    for which, curve, to_step in (
        ("training", train, lambda i: i),
        ("validation", val, lambda i: int(val_steps(i + 1, val_every)[-1])),
    ):
        if curve is None:
            continue
        bad = ~np.isfinite(curve)
        if not bad.any():
            continue
        stretches = _runs(bad)
        count += int(bad.sum())
        a, b = to_step(stretches[0][0]), to_step(stretches[-1][1])
        first = a if first is None else min(first, a)
        last = max(last, b)
        what = "NaN" if np.isnan(curve[bad][0]) else "inf"
        where = ", ".join(f"{to_step(s)}" if s == e else f"{to_step(s)}-{to_step(e)}" for s, e in stretches[:5]) + (
            ", ..." if len(stretches) > 5 else ""
        )
        recovered = not bad[-1]
        finite = curve[np.isfinite(curve)]
        before = curve[: stretches[0][0]]
        history = f"; before it the loss was {fmt(float(before[-1]))}" if len(before) else "; from its first value on"
        parts.append(
            f"the {which} loss is {what} at step{'s' if int(bad.sum()) > 1 else ''} {where} "
            f"({int(bad.sum())} of {len(curve)} values){history}"
            + (f"; it recovered and ends at {fmt(float(finite[-1]))} (the rest is still read)" if recovered else "")
        )
    if first is None:
        return None
    return finding(
        "overflow",
        (first, last),
        "; ".join(parts),
        "a number overflowed or divided 0 by 0: an epsilon is missing or zero (the eps of "
        "adam/rmsprop/adagrad, a division by a standard deviation, a log of a probability): "
        "put it back (e.g. eps=1e-8); if the loss grew huge first, lower the learning rate",
        step=first,
        count=count,
        last_finite=float(train[np.isfinite(train)][-1]) if np.isfinite(train).any() else math.nan,
    )


def read_epoch_bumps(x: np.ndarray, spe: int | None) -> Finding | None:
    if not spe or spe < 2:
        return None
    n = len(x)
    epochs = n // spe
    if epochs < 4:  # epoch 0 is left out: its big drop is not a bump
        return None
    # A moving average over exactly one epoch cancels any pattern that repeats
    # every epoch, so the residual keeps the pattern and the noise; each epoch's
    # residual is scaled by its own spread, as losses shrink over training.
    half = spe // 2
    body = x[spe : epochs * spe].reshape(epochs - 1, spe)
    if (epochs - 1) * spe + spe - half > n:  # the last epoch has no full window: drop it
        body = body[:-1]
    if len(body) < 3:
        return None
    t = np.arange(spe, spe * (len(body) + 1))
    means = smooth_curve(x, spe)  # a full one-epoch window at every step of the body
    resid = body - means[t].reshape(body.shape)
    spread = np.sqrt(np.mean(resid**2, axis=1, keepdims=True))
    if np.any(spread == 0):
        return None
    resid = resid / spread
    profile = resid.mean(axis=0)
    share = float(np.mean(profile**2)) / float(np.mean(resid**2))
    if share < max(_BUMP_SHARE, 3.0 / len(body)):
        return None
    peak = int(np.argmax(profile))
    epoch_means = x[spe : spe * (len(body) + 1)].reshape(len(body), spe).mean(axis=0)
    size = float(epoch_means.max() - epoch_means.min())
    return finding(
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
    if val is None or len(val) < 8:
        return None
    k = max(3, len(val) // 10)
    v = smooth_curve(val, k)
    noise = max(robust_std(val - smooth_curve(val, 3)), _ROUNDING * float(np.max(np.abs(val))))
    half = k // 2
    i_min = int(np.argmin(v[half : max(half + 1, len(v) - half)])) + half
    v_min = float(v[i_min])
    v_end = float(np.mean(val[-k:]))
    v_start = float(val[0])
    rise = v_end - v_min
    if i_min >= len(val) - k or rise <= 0.0 or rise < _OVERFIT_SE * noise * math.sqrt(2.0 / k):
        return None
    if rise < _OVERFIT_REL * (v_start - v_min):
        return None
    steps = val_steps(len(val), val_every)
    at_min = int(np.searchsorted(sh.steps, min(int(steps[i_min]), int(sh.steps[-1]))))
    train_then = float(sh.smooth[min(at_min, sh.n - 1)])
    if sh.end > train_then + 3 * sh.noise / math.sqrt(sh.tail):  # training rose too: not overfitting
        return None
    if sh.start - sh.end <= 5 * sh.noise * math.sqrt(1 / sh.head + 1 / sh.tail):  # it never learned
        return None
    return finding(
        "overfitting",
        (int(steps[i_min]), sh.step(sh.n - 1)),
        f"validation loss bottomed at {fmt(v_min)} (step {int(steps[i_min])}) and rose to {fmt(v_end)}, "
        f"{rise / noise if noise else math.inf:.0f}x its noise, while training loss went from {fmt(train_then)} "
        f"to {fmt(sh.end)}",
        "get more training data first (collect, augment); then regularize (weight decay "
        "as in gdt.adamw, L2, dropout) or stop at the validation minimum",
        train_end=sh.end,
        val_min=v_min,
        val_end=v_end,
        rise=rise,
        val_noise=noise,
    )


def read_noisy_validation(sh: Shape | None, val: np.ndarray | None, val_every: int) -> Finding | None:
    if sh is None or val is None or len(val) < 8:
        return None
    # The training curve averaged over the same window as one validation point.
    blocks = min(len(val), sh.n // val_every)
    if blocks < 8:
        return None
    tb = sh.x[: blocks * val_every].reshape(blocks, val_every).mean(axis=1)
    v = val[:blocks]
    wiggle_v = robust_std(v - smooth_curve(v, 5))
    wiggle_t = max(robust_std(tb - smooth_curve(tb, 5)), _ROUNDING * float(np.max(np.abs(tb))))
    if wiggle_v <= _NOISY_VAL * wiggle_t or wiggle_v < _NOISY_SCALE * float(v.max() - v.min()):
        return None
    jump = np.abs(v - smooth_curve(v, 5))
    worst = int(np.argmax(jump))
    return finding(
        "noisy_validation",
        (val_every - 1, len(val) * val_every - 1),
        f"the validation loss zig-zags by {fmt(wiggle_v)} around its trend, {wiggle_v / max(wiggle_t, 1e-30):.1f}x "
        f"the training loss averaged over the same {val_every} steps ({fmt(wiggle_t)}); the worst at step "
        f"{(worst + 1) * val_every - 1}: {fmt(float(val[worst]))}",
        "the validation set is too small to measure the loss: use hundreds to thousands of "
        "examples (don't skimp on it)",
        zigzag=wiggle_v,
        train_zigzag=wiggle_t,
    )


def read_runs_disagree(curves: Sequence[np.ndarray]) -> Finding | None:
    if len(curves) < 2:
        return None
    ends, starts, ses, broken = [], [], [], []
    for i, c in enumerate(curves):
        if not np.isfinite(c[-1]):
            broken.append(i)
        c = c[np.isfinite(c)]
        if len(c) < MIN_STEPS:
            continue
        tail = max(3, len(c) // 10)
        starts.append(float(np.mean(c[: max(3, len(c) // 50)])))
        ends.append(float(np.mean(c[-tail:])))
        ses.append(robust_std(c - smooth_curve(c, max(5, len(c) // 20))) / math.sqrt(tail))
    n = len(curves)
    last = max(len(c) for c in curves) - 1
    if broken and len(broken) < n:
        return finding(
            "runs_disagree",
            (0, last),
            f"{len(broken)} of {n} identical runs ended in NaN/inf and the others did not (runs {broken})",
            "identical runs should behave alike: look for a doubled output activation "
            "(softmax before a softmax-cross-entropy loss) or another numerically fragile layer",
        )
    if len(ends) < 2:
        return None
    improvement = float(np.median(starts)) - float(np.median(ends))
    spread = max(ends) - min(ends)
    if improvement <= _DISAGREE_SE * max(ses) or spread < _DISAGREE * improvement:
        return None
    if spread <= _DISAGREE_SE * max(ses):
        return None
    return finding(
        "runs_disagree",
        (0, last),
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
