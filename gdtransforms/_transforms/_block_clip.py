"""Clipping by the size of each block (leaf) or unit: block RMS and AGC."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import EmptyState, GradientTransformation, init_empty_state, require_params
from gdtransforms._core._flat_params import leafwise

__all__ = [
    "AdaptiveGradClipState",
    "adaptive_grad_clip",
    "clip_by_block_rms",
    "unitwise_clip",
    "unitwise_norm",
]

AdaptiveGradClipState = EmptyState


def clip_by_block_rms(threshold: jax.typing.ArrayLike) -> GradientTransformation:
    r"""Rescales each leaf whose RMS exceeds a threshold down to it.

    .. math:: u \leftarrow \frac{u}{\max\big(1, \mathrm{rms}(u) / c\big)}, \qquad
        \mathrm{rms}(u) = \sqrt{\tfrac{1}{n}\textstyle\sum_i |u_i|^2}

    per leaf (a weight vector or matrix is one block).

    Args:
      threshold: :math:`c > 0`, the largest RMS a block keeps.

    Returns:
      A stateless :class:`GradientTransformation`.

    References:
      Shazeer and Stern, 2018 (update clipping), https://arxiv.org/abs/1804.04235
    """
    _checks.check_positive("threshold", threshold)

    def clip_leaf(u):
        return u / jnp.maximum(1.0, jnp.sqrt(jnp.mean(_tree.abs_sq(u))) / threshold)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(clip_leaf, updates), state

    # The RMS is per leaf: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_empty_state, update_fn))


def unitwise_norm(x: jax.typing.ArrayLike, axis: int | tuple[int, ...] | None = None) -> jax.Array:
    r"""The l2 norm of each unit of ``x``, broadcast back to ``x``'s shape.

    .. math:: \|x\|_{\text{unit}}(i) = \sqrt{\textstyle\sum_{j \in \text{unit}(i)} |x_j|^2}

    A unit is a slice along ``axis``; without ``axis``: the whole array for
    scalars and vectors (and arrays with one non-trivial axis), axis 0 for
    rank 2 and 3 (a linear layer's inputs, per output), axes (0, 1, 2) for
    rank 4 (an HWIO convolution) and (0, 1, 2, 3) for rank 5.

    Args:
      x: an array.
      axis: the axes to reduce, or ``None`` for the defaults above.

    Returns:
      An array shaped like ``x``.

    Raises:
      ValueError: rank above 5 without ``axis``.
    """
    x = jnp.asarray(x)
    if axis is None:
        if jnp.squeeze(x).ndim <= 1:
            axis = tuple(range(x.ndim))
        elif x.ndim in (2, 3):
            axis = 0
        elif x.ndim in (4, 5):
            axis = tuple(range(x.ndim - 1))
        else:
            raise ValueError(f"unitwise_norm: expected rank 1 to 5, got shape {x.shape}; pass `axis` to choose units")
    squared = jnp.sum(_tree.abs_sq(x), axis=axis, keepdims=True)
    return jnp.broadcast_to(jnp.sqrt(squared), x.shape)


def unitwise_clip(
    g_norm: Any,
    max_norm: Any,
    grad: Any,
    div_eps: Any = 1e-6,
) -> jax.Array:
    r"""Rescales each unit of ``grad`` whose norm exceeds its bound.

    .. math:: g \leftarrow \begin{cases} g & \|g\| < m \\
        g \cdot m / \max(\|g\|, \epsilon) & \text{else} \end{cases}

    elementwise, with the unit norms ``g_norm`` from :func:`unitwise_norm`.

    Args:
      g_norm: the unit norms of ``grad``, shaped like it.
      max_norm: the bounds :math:`m`, shaped like it.
      grad: the array to clip.
      div_eps: :math:`\epsilon > 0`, keeps the division finite.

    Returns:
      The clipped array.

    Raises:
      ValueError: the three shapes differ.
    """
    shapes = {"g_norm": np.shape(g_norm), "max_norm": np.shape(max_norm), "grad": np.shape(grad)}
    if len(set(shapes.values())) > 1:
        raise ValueError(f"unitwise_clip: shapes must be equal, got {shapes}")
    clipped = grad * (max_norm / jnp.maximum(g_norm, div_eps))
    return jnp.where(g_norm < max_norm, grad, clipped)


def adaptive_grad_clip(
    clipping: jax.typing.ArrayLike,
    eps: jax.typing.ArrayLike = 1e-3,
    axis: int | tuple[int, ...] | None = None,
) -> GradientTransformation:
    r"""Adaptive gradient clipping: each unit's update to a ratio of its param's norm.

    .. math:: u \leftarrow \text{unitwise\_clip}\big(\|u\|_{\text{unit}},\
        \lambda \max(\|\theta\|_{\text{unit}}, \epsilon),\ u\big)

    with unit norms from :func:`unitwise_norm`.

    Args:
      clipping: :math:`\lambda \ge 0`, the largest ratio of update to param norm.
      eps: :math:`\epsilon \ge 0`, the floor of a param norm (zero-initialised params).
      axis: the axes of a unit, as for :func:`unitwise_norm`.

    Returns:
      A stateless :class:`GradientTransformation` that needs ``params``.

    References:
      Brock et al., 2021, https://arxiv.org/abs/2102.06171
    """
    _checks.check_non_negative("clipping", clipping)
    _checks.check_non_negative("eps", eps)

    def clip_leaf(u, p):
        max_norm = clipping * jnp.maximum(unitwise_norm(p, axis=axis), eps)
        return unitwise_clip(unitwise_norm(u, axis=axis), max_norm, u)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_same_structure(
            params, updates, reference_name="params", tree_name="updates", where="adaptive_grad_clip.update"
        )
        return jax.tree.map(clip_leaf, updates, params), state

    # Unit norms follow each leaf's shape: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_empty_state, update_fn))
