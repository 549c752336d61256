"""Clipping updates elementwise or by their global norm."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, init_empty_state

__all__ = ["clip", "clip_by_global_norm"]


def clip(max_delta: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Clips every update element to :math:`[-\delta, \delta]`.

    .. math:: u \leftarrow \min(\max(u, -\delta), \delta)

    Args:
      max_delta: :math:`\delta \ge 0`.

    Returns:
      A stateless :class:`GradientTransformation`.
    """
    _checks.check_non_negative("max_delta", max_delta)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(lambda u: jnp.clip(u, -max_delta, max_delta), updates), state

    return GradientTransformation(init_empty_state, update_fn)


def clip_by_global_norm(max_norm: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Rescales all updates together when their global norm exceeds a bound.

    .. math:: u \leftarrow u \cdot \frac{c}{\max(\|u\|, c)}

    where :math:`\|u\|` is :func:`global_norm` over every leaf.

    Args:
      max_norm: :math:`c > 0`.

    Returns:
      A stateless :class:`GradientTransformation`.

    References:
      Pascanu et al., 2012, https://arxiv.org/abs/1211.5063
    """
    _checks.check_positive("max_norm", max_norm)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        g_norm = _tree.global_norm(updates)
        keep = g_norm < max_norm
        updates = jax.tree.map(lambda u: jax.lax.select(keep, u, (u / g_norm.astype(u.dtype)) * max_norm), updates)
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)
