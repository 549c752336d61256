"""A multiple of the parameters added to the updates, with any sign (Fromage's shrinkage)."""

from __future__ import annotations

import jax

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import EmptyState, GradientTransformation, ScalarOrSchedule, require_params
from gdtransforms._transforms._regularize import WeightDecaySchedule

__all__ = ["add_scaled_params"]


def add_scaled_params(coefficient: ScalarOrSchedule) -> GradientTransformation:
    r"""Adds a multiple of the parameters, of either sign, to the updates.

    .. math:: u \leftarrow u + c\, \theta

    :func:`add_decayed_weights` with the sign check lifted: Fromage uses
    :math:`c = 1/\sqrt{1 + \eta^2} - 1 < 0`, which with the update applied
    rescales the parameters by :math:`1/\sqrt{1 + \eta^2}`. The state is the
    same as :func:`add_decayed_weights`'s (a step count for a schedule).

    Args:
      coefficient: :math:`c`, a finite number or a schedule.

    Returns:
      A :class:`GradientTransformation`; its ``update`` needs ``params``.
    """
    _checks.check_in_range(
        "coefficient", coefficient, -float("inf"), float("inf"), low_closed=False, high_closed=False, schedule=True
    )
    scheduled = callable(coefficient)

    def init_fn(params):
        del params
        return WeightDecaySchedule(count=jax.numpy.zeros([], jax.numpy.int32)) if scheduled else EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_same_structure(
            params, updates, reference_name="params", tree_name="updates", where="add_scaled_params.update"
        )
        c = coefficient(state.count) if scheduled else coefficient
        new_state = WeightDecaySchedule(_tree.safe_increment(state.count)) if scheduled else state
        updates = jax.tree.map(
            lambda g, p: None if g is None else g + c * p, updates, params, is_leaf=lambda x: x is None
        )
        return updates, new_state

    return GradientTransformation(init_fn, update_fn)
