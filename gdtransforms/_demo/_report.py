"""The digits race's report: the table, the checklist and the plots."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from gdtransforms._demo._digits import L2_STRENGTH, TARGET_ACCURACY, Result, cost, init_mlp, mlp


def format_table(results: Sequence[Result]) -> str:
    head = (
        f"{'optimizer':<22s} {'schedule':<27s} {'train loss':>10s} {'train acc':>9s} "
        f"{'val loss':>9s} {'val acc':>8s} {'epochs to ' + format(TARGET_ACCURACY, '.0%'):>13s} "
        f"{'ms/step':>8s}  doctor"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        to_target = "-" if r.epochs_to_target is None else str(r.epochs_to_target)
        doctor = ", ".join(r.diagnosis.names) if r.diagnosis and not r.diagnosis.healthy else "healthy"
        lines.append(
            f"{r.racer.title:<22s} {r.racer.schedule_name:<27s} {r.train_loss[-1]:>10.4f} "
            f"{r.train_acc[-1]:>9.1%} {r.val_loss[-1]:>9.4f} {r.val_acc[-1]:>8.1%} "
            f"{to_target:>13s} {r.ms_per_step:>8.3f}  {doctor}"
        )
    return "\n".join(lines)


def run_checklist(data: tuple[np.ndarray, ...], seed: int, quick: bool, out: TextIO) -> list[gdt.toolkit.CheckResult]:
    x_tr, y_tr, _, _ = (jnp.asarray(a) for a in data)
    params = init_mlp(jax.random.key(seed))
    batch = (x_tr[:256], y_tr[:256])
    checks = [
        gdt.toolkit.check_initial_loss(cost(params, *batch), 10),
        gdt.toolkit.check_regularization(
            cost(params, *batch), cost(params, *batch, l2=L2_STRENGTH), strength=L2_STRENGTH
        ),
        gdt.toolkit.overfit_tiny_subset(
            mlp, params, gdt.adam(1e-2), x_tr, y_tr, key=jax.random.key(seed), max_epochs=100 if quick else 300
        ),
    ]
    for check in checks:
        print(f"  {check}", file=out)
    return checks


def write_plots(results: Sequence[Result], out_dir: pathlib.Path, quick: bool) -> list[pathlib.Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    curves = {r.racer.title: (r.train_steps, r.val_loss) for r in results}
    diagnoses = {r.racer.title: r.diagnosis for r in results if r.diagnosis is not None}
    spe = results[0].steps_per_epoch
    path = out_dir / "loss_curves.png"
    fig = gdt.toolkit.plot_loss_curves(curves, diagnoses, val_every=spe, steps_per_epoch=spe)
    for ax in fig.axes:
        if ax.get_visible() and ax.has_data():
            ax.set_ylabel("cross-entropy loss", fontsize=8)
    fig.savefig(path, dpi=100)
    written.append(path)

    bowl = gdt.toolkit.surfaces.elongated_bowl
    steps = 30 if quick else 40
    paths = {  # the notes' comparison (004), each with its own rate, from the same start
        "SGD (lr 0.95)": gdt.toolkit.surfaces.run_path(gdt.sgd(0.95), bowl, bowl.start, steps),
        "Momentum (lr 0.1, 0.9)": gdt.toolkit.surfaces.run_path(gdt.sgd(0.1, momentum=0.9), bowl, bowl.start, steps),
        "AdaGrad (lr 1.5)": gdt.toolkit.surfaces.run_path(
            gdt.adagrad(1.5, initial_accumulator_value=0.0), bowl, bowl.start, steps
        ),
        "Adam (lr 0.3)": gdt.toolkit.surfaces.run_path(gdt.adam(0.3), bowl, bowl.start, steps),
    }
    path = out_dir / "visual_log.png"
    gdt.toolkit.plot_paths(paths, bowl, title="visual log: f(x, y) = x^2/20 + y^2", save_to=path)
    written.append(path)

    total = spe * len(results[0].val_loss)
    schedules: dict[Any, Any] = {}
    users: dict[Any, list[str]] = {}
    for r in results:  # one line per schedule (shape and peak rate), naming who uses it
        schedule = r.racer.schedule(spe, total)
        peak = float(np.max(np.asarray(jax.vmap(schedule)(jnp.arange(total)))))
        key = (r.racer.schedule_name, peak)  # same shape, another peak rate: its own line
        users.setdefault(key, []).append(r.racer.title)
        schedules.setdefault(key, schedule)
    schedules = {f"{k[0]}: {', '.join(users[k])}": v for k, v in schedules.items()}
    path = out_dir / "schedules.png"
    gdt.toolkit.plot_schedules(schedules, total, steps_per_epoch=spe, save_to=path)
    written.append(path)

    path = out_dir / "ema.png"
    gdt.toolkit.plot_ema(save_to=path)
    written.append(path)
    return written


def print_findings(results: Sequence[Any], title_of: Callable[[Any], str], out: TextIO) -> None:
    """Each racer's diagnosis findings, one line each, after the results table."""
    for r in results:
        for finding in r.diagnosis or ():
            print(f"   {title_of(r)}: {finding}", file=out)


def print_plots_and_time(write: Callable[[], list[pathlib.Path]], out: TextIO, start: float, label: str = "") -> None:
    """Calls ``write`` and lists the plots it wrote (or why there are none), then the time since ``start``."""
    try:
        written = write()
    except ImportError as e:
        print(f"\n{label}no plots: {e}", file=out)
    else:
        print(f"\n{label}wrote:", file=out)
        for path in written:
            print(f"   {path}", file=out)
    print(f"\ndone in {time.perf_counter() - start:.1f} s", file=out)


def make_out_dir(path: pathlib.Path, err: TextIO) -> bool:
    """Creates the output folder before any training (so a bad path fails first); says why on ``err`` if not."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"could not create the output folder {path}: {e}", file=err)
        return False
    return True
