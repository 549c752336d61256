"""``python -m gdtransforms demo --race text``: the run, its table and its plots."""

from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import time
from collections.abc import Sequence
from typing import Any, TextIO

import jax
import numpy as np

import gdtransforms as gdt
from gdtransforms._demo._report import make_out_dir, print_findings, print_plots_and_time
from gdtransforms._demo._text_data import VOCAB, load_corpus
from gdtransforms._demo._text_race import FULL, QUICK, RACERS, Race, TextResult, available


def format_table(results: Sequence[TextResult]) -> str:
    """One row per racer, in race order: validation losses (nats per byte), steps, training time, compile time."""
    head = (
        f"{'optimizer':<20s} {'final val':>9s} {'best val':>9s} {'steps':>6s} {'seconds':>8s} "
        f"{'steps/s':>8s} {'compile s':>9s}  doctor"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        doctor = ", ".join(r.diagnosis.names) if r.diagnosis and not r.diagnosis.healthy else "healthy"
        lines.append(
            f"{r.title:<20s} {r.val_loss[-1]:>9.4f} {np.min(r.val_loss):>9.4f} {r.steps:>6d} {r.seconds:>8.1f} "
            f"{r.steps / max(r.seconds, 1e-9):>8.1f} {r.compile_s:>9.1f}  {doctor}"
        )
    return "\n".join(lines)


def _figure() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("plots need matplotlib: pip install 'gdtransforms[plot]' (or matplotlib)") from None
    return Figure(figsize=(7.5, 4.5), layout="constrained")


def _val_plot(results: Sequence[TextResult], x_of: str, xlabel: str, path: pathlib.Path) -> pathlib.Path:
    fig = _figure()
    ax = fig.add_subplot()
    for r in results:
        ax.plot(getattr(r, x_of), r.val_loss, "o-", ms=2.5, lw=1.2, label=f"{r.title} ({r.val_loss[-1]:.3f})")
    ax.axhline(math.log(VOCAB), color="0.6", ls="--", lw=0.8, label="uniform over bytes, log 256")
    low = min(float(np.min(r.val_loss)) for r in results)
    ax.set_ylim(low - 0.1, math.log(VOCAB) + 0.2)
    ax.set(xlabel=xlabel, ylabel="validation loss (nats per byte)", title=f"validation loss against {xlabel}")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100)
    return path


def write_plots(results: Sequence[TextResult], out_dir: pathlib.Path, eval_every: int) -> list[pathlib.Path]:
    """Validation loss against steps and against seconds, and every run with the doctor's findings."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        _val_plot(results, "val_steps", "steps", out_dir / "text_val_vs_step.png"),
        _val_plot(results, "val_seconds", "training seconds", out_dir / "text_val_vs_seconds.png"),
    ]
    path = out_dir / "text_doctor.png"
    gdt.toolkit.plot_loss_curves(
        {r.title: (r.train_loss, r.val_loss[1:]) for r in results},
        {r.title: r.diagnosis for r in results if r.diagnosis is not None},
        val_every=eval_every,
        save_to=path,
    )
    written.append(path)
    return written


def run_text_race(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """The text race for the parsed command line; returns the exit code."""
    try:
        corpus = load_corpus()
    except FileNotFoundError as e:
        print(f"the text race cannot run: {e}", file=err)
        return 1
    cfg = QUICK if args.quick else FULL
    if args.steps is not None:
        cfg = dataclasses.replace(cfg, steps=args.steps, eval_every=min(cfg.eval_every, args.steps))
    have, missing = available(args.optimizers)
    if not have:
        print("none of the chosen optimizers is in this build of gdtransforms", file=err)
        return 1
    if not make_out_dir(args.out, err):  # fail before training, not after
        return 1
    start = time.perf_counter()
    m = cfg.model
    print(f"text: {corpus.describe()}; {jax.devices()[0].platform}", file=out)
    race = Race(corpus, cfg, args.seed)
    print(
        f"model: byte-level transformer, {m.layers} pre-LN block(s), width {m.d_model}, {m.heads} heads, "
        f"context {m.context}, {race.num_params:,} parameters (compiled once in {race.compile_s:.1f} s, "
        "shared by every racer)",
        file=out,
    )
    print(
        f"race: {len(have)} optimizers x {cfg.steps} steps of {cfg.batch_size} random windows "
        f"(seed {args.seed}), validation every {cfg.eval_every} steps on {cfg.val_count} fixed windows "
        "(progress on stderr)",
        file=out,
    )
    if missing:
        names = ", ".join(f"{RACERS[n].title} (gdtransforms.{RACERS[n].attr})" for n in missing)
        print(f"not in this build, left out: {names}", file=out)
    out.flush()
    results = [race.run(n, err) for n in have]

    print(
        "\nresults: validation loss in nats per byte (log 256 = 5.545 at the start); seconds: training time "
        "without compilation or validation; compile s: the optimizer's update (the model's is shared, above)",
        file=out,
    )
    print(format_table(results), file=out)
    print_findings(results, lambda r: r.title, out)
    print_plots_and_time(lambda: write_plots(results, args.out, cfg.eval_every), out, start)
    return 0
