"""``python -m gdtransforms demo``: the notes' optimizers race on real digits.

No download and no arguments: scikit-learn's bundled digits (1,797 8x8
images, 10 classes). It runs the training checklist on an MLP written in
plain JAX, races SGD, both momentum forms, Nesterov, AdaGrad, RMSprop, Adam
and AdamW (each with a learning-rate schedule), prints a table with the
doctor's findings and writes PNGs.

``python -m gdtransforms demo --race text`` races AdamW, Muon, SOAP, Kron,
schedule-free AdamW and Adafactor on a byte-level transformer trained on
Python's own standard-library sources (see ``_text_race.py``).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

import jax

import gdtransforms as gdt
from gdtransforms._demo._digits import QUICK_RACERS, TARGET_ACCURACY, _racers, load_digits, race_one
from gdtransforms._demo._report import (
    format_table,
    make_out_dir,
    print_findings,
    print_plots_and_time,
    run_checklist,
    write_plots,
)
from gdtransforms._demo._text_race import RACERS as TEXT_RACERS
from gdtransforms._demo._text_report import run_text_race


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = {"digits": list(_racers()), "text": list(TEXT_RACERS)}
    parser = argparse.ArgumentParser(
        prog="python -m gdtransforms",
        description="gdtransforms: composable gradient transformations for JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = sub.add_parser(
        "demo",
        help="race the notes' optimizers on scikit-learn's digits (or, with --race text, on Python source)",
        description="Runs the training checklist, races the optimizers of the notes on "
        "scikit-learn's digits, prints a table with the loss-curve doctor's findings and "
        "writes PNGs. With --race text: races AdamW, Muon, SOAP, Kron, schedule-free AdamW and "
        "Adafactor on a byte-level transformer trained on Python's standard-library sources.",
    )

    def optimizer_list(text: str) -> list[str]:
        chosen = [s.strip() for s in text.split(",") if s.strip()]
        if not chosen:
            raise argparse.ArgumentTypeError("unknown optimizer(s) (none given)")
        return chosen

    def whole(low: int) -> Callable[[str], int]:
        def parse(text: str) -> int:
            try:
                value = int(text)
            except ValueError:
                raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
            if value < low:
                raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
            return value

        return parse

    demo.add_argument(
        "--race",
        choices=("digits", "text"),
        default="digits",
        help="digits (default): the notes' race; text: a byte-level transformer on Python's own sources",
    )
    demo.add_argument(
        "--optimizers",
        type=optimizer_list,
        default=None,
        help=f"comma-separated subset of: {', '.join(names['digits'])} (default: all; with --quick: "
        f"{', '.join(QUICK_RACERS)}); for --race text: {', '.join(names['text'])} (default: all in this build)",
    )
    demo.add_argument(
        "--epochs", type=whole(1), default=None, help="digits race: epochs per optimizer (default 30, quick 4)"
    )
    demo.add_argument("--batch-size", type=whole(1), default=None, help="digits race: mini-batch size (default 64)")
    demo.add_argument(
        "--steps", type=whole(1), default=None, help="text race: steps per optimizer (default 400, quick 60)"
    )
    demo.add_argument(
        "--seed", type=whole(0), default=0, help="seed for the split, init and shuffling (text race: init and batches)"
    )
    demo.add_argument(
        "--out",
        type=pathlib.Path,
        default=pathlib.Path("demo_output"),
        help="folder for the PNGs (default ./demo_output)",
    )
    demo.add_argument("--quick", action="store_true", help="a short run (tests use it)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.optimizers or () if n not in names[args.race]]
    if unknown:
        demo.error(
            f"argument --optimizers: unknown optimizer(s) {', '.join(unknown)}; "
            f"choose from {', '.join(names[args.race])}"
        )
    if args.race == "text":
        digits_only = [f for f, v in (("--epochs", args.epochs), ("--batch-size", args.batch_size)) if v is not None]
        if digits_only:
            demo.error(f"{' and '.join(digits_only)}: for the digits race; the text race takes --steps")
    elif args.steps is not None:
        demo.error("--steps: for the text race (--race text); the digits race takes --epochs")
    if args.batch_size is None and args.race == "digits":
        args.batch_size = 64
    return args


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of ``python -m gdtransforms``; returns the exit code."""
    args = _parse(argv)
    out, err = out or sys.stdout, err or sys.stderr
    if args.race == "text":
        return run_text_race(args, out, err)
    try:
        data = load_digits(args.seed)
    except ImportError:
        print("the demo needs scikit-learn (and matplotlib for the plots): pip install 'gdtransforms[demo]'", file=err)
        return 1
    epochs = args.epochs or (4 if args.quick else 30)
    chosen = args.optimizers or list(QUICK_RACERS if args.quick else _racers())
    if args.batch_size > len(data[0]):
        print(f"--batch-size must be <= {len(data[0])} (the training examples), got {args.batch_size}", file=err)
        return 2
    if not make_out_dir(args.out, err):  # fail before training, not after
        return 1
    start = time.perf_counter()
    print(
        f"digits: {len(data[0])} training and {len(data[2])} validation images, 10 classes; "
        f"{jax.devices()[0].platform}",
        file=out,
    )
    print(
        f"batch size advice (docs/notes.md §1): {gdt.toolkit.batch_size_advice(len(data[0]))}; "
        f"this demo uses B = {args.batch_size} to show mini-batch training",
        file=out,
    )
    print("\n1) the training checklist on a plain-JAX MLP (64-64-10, tanh)", file=out)
    run_checklist(data, args.seed, args.quick, out)

    print(
        f"\n2) the race: {len(chosen)} optimizers x {epochs} epochs of {len(data[0]) // args.batch_size} "
        f"steps (progress on stderr)",
        file=out,
    )
    out.flush()
    racers = _racers()
    results = [
        race_one(n, racers[n], data, epochs=epochs, batch_size=args.batch_size, seed=args.seed, stream=err)
        for n in chosen
    ]

    print(f"\n3) results (target: {TARGET_ACCURACY:.0%} validation accuracy)", file=out)
    print(format_table(results), file=out)
    print_findings(results, lambda r: r.racer.title, out)
    if {"momentum", "ema-momentum"} <= set(chosen):
        print(
            "   The two momentum forms match: the EMA form with lr 0.3 is heavy-ball with lr "
            "0.3 * (1 - 0.9) = 0.03 (docs/notes.md §3).",
            file=out,
        )

    print_plots_and_time(lambda: write_plots(results, args.out, args.quick), out, start, label="4) ")
    return 0
