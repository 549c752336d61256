"""Numbers read off a loss curve: smoothing, trend, noise, shape."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

__all__ = [
    "Shape",
    "block_trend_t",
    "kendall_tau",
    "finite_prefix",
    "first_below",
    "fmt",
    "robust_std",
    "shape",
    "smooth_curve",
    "trend_t",
    "val_steps",
]


def smooth_curve(values: Any, window: int) -> np.ndarray:
    """Centred moving average; the window shrinks at both ends.

    Point ``t`` averages ``values[t - window // 2 : t - window // 2 + window]``
    (clipped to the curve), so an even window leans one point back.

    Args:
      values: a 1-D curve.
      window: the number of points averaged (>= 1).

    Returns:
      A float64 array as long as ``values``.
    """
    x = np.asarray(values, dtype=np.float64)
    window = max(1, min(int(window), len(x)))
    if window == 1 or len(x) == 0:
        return x.copy()
    half = window // 2
    lo = np.clip(np.arange(len(x)) - half, 0, len(x))
    hi = np.clip(np.arange(len(x)) - half + window, 0, len(x))
    centre = float(np.median(x))
    spread = float(np.max(np.abs(x - centre)))
    if spread <= 1e6 * (robust_std(x) + 1e-300):
        csum = np.concatenate([[0.0], np.cumsum(x - centre)])
        return centre + (csum[hi] - csum[lo]) / (hi - lo)
    # Values orders of magnitude apart: running sums would lose the small ones, so add each window up.
    full = np.convolve(x, np.ones(window))
    k = np.where((hi - lo < window) & (lo > 0), lo + window - 1, hi - 1)
    return full[k] / (hi - lo)


def finite_prefix(x: np.ndarray) -> int:
    """The number of values before the first NaN/inf."""
    bad = np.flatnonzero(~np.isfinite(x))
    return int(bad[0]) if len(bad) else len(x)


def robust_std(x: np.ndarray) -> float:
    """1.4826 times the median absolute deviation: the std of normal noise, robust to spikes."""
    if len(x) < 2:
        return 0.0
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def trend_t(x: np.ndarray) -> float:
    """The t statistic of the least-squares slope of ``x`` over its index."""
    n = len(x)
    if n < 3:
        return 0.0
    t = np.arange(n, dtype=np.float64)
    t -= t.mean()
    slope = float(np.dot(t, x - x.mean()) / np.dot(t, t))
    resid = x - x.mean() - slope * t
    sigma = math.sqrt(float(np.dot(resid, resid)) / (n - 2))
    if sigma == 0.0:
        return 0.0 if slope == 0.0 else math.copysign(math.inf, slope)
    return slope / (sigma / math.sqrt(float(np.dot(t, t))))


def kendall_tau(x: np.ndarray, block: int) -> float:
    """Kendall's tau of the block means against time: +1 always rising, -1 always falling.

    It depends only on the order of the values, so it reads an exponential
    blow-up as plainly as a straight rise.
    """
    k = len(x) // max(1, block)
    if k < 2:
        return 0.0
    b = x[: k * block].reshape(k, block).mean(axis=1)
    upper = np.triu_indices(k, 1)
    diff = np.sign(b[None, :] - b[:, None])[upper]
    return float(diff.mean())


def block_trend_t(x: np.ndarray, block: int) -> float:
    """The slope's t statistic over the means of consecutive blocks (robust to correlated noise)."""
    k = len(x) // max(1, block)
    if k < 4:
        return trend_t(x)
    return trend_t(x[: k * block].reshape(k, block).mean(axis=1))


@dataclasses.dataclass(frozen=True)
class Shape:
    """Summary numbers of one finite training curve; differences only, so a constant shift changes none."""

    n: int
    x: np.ndarray
    steps: np.ndarray  # the step of each value (non-finite values were left out)
    window: int
    head: int
    tail: int
    start: float  # median of the first ``head`` steps (a spike there does not move it)
    end: float  # mean of the last ``tail`` steps
    low: float  # minimum of the smoothed curve
    low_step: int  # its index
    noise: float  # robust std of the wiggle around the smoothed curve
    trend_t: float  # t statistic of the linear trend over block means
    smooth: np.ndarray

    def se(self, k: float) -> float:
        """The noise of a mean of ``k`` steps."""
        return self.noise / math.sqrt(max(1.0, k))

    def step(self, i: int) -> int:
        """The training step of value ``i``."""
        return int(self.steps[min(max(int(i), 0), self.n - 1)])


def shape(x: np.ndarray, steps_per_epoch: int | None, steps: np.ndarray | None = None) -> Shape:
    """The :class:`Shape` of a finite curve, smoothed over one epoch (or 1/20 of the run, at least 5 steps)."""
    n = len(x)
    window = steps_per_epoch if steps_per_epoch and steps_per_epoch <= n // 3 else max(5, n // 20)
    window = max(1, min(window, n // 3))
    s = smooth_curve(x, window)
    head = max(3, n // 50)
    tail = max(3, n // 10)
    # The low is read where the window is whole; the shrunk ends are noisier.
    half = window // 2
    inner = s[half : max(half + 1, n - half)]
    low_step = int(np.argmin(inner)) + half
    return Shape(
        n=n,
        x=x,
        steps=np.arange(n) if steps is None else steps,
        window=window,
        head=head,
        tail=tail,
        start=float(np.median(x[:head])),
        end=float(np.mean(x[-tail:])),
        low=float(s[low_step]),
        low_step=low_step,
        noise=robust_std(x - s),
        trend_t=block_trend_t(x, window),
        smooth=s,
    )


def first_below(s: np.ndarray, level: float) -> int:
    """The first index where ``s <= level``, or ``len(s)``."""
    hit = np.flatnonzero(s <= level)
    return int(hit[0]) if len(hit) else len(s)


def fmt(v: float) -> str:
    """Four significant digits."""
    return f"{v:.4g}"


def val_steps(n_val: int, val_every: int) -> np.ndarray:
    """The training step after which each validation point was taken."""
    return (np.arange(n_val) + 1) * val_every - 1
