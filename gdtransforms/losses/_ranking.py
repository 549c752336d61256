"""Listwise ranking losses."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = ["ranking_softmax_loss"]


def ranking_softmax_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    where: jax.typing.ArrayLike | None = None,
    weights: jax.typing.ArrayLike | None = None,
    reduce_fn: Callable[..., jax.typing.ArrayLike] | None = jnp.mean,
) -> jax.Array:
    r"""Listwise softmax loss: cross-entropy of relevance labels against the scores' softmax.

    .. math::
        \ell(s, y) = -\sum_i w_i y_i \Big(s_i - \log \sum_{j \in \text{valid}} e^{s_j}\Big)

    over the items of each list (the last axis); items with ``where`` False
    take no part.

    Args:
      logits: item scores, ``[..., list_size]``.
      labels: relevance labels, ``[..., list_size]``.
      where: optional mask of the valid items.
      weights: optional per-item weights.
      reduce_fn: how to reduce the per-list losses (``jnp.mean``, ``jnp.sum``
        or ``None`` for none). With ``jnp.mean``, lists without a valid item
        are left out, and if there are none the result is 0, not NaN.

    Returns:
      The reduced loss, or the per-list losses ``[...]``.

    References:
      Cao et al., *Learning to Rank: From Pairwise Approach to Listwise Approach*,
      ICML 2007; Bruch et al., *An Analysis of the Softmax Cross Entropy Loss for
      Learning-to-Rank with Binary Relevance*, ICTIR 2019.

    Examples:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> scores = jnp.array([2.0, 1.0, 3.0])
      >>> relevance = jnp.array([1.0, 0.0, 0.0])
      >>> print(f"{gdt.losses.ranking_softmax_loss(scores, relevance):.3f}")
      1.408
    """
    fn = "ranking_softmax_loss"
    c.check_float(fn, "logits", logits)
    s, y, mask, w = c.broadcast(fn, ("logits", logits), ("labels", labels), ("where", where), ("weights", weights))
    y = y.astype(s.dtype)
    if mask is not None:
        y = jnp.where(mask, y, 0.0)
        s = jnp.where(mask, s, -jnp.inf)
    if w is not None:
        y = y * w
    terms = y * jax.nn.log_softmax(s, axis=-1)
    per_list = -jnp.sum(terms, axis=-1, where=mask)
    valid = None if mask is None else jnp.any(mask, axis=-1)
    if reduce_fn is None:
        return per_list if valid is None else jnp.where(valid, per_list, 0.0)
    out = jnp.asarray(reduce_fn(per_list, where=valid))
    if reduce_fn is jnp.mean:
        # The mean over no valid list is 0/0; report 0 unless a loss itself is NaN.
        out = jnp.where(jnp.isnan(out) & ~jnp.any(jnp.isnan(per_list)), 0.0, out)
    return out
