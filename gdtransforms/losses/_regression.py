"""Regression losses: squared error, L2, Huber, log-cosh and cosine similarity/distance."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = ["cosine_distance", "cosine_similarity", "huber_loss", "l2_loss", "log_cosh", "squared_error"]


def _errors(fn: str, predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None, same: bool) -> jax.Array:
    c.check_float(fn, "predictions", predictions)
    if targets is None:
        return jnp.asarray(predictions)
    if same:
        c.check_same_shape(fn, "predictions", predictions, "targets", targets)
    x, y = c.broadcast(fn, ("predictions", predictions), ("targets", targets))
    return x - y


def squared_error(predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None) -> jax.Array:
    r"""Element-wise squared error.

    .. math::
        \ell(x, y) = (x - y)^2

    Args:
      predictions: the predictions.
      targets: the targets, of the same shape (``None``: zeros).

    Returns:
      The squared error of each element.

    References:
      Hastie, Tibshirani and Friedman, *The Elements of Statistical Learning*, 2009,
      section 2.4.
    """
    return _errors("squared_error", predictions, targets, same=True) ** 2


def l2_loss(predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None) -> jax.Array:
    r"""Half the element-wise squared error.

    .. math::
        \ell(x, y) = \tfrac12 (x - y)^2

    The factor 1/2 (Bishop's convention) makes the gradient the plain residual.

    Args:
      predictions: the predictions.
      targets: the targets, of the same shape (``None``: zeros).

    Returns:
      The loss of each element.

    References:
      Bishop, *Pattern Recognition and Machine Learning*, 2006, section 1.1.
    """
    return 0.5 * _errors("l2_loss", predictions, targets, same=True) ** 2


def huber_loss(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike | None = None,
    *,
    delta: jax.typing.ArrayLike = 1.0,
) -> jax.Array:
    r"""Huber loss: quadratic for small errors, linear for large ones.

    .. math::
        \ell(e) = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
        \delta (|e| - \tfrac12 \delta) & |e| > \delta \end{cases}

    Args:
      predictions: the predictions.
      targets: the targets, broadcastable with ``predictions`` (``None``: zeros).
      delta: where the loss turns from quadratic to linear.

    Returns:
      The loss of each element.

    References:
      Huber, *Robust Estimation of a Location Parameter*, Annals of Mathematical
      Statistics 35, 1964.
    """
    size = jnp.abs(_errors("huber_loss", predictions, targets, same=False))
    inner = jnp.minimum(size, delta)
    return 0.5 * inner**2 + delta * (size - inner)


def log_cosh(predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike | None = None) -> jax.Array:
    r"""Logarithm of the hyperbolic cosine of the error.

    .. math::
        \ell(e) = \log\cosh e = \log(e^{e} + e^{-e}) - \log 2

    evaluated as a log-sum-exp, so it is finite for any finite error: about
    :math:`e^2 / 2` for small errors and :math:`|e| - \log 2` for large ones.

    Args:
      predictions: the predictions.
      targets: the targets, broadcastable with ``predictions`` (``None``: zeros).

    Returns:
      The loss of each element.

    References:
      Chen et al., *Log Hyperbolic Cosine Loss Improves Variational Auto-Encoder*,
      2019, https://openreview.net/pdf?id=rkglvsC9Ym
    """
    e = _errors("log_cosh", predictions, targets, same=False)
    return jnp.logaddexp(e, -e) - jnp.asarray(math.log(2.0), dtype=e.dtype)


def cosine_similarity(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Cosine of the angle between predictions and targets.

    .. math::
        \cos(a, b) = \Big\langle \frac{a}{\max(\|a\|^2, \epsilon)^{1/2}},
        \frac{b}{\max(\|b\|^2, \epsilon)^{1/2}} \Big\rangle

    Args:
      predictions: the predicted vectors.
      targets: the target vectors, broadcastable with ``predictions``.
      epsilon: a floor on the squared norms (0: a zero vector gives NaN).
      axis: the vector axis or axes.
      where: optional mask of the entries to include.

    Returns:
      The similarity with ``axis`` reduced away.

    References:
      Salton and McGill, *Introduction to Modern Information Retrieval*, 1983.
    """
    fn = "cosine_similarity"
    c.check_float(fn, "predictions", predictions)
    c.check_float(fn, "targets", targets)
    a, b, where = c.broadcast(fn, ("predictions", predictions), ("targets", targets), ("where", where))

    def unit(v: jax.Array) -> jax.Array:
        squared = jnp.sum(v * v, axis=axis, where=where, keepdims=True)
        return v / jnp.sqrt(jnp.clip(squared, min=epsilon))

    return jnp.sum(unit(a) * unit(b), axis=axis, where=where)


def cosine_distance(
    predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    *,
    epsilon: jax.typing.ArrayLike = 0.0,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""One minus the cosine similarity.

    .. math::
        d(a, b) = 1 - \cos(a, b)

    Args:
      predictions: the predicted vectors.
      targets: the target vectors, broadcastable with ``predictions``.
      epsilon: a floor on the squared norms.
      axis: the vector axis or axes.
      where: optional mask of the entries to include.

    Returns:
      The distance with ``axis`` reduced away.

    References:
      Salton and McGill, *Introduction to Modern Information Retrieval*, 1983.
    """
    return 1.0 - cosine_similarity(predictions, targets, epsilon=epsilon, axis=axis, where=where)
