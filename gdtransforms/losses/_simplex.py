"""Euclidean projection onto the probability simplex along the last axis (private).

Used by the sparsemax losses. :mod:`gdtransforms.projections` has the public,
tree-wide version.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["sparsemax"]


@jax.custom_jvp
def sparsemax(scores: jax.Array) -> jax.Array:
    r"""The projection of each row of ``scores`` onto the probability simplex.

    .. math::
        p = \max(s - \tau, 0), \quad \tau \text{ such that } \textstyle\sum_j p_j = 1

    :math:`\tau` is found by sorting: with :math:`u` the scores in decreasing
    order, the support size is the largest :math:`k` with
    :math:`u_k > (\sum_{i \le k} u_i - 1) / k`.

    Args:
      scores: an array ``[..., n]`` with ``n >= 1``.

    Returns:
      The projections, ``[..., n]``; each row is non-negative and sums to 1.

    References:
      Duchi et al., *Efficient Projections onto the l1-Ball for Learning in High
      Dimensions*, ICML 2008; Martins and Astudillo, *From Softmax to Sparsemax*,
      2016, https://arxiv.org/abs/1602.02068
    """
    dtype = scores.dtype
    # bfloat16 cannot resolve the threshold next to large scores; work in float32.
    scores = scores.astype(jnp.promote_types(dtype, jnp.float32))
    n = scores.shape[-1]
    descending = -jnp.sort(-scores, axis=-1)
    partial_sums = jnp.cumsum(descending, axis=-1)
    ranks = jnp.arange(1, n + 1, dtype=scores.dtype).reshape((1,) * (scores.ndim - 1) + (n,))
    in_support = descending * ranks > partial_sums - 1.0
    # The top score is always in the support; max(., 1) guards against rounding.
    size = jnp.maximum(jnp.sum(in_support, axis=-1, keepdims=True), 1)
    threshold = (jnp.take_along_axis(partial_sums, size - 1, axis=-1) - 1.0) / size.astype(scores.dtype)
    return jnp.maximum(scores - threshold, 0.0).astype(dtype)


@sparsemax.defjvp
def _sparsemax_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    # On the support the projection is the identity minus the mean; off it, zero.
    (scores,), (dx,) = primals, tangents
    p = sparsemax(scores)
    support = (p > 0).astype(dx.dtype)
    mean = jnp.sum(support * dx, axis=-1, keepdims=True) / jnp.sum(support, axis=-1, keepdims=True)
    return p, support * (dx - mean)
