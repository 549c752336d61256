"""Norms with a floor whose derivative stays finite at zero."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core._tree import abs_sq

__all__ = ["safe_norm", "safe_root_mean_squares"]


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: int | float | str | None = None,  # noqa: A002 - numpy's name
    axis: None | tuple[int, ...] | int = None,
    keepdims: bool = False,
) -> jax.Array:
    r"""The norm of ``x`` raised to ``min_norm``, differentiable at zero.

    .. math:: \max(\|x\|, n_{\min})

    Where the norm is at most :math:`n_{\min}` the norm is taken of ones
    instead of ``x``, so the derivative is 0 there rather than ``NaN``
    (``jnp.linalg.norm`` has an undefined derivative at the origin).

    Args:
      x: an array.
      min_norm: the floor :math:`n_{\min}`.
      ord: the order of the norm, as for ``jnp.linalg.norm``.
      axis: the axis or axes to reduce, as for ``jnp.linalg.norm``.
      keepdims: keep the reduced axes with size one.

    Returns:
      The floored norm.
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    small = norm <= min_norm
    x_safe = jnp.where(small, jnp.ones_like(x), x)
    if not keepdims:
        small = jnp.squeeze(small, axis=axis)
    return jnp.where(small, min_norm, jnp.linalg.norm(x_safe, ord=ord, axis=axis, keepdims=keepdims))


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
    r"""The root mean square of ``x`` raised to ``min_rms``, differentiable at zero.

    .. math:: \max\Big(\sqrt{\tfrac{1}{n}\textstyle\sum_i |x_i|^2},\ r_{\min}\Big)

    Args:
      x: an array.
      min_rms: the floor :math:`r_{\min}`.

    Returns:
      A scalar.
    """
    x = jnp.asarray(x)
    small = jnp.sqrt(jnp.mean(abs_sq(x))) <= min_rms
    x_safe = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, min_rms, jnp.sqrt(jnp.mean(abs_sq(x_safe))))
