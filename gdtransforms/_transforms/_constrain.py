"""Keeping parameters non-negative."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import EmptyState, GradientTransformation, init_empty_state, require_params

__all__ = ["NonNegativeParamsState", "keep_params_nonnegative"]

NonNegativeParamsState = EmptyState


def keep_params_nonnegative() -> GradientTransformation:
    r"""Stops any update from taking a parameter below zero.

    .. math:: u \leftarrow \begin{cases} -\theta & \theta + u < 0 \\ u & \text{else} \end{cases}

    so :math:`\theta + u \ge 0` (a negative :math:`\theta` is moved to 0).
    Put it last in a chain. Element-wise: it runs on flat buffers as they are.

    Returns:
      A stateless :class:`GradientTransformation` that needs ``params``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.keep_params_nonnegative()
      >>> p = jnp.array([1.0, 0.5])
      >>> tx.update(jnp.array([-0.4, -2.0]), tx.init(p), p)[0]
      Array([-0.4, -0.5], dtype=float32)
    """

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_same_structure(
            params, updates, reference_name="params", tree_name="updates", where="keep_params_nonnegative.update"
        )
        updates = jax.tree.map(
            lambda p, u: None if p is None else jnp.where((p + u) < 0.0, -p, u),
            params,
            updates,
            is_leaf=lambda x: x is None,
        )
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)
