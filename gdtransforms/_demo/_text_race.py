"""The text race: optimizers train a byte-level transformer on Python's standard library.

Every racer starts from the same initialization and sees the same batches in
the same order; validation loss is recorded against steps and against
training seconds (compilation is timed apart, validation is not counted).
Racers whose optimizer is not in this build of gdtransforms are listed as
unavailable and left out.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from gdtransforms._demo._text_data import VOCAB, TextCorpus, train_batches, val_windows
from gdtransforms._demo._text_model import ModelConfig, eval_loss, hidden_matrices, init_model, loss_and_grad

Opt = gdt.GradientTransformation


@dataclasses.dataclass(frozen=True)
class RaceConfig:
    """The size of one race."""

    model: ModelConfig
    steps: int
    batch_size: int
    eval_every: int
    val_count: int  # validation windows

    @property
    def warmup(self) -> int:
        return max(1, self.steps // 10)


FULL = RaceConfig(ModelConfig(layers=2, d_model=64, heads=4, context=64), 400, 32, 25, 128)
QUICK = RaceConfig(ModelConfig(layers=1, d_model=32, heads=2, context=32), 60, 16, 10, 64)


def _is_matrix(params: Any) -> Any:
    return jax.tree.map(lambda x: x.ndim > 1, params)


def _muon_dims(params: Any) -> Any:
    return jax.tree.map(lambda h: gdt.contrib.MuonDimensionNumbers() if h else None, hidden_matrices(params))


@dataclasses.dataclass(frozen=True)
class TextRacer:
    """One optimizer of the text race.

    ``make(factory, learning_rate, cfg)`` builds it from the library function
    found at ``gdtransforms.<attr>``; ``learning_rate`` is warmup + cosine
    decay to a tenth of ``peak_lr``, or the constant ``peak_lr`` when
    ``schedule`` is False (the optimizer warms up itself).
    """

    title: str
    attr: str
    peak_lr: float
    make: Callable[[Callable[..., Opt], Any, RaceConfig], Opt]
    schedule: bool = True
    eval_params: Callable[[Any, Any], Any] | None = None  # (state, params) -> the params to validate

    def factory(self) -> Callable[..., Opt] | None:
        """The library function, or None when this build does not have it."""
        obj: Any = gdt
        for part in self.attr.split("."):
            obj = getattr(obj, part, None)
            if obj is None:
                return None
        return obj

    def learning_rate(self, cfg: RaceConfig) -> Any:
        if not self.schedule:
            return self.peak_lr
        return gdt.warmup_cosine_decay_schedule(0.0, self.peak_lr, cfg.warmup, cfg.steps, self.peak_lr / 10)


def _sf_eval(state: Any, params: Any) -> Any:
    return gdt.contrib.schedule_free_eval_params(state, params)


# The racers, in table order: name -> optimizer with tuned-but-reasonable hyperparameters
# (tuned on the full race; weight decay on matrices only where the optimizer takes a mask).
RACERS: dict[str, TextRacer] = {
    "adamw": TextRacer(
        "AdamW",
        "adamw",
        3e-3,
        lambda f, lr, cfg: f(lr, b1=0.9, b2=0.95, weight_decay=0.1, mask=_is_matrix),
    ),
    "muon": TextRacer(
        "Muon (+AdamW)",
        "contrib.muon",
        2e-2,
        lambda f, lr, cfg: f(
            lr,
            adam_learning_rate=gdt.warmup_cosine_decay_schedule(0.0, 3e-3, cfg.warmup, cfg.steps, 3e-4),
            adam_b2=0.95,
            muon_weight_dimension_numbers=_muon_dims,
        ),
    ),
    # SOAP and Kron race when this build has them (gdtransforms.soap, gdtransforms.kron).
    "soap": TextRacer(
        "SOAP",
        "soap",
        3e-3,
        lambda f, lr, cfg: f(lr, b1=0.95, b2=0.95, weight_decay=0.1, precondition_frequency=10, mask=_is_matrix),
    ),
    "kron": TextRacer(
        "PSGD Kron",
        "kron",
        3e-3,
        lambda f, lr, cfg: f(
            lr, b1=0.9, weight_decay=0.1, weight_decay_mask=_is_matrix, preconditioner_init_scale=None
        ),
    ),
    "schedule-free": TextRacer(
        "Schedule-free AdamW",
        "contrib.schedule_free_adamw",
        3e-3,
        lambda f, lr, cfg: f(lr, warmup_steps=cfg.warmup, b1=0.9, b2=0.95, weight_decay=0.0),
        schedule=False,
        eval_params=_sf_eval,
    ),
    "adafactor": TextRacer(
        "Adafactor",
        "adafactor",
        1e-2,
        lambda f, lr, cfg: f(lr, min_dim_size_to_factor=32, multiply_by_parameter_scale=False),
    ),
}


def available(names: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """``(available, unavailable)`` racer names, in table order."""
    chosen = list(RACERS) if names is None else list(names)
    have = [n for n in chosen if RACERS[n].factory() is not None]
    return have, [n for n in chosen if n not in have]


@dataclasses.dataclass
class TextResult:
    """One racer's run."""

    name: str
    title: str
    train_loss: np.ndarray  # per step
    val_steps: np.ndarray  # 0, eval_every, 2 * eval_every, ...
    val_seconds: np.ndarray  # training seconds at those points (compilation and validation excluded)
    val_loss: np.ndarray
    compile_s: float
    diagnosis: gdt.toolkit.Diagnosis | None = None

    @property
    def seconds(self) -> float:
        return float(self.val_seconds[-1])

    @property
    def steps(self) -> int:
        return len(self.train_loss)


class Race:
    """The shared part of a race: corpus, batches, initialization and the validation function."""

    def __init__(self, corpus: TextCorpus, cfg: RaceConfig, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.batches = jnp.asarray(train_batches(corpus.train, cfg.steps, cfg.batch_size, cfg.model.context, seed))
        self.val = jnp.asarray(val_windows(corpus.val, cfg.val_count, cfg.model.context))
        self.params = init_model(jax.random.key(seed), cfg.model)
        self.heads = cfg.model.heads
        t0 = time.perf_counter()  # the model compiles once, for every racer; each racer compiles its update
        jax.block_until_ready(loss_and_grad(self.params, self.batches[0], self.heads))
        jax.block_until_ready(eval_loss(self.params, self.val, self.heads))
        self.compile_s = time.perf_counter() - t0

    @property
    def num_params(self) -> int:
        return sum(x.size for x in jax.tree.leaves(self.params))

    def run(self, name: str, stream: TextIO) -> TextResult:
        """Trains racer ``name`` from the shared start; progress goes to ``stream``."""
        racer, cfg = RACERS[name], self.cfg
        factory = racer.factory()
        if factory is None:
            raise ValueError(f"{racer.title} (gdtransforms.{racer.attr}) is not in this build")
        opt = racer.make(factory, racer.learning_rate(cfg), cfg)
        params, state = self.params, opt.init(self.params)
        t0 = time.perf_counter()

        def update(params: Any, state: Any, grads: Any) -> tuple[Any, Any]:
            updates, state = opt.update(grads, state, params)
            return gdt.apply_updates(params, updates), state

        step = jax.jit(update).lower(params, state, self.params).compile()
        to_eval = jax.jit(racer.eval_params) if racer.eval_params else (lambda s, p: p)
        jax.block_until_ready(to_eval(state, params))  # compiled here, not on the clock
        compile_s = time.perf_counter() - t0

        losses = []
        points = [(0, 0.0, float(eval_loss(to_eval(state, params), self.val, self.heads)))]
        clock = 0.0
        t0 = time.perf_counter()
        for i in range(cfg.steps):
            loss, grads = loss_and_grad(params, self.batches[i], self.heads)
            params, state = step(params, state, grads)
            losses.append(loss)
            if (i + 1) % cfg.eval_every == 0 or i + 1 == cfg.steps:
                jax.block_until_ready((params, state))
                clock += time.perf_counter() - t0
                val = float(eval_loss(to_eval(state, params), self.val, self.heads))
                points.append((i + 1, clock, val))
                stream.write(f"  {racer.title:<20s} step {i + 1:>4d}/{cfg.steps}  val {val:.3f}  {clock:6.1f} s\n")
                stream.flush()
                t0 = time.perf_counter()
        steps, seconds, vals = (np.array(c) for c in zip(*points))
        result = TextResult(
            name, racer.title, np.asarray(jnp.stack(losses)), steps.astype(int), seconds, vals, compile_s
        )
        result.diagnosis = gdt.toolkit.diagnose(
            result.train_loss,
            vals[1:],
            val_every=cfg.eval_every,
            num_classes=VOCAB,
            hyperparams={"learning_rate": racer.peak_lr, "batch_size": cfg.batch_size, "optimizer": name},
        )
        return result
