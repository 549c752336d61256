"""Visual logs: paths, schedules, loss curves with findings, EMAs (docs/notes.md §2, 10, 12).

matplotlib is an optional extra (``pip install "gdtransforms[plot]"``),
imported only when a plot is drawn. Figures are built with
``matplotlib.figure.Figure`` directly, so no global pyplot state or backend
is touched; pass ``save_to`` to write a PNG.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms.toolkit._curves import smooth_curve
from gdtransforms.toolkit._doctor import Diagnosis
from gdtransforms.toolkit.surfaces import Path, Surface

__all__ = [
    "daily_temperatures",
    "ema_curve",
    "plot_ema",
    "plot_loss_curves",
    "plot_paths",
    "plot_schedules",
]


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'gdtransforms[plot]' (or matplotlib)") from None
    return Figure(figsize=(width, height), layout="constrained")


def _save(fig: Any, save_to: str | os.PathLike[str] | None) -> Any:
    if save_to is not None:
        fig.savefig(os.fspath(save_to), dpi=100)
    return fig


def ema_curve(values: Any, beta: float, *, debias: bool = False) -> np.ndarray:
    r"""The exponentially weighted average of a sequence (docs/notes.md §2).

    .. math::
        v_0 = 0, \qquad v_t = \beta v_{t-1} + (1 - \beta)\,\theta_t, \qquad
        \hat v_t = v_t / (1 - \beta^t)

    Args:
      values: :math:`\theta_1, \theta_2, \dots`
      beta: :math:`\beta` in [0, 1); it averages about the last
        :math:`1/(1 - \beta)` values.
      debias: return the bias-corrected :math:`\hat v_t`.

    Returns:
      :math:`v_1, v_2, \dots` (or :math:`\hat v_t`) as float64.

    Example:
      >>> import gdtransforms as gdt
      >>> gdt.toolkit.ema_curve([1.0, 2.0], 0.98).round(4).tolist()  # 0.0196 * 1 + 0.02 * 2
      [0.02, 0.0596]
    """
    theta = np.asarray(values, dtype=np.float64)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"`beta` must be in [0, 1), got {beta!r}")
    if theta.ndim != 1:
        raise ValueError(f"`values` must be 1-D, got shape {theta.shape}")
    out = np.empty_like(theta)
    v = 0.0
    for t, x in enumerate(theta):
        v = beta * v + (1.0 - beta) * x
        out[t] = v
    if debias:
        out /= 1.0 - beta ** np.arange(1, len(theta) + 1)
    return out


def daily_temperatures(days: int = 365, seed: int = 0) -> np.ndarray:
    """A year of noisy daily temperatures in F shaped like London's (the notes' example).

    Synthetic (no download): a seasonal curve from about 40 F in January to
    about 65 F in July plus day-to-day noise; it starts 40, 49, 45 like the
    lecture's table.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    temps = 52.0 - 12.0 * np.cos(2 * math.pi * (t - 15) / 365) + rng.normal(0.0, 4.0, days)
    temps[:3] = (40.0, 49.0, 45.0)[: min(3, days)]
    return temps


def plot_ema(
    values: Any | None = None,
    betas: Sequence[float] = (0.9, 0.98, 0.5),
    *,
    save_to: str | os.PathLike[str] | None = None,
) -> Any:
    """The exponentially weighted averages of docs/notes.md §2, with and without bias correction.

    Args:
      values: the daily values; :func:`daily_temperatures` by default.
      betas: the averages to draw; the largest is also drawn without bias
        correction, starting near 0.
      save_to: a PNG path to write.

    Returns:
      The matplotlib ``Figure``.
    """
    theta = daily_temperatures() if values is None else np.asarray(values, dtype=np.float64)
    fig = _figure(9, 4.5)
    ax = fig.add_subplot()
    days = np.arange(1, len(theta) + 1)
    ax.scatter(days, theta, s=6, color="0.6", label=r"$\theta_t$ (daily)")
    for beta in betas:
        ax.plot(
            days,
            ema_curve(theta, beta, debias=True),
            label=rf"$\beta$ = {beta} (~{1 / (1 - beta):.0f} days), bias-corrected",
        )
    top = max(betas)
    ax.plot(days, ema_curve(theta, top), "--", label=rf"$\beta$ = {top} without bias correction (starts at 0)")
    ax.set(
        xlabel="day t",
        ylabel="temperature (F)",
        title=r"$v_t = \beta v_{t-1} + (1-\beta)\theta_t$ and $v_t / (1-\beta^t)$",
    )
    ax.legend(fontsize=8, loc="lower center")
    return _save(fig, save_to)


def plot_paths(
    paths: Mapping[str, Path | Any],
    surface: Surface,
    *,
    title: str | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> Any:
    """The visual log of the notes: several optimizers' paths on one contour plot.

    Args:
      paths: name -> :class:`Path` (or an array of points ``[n, 2]``).
      surface: the :class:`Surface` the paths ran on.
      title: the plot title (the surface's formula by default).
      save_to: a PNG path to write.

    Returns:
      The matplotlib ``Figure``.
    """
    fig = _figure(8, 5.5)
    ax = fig.add_subplot()
    xs = np.linspace(*surface.x_range, 200)
    ys = np.linspace(*surface.y_range, 200)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)
    z = np.asarray(surface(grid), dtype=np.float64)
    finite = z[np.isfinite(z)]
    if finite.min() > -1e-12:  # log-spaced levels show both the floor and the walls
        lo = max(float(np.percentile(finite, 1)), 1e-3 * float(finite.max()), 1e-6)
        levels = np.geomspace(lo, float(finite.max()), 20)
    else:
        levels = np.asarray(20)
    ax.contour(xs, ys, z, levels=levels, cmap="Greys", linewidths=0.7)
    for name, path in paths.items():
        pts = np.asarray(path.points if isinstance(path, Path) else path, dtype=np.float64)
        ax.plot(pts[:, 0], pts[:, 1], "o-", ms=2.5, lw=1.2, label=f"{name} ({len(pts) - 1} steps)")
    start = next(iter(paths.values()), None)
    if start is not None:
        p0 = np.asarray(start.points if isinstance(start, Path) else start)[0]
        ax.plot(*p0, "k^", ms=8, label="start")
    for m in surface.minima:
        ax.plot(*m, "r*", ms=12)
    ax.set(
        xlim=surface.x_range,
        ylim=surface.y_range,
        xlabel="x",
        ylabel="y",
        title=title or f"f(x, y) = {surface.formula}",
    )
    ax.legend(fontsize=8)
    return _save(fig, save_to)


def _evaluate_schedule(schedule: Callable[[Any], Any], steps: jax.Array) -> np.ndarray:
    """The schedule at every step: one vectorized call when it maps over arrays."""
    try:
        values = np.asarray(schedule(steps), dtype=np.float64)
        if values.shape == steps.shape:
            return values
    except Exception:  # noqa: BLE001 (a schedule written for scalars only)
        pass
    return np.asarray(jax.vmap(lambda s: jnp.asarray(schedule(s), jnp.float32))(steps), np.float64)


def plot_schedules(
    schedules: Mapping[str, Callable[[Any], Any]],
    num_steps: int,
    *,
    steps_per_epoch: int | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> Any:
    """Learning-rate schedules over a run.

    Args:
      schedules: name -> schedule (a function of the int step count).
      num_steps: steps to draw.
      steps_per_epoch: if given, the x axis is in epochs.
      save_to: a PNG path to write.

    Returns:
      The matplotlib ``Figure``.
    """
    fig = _figure(8, 4.5)
    ax = fig.add_subplot()
    steps = jnp.arange(num_steps, dtype=jnp.int32)
    x = np.arange(num_steps) / (steps_per_epoch or 1)
    for name, schedule in schedules.items():
        lr = _evaluate_schedule(schedule, steps)
        ax.plot(x, lr / max(float(np.max(lr)), 1e-30), label=f"{name} (peak {np.max(lr):.3g})")
    ax.set(
        xlabel="epoch" if steps_per_epoch else "step",
        ylabel="learning rate / its peak",
        title="learning-rate schedules",
    )
    ax.legend(fontsize=8)
    return _save(fig, save_to)


def plot_loss_curves(
    curves: Mapping[str, tuple[Any, Any] | Any],
    diagnoses: Mapping[str, Diagnosis] | None = None,
    *,
    val_every: int | None = None,
    steps_per_epoch: int | None = None,
    save_to: str | os.PathLike[str] | None = None,
) -> Any:
    """Training (and validation) loss curves with the doctor's findings marked.

    Each run gets its own panel; a finding shades the steps it rests on and
    names itself there.

    Args:
      curves: name -> training loss per step, or ``(train, val)``.
      diagnoses: name -> :class:`Diagnosis` of that run.
      val_every: steps between validation points (default: even spread).
      steps_per_epoch: smooth the training curve over one epoch.
      save_to: a PNG path to write.

    Returns:
      The matplotlib ``Figure``.
    """
    names = list(curves)
    cols = min(4, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = _figure(3.6 * cols, 2.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes, names):
        item = curves[name]
        train, val = item if isinstance(item, tuple) else (item, None)
        train = np.asarray(train, dtype=np.float64)
        steps = np.arange(len(train))
        ok = np.isfinite(train)
        ax.plot(steps[ok], train[ok], color="C0", lw=0.4, alpha=0.35)
        window = steps_per_epoch or max(1, len(train) // 50)
        ax.plot(steps[ok], smooth_curve(train[ok], window), color="C0", lw=1.4, label="train")
        if val is not None:
            val = np.asarray(val, dtype=np.float64)
            every = val_every or max(1, len(train) // len(val))
            ax.plot((np.arange(len(val)) + 1) * every - 1, val, "o-", color="C1", ms=2.5, lw=1.0, label="validation")
        if ok.sum() < 3:  # too short for a line: mark the points
            ax.plot(steps[ok], train[ok], "o", color="C0")
        if not ok.all():  # where the curve broke off
            ax.axvline(int(np.flatnonzero(~ok)[0]), color="C3", ls="--", lw=1.0)
        finite = train[ok]
        if len(finite) > 1 and finite.min() > 0 and finite.max() / finite.min() > 20:
            ax.set_yscale("log")
        diagnosis = (diagnoses or {}).get(name)
        for i, finding in enumerate(diagnosis or ()):
            a, b = finding.steps
            ax.axvspan(a, max(b, a + 1), color=f"C{3 + i}", alpha=0.15)
            ax.text(
                0.02,
                0.95 - 0.1 * i,
                finding.title,
                transform=ax.transAxes,
                fontsize=8,
                color=f"C{3 + i}",
                va="top",
                weight="bold",
            )
        if diagnosis is not None and diagnosis.healthy:
            ax.text(0.02, 0.95, "healthy", transform=ax.transAxes, fontsize=8, color="green", va="top")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
    return _save(fig, save_to)
