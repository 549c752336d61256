"""Kullback-Leibler divergences, normalised and generalised."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = [
    "convex_kl_divergence",
    "generalized_kl_divergence",
    "kl_divergence",
    "kl_divergence_with_log_targets",
]


def _kl_terms(fn: str, log_predictions: jax.typing.ArrayLike, targets: jax.typing.ArrayLike) -> jax.Array:
    c.check_float(fn, "log_predictions", log_predictions)
    c.check_float(fn, "targets", targets)
    log_q, p = c.broadcast(fn, ("log_predictions", log_predictions), ("targets", targets))
    positive = p != 0
    # 0 log(0 / q) = 0 for every q, -inf log-probabilities included; the inner
    # where keeps log from seeing the zeros, so gradients stay finite as well.
    log_p = jnp.log(jnp.where(positive, p, 1.0))
    return jnp.where(positive, p * (log_p - jnp.where(positive, log_q, 0.0)), 0.0)


def kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence of the predictions from the targets.

    .. math::
        D_{\mathrm{KL}}(p \,\|\, q) = \sum_j p_j (\log p_j - \log q_j), \qquad 0 \log 0 = 0

    Args:
      log_predictions: log-probabilities :math:`\log q` of the predicted distribution.
      targets: probabilities :math:`p` of the target distribution,
        broadcastable with ``log_predictions``.
      axis: the axis or axes of the distribution.
      where: optional mask of the entries to include.

    Returns:
      The divergence with ``axis`` reduced away.

    References:
      Kullback and Leibler, *On Information and Sufficiency*, Annals of
      Mathematical Statistics 22, 1951.
    """
    terms = _kl_terms("kl_divergence", log_predictions, targets)
    return jnp.sum(terms, axis=axis, where=_where(where, terms))


def _where(where: jax.typing.ArrayLike | None, terms: jax.Array) -> jax.Array | None:
    if where is None:
        return None
    c.check_broadcasts_to("kl_divergence", "where", where, terms.shape, "the divergence's terms")
    return jnp.broadcast_to(jnp.asarray(where), terms.shape)


def kl_divergence_with_log_targets(
    log_predictions: jax.typing.ArrayLike,
    log_targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Kullback-Leibler divergence with the targets given as log-probabilities.

    .. math::
        D_{\mathrm{KL}}(p \,\|\, q) = \sum_j e^{\log p_j} (\log p_j - \log q_j)

    Args:
      log_predictions: log-probabilities of the predicted distribution.
      log_targets: log-probabilities of the target distribution.
      axis: the axis or axes of the distribution.
      where: optional mask of the entries to include.

    Returns:
      The divergence with ``axis`` reduced away.

    References:
      Kullback and Leibler, *On Information and Sufficiency*, 1951.
    """
    fn = "kl_divergence_with_log_targets"
    c.check_float(fn, "log_predictions", log_predictions)
    c.check_float(fn, "log_targets", log_targets)
    log_q, log_p = c.broadcast(fn, ("log_predictions", log_predictions), ("log_targets", log_targets))
    terms = jnp.exp(log_p) * (log_p - log_q)
    return jnp.sum(terms, axis=axis, where=_where(where, terms))


def generalized_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Generalised Kullback-Leibler divergence, for unnormalised measures.

    The Bregman divergence of :math:`x \log x - x`:

    .. math::
        D(p \,\|\, q) = \sum_j p_j (\log p_j - \log q_j) + q_j - p_j

    Args:
      log_predictions: logarithms of the predicted (unnormalised) measure.
      targets: the target measure, non-negative.
      axis: the axis or axes to sum over.
      where: optional mask of the entries to include.

    Returns:
      The divergence with ``axis`` reduced away.

    References:
      Bregman, *The relaxation method of finding the common point of convex sets
      and its application to the solution of problems in convex programming*,
      USSR Computational Mathematics and Mathematical Physics 7, 1967; Boyd and
      Vandenberghe, *Convex Optimization*, 2004, p. 90.
    """
    terms = _kl_terms("generalized_kl_divergence", log_predictions, targets)
    log_q, p = c.broadcast("generalized_kl_divergence", ("log_predictions", log_predictions), ("targets", targets))
    mask = _where(where, terms)
    return jnp.sum(terms, axis=axis, where=mask) + jnp.sum(jnp.exp(log_q) - p, axis=axis, where=mask)


def convex_kl_divergence(
    log_predictions: jax.typing.ArrayLike,
    targets: jax.typing.ArrayLike,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    """Deprecated name of :func:`generalized_kl_divergence` (warns once per call).

    Args:
      log_predictions: logarithms of the predicted measure.
      targets: the target measure.
      axis: the axis or axes to sum over.
      where: optional mask of the entries to include.

    Returns:
      :func:`generalized_kl_divergence` of the arguments.
    """
    c.deprecated("convex_kl_divergence", "generalized_kl_divergence")
    return generalized_kl_divergence(log_predictions, targets, axis=axis, where=where)
