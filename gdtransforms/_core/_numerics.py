"""Norms whose gradients stay finite at zero."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from gdtransforms._core._tree import abs_sq

__all__ = ["safe_norm", "safe_root_mean_squares"]


def safe_norm(
    x: jax.typing.ArrayLike,
    min_norm: jax.typing.ArrayLike,
    ord: int | float | str | None = None,  # noqa: A002 - numpy's name
    axis: int | tuple[int, ...] | None = None,
    keepdims: bool = False,
) -> jax.Array:
    r"""The norm of ``x``, raised to at least ``min_norm``, with a finite gradient.

    .. math:: \max(\|x\|, m)

    Differentiating ``jnp.maximum(jnp.linalg.norm(x), m)`` at :math:`x = 0`
    gives NaN (the norm's derivative there is 0/0, and ``maximum`` evaluates
    both sides). Here the norm is taken of a stand-in array of ones wherever it
    is at most :math:`m`, so the discarded side is always differentiable; the
    gradient is 0 there, as it should be.

    Args:
      x: an array.
      min_norm: :math:`m`, the smallest value returned.
      ord: the order of the norm, as for ``jnp.linalg.norm``.
      axis: the axis or axes to reduce, as for ``jnp.linalg.norm``.
      keepdims: keep the reduced axes with size one.

    Returns:
      :math:`\max(\|x\|, m)` along ``axis``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> float(gdt.safe_norm(jnp.array([3.0, 4.0]), 1.0))
      5.0
      >>> jax.grad(lambda x: gdt.safe_norm(x, 1.0))(jnp.zeros(2))
      Array([0., 0.], dtype=float32)
    """
    x = jnp.asarray(x)
    norm = jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=True)
    small = norm <= min_norm
    stand_in = jnp.where(small, jnp.ones_like(x), x)
    masked = jnp.linalg.norm(stand_in, ord=ord, axis=axis, keepdims=keepdims)
    small = small if keepdims else jnp.squeeze(small, axis=axis)
    return jnp.where(small, min_norm, masked)


def safe_root_mean_squares(x: jax.typing.ArrayLike, min_rms: jax.typing.ArrayLike) -> jax.Array:
    r"""The root mean square of ``x``, raised to at least ``min_rms``, with a finite gradient.

    .. math:: \max\Big(\sqrt{\tfrac{1}{n}\textstyle\sum_i |x_i|^2},\ m\Big)

    As :func:`safe_norm`: where the value is at most :math:`m` the root is
    taken of ones, so the gradient there is 0 instead of NaN.

    Args:
      x: an array.
      min_rms: :math:`m`, the smallest value returned.

    Returns:
      A scalar array.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> float(gdt.safe_root_mean_squares(jnp.array([3.0, 4.0, 0.0, 0.0]), 0.1))
      2.5
    """
    x = jnp.asarray(x)
    rms = jnp.sqrt(jnp.mean(abs_sq(x)))
    small = rms <= min_rms
    stand_in = jnp.where(small, jnp.ones_like(x), x)
    return jnp.where(small, min_rms, jnp.sqrt(jnp.mean(abs_sq(stand_in))))
