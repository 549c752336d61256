"""The digits race: data, the MLP, the racers and one training run."""

from __future__ import annotations

import dataclasses
import functools
import math
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
            "SGD",
            "inverse time (per epoch)",
            lambda spe, total: gdt.inverse_time_decay(0.3, 0.1, spe),
            lambda lr: gdt.sgd(lr),
        ),
        "momentum": Racer(
            "Momentum (heavy-ball)",
            "0.95^epoch (smooth)",
            lambda spe, total: gdt.exponential_decay(0.03, spe, 0.95),
            lambda lr: gdt.sgd(lr, momentum=0.9),
        ),
        "ema-momentum": Racer(
            "Momentum (EMA form)",
            "0.95^epoch (smooth)",
            lambda spe, total: gdt.exponential_decay(0.3, spe, 0.95),
            lambda lr: gdt.ema_momentum(lr, beta=0.9, debias=False),
        ),
        "nesterov": Racer(
            "Nesterov",
            "cosine",
            lambda spe, total: gdt.cosine_decay_schedule(0.03, total),
            lambda lr: gdt.sgd(lr, momentum=0.9, nesterov=True),
        ),
        "adagrad": Racer(
            "AdaGrad",
            "staircase x0.5 at 1/2, 3/4",
            lambda spe, total: gdt.piecewise_constant_schedule(0.05, {total // 2: 0.5, (3 * total) // 4: 0.5}),
            lambda lr: gdt.adagrad(lr),
        ),
        "rmsprop": Racer(
            "RMSprop",
            "cosine",
            lambda spe, total: gdt.cosine_decay_schedule(1e-3, total),
            lambda lr: gdt.rmsprop(lr),
        ),
        "adam": Racer(
            "Adam",
            "warmup + cosine",
            lambda spe, total: gdt.warmup_cosine_decay_schedule(0.0, 3e-3, spe, total),
            lambda lr: gdt.adam(lr),
        ),
        "adamw": Racer(
            "AdamW",
            "warmup + cosine",
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
        layers.append({"w": scale * jax.random.normal(k, (sizes[i], sizes[i + 1])), "b": jnp.zeros(sizes[i + 1])})
    return layers


def mlp(params: list[dict[str, jax.Array]], x: jax.Array) -> jax.Array:
    """Logits of a tanh MLP."""
    for layer in params[:-1]:
        x = jnp.tanh(x @ layer["w"] + layer["b"][None])
    return x @ params[-1]["w"] + params[-1]["b"][None]


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Per-example softmax cross-entropy with integer labels."""
    return gdt.losses.softmax_cross_entropy_with_integer_labels(logits, labels)


@jax.jit
def cost(params, x, y, l2: float = 0.0) -> jax.Array:
    """docs/notes.md §1: J = mean L + lambda / (2B) * sum_l ||W[l]||_F^2."""
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
    diagnosis: gdt.toolkit.Diagnosis | None = None

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
        line = (
            f"  {self.label:<14s} [{'#' * filled}{'-' * (self.width - filled)}] {done:>3d}/{self.total} epochs  {note}"
        )
        if self.tty:
            self.stream.write("\r" + line)
            if done == self.total:
                self.stream.write("\n")
        elif done == self.total:
            self.stream.write(line + "\n")
        self.stream.flush()


def race_one(
    name: str,
    racer: Racer,
    data: tuple[np.ndarray, ...],
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    stream: TextIO,
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
        return gdt.toolkit.scan_epoch(
            step, c, (x_tr, y_tr), batch_size, key=jax.random.fold_in(data_key, e), drop_last=True
        )

    bar = Progress(stream, name, epochs)
    steps, tr_l, tr_a, va_l, va_a, times = [], [], [], [], [], []
    for e in range(epochs):
        t0 = time.perf_counter()
        carry, losses = jax.block_until_ready(train_epoch(carry, jnp.int32(e)))
        times.append(time.perf_counter() - t0)
        (tl, ta), (vl, va) = evaluate(carry[0], x_tr, y_tr), evaluate(carry[0], x_val, y_val)
        steps.append(np.asarray(losses))
        tr_l.append(float(tl))
        tr_a.append(float(ta))
        va_l.append(float(vl))
        va_a.append(float(va))
        bar.update(e + 1, f"val acc {va_a[-1]:6.1%}  loss {va_l[-1]:.3f}")
    timed = times[1:] or times  # the first epoch includes compilation
    result = Result(
        name,
        racer,
        np.concatenate(steps),
        np.array(tr_l),
        np.array(tr_a),
        np.array(va_l),
        np.array(va_a),
        1e3 * float(np.min(timed)) / spe,
        spe,
    )
    result.diagnosis = gdt.toolkit.diagnose(result.train_steps, result.val_loss, spe, val_every=spe)
    return result


# -- Reporting -----------------------------------------------------------------------
