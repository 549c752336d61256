"""``python -m gdtransforms demo``: the notes' optimizers race on real digits.

No download and no arguments: scikit-learn's bundled digits (1,797 8x8
images, 10 classes). It runs the training checklist on an MLP written in
plain JAX, races SGD, both momentum forms, Nesterov, AdaGrad, RMSprop, Adam
and AdamW (each with a learning-rate schedule), prints a table with the
doctor's findings and writes PNGs.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import math
import os
import pathlib
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

TARGET_ACCURACY = 0.95
L2_STRENGTH = 1e-3


@dataclasses.dataclass(frozen=True)
class Racer:
    """One optimizer of the race, with its schedule."""

    title: str
    schedule_name: str
    schedule: Callable[[int, int], Callable[[Any], Any]]  # (steps_per_epoch, total) -> schedule
    make: Callable[[Any], gdt.GradientTransformation]  # schedule -> optimizer


def _racers() -> dict[str, Racer]:
    return {
        "sgd": Racer(
            "SGD", "inverse time (per epoch)",
            lambda spe, total: gdt.inverse_time_decay(0.3, 0.1, spe),
            lambda lr: gdt.sgd(lr),
        ),
        "momentum": Racer(
            "Momentum (heavy-ball)", "0.95^epoch (smooth)",
            lambda spe, total: gdt.exponential_decay(0.03, spe, 0.95),
            lambda lr: gdt.sgd(lr, momentum=0.9),
        ),
        "ema-momentum": Racer(
            "Momentum (EMA form)", "0.95^epoch (smooth)",
            lambda spe, total: gdt.exponential_decay(0.3, spe, 0.95),
            lambda lr: gdt.ema_momentum(lr, beta=0.9, debias=False),
        ),
        "nesterov": Racer(
            "Nesterov", "cosine",
            lambda spe, total: gdt.cosine_decay_schedule(0.03, total),
            lambda lr: gdt.sgd(lr, momentum=0.9, nesterov=True),
        ),
        "adagrad": Racer(
            "AdaGrad", "staircase x0.5 at 1/2, 3/4",
            lambda spe, total: gdt.piecewise_constant_schedule(
                0.05, {total // 2: 0.5, (3 * total) // 4: 0.5}
            ),
            lambda lr: gdt.adagrad(lr),
        ),
        "rmsprop": Racer(
            "RMSprop", "cosine",
            lambda spe, total: gdt.cosine_decay_schedule(1e-3, total),
            lambda lr: gdt.rmsprop(lr),
        ),
        "adam": Racer(
            "Adam", "warmup + cosine",
            lambda spe, total: gdt.warmup_cosine_decay_schedule(0.0, 3e-3, spe, total),
            lambda lr: gdt.adam(lr),
        ),
        "adamw": Racer(
            "AdamW", "warmup + cosine",
            lambda spe, total: gdt.warmup_cosine_decay_schedule(0.0, 3e-3, spe, total),
            lambda lr: gdt.adamw(lr, weight_decay=0.05),
        ),
    }


QUICK_RACERS = ("sgd", "momentum", "adam")


# -- The model: an MLP in plain JAX ------------------------------------------------


@functools.partial(jax.jit, static_argnums=1)
def init_mlp(key: jax.Array, sizes: Sequence[int] = (64, 64, 10)) -> list[dict[str, jax.Array]]:
    """Xavier-initialized layers (std 1/sqrt(fan_in)); the last one 10x smaller,
    so that the initial loss is about log(10)."""
    keys = jax.random.split(key, len(sizes) - 1)
    layers = []
    for i, k in enumerate(keys):
        scale = (0.1 if i == len(keys) - 1 else 1.0) / math.sqrt(sizes[i])
        layers.append({"w": scale * jax.random.normal(k, (sizes[i], sizes[i + 1])),
                       "b": jnp.zeros(sizes[i + 1])})
    return layers


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    """Logits of a tanh MLP."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"][None])
    return x @ params[-1]["w"] + params[-1]["b"][None]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy with integer labels."""
    return -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[:, None], axis=1)[:, 0]


@jax.jit
def cost(params, x, y, l2: float = 0.0) -> jax.Array:
    """SPEC.md section 1: J = mean L + lambda / (2B) * sum_l ||W[l]||_F^2."""
    penalty = sum(jnp.sum(layer["w"] ** 2) for layer in params)
    return jnp.mean(cross_entropy(mlp(params, x), y)) + l2 / (2 * x.shape[0]) * penalty


@jax.jit
def evaluate(params, x, y) -> tuple[jax.Array, jax.Array]:
    """Mean loss and accuracy."""
    logits = mlp(params, x)
    return jnp.mean(cross_entropy(logits, y)), jnp.mean(jnp.argmax(logits, 1) == y)


# -- Data ----------------------------------------------------------------------------


def load_digits(seed: int) -> tuple[np.ndarray, ...]:
    """Digits split 75/25 and standardized with training statistics."""
    from sklearn.datasets import load_digits as sk_load_digits

    data = sk_load_digits()
    x, y = data.data.astype(np.float32), data.target.astype(np.int32)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_train = (3 * len(x)) // 4
    mean, std = x[:n_train].mean(0), x[:n_train].std(0)
    x = (x - mean) / np.where(std > 0, std, 1.0)  # the always-blank pixels stay 0
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


# -- The race ------------------------------------------------------------------------


@dataclasses.dataclass
class Result:
    """One optimizer's run: curves per step and per epoch, timing and diagnosis."""

    name: str
    racer: Racer
    train_steps: np.ndarray  # mini-batch loss per step
    train_loss: np.ndarray  # full training set, per epoch
    train_acc: np.ndarray
    val_loss: np.ndarray  # per epoch
    val_acc: np.ndarray
    ms_per_step: float
    steps_per_epoch: int
    diagnosis: gdt.Diagnosis | None = None

    @property
    def epochs_to_target(self) -> int | None:
        hit = np.flatnonzero(self.val_acc >= TARGET_ACCURACY)
        return int(hit[0]) + 1 if len(hit) else None


class Progress:
    """A plain-text progress bar on a stream (redrawn in place on a terminal)."""

    def __init__(self, stream: TextIO, label: str, total: int, width: int = 24):
        self.stream, self.label, self.total, self.width = stream, label, total, width
        self.tty = getattr(stream, "isatty", lambda: False)()

    def update(self, done: int, note: str) -> None:
        filled = round(self.width * done / self.total)
        line = f"  {self.label:<14s} [{'#' * filled}{'-' * (self.width - filled)}] {done:>3d}/{self.total} epochs  {note}"
        if self.tty:
            self.stream.write("\r" + line)
            if done == self.total:
                self.stream.write("\n")
        elif done == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()


def race_one(
    name: str, racer: Racer, data: tuple[np.ndarray, ...], *, epochs: int, batch_size: int,
    seed: int, stream: TextIO,
) -> Result:
    x_tr, y_tr, x_val, y_val = (jnp.asarray(a) for a in data)
    spe = len(x_tr) // batch_size
    schedule = racer.schedule(spe, epochs * spe)
    opt = racer.make(schedule)
    params = init_mlp(jax.random.key(seed))
    carry = (params, opt.init(params))
    data_key = jax.random.key(seed + 1)

    def step(c, batch, mask):
        p, state = c
        loss, grads = jax.value_and_grad(cost)(p, *batch)
        updates, state = opt.update(grads, state, p, value=loss)
        return (gdt.apply_updates(p, updates), state), loss

    @jax.jit
    def train_epoch(c, e):
        return gdt.scan_epoch(step, c, (x_tr, y_tr), batch_size,
                              key=jax.random.fold_in(data_key, e), drop_last=True)


    bar = Progress(stream, name, epochs)
    steps, tr_l, tr_a, va_l, va_a, times = [], [], [], [], [], []
    for e in range(epochs):
        t0 = time.perf_counter()
        carry, losses = jax.block_until_ready(train_epoch(carry, jnp.int32(e)))
        times.append(time.perf_counter() - t0)
        (tl, ta), (vl, va) = evaluate(carry[0], x_tr, y_tr), evaluate(carry[0], x_val, y_val)
        steps.append(np.asarray(losses))
        tr_l.append(float(tl)), tr_a.append(float(ta)), va_l.append(float(vl)), va_a.append(float(va))
        bar.update(e + 1, f"val acc {va_a[-1]:6.1%}  loss {va_l[-1]:.3f}")
    timed = times[1:] or times  # the first epoch includes compilation
    result = Result(
        name, racer, np.concatenate(steps), np.array(tr_l), np.array(tr_a), np.array(va_l),
        np.array(va_a), 1e3 * float(np.min(timed)) / spe, spe,
    )
    result.diagnosis = gdt.diagnose(result.train_steps, result.val_loss, spe, val_every=spe)
    return result


# -- Reporting -----------------------------------------------------------------------


def format_table(results: Sequence[Result]) -> str:
    head = (f"{'optimizer':<22s} {'schedule':<27s} {'train loss':>10s} {'train acc':>9s} "
            f"{'val loss':>9s} {'val acc':>8s} {'epochs to ' + format(TARGET_ACCURACY, '.0%'):>13s} "
            f"{'ms/step':>8s}  doctor")
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


def run_checklist(data: tuple[np.ndarray, ...], seed: int, quick: bool, out: TextIO) -> list[gdt.CheckResult]:
    x_tr, y_tr, _, _ = (jnp.asarray(a) for a in data)
    params = init_mlp(jax.random.key(seed))
    batch = (x_tr[:256], y_tr[:256])
    checks = [
        gdt.check_initial_loss(cost(params, *batch), 10),
        gdt.check_regularization(cost(params, *batch), cost(params, *batch, l2=L2_STRENGTH),
                                 strength=L2_STRENGTH),
        gdt.overfit_tiny_subset(mlp, params, gdt.adam(1e-2), x_tr, y_tr, key=jax.random.key(seed),
                                max_epochs=100 if quick else 300),
    ]
    for check in checks:
        print(f"  {check}", file=out)
    return checks


def write_plots(results: Sequence[Result], out_dir: pathlib.Path, quick: bool) -> list[pathlib.Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    curves = {r.racer.title: (r.train_steps, r.val_loss) for r in results}
    diagnoses = {r.racer.title: r.diagnosis for r in results}
    spe = results[0].steps_per_epoch
    path = out_dir / "loss_curves.png"
    gdt.plot_loss_curves(curves, diagnoses, val_every=spe, steps_per_epoch=spe, save_to=path)
    written.append(path)

    bowl = gdt.elongated_bowl
    steps = 30 if quick else 40
    paths = {  # the notes' comparison (004), each with its own rate, from the same start
        "SGD (lr 0.95)": gdt.run_path(gdt.sgd(0.95), bowl, bowl.start, steps),
        "Momentum (lr 0.1, 0.9)": gdt.run_path(gdt.sgd(0.1, momentum=0.9), bowl, bowl.start, steps),
        "AdaGrad (lr 1.5)": gdt.run_path(gdt.adagrad(1.5, initial_accumulator_value=0.0), bowl,
                                          bowl.start, steps),
        "Adam (lr 0.3)": gdt.run_path(gdt.adam(0.3), bowl, bowl.start, steps),
    }
    path = out_dir / "visual_log.png"
    gdt.plot_paths(paths, bowl, title="visual log: f(x, y) = x^2/20 + y^2", save_to=path)
    written.append(path)

    total = spe * len(results[0].val_loss)
    schedules, users = {}, {}
    for r in results:  # one line per schedule shape, naming who uses it
        users.setdefault(r.racer.schedule_name, []).append(r.racer.title)
        schedules.setdefault(r.racer.schedule_name, r.racer.schedule(spe, total))
    schedules = {f"{k}: {', '.join(users[k])}": v for k, v in schedules.items()}
    path = out_dir / "schedules.png"
    gdt.plot_schedules(schedules, total, steps_per_epoch=spe, save_to=path)
    written.append(path)

    path = out_dir / "ema.png"
    gdt.plot_ema(save_to=path)
    written.append(path)
    return written


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    names = list(_racers())
    parser = argparse.ArgumentParser(
        prog="python -m gdtransforms",
        description="gdtransforms: composable gradient transformations for JAX.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = sub.add_parser(
        "demo", help="race the notes' optimizers on scikit-learn's digits",
        description="Runs the training checklist, races the optimizers of the notes on "
        "scikit-learn's digits, prints a table with the loss-curve doctor's findings and "
        "writes PNGs.",
    )

    def optimizer_list(text: str) -> list[str]:
        chosen = [s.strip() for s in text.split(",") if s.strip()]
        unknown = [s for s in chosen if s not in names]
        if unknown or not chosen:
            raise argparse.ArgumentTypeError(
                f"unknown optimizer(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(names)}"
            )
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

    demo.add_argument("--optimizers", type=optimizer_list, default=None,
                      help=f"comma-separated subset of: {', '.join(names)} (default: all; "
                      f"with --quick: {', '.join(QUICK_RACERS)})")
    demo.add_argument("--epochs", type=whole(1), default=None, help="epochs per optimizer (default 30, quick 4)")
    demo.add_argument("--batch-size", type=whole(1), default=64, help="mini-batch size (default 64)")
    demo.add_argument("--seed", type=whole(0), default=0, help="seed for the split, init and shuffling")
    demo.add_argument("--out", type=pathlib.Path, default=pathlib.Path("demo_output"),
                      help="folder for the PNGs (default ./demo_output)")
    demo.add_argument("--quick", action="store_true", help="a short run (tests use it)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of ``python -m gdtransforms``; returns the exit code."""
    args = _parse(argv)
    out, err = out or sys.stdout, err or sys.stderr
    try:
        data = load_digits(args.seed)
    except ImportError:
        print("the demo needs scikit-learn (and matplotlib for the plots): "
              "pip install 'gdtransforms[demo]'", file=err)
        return 1
    epochs = args.epochs or (4 if args.quick else 30)
    chosen = args.optimizers or list(QUICK_RACERS if args.quick else _racers())
    if args.batch_size > len(data[0]):
        print(f"--batch-size must be <= {len(data[0])} (the training examples), got {args.batch_size}",
              file=err)
        return 2
    try:  # fail before training, not after
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        print(f"could not create the output folder {args.out}: {e}", file=err)
        return 1
    start = time.perf_counter()
    print(f"digits: {len(data[0])} training and {len(data[2])} validation images, 10 classes; "
          f"{jax.devices()[0].platform}", file=out)
    print(f"batch size advice (SPEC.md 1): {gdt.batch_size_advice(len(data[0]))}; "
          f"this demo uses B = {args.batch_size} to show mini-batch training", file=out)
    print("\n1) the training checklist on a plain-JAX MLP (64-64-10, tanh)", file=out)
    run_checklist(data, args.seed, args.quick, out)

    print(f"\n2) the race: {len(chosen)} optimizers x {epochs} epochs of {len(data[0]) // args.batch_size} "
          f"steps (progress on stderr)", file=out)
    out.flush()
    racers = _racers()
    results = [race_one(n, racers[n], data, epochs=epochs, batch_size=args.batch_size,
                        seed=args.seed, stream=err) for n in chosen]

    print(f"\n3) results (target: {TARGET_ACCURACY:.0%} validation accuracy)", file=out)
    print(format_table(results), file=out)
    for r in results:
        for finding in r.diagnosis or ():
            print(f"   {r.racer.title}: {finding}", file=out)
    if {"momentum", "ema-momentum"} <= set(chosen):
        print("   The two momentum forms match: the EMA form with lr 0.3 is heavy-ball with lr "
              "0.3 * (1 - 0.9) = 0.03 (SPEC.md 3).", file=out)

    try:
        written = write_plots(results, args.out, args.quick)
    except ImportError as e:
        print(f"\n4) no plots: {e}", file=out)
    else:
        print("\n4) wrote:", file=out)
        for path in written:
            print(f"   {path}", file=out)
    print(f"\ndone in {time.perf_counter() - start:.1f} s", file=out)
    return 0
