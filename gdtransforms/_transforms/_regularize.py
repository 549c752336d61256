"""Regularisation terms added to the updates: L2 weight decay and L1."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    EmptyState,
    GradientTransformation,
    MaskOrFn,
    ScalarOrSchedule,
    require_params,
)
from gdtransforms._transforms._masking import masked

__all__ = ["WeightDecaySchedule", "add_decayed_weights", "add_l1_penalty"]


class WeightDecaySchedule(NamedTuple):
    """The step count of a scheduled regularisation strength."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar


def _add_param_term(
    where: str,
    name: str,
    strength: ScalarOrSchedule,
    mask: MaskOrFn,
    term: Callable[[jax.Array], jax.Array],
) -> GradientTransformation:
    """Builds ``u <- u + s * term(p)`` with ``s`` a number or a schedule."""
    _checks.check_rate(name, strength)
    scheduled = callable(strength)

    def init_fn(params):
        del params
        return WeightDecaySchedule(count=jnp.zeros([], jnp.int32)) if scheduled else EmptyState()

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        if updates is None:  # no updates at all (optax returns None too): nothing to add to
            return None, state
        _checks.check_same_structure(
            params, updates, reference_name="params", tree_name="updates", where=f"{where}.update"
        )
        if scheduled:
            _checks.check_state(state, WeightDecaySchedule, where)
        new_state = WeightDecaySchedule(_tree.safe_increment(state.count)) if scheduled else state
        if isinstance(strength, (int, float)) and strength == 0.0:
            return updates, new_state
        s = strength(state.count) if scheduled else strength
        updates = jax.tree.map(
            lambda g, p: None if g is None else g + s * term(p),
            updates,
            params,
            is_leaf=lambda x: x is None,
        )
        return updates, new_state

    tx = GradientTransformation(init_fn, update_fn)
    return tx if mask is None else masked(tx, mask)


def add_decayed_weights(
    weight_decay: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Adds L2 weight decay: the gradient of :math:`\frac{\lambda}{2}\|\theta\|^2`.

    .. math:: u \leftarrow u + \lambda\, \theta

    Weights shrink but none reach zero (docs/notes.md §9). Placed after an
    adaptive scaling (as in :func:`adamw`) it is decoupled weight decay.

    Args:
      weight_decay: :math:`\lambda \ge 0`, a number or a schedule.
      mask: a tree of bools (or a function of params returning one) choosing
        the leaves to decay, e.g. weights but not biases.

    Returns:
      A :class:`GradientTransformation` that needs ``params``.
    """
    return _add_param_term("add_decayed_weights", "weight_decay", weight_decay, mask, lambda p: p)


def add_l1_penalty(
    l1_strength: ScalarOrSchedule = 0.0,
    mask: MaskOrFn = None,
) -> GradientTransformation:
    r"""Adds the subgradient of an L1 penalty :math:`\lambda \|\theta\|_1`.

    .. math:: u \leftarrow u + \lambda\, \operatorname{sign}(\theta)

    L1 pushes weights to exactly zero one by one, giving a sparse network
    (docs/notes.md §9). Optax has no such transformation.

    Args:
      l1_strength: :math:`\lambda \ge 0`, a number or a schedule.
      mask: a tree of bools (or a function of params returning one) choosing
        the leaves to penalise.

    Returns:
      A :class:`GradientTransformation` that needs ``params``.
    """
    return _add_param_term("add_l1_penalty", "l1_strength", l1_strength, mask, jnp.sign)
