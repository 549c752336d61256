"""Cross-entropy losses: softmax (dense, integer and safe labels), sigmoid, focal and poly.

All are computed from log-probabilities in log-sum-exp form, so very large
logits of either sign give finite losses and gradients.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = [
    "poly_loss_cross_entropy",
    "safe_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy",
    "sigmoid_focal_loss",
    "softmax_cross_entropy",
    "softmax_cross_entropy_with_integer_labels",
]


def sigmoid_binary_cross_entropy(logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Element-wise binary cross-entropy of independent sigmoid predictions.

    .. math::
        \ell(x, y) = -y \log \sigma(x) - (1 - y) \log \sigma(-x)

    with :math:`\log\sigma` evaluated stably. Each element is its own binary
    problem, so this serves binary and multi-label classification alike.

    Args:
      logits: unnormalised log-odds of the positive class.
      labels: targets in [0, 1] (hard or soft), broadcastable with ``logits``.

    Returns:
      The loss of each element, of the broadcast shape.

    References:
      Goodfellow, Bengio and Courville, *Deep Learning*, 2016, section 3.13.
    """
    fn = "sigmoid_binary_cross_entropy"
    c.check_float(fn, "logits", logits)
    x, y = c.broadcast(fn, ("logits", logits), ("labels", labels))
    y = y.astype(x.dtype)
    return -y * jax.nn.log_sigmoid(x) - (1.0 - y) * jax.nn.log_sigmoid(-x)


def sigmoid_focal_loss(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    alpha: jax.typing.ArrayLike | None = None,
    gamma: jax.typing.ArrayLike = 2.0,
) -> jax.Array:
    r"""Focal loss: the sigmoid cross-entropy damped where the prediction is already right.

    .. math::
        \ell = \alpha_t (1 - p_t)^\gamma \, \mathrm{BCE}(x, y), \quad
        1 - p_t = (1 - y)\,\sigma(x) + y\,\sigma(-x), \quad
        \alpha_t = \alpha y + (1 - \alpha)(1 - y)

    :math:`(1 - p_t)^\gamma` is formed as :math:`\exp(\gamma \log(1 - p_t))`
    with the logarithm taken as a log-sum-exp of log-sigmoids, so it stays
    accurate for extreme logits and for :math:`\gamma < 1`.

    Args:
      logits: unnormalised log-odds.
      labels: targets in [0, 1], broadcastable with ``logits``.
      alpha: optional weight of the positive class, in (0, 1).
      gamma: the focusing exponent (0 gives the plain cross-entropy).

    Returns:
      The loss of each element.

    References:
      Lin et al., *Focal Loss for Dense Object Detection*, 2017, https://arxiv.org/abs/1708.02002
    """
    fn = "sigmoid_focal_loss"
    c.check_float(fn, "logits", logits)
    x, y = c.broadcast(fn, ("logits", logits), ("labels", labels))
    y = y.astype(x.dtype)
    log_p, log_not_p = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    cross_entropy = -y * log_p - (1.0 - y) * log_not_p
    # log(1 - p_t) = log((1 - y) e^{log p} + y e^{log(1 - p)}), zero weights dropping their term.
    stacked = jnp.stack([log_p, log_not_p], axis=-1)
    weights = jnp.stack([1.0 - y, y], axis=-1)
    log_miss = jax.scipy.special.logsumexp(stacked, axis=-1, b=weights)
    loss = cross_entropy * jnp.exp(gamma * log_miss)
    if alpha is None:
        return loss
    return (alpha * y + (1.0 - alpha) * (1.0 - y)) * loss


def safe_softmax_cross_entropy(logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Softmax cross-entropy over the last axis that treats :math:`0 \log 0` as 0.

    .. math::
        \ell(x, y) = -\sum_{j:\, y_j \neq 0} y_j \log \operatorname{softmax}(x)_j

    Unlike :func:`softmax_cross_entropy`, a class with logit :math:`-\infty`
    and label 0 contributes nothing, instead of NaN, to the loss and to its
    gradient.

    Args:
      logits: unnormalised log-probabilities, ``[..., num_classes]``.
      labels: probability distributions broadcastable with ``logits``.

    Returns:
      The loss per example, ``[...]``.
    """
    fn = "safe_softmax_cross_entropy"
    c.check_float(fn, "logits", logits)
    logits, labels = c.broadcast(fn, ("logits", logits), ("labels", labels))
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    # Where log p is finite the term is y log p, whose derivative in y is log p even at y = 0
    # (label gradients, for distillation say). Where log p = -inf, a zero label gives 0 and a
    # nonzero one -inf; each operand is masked too, so that no branch puts 0 * inf in a gradient.
    finite = jnp.isfinite(log_probs)
    nonzero = labels != 0.0
    terms = jnp.where(
        finite,
        labels * jnp.where(finite, log_probs, 0.0),
        jnp.where(nonzero, labels * jnp.where(nonzero, log_probs, 0.0), 0.0),
    )
    return -jnp.sum(terms, axis=-1)


def softmax_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cross-entropy between target distributions and the softmax of logits.

    .. math::
        \ell(x, y) = -\sum_j y_j \Big(x_j - \log \sum_k e^{x_k}\Big)

    Args:
      logits: unnormalised log-probabilities.
      labels: target distributions (one-hot or soft), broadcastable with ``logits``.
      axis: the class axis or axes.
      where: optional mask of the entries to include, of the logits' shape or
        of the shape left after reducing ``axis``.

    Returns:
      The loss with ``axis`` reduced away.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.
    """
    fn = "softmax_cross_entropy"
    c.check_float(fn, "logits", logits)
    ndim = jnp.ndim(logits)
    where = c.expand_where(fn, where, axis, ndim)
    logits, labels, where = c.broadcast(fn, ("logits", logits), ("labels", labels), ("where", where))
    log_probs = jax.nn.log_softmax(logits, axis=axis, where=where)
    return -jnp.sum(labels * log_probs, axis=axis, where=where)


def softmax_cross_entropy_with_integer_labels(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Softmax cross-entropy with the target class given by its index.

    .. math::
        \ell(x, y) = \log \sum_k e^{x_k} - x_y

    Args:
      logits: unnormalised log-probabilities.
      labels: integer class indices, of the logits' shape with ``axis``
        removed (or broadcastable to it). With a tuple of axes, a label is a
        flat (row-major) index into those axes, taken in the order given.
      axis: the class axis, or a tuple of axes.
      where: optional mask of the classes to include, of the logits' shape or
        of the batch shape. A fully masked example has loss 0.

    Returns:
      The loss per example, of the batch shape.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, section 4.3.4.
    """
    fn = "softmax_cross_entropy_with_integer_labels"
    c.check_float(fn, "logits", logits)
    c.check_int(fn, "labels", labels)
    if not isinstance(axis, (int, tuple)):
        raise ValueError(f"{fn}: `axis` must be an int or a tuple of ints, got {type(axis).__name__}")
    logits = jnp.asarray(logits)
    c.normalize_axes(fn, axis, logits.ndim)  # checks the axes
    # The labels index the class axes flattened in the order given (as in optax), not sorted.
    class_axes = tuple(a % logits.ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    batch_axes = tuple(a for a in range(logits.ndim) if a not in class_axes)
    batch_shape = tuple(logits.shape[a] for a in batch_axes)
    c.check_broadcasts_to(fn, "labels", labels, batch_shape, f"`logits` of shape {logits.shape} without axes {axis}")
    order = batch_axes + class_axes
    num_classes = math.prod(logits.shape[a] for a in class_axes)
    flat = jnp.transpose(logits, order).reshape(batch_shape + (num_classes,))
    if where is not None:
        where = c.expand_where(fn, where, axis, logits.ndim)
        where = c.broadcast(fn, ("where", where), ("logits", logits))[0]
        where = jnp.transpose(where, order).reshape(batch_shape + (num_classes,))
    labels = jnp.broadcast_to(jnp.asarray(labels), batch_shape)
    label_logits = jnp.take_along_axis(flat, labels[..., None], axis=-1)[..., 0]
    out = jax.nn.logsumexp(flat, axis=-1, where=where) - label_logits
    if where is not None:
        out = jnp.where(jnp.any(where, axis=-1), out, 0.0)
    return out


def poly_loss_cross_entropy(
    logits: jax.typing.ArrayLike,
    labels: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 2.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Poly-1 loss: cross-entropy plus a weighted first polynomial term.

    .. math::
        \ell = \mathrm{CE}(x, y) + \epsilon \sum_j y_j (1 - \operatorname{softmax}(x)_j)

    The cross-entropy's Taylor expansion in :math:`1 - p_t` has coefficient 1
    on the first term; Poly-1 moves it to :math:`1 + \epsilon`.

    Args:
      logits: unnormalised log-probabilities.
      labels: target distributions, broadcastable with ``logits``.
      epsilon: the extra weight of the first polynomial term (the paper
        suggests 2 for ImageNet classification, -1 for detection).
      axis: the class axis or axes.
      where: optional mask of the entries to include.

    Returns:
      The loss with ``axis`` reduced away.

    References:
      Leng et al., *PolyLoss: A Polynomial Expansion Perspective of Classification
      Loss Functions*, 2022, https://arxiv.org/abs/2204.12511
    """
    fn = "poly_loss_cross_entropy"
    c.check_float(fn, "logits", logits)
    c.check_float(fn, "labels", labels)
    where = c.expand_where(fn, where, axis, jnp.ndim(logits))
    logits, labels, where = c.broadcast(fn, ("logits", logits), ("labels", labels), ("where", where))
    probs = jax.nn.softmax(logits, axis=axis, where=where)
    first_term = jnp.sum(labels * (1.0 - probs), axis=axis, where=where)
    return softmax_cross_entropy(logits, labels, axis=axis, where=where) + epsilon * first_term
