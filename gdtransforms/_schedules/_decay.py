"""Schedules shared with optax: pure functions of the step count.

This module has the single-shape schedules; ``_schedules_joined`` has the ones
built by joining them (warmups, one-cycle, SGDR).

Each factory returns ``schedule(count) -> value``, usable under ``jit`` with a
traced int32 ``count`` (0 on the first step). Names, arguments and numbers are
optax's; the difference is bad input: a non-positive ``transition_steps`` or
``decay_steps``, boundaries that do not increase or a warmup longer than the
whole schedule raise ``ValueError`` naming the argument, where optax quietly
falls back to a constant.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks
from gdtransforms._core._base import Schedule

__all__ = [
    "check_steps",
    "constant_schedule",
    "cosine_decay_schedule",
    "exponential_decay",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
]


def check_steps(name: str, value: Any, *, allow_zero: bool = False) -> None:
    """A step count fixed when the schedule is built: a real number > 0 (>= 0).

    Raises:
      TypeError: ``value`` is not a concrete real number.
      ValueError: ``value`` is negative, zero (unless allowed) or not finite.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (numbers.Real, np.ndarray, jax.Array))
        or _checks.is_deferred(value)
        or np.ndim(value) != 0  # type: ignore[arg-type]
    ):
        raise TypeError(
            f"`{name}` must be a number of steps fixed when the schedule is built "
            f"(a Python int), got {type(value).__name__}: {value!r}"
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a number of steps (a Python int), got {type(value).__name__}: {value!r}"
        ) from None
    if not math.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        expected = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{name}` must be a finite number of steps {expected}, got {value!r}")


def constant_schedule(value: jax.typing.ArrayLike) -> Schedule:
    """The same value at every step.

    Args:
      value: the value.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> gdt.constant_schedule(5)(100)
      5
    """
    return lambda count: value


def unchecked_polynomial(
    init_value: Any, end_value: Any, power: Any, transition_steps: Any, transition_begin: Any
) -> Schedule:
    """:func:`polynomial_schedule` without checks; ``transition_steps <= 0`` is constant."""
    if transition_steps <= 0:
        # Only reached from the warmup schedules, with warmup_steps == 0.
        return lambda count: init_value

    def schedule(count):
        count = jnp.clip(count - transition_begin, 0, transition_steps)
        frac = 1 - count / transition_steps
        return (init_value - end_value) * (frac**power) + end_value

    return schedule


def polynomial_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    power: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""A polynomial transition from ``init_value`` to ``end_value``.

    .. math::
        v_t = \begin{cases}
          I & t < B \\
          (I - E)\,\bigl(1 - \tfrac{t - B}{T}\bigr)^{P} + E & B \le t < B + T \\
          E & t \ge B + T
        \end{cases}

    Args:
      init_value: :math:`I`.
      end_value: :math:`E`.
      power: :math:`P`.
      transition_steps: :math:`T > 0`, the length of the transition.
      transition_begin: :math:`B \ge 0`, the steps held at ``init_value`` first.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> s = gdt.polynomial_schedule(1.0, 0.01, power=2, transition_steps=100)
      >>> print(f"{float(s(0)):.2f} {float(s(50)):.4f} {float(s(100)):.2f}")
      1.00 0.2575 0.01
    """
    check_steps("transition_steps", transition_steps)
    check_steps("transition_begin", transition_begin, allow_zero=True)
    return unchecked_polynomial(init_value, end_value, power, transition_steps, transition_begin)


def linear_schedule(
    init_value: jax.typing.ArrayLike,
    end_value: jax.typing.ArrayLike,
    transition_steps: int,
    transition_begin: int = 0,
) -> Schedule:
    r"""A linear transition: :func:`polynomial_schedule` with ``power=1``.

    .. math:: v_t = I + \tfrac{\min(\max(t - B, 0), T)}{T}\,(E - I)

    Args:
      init_value: :math:`I`.
      end_value: :math:`E`.
      transition_steps: :math:`T > 0`.
      transition_begin: :math:`B \ge 0`.

    Returns:
      A schedule.
    """
    return polynomial_schedule(init_value, end_value, 1, transition_steps, transition_begin)


def _check_scales(name: str, boundaries_and_scales: Mapping[Any, Any] | None) -> None:
    if boundaries_and_scales is None:
        return
    if not isinstance(boundaries_and_scales, Mapping):
        raise TypeError(f"`{name}` must be a dict {{step: scale}}, got {type(boundaries_and_scales).__name__}")
    for boundary, scale in boundaries_and_scales.items():
        check_steps(f"{name} key {boundary!r}", boundary, allow_zero=True)
        _checks.check_non_negative(f"{name}[{boundary!r}]", scale)


def piecewise_constant_schedule(
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""A staircase: the value is multiplied by a scale at each boundary.

    .. math:: v_t = I \prod_{i:\ t \ge b_i} s_i

    The value switches *at* the boundary step (``t == b_i`` is scaled).

    Args:
      init_value: :math:`I`.
      boundaries_and_scales: ``{b_i: s_i}`` with scales >= 0.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> s = gdt.piecewise_constant_schedule(1.0, {100: 0.1, 200: 0.1})
      >>> print(f"{float(s(99)):.2f} {float(s(100)):.2f} {float(s(200)):.3f}")
      1.00 0.10 0.010
    """
    _check_scales("boundaries_and_scales", boundaries_and_scales)
    steps = sorted(boundaries_and_scales.items()) if boundaries_and_scales else []

    def schedule(count):
        v = init_value
        for threshold, scale in steps:
            indicator = jnp.maximum(0.0, jnp.sign(threshold - count))
            v = v * indicator + (1 - indicator) * scale * v
        return v

    return schedule


def exponential_decay(
    init_value: jax.typing.ArrayLike,
    transition_steps: int,
    decay_rate: float,
    transition_begin: int = 0,
    staircase: bool = False,
    end_value: jax.typing.ArrayLike | None = None,
) -> Schedule:
    r"""Exponential decay, continuous or in stairs.

    .. math::
        v_t = I \cdot r^{p}, \quad p = \frac{t - B}{T}
        \ (\lfloor p \rfloor \text{ with staircase}), \qquad v_t = I \text{ for } t \le B

    docs/notes.md §8's :math:`\alpha = 0.95^{\text{epoch}} \alpha_0` is
    ``exponential_decay(alpha_0, transition_steps=steps_per_epoch,
    decay_rate=0.95, staircase=True)`` (epochs counted from 0); counted from 1
    it is ``epoch_schedule(exponential_decay(alpha_0, 1, 0.95), steps_per_epoch)``.

    Args:
      init_value: :math:`I`.
      transition_steps: :math:`T > 0`, the steps per factor of ``decay_rate``.
      decay_rate: :math:`r > 0` (``r > 1`` grows).
      transition_begin: :math:`B \ge 0`, the steps held at ``init_value`` first.
      staircase: decay in whole multiples of ``transition_steps``.
      end_value: a floor (``r < 1``) or ceiling (``r > 1``) on the value.

    Returns:
      A schedule.
    """
    check_steps("transition_steps", transition_steps)
    check_steps("transition_begin", transition_begin, allow_zero=True)
    _checks.check_positive("decay_rate", decay_rate)
    return unchecked_exponential(init_value, transition_steps, decay_rate, transition_begin, staircase, end_value)


def unchecked_exponential(
    init_value: Any,
    transition_steps: Any,
    decay_rate: Any,
    transition_begin: Any,
    staircase: bool,
    end_value: Any,
) -> Schedule:
    """:func:`exponential_decay` without checks."""
    if end_value is not None:
        clip_fn = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count):
        decreased_count = count - transition_begin
        p = decreased_count / transition_steps
        if staircase:
            p = jnp.floor(p)
        decayed_value = jnp.where(decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p))
        if end_value is not None:
            decayed_value = clip_fn(decayed_value, end_value)
        return decayed_value

    return schedule


def cosine_decay_schedule(
    init_value: jax.typing.ArrayLike,
    decay_steps: int,
    alpha: jax.typing.ArrayLike = 0.0,
    exponent: jax.typing.ArrayLike = 1.0,
) -> Schedule:
    r"""Cosine decay from ``init_value`` to ``alpha * init_value``.

    .. math::
        v_t = I\Bigl(\alpha + (1 - \alpha)
        \bigl[\tfrac12\bigl(1 + \cos \tfrac{\pi \min(t, T)}{T}\bigr)\bigr]^{p}\Bigr)

    Args:
      init_value: :math:`I`.
      decay_steps: :math:`T > 0`.
      alpha: the final value as a fraction of ``init_value``.
      exponent: :math:`p`.

    Returns:
      A schedule.

    References:
      Loshchilov and Hutter, SGDR: Stochastic Gradient Descent with Warm
      Restarts, 2017, https://arxiv.org/abs/1608.03983
    """
    check_steps("decay_steps", decay_steps)

    def schedule(count):
        # Python ints become floats so large step counts do not overflow int32.
        steps, count = jax.tree.map(lambda x: float(x) if isinstance(x, int) else x, (decay_steps, count))
        count = jnp.minimum(count, steps)
        cosine_decay = 0.5 * (1 + jnp.cos(jnp.pi * count / steps))
        decayed = (1 - alpha) * cosine_decay**exponent + alpha
        return init_value * decayed

    return schedule


def _linear_interpolate(start, end, pct):
    return (end - start) * pct + start


def _cosine_interpolate(start, end, pct):
    return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)


def piecewise_interpolate_schedule(
    interpolate_type: str,
    init_value: jax.typing.ArrayLike,
    boundaries_and_scales: dict[int, float] | None = None,
) -> Schedule:
    r"""Interpolates between the values of a staircase.

    The value at boundary :math:`b_i` is :math:`I \prod_{j \le i} s_j`; between
    boundaries it moves linearly or along a half cosine to the next one, and it
    stays at the last value after the last boundary.

    Args:
      interpolate_type: ``"linear"`` or ``"cosine"``.
      init_value: :math:`I`, the value at step 0.
      boundaries_and_scales: ``{b_i: s_i}`` with scales >= 0.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> s = gdt.piecewise_interpolate_schedule("linear", 1.0, {4: 0.1, 8: 0.01})
      >>> print(" ".join(f"{float(s(t)):.4f}" for t in (0, 2, 4, 6, 8)))
      1.0000 0.5500 0.1000 0.0505 0.0010
    """
    _checks.check_choice("interpolate_type", interpolate_type, ("linear", "cosine"))
    if interpolate_type == "linear":
        interpolate_fn = _linear_interpolate
    elif interpolate_type == "cosine":
        interpolate_fn = _cosine_interpolate
    else:
        interpolate_fn = _cosine_interpolate
    _check_scales("boundaries_and_scales", boundaries_and_scales)
    if boundaries_and_scales:
        boundaries, scales = zip(*sorted(boundaries_and_scales.items()))
    else:
        boundaries, scales = (), ()

    def schedule(count):
        bounds = jnp.stack((0,) + boundaries)
        values = jnp.cumprod(jnp.stack((init_value,) + scales))
        interval_sizes = jnp.maximum(bounds[1:] - bounds[:-1], 1)
        indicator = jnp.logical_and(bounds[:-1] <= count, count < bounds[1:])
        pct = (count - bounds[:-1]) / interval_sizes
        interp_vals = interpolate_fn(values[:-1], values[1:], pct)
        return indicator.dot(interp_vals) + (bounds[-1] <= count) * values[-1]

    return schedule
