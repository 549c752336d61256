"""Schedules shared with optax: pure functions of the step count.

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
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms import _checks
from gdtransforms._base import Schedule

__all__ = [
    "constant_schedule",
    "cosine_decay_schedule",
    "cosine_onecycle_schedule",
    "exponential_decay",
    "join_schedules",
    "linear_onecycle_schedule",
    "linear_schedule",
    "piecewise_constant_schedule",
    "piecewise_interpolate_schedule",
    "polynomial_schedule",
    "sgdr_schedule",
    "warmup_constant_schedule",
    "warmup_cosine_decay_schedule",
    "warmup_exponential_decay_schedule",
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
        or np.ndim(value) != 0
    ):
        raise TypeError(
            f"`{name}` must be a number of steps fixed when the schedule is built "
            f"(a Python int), got {type(value).__name__}: {value!r}"
        )
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`{name}` must be a number of steps (a Python int), got "
            f"{type(value).__name__}: {value!r}"
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


def _polynomial(init_value, end_value, power, transition_steps, transition_begin) -> Schedule:
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
    return _polynomial(init_value, end_value, power, transition_steps, transition_begin)


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
        raise TypeError(
            f"`{name}` must be a dict {{step: scale}}, got "
            f"{type(boundaries_and_scales).__name__}"
        )
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

    SPEC.md section 8's :math:`\alpha = 0.95^{\text{epoch}} \alpha_0` is
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
    return _exponential(init_value, transition_steps, decay_rate, transition_begin, staircase, end_value)


def _exponential(init_value, transition_steps, decay_rate, transition_begin, staircase, end_value):
    if end_value is not None:
        clip_fn = jnp.maximum if decay_rate < 1.0 else jnp.minimum

    def schedule(count):
        decreased_count = count - transition_begin
        p = decreased_count / transition_steps
        if staircase:
            p = jnp.floor(p)
        decayed_value = jnp.where(
            decreased_count <= 0, init_value, init_value * jnp.power(decay_rate, p)
        )
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
        steps, count = jax.tree.map(
            lambda x: float(x) if isinstance(x, int) else x, (decay_steps, count)
        )
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
    if interpolate_type == "linear":
        interpolate_fn = _linear_interpolate
    elif interpolate_type == "cosine":
        interpolate_fn = _cosine_interpolate
    else:
        raise ValueError(
            f"`interpolate_type` must be 'linear' or 'cosine', got {interpolate_type!r}"
        )
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


def _check_fraction(name: str, value: Any) -> None:
    _checks.check_in_range(name, value, 0.0, 1.0)


def _check_onecycle_boundaries(names: Sequence[str], boundaries: Sequence[int]) -> None:
    for (a_name, a), (b_name, b) in zip(
        zip(names, boundaries), zip(names[1:], boundaries[1:])
    ):
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
    bounds = [int(pct_start * transition_steps), int(pct_final * transition_steps), transition_steps]
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
    return _polynomial(init_value, peak_value, 1, warmup_steps, 0)


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
            _polynomial(init_value, peak_value, 1, warmup_steps, 0),
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
            _polynomial(init_value, peak_value, 1, warmup_steps, 0),
            _exponential(peak_value, transition_steps, decay_rate, transition_begin, staircase, end_value),
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
        if not callable(fn):
            raise TypeError(f"`schedules[{i}]` must be a schedule (a function of the step count), got {fn!r}")
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
