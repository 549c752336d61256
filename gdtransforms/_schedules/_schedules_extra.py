r"""Schedules optax lacks: the notes' decays, warm restarts, cyclic rates, epochs.

Like every schedule here, each is a pure function of the step count
:math:`c = 0, 1, 2, \dots` (the number of updates already applied).

Steps and epochs (docs/notes.md §8). The notes count epochs from 1: during
the first pass over the data ``epoch_num = 1``. With ``S`` steps per epoch,
step ``c`` lies in epoch ``epoch_num = c // S + 1``, and
:func:`epoch_schedule` hands exactly that number to a schedule written in
epochs. A step schedule with ``decay_steps = S`` instead counts the epochs
*completed*, ``c / S``, which is 0 during the first epoch. So for
:math:`\alpha = \alpha_0 / (1 + \text{decay\_rate} \cdot \text{epoch\_num})`:

* ``epoch_schedule(inverse_time_decay(0.2, 1.0, decay_steps=1), S)`` gives
  0.1, 0.0667, 0.05, 0.04 during epochs 1, 2, 3, 4 (the notes' table);
* ``inverse_time_decay(0.2, 1.0, decay_steps=S)`` gives the same values after
  1, 2, 3, 4 completed epochs (steps S, 2S, 3S, 4S), 0.2 at step 0, and
  changes every step in between (``staircase=True`` holds it per epoch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks
from gdtransforms._core._base import Schedule
from gdtransforms._schedules._decay import check_steps

__all__ = [
    "cosine_warm_restarts_schedule",
    "cyclic_schedule",
    "epoch_schedule",
    "inverse_sqrt_decay",
    "inverse_time_decay",
]

_INT32_MAX = int(np.iinfo(np.int32).max)


def _progress(count: jax.typing.ArrayLike, decay_steps: Any, staircase: bool) -> jax.Array:
    p = jnp.asarray(count) / decay_steps
    return jnp.floor(p) if staircase else p


def inverse_time_decay(
    init_value: jax.typing.ArrayLike,
    decay_rate: jax.typing.ArrayLike,
    decay_steps: int,
    staircase: bool = False,
) -> Schedule:
    r"""Inverse-time decay (docs/notes.md §8; Keras' ``InverseTimeDecay``).

    .. math::
        v_c = \frac{\alpha_0}{1 + r\, p}, \qquad
        p = \frac{c}{T}\ \ (\lfloor c / T \rfloor \text{ with staircase})

    See the module notes for how steps map to the notes' epochs.

    Args:
      init_value: :math:`\alpha_0`, the value at step 0.
      decay_rate: :math:`r \ge 0`.
      decay_steps: :math:`T > 0`, the steps per unit of :math:`p` (one
        epoch's steps to decay per epoch).
      staircase: hold the value constant within each block of ``decay_steps``.

    Returns:
      A schedule.

    Example:
      docs/notes.md §8's table, with 100 steps per epoch and epochs from 1:

      >>> import gdtransforms as gdt
      >>> s = gdt.epoch_schedule(gdt.inverse_time_decay(0.2, 1.0, decay_steps=1), 100)
      >>> print([round(float(s(c)), 4) for c in (0, 150, 299, 399)])
      [0.1, 0.0667, 0.05, 0.04]
    """
    _checks.check_non_negative("decay_rate", decay_rate)
    check_steps("decay_steps", decay_steps)

    def schedule(count):
        return init_value / (1 + decay_rate * _progress(count, decay_steps, staircase))

    return schedule


def inverse_sqrt_decay(
    init_value: jax.typing.ArrayLike,
    decay_steps: int = 1,
    k: jax.typing.ArrayLike = 1.0,
    staircase: bool = False,
) -> Schedule:
    r"""Inverse square-root decay (docs/notes.md §8).

    .. math::
        v_c = \frac{k\, \alpha_0}{\sqrt{n}}, \qquad
        n = 1 + \frac{c}{T}\ \ (1 + \lfloor c / T \rfloor \text{ with staircase})

    :math:`n` counts from 1 like the notes: with ``decay_steps=1`` it is the
    mini-batch number :math:`t` (:math:`\alpha = k \alpha_0 / \sqrt t`), and
    with ``decay_steps`` = one epoch's steps and ``staircase=True`` it is
    ``epoch_num`` (:math:`\alpha = k \alpha_0 / \sqrt{\text{epoch\_num}}`).

    Args:
      init_value: :math:`\alpha_0`.
      decay_steps: :math:`T > 0`.
      k: :math:`k`, the value at step 0 is :math:`k\, \alpha_0`.
      staircase: hold the value constant within each block of ``decay_steps``.

    Returns:
      A schedule.

    Example:
      >>> import gdtransforms as gdt
      >>> s = gdt.inverse_sqrt_decay(0.1, decay_steps=10, staircase=True)
      >>> print([round(float(s(c)), 4) for c in (0, 9, 10, 30)])  # epochs 1, 1, 2, 4
      [0.1, 0.1, 0.0707, 0.05]
    """
    check_steps("decay_steps", decay_steps)

    def schedule(count):
        return k * init_value / jnp.sqrt(1 + _progress(count, decay_steps, staircase))

    return schedule


def _check_int(name: str, value: Any, minimum: int) -> None:
    # A count fixed when the schedule is built: concrete, never traced.
    _checks.check_int(name, value, minimum, traced_ok=False)


def cosine_warm_restarts_schedule(
    init_value: jax.typing.ArrayLike,
    t_0: int,
    t_mult: int = 1,
    eta_min: jax.typing.ArrayLike = 0.0,
) -> Schedule:
    r"""Cosine annealing with warm restarts (torch's ``CosineAnnealingWarmRestarts``).

    .. math::
        v_c = \eta_{\min} + \tfrac12 (\alpha_0 - \eta_{\min})
        \Bigl(1 + \cos\bigl(\pi \tfrac{T_{cur}}{T_i}\bigr)\Bigr)

    Cycle :math:`i = 0, 1, \dots` lasts :math:`T_i = T_0\, m^i` steps;
    :math:`T_{cur}` counts the steps since the last restart. Step ``c`` is
    torch's epoch ``c`` (its ``last_epoch`` after ``c`` calls to ``step()``).
    Restarts are found with integer arithmetic, so they fall exactly on
    :math:`T_0 (m^i - 1) / (m - 1)`.

    Args:
      init_value: :math:`\alpha_0`, torch's base learning rate
        (:math:`\eta_{\max}`), the value at each restart.
      t_0: :math:`T_0 \ge 1`, the first cycle's length.
      t_mult: :math:`m \ge 1`, the factor by which each cycle is longer.
      eta_min: :math:`\eta_{\min}`, the value the cycles approach.

    Returns:
      A schedule.

    References:
      Loshchilov and Hutter, SGDR, 2017, https://arxiv.org/abs/1608.03983
    """
    _check_int("t_0", t_0, 1)
    _check_int("t_mult", t_mult, 1)
    t_0, t_mult = int(t_0), int(t_mult)
    # Start step and length of every cycle that begins within int32 range.
    starts, lengths, start, length = [], [], 0, t_0
    while start <= _INT32_MAX:
        starts.append(start)
        lengths.append(length)
        if t_mult == 1:
            break
        start, length = start + length, length * t_mult
    starts_np = np.asarray(starts, np.int32)
    lengths_np = np.asarray(lengths, np.float32)

    def schedule(count):
        count = jnp.asarray(count)
        if t_mult == 1:
            t_cur, t_i = count % t_0, t_0
        else:
            cycle = jnp.searchsorted(starts_np[1:], count, side="right")
            t_cur, t_i = count - jnp.asarray(starts_np)[cycle], jnp.asarray(lengths_np)[cycle]
        frac = t_cur / t_i
        return eta_min + (init_value - eta_min) * (1 + jnp.cos(jnp.pi * frac)) / 2

    return schedule


_CYCLIC_MODES: dict[str, tuple[Callable[[Any, Any], Any], str]] = {
    "triangular": (lambda x, gamma: 1.0, "cycle"),
    "triangular2": (lambda x, gamma: 1 / (2.0 ** (x - 1)), "cycle"),
    "exp_range": (lambda x, gamma: gamma**x, "iterations"),
}


def cyclic_schedule(
    init_value: jax.typing.ArrayLike,
    peak_value: jax.typing.ArrayLike,
    step_size_up: int = 2000,
    step_size_down: int | None = None,
    mode: str = "triangular",
    gamma: jax.typing.ArrayLike = 1.0,
    scale_fn: Callable[[jax.Array], jax.Array] | None = None,
    scale_mode: str = "cycle",
) -> Schedule:
    r"""A cyclic learning rate (torch's ``CyclicLR``; docs/notes.md §8).

    .. math::
        v_c = b + (m - b)\, h(x)\, s(\cdot), \quad
        \text{cycle} = 1 + \lfloor c / L \rfloor, \quad x = (c \bmod L) / L

    with :math:`L` = ``step_size_up + step_size_down``; :math:`h` rises
    linearly from 0 to 1 over the first ``step_size_up`` steps of a cycle and
    falls back over ``step_size_down``. :math:`s` is ``scale_fn`` applied to
    the cycle number (``scale_mode="cycle"``) or to :math:`c`
    (``"iterations"``). Step ``c`` is torch's ``last_epoch`` (batches seen).
    Raising and lowering the rate periodically helps leave saddle points.

    Args:
      init_value: :math:`b`, torch's ``base_lr``: the value at each cycle's
        start.
      peak_value: :math:`m`, torch's ``max_lr``: the value at the top of the
        first cycle.
      step_size_up: steps spent rising, >= 1.
      step_size_down: steps spent falling, >= 0; ``None`` means
        ``step_size_up``.
      mode: ``"triangular"`` (:math:`s = 1`), ``"triangular2"`` (the height
        halves every cycle, :math:`s = 2^{1 - \text{cycle}}`) or
        ``"exp_range"`` (:math:`s = \gamma^{c}`). Ignored with ``scale_fn``.
      gamma: :math:`\gamma`, for ``"exp_range"``.
      scale_fn: a custom :math:`s`; then ``scale_mode`` says what it reads.
      scale_mode: ``"cycle"`` or ``"iterations"``, used with ``scale_fn``.

    Returns:
      A schedule.

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, 2017,
      https://arxiv.org/abs/1506.01186
    """
    _check_int("step_size_up", step_size_up, 1)
    step_size_down = step_size_up if step_size_down is None else step_size_down
    _check_int("step_size_down", step_size_down, 0)
    if scale_fn is None:
        _checks.check_choice("mode", mode, _CYCLIC_MODES)
        fn, scale_mode = _CYCLIC_MODES[mode]
        scale = lambda x: fn(x, gamma)  # noqa: E731
    else:
        _checks.check_callable("scale_fn", scale_fn)
        _checks.check_choice("scale_mode", scale_mode, ("cycle", "iterations"))
        scale = scale_fn
    up, total = int(step_size_up), int(step_size_up) + int(step_size_down)

    def schedule(count):
        count = jnp.asarray(count)
        cycle = 1 + count // total
        pos = count % total
        # h(x) of torch, from integers: x <= up/total  <=>  pos <= up.
        height = jnp.where(pos <= up, pos / up, (total - pos) / max(total - up, 1))
        factor = scale(cycle if scale_mode == "cycle" else count)
        return init_value + (peak_value - init_value) * height * factor

    return schedule


def epoch_schedule(
    schedule: Schedule,
    steps_per_epoch: int,
    first_epoch: int = 1,
    staircase: bool = True,
) -> Schedule:
    r"""Turns a schedule of the epoch number into a schedule of the step count.

    .. math:: v_c = f\bigl(e_0 + \lfloor c / S \rfloor\bigr)

    With the default ``first_epoch=1`` the schedule sees the notes'
    ``epoch_num``: 1 during the first pass over the data.

    Args:
      schedule: :math:`f`, a function of the epoch number.
      steps_per_epoch: :math:`S \ge 1`, the mini-batches per epoch.
      first_epoch: :math:`e_0`, the number of the first epoch (0 or 1).
      staircase: pass whole epochs; ``False`` passes the fractional
        :math:`e_0 + c / S`, so the value moves every step.

    Returns:
      A schedule of the step count.

    Example:
      docs/notes.md §8's :math:`\alpha = 0.95^{\text{epoch\_num}} \alpha_0`:

      >>> import gdtransforms as gdt
      >>> s = gdt.epoch_schedule(lambda e: 0.95**e * 0.1, steps_per_epoch=50)
      >>> print([round(float(s(c)), 5) for c in (0, 49, 50)])
      [0.095, 0.095, 0.09025]
    """
    _checks.check_callable("schedule", schedule, "a function of the epoch number")
    _check_int("steps_per_epoch", steps_per_epoch, 1)
    _check_int("first_epoch", first_epoch, 0)

    def step_schedule(count):
        count = jnp.asarray(count)
        epoch = count // steps_per_epoch if staircase else count / steps_per_epoch
        return schedule(first_epoch + epoch)

    return step_schedule
