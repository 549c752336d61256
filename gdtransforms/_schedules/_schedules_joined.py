"""Schedules shared with optax that join simpler ones: warmups, one-cycle, SGDR."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import Schedule
from gdtransforms._schedules._decay import (
    check_steps,
    cosine_decay_schedule,
    piecewise_interpolate_schedule,
    unchecked_exponential,
    unchecked_polynomial,
)

__all__ = [
    "cosine_onecycle_schedule",
    "join_schedules",
    "linear_onecycle_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
]


def _check_fraction(name: str, value: Any) -> None:
    _checks.check_in_range(name, value, 0.0, 1.0)


def _check_onecycle_boundaries(names: Sequence[str], boundaries: Sequence[int]) -> None:
    for (a_name, a), (b_name, b) in zip(zip(names, boundaries), zip(names[1:], boundaries[1:])):
        if not a < b:
            raise ValueError(
                f"the phases must have at least one step each: {a_name} gives step {a} "
                f"and {b_name} gives step {b}; widen the gap or raise `transition_steps`"
            )


def linear_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    pct_final: float = 0.85,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One cycle in three linear phases (Smith's super-convergence schedule).

    Rises from :math:`P / d` to the peak :math:`P` until ``pct_start`` of the
    steps, falls back to :math:`P / d` until ``pct_final``, then to
    :math:`P / (d \cdot f)`.

    Args:
      transition_steps: the cycle's length, > 0.
      peak_value: :math:`P`.
      pct_start: the fraction of steps spent rising, in [0, 1].
      pct_final: the fraction at which the fall back to :math:`P / d` ends.
      div_factor: :math:`d`, the start value is :math:`P / d`.
      final_div_factor: :math:`f`, the end value is :math:`P / (d f)`.

    Returns:
      A schedule.

    References:
      Smith and Topin, Super-Convergence, 2017, https://arxiv.org/abs/1708.07120
    """
    check_steps("transition_steps", transition_steps)
    _check_fraction("pct_start", pct_start)
    _check_fraction("pct_final", pct_final)
    _checks.check_positive("div_factor", div_factor)
    _checks.check_positive("final_div_factor", final_div_factor)
    bounds = [
        int(pct_start * transition_steps),
        int(pct_final * transition_steps),
        transition_steps,
    ]
    _check_onecycle_boundaries(("pct_start", "pct_final", "transition_steps"), bounds)
    return piecewise_interpolate_schedule(
        "linear",
        peak_value / div_factor,
        {bounds[0]: div_factor, bounds[1]: 1.0 / div_factor, bounds[2]: 1.0 / final_div_factor},
    )


def cosine_onecycle_schedule(
    transition_steps: int,
    peak_value: jax.typing.ArrayLike,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    r"""One cycle: a half cosine up to the peak, then one down to the end.

    Rises from :math:`P / d` to :math:`P` until ``pct_start`` of the steps,
    then falls to :math:`P / (d \cdot f)` at ``transition_steps``.

    Args:
      transition_steps: the cycle's length, > 0.
      peak_value: :math:`P`.
      pct_start: the fraction of steps spent rising, in [0, 1).
      div_factor: :math:`d`.
      final_div_factor: :math:`f`.

    Returns:
      A schedule.

    References:
      Smith and Topin, Super-Convergence, 2017, https://arxiv.org/abs/1708.07120
    """
    check_steps("transition_steps", transition_steps)
    _check_fraction("pct_start", pct_start)
    _checks.check_positive("div_factor", div_factor)
    _checks.check_positive("final_div_factor", final_div_factor)
    bounds = [int(pct_start * transition_steps), int(transition_steps)]
    _check_onecycle_boundaries(("pct_start", "transition_steps"), bounds)
    return piecewise_interpolate_schedule(
        "cosine",
        peak_value / div_factor,
        {bounds[0]: div_factor, bounds[1]: 1.0 / (div_factor * final_div_factor)},
    )


def warmup_constant_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
) -> Schedule:
    """A linear warmup from ``init_value`` to ``peak_value``, then constant.

    Args:
      init_value: the value at step 0.
      peak_value: the value from ``warmup_steps`` on.
      warmup_steps: the warmup's length, >= 0.

    Returns:
      A schedule.
    """
    check_steps("warmup_steps", warmup_steps, allow_zero=True)
    return unchecked_polynomial(init_value, peak_value, 1, warmup_steps, 0)


def _check_warmup(warmup_steps: Any, decay_steps: Any) -> None:
    check_steps("warmup_steps", warmup_steps, allow_zero=True)
    check_steps("decay_steps", decay_steps)
    if not warmup_steps < decay_steps:
        raise ValueError(
            f"`warmup_steps` must be less than `decay_steps` (the whole schedule's "
            f"length, warmup included), got warmup_steps={warmup_steps!r}, "
            f"decay_steps={decay_steps!r}"
        )


def warmup_cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    decay_steps: int,
    end_value: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    """A linear warmup to ``peak_value``, then a cosine decay to ``end_value``.

    Args:
      init_value: the value at step 0.
      peak_value: the value at ``warmup_steps``.
      warmup_steps: the warmup's length, >= 0.
      decay_steps: the whole schedule's length, warmup included, so the cosine
        part lasts ``decay_steps - warmup_steps`` > 0 steps.
      end_value: the value from ``decay_steps`` on.
      exponent: the cosine's exponent, as in :func:`cosine_decay_schedule`.

    Returns:
      A schedule.
    """
    _check_warmup(warmup_steps, decay_steps)
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join_schedules(
        [
            unchecked_polynomial(init_value, peak_value, 1, warmup_steps, 0),
            cosine_decay_schedule(peak_value, decay_steps - warmup_steps, alpha, exponent),
        ],
        [warmup_steps],
    )


def warmup_exponential_decay_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    warmup_steps: int,
    transition_steps: int,
    decay_rate: jax.typing.ArrayLike,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    """A linear warmup to ``peak_value``, then :func:`exponential_decay`.

    Args:
      init_value: the value at step 0.
      peak_value: the value at ``warmup_steps``.
      warmup_steps: the warmup's length, >= 0.
      transition_steps: see :func:`exponential_decay`, > 0.
      decay_rate: see :func:`exponential_decay`, > 0.
      transition_begin: steps held at ``peak_value`` after the warmup.
      staircase: see :func:`exponential_decay`.
      end_value: see :func:`exponential_decay`.

    Returns:
      A schedule.
    """
    check_steps("warmup_steps", warmup_steps, allow_zero=True)
    check_steps("transition_steps", transition_steps)
    check_steps("transition_begin", transition_begin, allow_zero=True)
    _checks.check_positive("decay_rate", decay_rate)
    return join_schedules(
        [
            unchecked_polynomial(init_value, peak_value, 1, warmup_steps, 0),
            unchecked_exponential(peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value),
        ],
        [warmup_steps],
    )


def sgdr_schedule(cosine_kwargs: Iterable[dict[str, jax.typing.ArrayLike]]) -> Schedule:
    """SGD with warm restarts: warmup-cosine cycles one after another.

    Args:
      cosine_kwargs: one dict of :func:`warmup_cosine_decay_schedule`
        arguments per cycle; each cycle lasts its ``decay_steps``.

    Returns:
      A schedule.

    References:
      Loshchilov and Hutter, SGDR, 2017, https://arxiv.org/abs/1608.03983
    """
    boundaries, schedules, step = [], [], 0
    kwargs: Any
    for i, kwargs in enumerate(cosine_kwargs):
        if "decay_steps" not in kwargs:
            raise ValueError(f"`cosine_kwargs[{i}]` must have a 'decay_steps' entry, got {sorted(kwargs)}")
        schedules.append(warmup_cosine_decay_schedule(**kwargs))
        step += kwargs["decay_steps"]
        boundaries.append(step)
    if not schedules:
        raise ValueError("`cosine_kwargs` must hold at least one cycle")
    return join_schedules(schedules, boundaries[:-1])


def join_schedules(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """Runs schedules one after another.

    Schedule ``i + 1`` takes over at ``boundaries[i]`` and sees the steps since
    that boundary (0 at the boundary).

    Args:
      schedules: the schedules, in order.
      boundaries: ``len(schedules) - 1`` increasing step counts.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> s = gdt.join_schedules(
      ...     [gdt.constant_schedule(1.0), gdt.linear_schedule(1.0, 0.0, 10)], [5])
      >>> print(float(s(4)), float(s(5)), float(s(10)))
      1.0 1.0 0.5
    """
    schedules, boundaries = list(schedules), list(boundaries)
    for i, fn in enumerate(schedules):
        _checks.check_callable(f"schedules[{i}]", fn, "a schedule (a function of the step count)")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"`boundaries` must have one entry fewer than `schedules`: got "
            f"{len(boundaries)} boundaries for {len(schedules)} schedules"
        )
    for i, b in enumerate(boundaries):
        check_steps(f"boundaries[{i}]", b, allow_zero=True)
    for i in range(1, len(boundaries)):
        if not boundaries[i - 1] < boundaries[i]:
            raise ValueError(f"`boundaries` must increase, got {boundaries}")

    def schedule(step):
        output = schedules[0](step)
        for boundary, fn in zip(boundaries, schedules[1:]):
            output = jnp.where(step < boundary, output, fn(step - boundary))
        return output

    return schedule
