"""Contrastive and metric-learning losses: NT-Xent and the triplet margin loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = ["ntxent", "triplet_margin_loss"]


def ntxent(
    embeddings: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    temperature: jax.typing.ArrayLike = 0.07,
) -> jax.Array:
    r"""Normalised temperature-scaled cross-entropy (NT-Xent), the SimCLR loss.

    With :math:`s_{ij}` the cosine similarity of embeddings :math:`i, j` over
    :math:`\tau`, :math:`P` the ordered pairs :math:`i \neq j` with equal labels
    and :math:`N_i` the items whose label differs from :math:`i`'s,

    .. math::
        \ell = \frac{1}{|P|} \sum_{(i, j) \in P}
        -\log \frac{e^{s_{ij}}}{e^{s_{ij}} + \sum_{k \in N_i} e^{s_{ik}}}

    evaluated as a log-sum-exp.

    Args:
      embeddings: ``[batch, features]``.
      labels: ``[batch]`` integer group ids; items with the same id are positive pairs.
      temperature: :math:`\tau`.

    Returns:
      The mean loss over the positive pairs, a scalar.

    References:
      Chen et al., *A Simple Framework for Contrastive Learning of Visual
      Representations*, ICML 2020, https://arxiv.org/abs/2002.05709

    Examples:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> x = jnp.array([[1.0, 0.0], [1.0, 0.1], [0.0, 1.0], [0.1, 1.0]])
      >>> print(f"{gdt.losses.ntxent(x, jnp.array([0, 0, 1, 1]), temperature=1.0):.4f}")
      0.5978
    """
    fn = "ntxent"
    c.check_float(fn, "embeddings", embeddings)
    embeddings, labels = jnp.asarray(embeddings), jnp.asarray(labels)
    if embeddings.ndim != 2 or labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise ValueError(
            f"{fn}: `embeddings` has shape {embeddings.shape} and `labels` has shape {labels.shape}; "
            "expected [batch, features] and [batch]"
        )
    n = embeddings.shape[0]
    eps = jnp.finfo(embeddings.dtype).eps
    # Cosine similarities of all pairs as one matrix product of unit vectors (norms floored at eps).
    squared = jnp.sum(embeddings * embeddings, axis=1, keepdims=True)
    unit = embeddings / jnp.sqrt(jnp.clip(squared, min=eps))
    sims = jnp.matmul(unit, unit.T, precision=jax.lax.Precision.HIGHEST) / temperature
    same = labels[:, None] == labels[None, :]
    positive = same & ~jnp.eye(n, dtype=bool)
    # Per anchor, log of the total weight of its negatives (-inf if it has none).
    peak = jax.lax.stop_gradient(jnp.max(jnp.where(same, -jnp.inf, sims), axis=1, keepdims=True))
    peak = jnp.where(jnp.isfinite(peak), peak, 0.0)
    neg_mass = jnp.sum(jnp.where(same, 0.0, jnp.exp(sims - peak)), axis=1, keepdims=True)
    log_neg = jnp.where(neg_mass > 0, jnp.log(jnp.where(neg_mass > 0, neg_mass, 1.0)) + peak, -jnp.inf)
    pair_loss = jnp.logaddexp(sims, log_neg) - sims
    return jnp.sum(jnp.where(positive, pair_loss, 0.0)) / jnp.sum(positive)


def triplet_margin_loss(
    anchors: jax.typing.ArrayLike,
    positives: jax.typing.ArrayLike,
    negatives: jax.typing.ArrayLike,
    axis: int = -1,
    norm_degree: jax.typing.ArrayLike = 2,
    margin: jax.typing.ArrayLike = 1.0,
    eps: jax.typing.ArrayLike = 1e-6,
) -> jax.Array:
    r"""Triplet margin loss: the positive must be closer than the negative by a margin.

    .. math::
        d(a, b) = \Big(\sum_k |a_k - b_k|^p + \epsilon\Big)^{1/p}, \qquad
        \ell = \max\big(d(a, x^+) - d(a, x^-) + m, 0\big)

    Args:
      anchors: anchor embeddings, ``[batch, features]``.
      positives: embeddings similar to the anchors, broadcastable with them.
      negatives: embeddings dissimilar to the anchors, broadcastable with them.
      axis: the feature axis.
      norm_degree: :math:`p`.
      margin: :math:`m`.
      eps: :math:`\epsilon`, which keeps the root differentiable at 0.

    Returns:
      The loss per triplet, with ``axis`` reduced away.

    References:
      Balntas et al., *Learning local feature descriptors with triplets and
      shallow convolutional neural networks*, BMVC 2016.
    """
    fn = "triplet_margin_loss"
    for name, x in (("anchors", anchors), ("positives", positives), ("negatives", negatives)):
        c.check_float(fn, name, x)
    a, pos, neg = c.broadcast(fn, ("anchors", anchors), ("positives", positives), ("negatives", negatives))

    def distance(b: jax.Array) -> jax.Array:
        return jnp.power(jnp.sum(jnp.power(jnp.abs(a - b), norm_degree), axis=axis) + eps, 1.0 / norm_degree)

    return jnp.maximum(distance(pos) - distance(neg) + margin, 0.0)
