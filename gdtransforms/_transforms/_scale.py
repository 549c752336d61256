"""Scaling by a constant, a learning rate or a schedule."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    GradientTransformation,
    ScalarOrSchedule,
    Schedule,
    identity,
    init_empty_state,
)

__all__ = ["ScaleByScheduleState", "scale", "scale_by_learning_rate", "scale_by_schedule"]


class ScaleByScheduleState(NamedTuple):
    """The step count of :func:`scale_by_schedule`."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar


def scale(step_size: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Multiplies updates by a fixed factor.

    .. math:: u \leftarrow \alpha\, u

    Updates keep their dtype: a float32 array ``step_size`` does not promote
    bfloat16 updates (optax's ``scale`` does).

    Args:
      step_size: :math:`\alpha`, a number or array (may be negative).

    Returns:
      A stateless :class:`GradientTransformation`.
    """
    _checks.check_in_range("step_size", step_size, -float("inf"), float("inf"))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda g: (step_size * g).astype(g.dtype), updates), state

    return GradientTransformation(init_empty_state, update_fn)


def scale_by_schedule(step_size_fn: Schedule) -> GradientTransformation:
    r"""Multiplies updates by a schedule of the step count.

    .. math:: u_t \leftarrow s(t)\, u_t, \quad t = 0, 1, \dots

    Args:
      step_size_fn: :math:`s`, a function of the int32 step count.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByScheduleState`.
    """
    _checks.check_callable("step_size_fn", step_size_fn, "a schedule (a function of the step count)")

    def init_fn(params):
        del params
        return ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByScheduleState, "scale_by_schedule")
        step_size = _checks.check_scalar_value("step_size_fn", step_size_fn(state.count), where="scale_by_schedule")
        updates = jax.tree.map(lambda g: jnp.array(step_size, dtype=g.dtype) * g, updates)
        return updates, ScaleByScheduleState(count=_tree.safe_increment(state.count))

    return GradientTransformation(init_fn, update_fn)


def scale_by_learning_rate(
    learning_rate: ScalarOrSchedule | None = None,
    *,
    flip_sign: bool = True,
) -> GradientTransformation:
    r"""Scales updates by the learning rate, negated for descent.

    .. math:: u \leftarrow -\eta\, u

    Args:
      learning_rate: :math:`\eta`, a number >= 0, an array or a schedule;
        ``None`` gives :func:`identity`.
      flip_sign: negate, so that adding the updates descends the loss.

    Returns:
      A :class:`GradientTransformation`.
    """
    if learning_rate is None:
        return identity()
    _checks.check_rate("learning_rate", learning_rate)
    sign = -1 if flip_sign else 1
    if callable(learning_rate):
        tx = scale_by_schedule(
            lambda count: (
                sign * _checks.check_scalar_value("learning_rate", learning_rate(count), where="scale_by_learning_rate")
            )
        )
    else:
        tx = scale(sign * learning_rate)

    def init_fn(params):
        # Integer params would be truncated by apply_updates: fail here instead.
        _checks.check_params(params, "scale_by_learning_rate")
        return tx.init(params)

    return GradientTransformation(init_fn, tx.update)
