"""Applying updates to parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import Params, Updates

__all__ = ["apply_updates", "incremental_update", "periodic_update"]


def _is_none(x: object) -> bool:
    return x is None


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Adds updates to params, keeping each parameter's dtype.

    .. math:: \theta \leftarrow \theta + u

    The sum is computed in the promoted dtype and cast back, so bfloat16
    params stay bfloat16 even with float32 updates. ``None`` leaves stay ``None``.

    Args:
      params: the parameters.
      updates: updates of the same structure, as returned by ``update``.

    Returns:
      The new parameters.
    """
    _checks.check_same_structure(params, updates, reference_name="params", tree_name="updates", where="apply_updates")
    return jax.tree.map(
        lambda p, u: None if p is None else jnp.asarray(p + u).astype(jnp.asarray(p).dtype),
        params,
        updates,
        is_leaf=_is_none,
    )


def incremental_update(new_tensors: Params, old_tensors: Params, step_size: jax.typing.ArrayLike) -> Params:
    r"""Polyak averaging: moves old tensors a step towards new ones.

    .. math:: \theta' = \tau\,\theta_{new} + (1 - \tau)\,\theta_{old}

    Args:
      new_tensors: the latest values (for example online network params).
      old_tensors: the running values (for example target network params).
      step_size: :math:`\tau` in [0, 1].

    Returns:
      The updated tensors.
    """
    _checks.check_same_structure(
        new_tensors,
        old_tensors,
        reference_name="new_tensors",
        tree_name="old_tensors",
        where="incremental_update",
    )
    return jax.tree.map(
        lambda new, old: None if new is None else step_size * new + (1.0 - step_size) * old,
        new_tensors,
        old_tensors,
        is_leaf=_is_none,
    )


def periodic_update(
    new_tensors: Params,
    old_tensors: Params,
    steps: jax.typing.ArrayLike,
    update_period: jax.typing.ArrayLike,
) -> Params:
    """Returns ``new_tensors`` every ``update_period`` steps, else ``old_tensors``.

    Args:
      new_tensors: the latest values.
      old_tensors: the values to keep between refreshes.
      steps: the current step (int).
      update_period: how often to refresh (int).

    Returns:
      ``new_tensors`` when ``steps % update_period == 0``, else ``old_tensors``.
    """
    refresh = jnp.mod(steps, update_period) == 0
    if not _checks.is_deferred(refresh):
        # Concrete step (eager code): choose in Python, compiling nothing.
        return new_tensors if bool(refresh) else old_tensors
    return jax.lax.cond(refresh, lambda _: new_tensors, lambda _: old_tensors, None)
