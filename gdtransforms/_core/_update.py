"""Applying updates to parameters."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import Params, Updates

__all__ = ["apply_updates", "incremental_update", "periodic_update"]


def _is_none(x: object) -> bool:
    return x is None


def _check_shapes(params: Params, updates: Updates) -> None:
    """Raises ``ValueError`` naming the first leaf whose update has another shape.

    Broadcasting would silently reshape the parameter (a scalar param plus a
    (3,) update is a (3,) param); shapes are static, so this costs nothing
    under ``jit``.
    """
    flat, treedef = jax.tree_util.tree_flatten_with_path(params, is_leaf=_is_none)
    u_leaves = treedef.flatten_up_to(updates)  # type: ignore[attr-defined]
    if all(_same_shape(p, u) for (_, p), u in zip(flat, u_leaves)):
        return
    for (path, p), u in zip(flat, u_leaves):
        if not _same_shape(p, u):
            raise ValueError(
                f"apply_updates: updates do not match params at {_checks.path_str(path)}: "
                f"expected shape {jnp.shape(p)}, got {jnp.shape(u)}"
            )


def _same_shape(p: object, u: object) -> bool:
    return p is None or u is None or jnp.shape(p) == jnp.shape(u)  # type: ignore[arg-type]


def apply_updates(params: Params, updates: Updates) -> Params:
    r"""Adds updates to params, keeping each parameter's dtype.

    .. math:: \theta \leftarrow \theta + u

    The sum is computed in the promoted dtype and cast back, so bfloat16
    params stay bfloat16 even with float32 updates. ``None`` leaves stay ``None``.
    Each update must have its parameter's shape: an update that would
    broadcast (and so reshape the parameter) raises ``ValueError`` naming the
    leaf's path.

    Args:
      params: the parameters.
      updates: updates of the same structure, as returned by ``update``.

    Returns:
      The new parameters.
    """
    _checks.check_same_structure(params, updates, reference_name="params", tree_name="updates", where="apply_updates")
    _check_shapes(params, updates)
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
