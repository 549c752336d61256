"""Fenchel-Young losses built from a max (regularised argmax value) function."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp

__all__ = ["MaxFun", "make_fenchel_young_loss"]


class MaxFun(Protocol):
    """A convex function of a score vector, such as ``logsumexp`` or ``max``."""

    def __call__(self, scores: jax.Array, *args: Any, **kwargs: Any) -> jax.typing.ArrayLike: ...


def make_fenchel_young_loss(max_fun: MaxFun) -> Callable[..., jax.Array]:
    r"""Builds the Fenchel-Young loss of a regularised max function.

    For a convex :math:`\Omega^*` (``max_fun``) the loss is

    .. math::
        L(\theta; y) = \Omega^*(\theta) - \langle \theta, y \rangle

    (up to a term that depends on :math:`y` only), with gradient
    :math:`\nabla\Omega^*(\theta) - y`. ``logsumexp`` gives the softmax
    cross-entropy, the sparsemax value gives the sparsemax loss.

    The returned ``loss(scores, targets, *args, **kwargs)`` works on the last
    axis and maps over any leading axes; ``args`` and ``kwargs`` go to
    ``max_fun``.

    Args:
      max_fun: the max function, of a 1-D score vector.

    Returns:
      The loss function.

    References:
      Blondel, Martins and Niculae, *Learning with Fenchel-Young Losses*, JMLR 2020,
      https://arxiv.org/abs/1901.02324

    Examples:
      >>> import jax.numpy as jnp
      >>> from jax.scipy.special import logsumexp
      >>> import gdtransforms as gdt
      >>> loss = gdt.losses.make_fenchel_young_loss(logsumexp)
      >>> print(f"{loss(jnp.array([0.0, 0.0]), jnp.array([1.0, 0.0])):.4f}")
      0.6931
    """
    max_last = jnp.vectorize(max_fun, signature="(n)->()")
    dot_last = jnp.vectorize(jnp.vdot, signature="(n),(n)->()")

    def fenchel_young_loss(scores: jax.Array, targets: jax.Array, *args: Any, **kwargs: Any) -> jax.Array:
        return max_last(scores, *args, **kwargs) - dot_last(targets, scores)

    return fenchel_young_loss
