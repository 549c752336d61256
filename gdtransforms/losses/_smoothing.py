"""Label smoothing."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from gdtransforms.losses import _common as c

__all__ = ["smooth_labels"]


def smooth_labels(
    labels: jax.typing.ArrayLike,
    alpha: jax.typing.ArrayLike,
    *,
    axis: int | tuple[int, ...] | None = -1,
    where: jax.typing.ArrayLike | None = None,
) -> jax.Array:
    r"""Mixes one-hot labels with the uniform distribution.

    .. math::
        \tilde y = (1 - \alpha)\, y + \alpha / K

    with :math:`K` the number of classes along ``axis`` (or, with ``where``,
    the number of included classes).

    Args:
      labels: one-hot (or soft) labels.
      alpha: the smoothing weight, in [0, 1].
      axis: the class axis or axes.
      where: optional mask of the classes that count towards :math:`K`.

    Returns:
      The smoothed labels, of the shape of ``labels``.

    References:
      Szegedy et al., *Rethinking the Inception Architecture for Computer Vision*,
      2016, https://arxiv.org/abs/1512.00567; Müller, Kornblith and Hinton, *When
      does label smoothing help?*, 2019, https://arxiv.org/abs/1906.02629
    """
    fn = "smooth_labels"
    c.check_float(fn, "labels", labels)
    y = jnp.asarray(labels)
    num_classes: int | jax.Array
    if where is None:
        num_classes = math.prod(y.shape[a] for a in c.normalize_axes(fn, axis, y.ndim))
    else:
        c.check_broadcasts_to(fn, "where", where, y.shape, "`labels`")
        num_classes = jnp.sum(jnp.broadcast_to(jnp.asarray(where), y.shape), axis=axis, keepdims=True)
    return jnp.asarray((1.0 - alpha) * y + alpha / num_classes)
