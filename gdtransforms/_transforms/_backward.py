"""Scaling a gradient on the backward pass only."""

from __future__ import annotations

from typing import Any

import jax


@jax.custom_vjp
def _scaled(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
    del scale
    return inputs


def _scaled_fwd(inputs: Any, scale: jax.typing.ArrayLike) -> tuple[Any, Any]:
    return inputs, scale


def _scaled_bwd(scale: Any, cotangent: Any) -> tuple[Any, None]:
    return jax.tree.map(lambda c: c * scale, cotangent), None


_scaled.defvjp(_scaled_fwd, _scaled_bwd)

__all__ = ["scale_gradient"]


def scale_gradient(inputs: Any, scale: jax.typing.ArrayLike) -> Any:
    r"""The identity on the forward pass; multiplies the gradient by ``scale`` on the backward pass.

    .. math:: y = x, \qquad \bar x = s\, \bar y

    A scale of 1 returns ``inputs`` as they are and a scale of 0 stops the
    gradient (``jax.lax.stop_gradient``).

    Args:
      inputs: a tree of arrays.
      scale: :math:`s`, the factor of the gradient.

    Returns:
      ``inputs``, with a scaled derivative.

    Example:
      >>> import jax
      >>> import gdtransforms as gdt
      >>> jax.grad(lambda x: 3.0 * gdt.scale_gradient(x, 0.5))(1.0)
      Array(1.5, dtype=float32, weak_type=True)
    """
    if isinstance(scale, (int, float)):
        if scale == 1.0:
            return inputs
        if scale == 0.0:
            return jax.lax.stop_gradient(inputs)
    return _scaled(inputs, scale)
