"""Moment helpers: exponential moving averages and their bias correction."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "bias_correction",
    "bias_correction_factor",
    "update_infinity_moment",
    "update_moment",
    "update_moment_per_elem_norm",
]


def _is_none(x: Any) -> bool:
    return x is None


def update_moment(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    r"""The exponential moving average of the ``order``-th power of updates.

    .. math:: v_t = \beta\, v_{t-1} + (1 - \beta)\, g_t^{k}

    Args:
      updates: the new values :math:`g_t`.
      moments: the previous averages :math:`v_{t-1}`.
      decay: :math:`\beta`.
      order: :math:`k`.

    Returns:
      The new averages :math:`v_t`.
    """
    return jax.tree.map(
        lambda g, t: None if g is None else (1 - decay) * (g**order) + decay * t,
        updates,
        moments,
        is_leaf=_is_none,
    )


def update_moment_per_elem_norm(updates: Any, moments: Any, decay: Any, order: int) -> Any:
    r"""The EMA of the ``order``-th power of each element's modulus.

    .. math:: v_t = \beta\, v_{t-1} + (1 - \beta)\, |g_t|^{k}

    Equal to :func:`update_moment` for real inputs; for complex inputs it uses
    :math:`|g|` so the moment stays real.
    """

    def power(g: jax.Array) -> jax.Array:
        if jnp.isrealobj(g):
            return g**order
        half = order / 2
        return (jnp.square(g.real) + jnp.square(g.imag)) ** (int(half) if half.is_integer() else half)

    return jax.tree.map(
        lambda g, t: None if g is None else (1 - decay) * power(g) + decay * t,
        updates,
        moments,
        is_leaf=_is_none,
    )


def update_infinity_moment(updates: Any, moments: Any, decay: Any, eps: Any) -> Any:
    r"""The exponentially weighted infinity norm (Adamax's second moment).

    .. math:: u_t = \max(|g_t| + \epsilon,\ \beta\, u_{t-1})
    """
    return jax.tree.map(
        lambda g, t: None if g is None else jnp.maximum(jnp.abs(g) + eps, decay * t),
        updates,
        moments,
        is_leaf=_is_none,
    )


@functools.partial(jax.jit, inline=True)
def bias_correction_factor(decay: Any, count: jax.typing.ArrayLike) -> jax.Array:
    r"""The bias-correction denominator :math:`1 - \beta^t`.

    Computed under an inlined ``jit`` so :math:`\beta` is an operand, not a
    literal: XLA then evaluates the power the same way eagerly and jitted, and
    the same way as optax (bit for bit).
    """
    return 1 - decay**count


def bias_correction(moment: Any, decay: Any, count: jax.typing.ArrayLike) -> Any:
    r"""Removes the zero-initialisation bias of an EMA.

    .. math:: \hat v_t = \frac{v_t}{1 - \beta^t}

    :math:`1 - \beta^t` is computed in float32 (it rounds to 0 in bfloat16)
    and the division happens in each moment's own dtype.

    Args:
      moment: the EMA tree :math:`v_t`.
      decay: :math:`\beta`.
      count: the number of averaged values :math:`t` (int, >= 1).

    Returns:
      The corrected tree :math:`\hat v_t`.

    Example:
      docs/notes.md §2: with beta = 0.98, 1 - beta^2 = 0.0396.

      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> v2 = jnp.array(0.0196 * 40.0 + 0.02 * 49.0)  # theta_1 = 40, theta_2 = 49
      >>> print(f"{float(gdt.bias_correction(v2, 0.98, 2)):.2f}")  # v2 / 0.0396
      44.55
    """
    correction = bias_correction_factor(decay, count)
    return jax.tree.map(lambda t: t / correction.astype(t.dtype), moment)
