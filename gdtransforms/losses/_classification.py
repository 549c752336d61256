"""Margin losses for classification: hinge, perceptron and sparsemax, binary and multiclass."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c
from gdtransforms.losses._simplex import sparsemax

__all__ = [
    "hinge_loss",
    "multiclass_hinge_loss",
    "multiclass_perceptron_loss",
    "multiclass_sparsemax_loss",
    "perceptron_loss",
    "sparsemax_loss",
]


def hinge_loss(predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike) -> jax.Array:
    r"""Binary hinge loss.

    .. math::
        \ell(f, t) = \max(0, 1 - t f), \quad t \in \{-1, 1\}

    Args:
      predictor_outputs: the decision function's outputs.
      targets: targets in {-1, 1}, broadcastable with ``predictor_outputs``.

    Returns:
      The loss of each element.

    References:
      Cortes and Vapnik, *Support-Vector Networks*, Machine Learning 20, 1995.
    """
    outputs, targets = c.broadcast("hinge_loss", ("predictor_outputs", predictor_outputs), ("targets", targets))
    return jnp.maximum(0, 1 - outputs * targets)


def perceptron_loss(predictor_outputs: jax.typing.ArrayLike, targets: jax.typing.ArrayLike) -> jax.Array:
    r"""Binary perceptron loss: the hinge loss without a margin.

    .. math::
        \ell(f, t) = \max(0, -t f), \quad t \in \{-1, 1\}

    Args:
      predictor_outputs: the model's scores.
      targets: targets in {-1, 1}, of the same shape.

    Returns:
      The loss of each element.

    References:
      Rosenblatt, *The Perceptron: A Probabilistic Model for Information Storage
      and Organization in the Brain*, Psychological Review 65, 1958.
    """
    c.check_same_shape("perceptron_loss", "predictor_outputs", predictor_outputs, "targets", targets)
    return jnp.maximum(0, -jnp.asarray(predictor_outputs) * jnp.asarray(targets))


def sparsemax_loss(logits: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Binary sparsemax loss, the Fenchel-Young loss of the sparse sigmoid.

    With :math:`z = -x` for a positive label and :math:`z = x` otherwise,

    .. math::
        \ell = \begin{cases} 0 & z \le -1 \\ (z + 1)^2 / 4 & -1 < z < 1 \\ z & z \ge 1 \end{cases}

    It is zero exactly when the sparse sigmoid of ``logits`` equals ``labels``.

    Args:
      logits: the model's scores.
      labels: labels in {0, 1}, broadcastable with ``logits``.

    Returns:
      The loss of each element.

    References:
      Blondel, Martins and Niculae, *Learning with Fenchel-Young Losses*, JMLR 2020,
      section 4.4, https://arxiv.org/abs/1901.02324
    """
    x, y = c.broadcast("sparsemax_loss", ("logits", logits), ("labels", labels))
    z = jnp.where(y, -x, x)
    return jnp.where(z <= -1.0, 0.0, jnp.where(z >= 1.0, z, (z + 1.0) ** 2 / 4.0))


def _check_multiclass(fn: str, scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    scores = jnp.asarray(scores)
    if scores.ndim < 1:
        raise ValueError(f"{fn}: `scores` must have a class axis, got shape {scores.shape}")
    c.check_broadcasts_to(
        fn, "labels", labels, scores.shape[:-1], f"`scores` of shape {scores.shape} without its last axis"
    )
    return jnp.broadcast_to(jnp.asarray(labels), scores.shape[:-1])


def multiclass_hinge_loss(scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Multiclass hinge loss (Crammer-Singer).

    .. math::
        \ell(s, y) = \max_j \big(s_j + [j \neq y]\big) - s_y

    Args:
      scores: the model's scores, ``[..., num_classes]``.
      labels: integer labels, ``[...]``.

    Returns:
      The loss per example, ``[...]``.

    References:
      Crammer and Singer, *On the Algorithmic Implementation of Multiclass
      Kernel-based Vector Machines*, JMLR 2001.
    """
    labels = _check_multiclass("multiclass_hinge_loss", scores, labels)
    scores = jnp.asarray(scores)
    target = jax.nn.one_hot(labels, scores.shape[-1])
    return jnp.max(scores + 1.0 - target, axis=-1) - jnp.sum(scores * target, axis=-1)


def multiclass_perceptron_loss(scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Multiclass perceptron loss.

    .. math::
        \ell(s, y) = \max_j s_j - s_y

    Args:
      scores: the model's scores, ``[..., num_classes]``.
      labels: integer labels, ``[...]``.

    Returns:
      The loss per example, ``[...]``.

    References:
      Collins, *Discriminative Training Methods for Hidden Markov Models: Theory
      and Experiments with Perceptron Algorithms*, EMNLP 2002.
    """
    labels = _check_multiclass("multiclass_perceptron_loss", scores, labels)
    scores = jnp.asarray(scores)
    target = jax.nn.one_hot(labels, scores.shape[-1])
    return jnp.max(scores, axis=-1) - jnp.sum(scores * target, axis=-1)


def multiclass_sparsemax_loss(scores: jax.typing.ArrayLike, labels: jax.typing.ArrayLike) -> jax.Array:
    r"""Multiclass sparsemax loss, the Fenchel-Young loss of sparsemax.

    With :math:`p = \operatorname{sparsemax}(s)`, the projection of the scores
    onto the probability simplex,

    .. math::
        \ell(s, y) = \langle p, s \rangle + \tfrac12 (1 - \|p\|^2) - s_y,
        \qquad \nabla_s \ell = p - e_y

    Args:
      scores: the model's scores, ``[..., num_classes]``.
      labels: integer labels, ``[...]``.

    Returns:
      The loss per example, ``[...]``.

    References:
      Martins and Astudillo, *From Softmax to Sparsemax: A Sparse Model of
      Attention and Multi-Label Classification*, ICML 2016, https://arxiv.org/abs/1602.02068
    """
    labels = _check_multiclass("multiclass_sparsemax_loss", scores, labels)
    dtype = jnp.asarray(scores).dtype
    scores = jnp.asarray(scores).astype(jnp.promote_types(dtype, jnp.float32))
    # p maximises <p, s> + (1 - |p|^2) / 2 over the simplex, so (Danskin) the
    # gradient is p - e_y with p held fixed.
    p = jax.lax.stop_gradient(sparsemax(scores))
    gap = scores - jnp.take_along_axis(scores, labels[..., None], axis=-1)
    # Classes outside the support (p = 0) drop out, even with a score of -inf.
    value = jnp.sum(p * jnp.where(p > 0, gap, 0.0), axis=-1)
    return (value + 0.5 * (1.0 - jnp.sum(p * p, axis=-1))).astype(dtype)
