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

from gdtransforms.toolkit._curves import finite_prefix, shape, smooth_curve, val_steps
from gdtransforms.toolkit._readings import (
    MIN_STEPS,
    READINGS,
    Finding,
    read_epoch_bumps,
    read_loss_rising,
    read_lr_too_low,
    read_noisy_validation,
    read_not_learning,
    read_overfitting,
    read_overflow,
    read_runs_disagree,
    read_slow_start,
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
        """Whether nothing was found."""
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
            return "healthy: none of the nine readings applies"
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


def _check_steps(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int or None, got {type(value).__name__}: {value!r}")
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1, got {value}")
    return int(value)


def diagnose(
    train_loss: Any,
    val_loss: Any = None,
    steps_per_epoch: int | None = None,
    other_runs: Sequence[Any] | None = None,
    *,
    val_every: int | None = None,
) -> Diagnosis:
    """Reads a loss curve the way docs/notes.md §10 does.

    Args:
      train_loss: the training loss at every step (mini-batch losses are fine;
        NaN/inf allowed).
      val_loss: the validation loss, evaluated every ``val_every`` steps
        (``val_loss[i]`` after step ``(i + 1) * val_every - 1``).
      steps_per_epoch: the number of steps in one epoch; needed to see a bump
        at every epoch.
      other_runs: training curves of identical runs with other seeds.
      val_every: steps between validation evaluations; by default
        ``len(train_loss) // len(val_loss)``.

    Returns:
      A :class:`Diagnosis`: the findings, each with a name from
      :data:`READINGS`, the steps, the evidence and advice. A healthy curve
      gives none. When identical runs disagree, the readings about speed
      (``lr_too_low``, ``slow_start``) are withheld: fix the disagreement first.

    Example:
      >>> import numpy as np
      >>> import gdtransforms as gdt
      >>> steps = np.arange(300)
      >>> gdt.toolkit.diagnose(2.3 + 0.01 * steps).names
      ('loss_rising',)
      >>> gdt.toolkit.diagnose(2.3 * np.exp(-steps / 30) + 0.05).healthy
      True
    """
    train = _as_curve("train_loss", train_loss)
    val = None if val_loss is None else _as_curve("val_loss", val_loss)
    spe = _check_steps("steps_per_epoch", steps_per_epoch)
    val_every = _check_steps("val_every", val_every)
    if val is not None and val_every is None:
        val_every = max(1, len(train) // len(val))
    runs = [train] + [_as_curve(f"other_runs[{i}]", c) for i, c in enumerate(other_runs or ())]

    findings: list[Finding | None] = []
    n_train = finite_prefix(train)
    n_val = finite_prefix(val) if val is not None else 0
    findings.append(read_overflow(train, n_train, val, n_val, val_every or 1))
    x = train[:n_train]
    v = None
    if val is not None:
        # Validation points taken before the training curve broke.
        keep = int(np.sum(val_steps(n_val, val_every) < n_train))  # type: ignore[arg-type]
        v = val[:keep]
    disagree = read_runs_disagree(runs)
    if len(x) >= MIN_STEPS:
        sh = shape(x, spe)
        rising = read_loss_rising(sh)
        findings.append(rising)
        if rising is None:
            flat = read_not_learning(sh, v)
            findings.append(flat)
            if flat is None and disagree is None:
                slow = read_slow_start(sh)
                findings.append(slow)
                if slow is None:
                    findings.append(read_lr_too_low(sh, v))
        findings.append(read_epoch_bumps(x, spe))
        findings.append(read_overfitting(sh, v, val_every or 1))
    findings.append(read_noisy_validation(v, val_every or 1))
    findings.append(disagree)
    return Diagnosis(tuple(f for f in findings if f is not None))
