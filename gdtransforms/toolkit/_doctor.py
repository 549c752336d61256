"""The loss-curve doctor: names what a training curve says (docs/notes.md §10).

:func:`diagnose` reads a training-loss curve (one value per step), optionally
a validation curve, the epoch length and the curves of identical runs with
other seeds, and returns the readings of the notes that apply
(:data:`READINGS`, computed in ``_readings.py``), each with the steps and
numbers it rests on and what to do. A healthy curve gets none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from gdtransforms.toolkit._advice import read_hyperparams, tailor
from gdtransforms.toolkit._curves import shape, smooth_curve, val_steps
from gdtransforms.toolkit._readings import (
    MIN_STEPS,
    READINGS,
    Finding,
    read_loss_rising,
    read_lr_too_high,
    read_lr_too_low,
    read_not_learning,
    read_slow_start,
    too_short,
)
from gdtransforms.toolkit._readings_val import (
    read_epoch_bumps,
    read_noisy_validation,
    read_overfitting,
    read_overflow,
    read_runs_disagree,
)

__all__ = ["READINGS", "Diagnosis", "Finding", "diagnose", "smooth_curve"]


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """The findings of :func:`diagnose`; empty for a healthy curve.

    Iterate over it for the :class:`Finding` objects; ``"overfitting" in d``
    tests for a reading by name.
    """

    findings: tuple[Finding, ...]

    @property
    def names(self) -> tuple[str, ...]:
        """The names of the findings, in the order they were made."""
        return tuple(f.name for f in self.findings)

    @property
    def healthy(self) -> bool:
        """Whether nothing was found (a curve too short to judge is not healthy)."""
        return not self.findings

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def __getitem__(self, name: str) -> Finding:
        for f in self.findings:
            if f.name == name:
                return f
        raise KeyError(f"no finding named {name!r}; found {list(self.names)}")

    def __str__(self) -> str:
        if not self.findings:
            return f"healthy: none of the {len(READINGS)} readings applies"
        return "\n".join(f"- {f}" for f in self.findings)


def _as_curve(name: str, values: Any) -> np.ndarray:
    try:
        x = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a 1-D sequence of numbers, got {type(values).__name__}") from None
    if x.ndim != 1:
        raise ValueError(f"`{name}` must be 1-D (one loss per step), got shape {x.shape}")
    if len(x) == 0:
        raise ValueError(f"`{name}` is empty")
    return x


def _check_steps(name: str, value: Any, least: int = 1) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int or None, got {type(value).__name__}: {value!r}")
    if value < least:
        raise ValueError(f"`{name}` must be >= {least}, got {value}")
    return int(value)


def _other_runs(other_runs: Any, n: int) -> list[np.ndarray]:
    if other_runs is None:
        return []
    if isinstance(other_runs, np.ndarray) or not isinstance(other_runs, Sequence) or isinstance(other_runs, str):
        raise TypeError(
            "`other_runs` must be a list of training curves (one per seed), got "
            f"{type(other_runs).__name__}; wrap a single run in a list: other_runs=[curve]"
        )
    runs = [_as_curve(f"other_runs[{i}]", c) for i, c in enumerate(other_runs)]
    for i, c in enumerate(runs):
        if len(c) != n:
            raise ValueError(f"`other_runs[{i}]` has {len(c)} steps but `train_loss` has {n}: runs must be as long")
    return runs


def diagnose(
    train_loss: Any,
    val_loss: Any = None,
    steps_per_epoch: int | None = None,
    other_runs: Sequence[Any] | None = None,
    *,
    val_every: int | None = None,
    num_classes: int | None = None,
    hyperparams: Any = None,
) -> Diagnosis:
    """Reads a loss curve the way docs/notes.md §10 does.

    Args:
      train_loss: the training loss at every step (mini-batch losses are fine;
        NaN/inf allowed: they are reported where they are, and a curve that
        recovers is read without them).
      val_loss: the validation loss, evaluated every ``val_every`` steps
        (``val_loss[i]`` after step ``(i + 1) * val_every - 1``).
      steps_per_epoch: the number of steps in one epoch; needed to see a bump
        at every epoch.
      other_runs: a list of training curves of identical runs with other seeds,
        each as long as ``train_loss``.
      val_every: steps between validation evaluations; by default
        ``len(train_loss) // len(val_loss)``.
      num_classes: for a cross-entropy loss, the number of classes: a curve
        flat at chance level, ``log(num_classes)``, is then read as stuck.
      hyperparams: the optimizer's hyperparameters, a mapping such as
        ``{"learning_rate": 0.3, "batch_size": 8, "optimizer": "sgd"}`` or an
        ``inject_hyperparams`` state; the advice then names concrete values.

    Returns:
      A :class:`Diagnosis`: the findings, each with a name from
      :data:`READINGS`, the steps, the evidence and advice. A healthy curve
      gives none; one with fewer than 20 finite steps gives ``too_short``. When
      identical runs disagree, or every epoch repeats a pattern, the readings
      about speed (``lr_too_low``, ``slow_start``) are withheld: fix that first. Every reading
      is unchanged by adding a constant to the losses (``num_classes`` aside).

    Raises:
      ValueError, TypeError: naming the argument, for input that is not a
        curve (not 1-D, empty, not numbers), runs of different lengths, a
        validation curve longer than the training curve, or bad options.

    Example:
      >>> import numpy as np
      >>> import gdtransforms as gdt
      >>> steps = np.arange(300)
      >>> gdt.toolkit.diagnose(2.3 + 0.01 * steps).names
      ('loss_rising',)
      >>> gdt.toolkit.diagnose(2.3 * np.exp(-steps / 30) + 0.05).healthy
      True
      >>> gdt.toolkit.diagnose([2.3, 2.2, 2.1]).names
      ('too_short',)
    """
    train = _as_curve("train_loss", train_loss)
    val = None if val_loss is None else _as_curve("val_loss", val_loss)
    spe = _check_steps("steps_per_epoch", steps_per_epoch)
    val_every = _check_steps("val_every", val_every)
    k = _check_steps("num_classes", num_classes, least=2)
    info = read_hyperparams(hyperparams)
    if val is not None:
        if val_every is None:
            if len(val) > len(train):
                raise ValueError(
                    f"`val_loss` has {len(val)} points but `train_loss` only {len(train)} steps; "
                    "a validation curve cannot be longer than the training curve"
                )
            val_every = max(1, len(train) // len(val))
        elif int(val_steps(len(val), val_every)[-1]) >= len(train) + val_every - 1:
            raise ValueError(
                f"`val_loss` has {len(val)} points every {val_every} steps, "
                f"beyond the {len(train)} steps of `train_loss`"
            )
    others = _other_runs(other_runs, len(train))

    findings: list[Finding | None] = [read_overflow(train, val, val_every or 1)]
    keep = np.flatnonzero(np.isfinite(train))  # NaN/inf are left out; the rest is read
    x = train[keep]
    v = None
    if val is not None:
        ok = np.isfinite(val) & (val_steps(len(val), val_every or 1) <= (int(keep[-1]) if len(keep) else -1))
        v = val[ok]
    disagree = read_runs_disagree([train, *others]) if others else None
    if len(x) < MIN_STEPS:
        findings.append(too_short(len(x), len(train)))
    else:
        sh = shape(x, spe, keep)
        # The epoch pattern needs every step in place; its bumps are no spikes of a rate too high.
        bumps = read_epoch_bumps(x, spe) if len(keep) == len(train) else None
        high = None if bumps else read_lr_too_high(sh, v, k)
        findings.append(high)
        rising = None if high else read_loss_rising(sh)
        findings.append(rising)
        if high is None and rising is None:
            flat = read_not_learning(sh, v, k)
            findings.append(flat)
            if flat is None and disagree is None and bumps is None:  # the speed readings need a clean shape
                slow = read_slow_start(sh)
                findings.append(slow)
                if slow is None:
                    findings.append(read_lr_too_low(sh, v))
        if high is None and rising is None:  # a curve going up says nothing about epochs or validation
            findings.append(bumps)
            findings.append(read_overfitting(sh, v, val_every or 1))
            findings.append(read_noisy_validation(sh, v, val_every or 1))
    findings.append(disagree)
    return Diagnosis(tuple(tailor(f, info) for f in findings if f is not None))
