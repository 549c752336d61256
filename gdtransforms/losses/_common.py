"""Input checks shared by the losses: dtypes, shapes and axes, with errors that name them.

Every loss calls these before any arithmetic, so a mismatch is reported in the
caller's words (``logits`` of shape (4, 3) and ``labels`` of shape (5,)) and
not by a broadcasting error from deep inside JAX. Operands that broadcast are
broadcast explicitly, so the losses also work where implicit rank promotion is
switched off (``jax_numpy_rank_promotion="raise"``).
"""

from __future__ import annotations

import operator
import warnings
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

Axis = int | tuple[int, ...] | None


def shape_of(x: Any) -> tuple[int, ...]:
    """The shape of an array or array-like."""
    return tuple(x.shape) if hasattr(x, "shape") else np.shape(x)


def check_float(fn: str, name: str, x: Any) -> None:
    """``TypeError`` unless ``x`` holds floating-point numbers."""
    dtype = jax.dtypes.result_type(x)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"{fn}: `{name}` must have a floating dtype, got {np.dtype(dtype).name}")


def check_int(fn: str, name: str, x: Any) -> None:
    """``TypeError`` unless ``x`` holds integers."""
    dtype = jax.dtypes.result_type(x)
    if not jnp.issubdtype(dtype, jnp.integer):
        raise TypeError(f"{fn}: `{name}` must have an integer dtype, got {np.dtype(dtype).name}")


def check_same_shape(fn: str, a_name: str, a: Any, b_name: str, b: Any) -> None:
    """``ValueError`` naming both shapes unless they are equal."""
    sa, sb = shape_of(a), shape_of(b)
    if sa != sb:
        raise ValueError(f"{fn}: `{a_name}` has shape {sa} and `{b_name}` has shape {sb}; they must be equal")


def broadcast_shape(fn: str, named: Sequence[tuple[str, Any]]) -> tuple[int, ...]:
    """The common broadcast shape of the named operands (``None`` ones skipped)."""
    shapes = [(name, shape_of(x)) for name, x in named if x is not None]
    try:
        return tuple(np.broadcast_shapes(*(s for _, s in shapes)))
    except ValueError:
        listed = " and ".join(f"`{name}` has shape {s}" for name, s in shapes)
        raise ValueError(f"{fn}: {listed}, which do not broadcast together") from None


def check_broadcasts_to(fn: str, name: str, x: Any, shape: tuple[int, ...], what: str) -> None:
    """``ValueError`` naming both shapes unless ``x`` broadcasts to ``shape`` (the shape of ``what``)."""
    sx = shape_of(x)
    try:
        ok = tuple(np.broadcast_shapes(sx, shape)) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{fn}: `{name}` has shape {sx}, which does not fit {what}, of shape {tuple(shape)}")


def broadcast(fn: str, *named: tuple[str, Any]) -> list[Any]:
    """The named operands as arrays broadcast to one shape (``None`` stays ``None``).

    Raises:
      ValueError: naming every operand's shape, when they do not broadcast.
    """
    shape = broadcast_shape(fn, named)
    return [None if x is None else jnp.broadcast_to(jnp.asarray(x), shape) for _, x in named]


def normalize_axes(fn: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """``axis`` (an int, a tuple or ``None`` for all) as sorted non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    out = []
    for a in axes:
        try:
            a = operator.index(a)
        except TypeError:
            raise TypeError(f"{fn}: `axis` must be an int or a tuple of ints, got {axis!r}") from None
        if not -ndim <= a < ndim:
            raise ValueError(f"{fn}: axis {a} is out of bounds for an array with {ndim} dimensions")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: `axis` {axis!r} repeats an axis")
    return tuple(sorted(out))


def expand_where(fn: str, where: Any, axis: Axis, ndim: int) -> Any:
    """A ``where`` given over the batch dimensions only, with the reduced axes put back.

    optax accepts ``where`` either of the full shape or of the shape left after
    the reduction; the second form gets size-1 dimensions at ``axis``.
    """
    if where is None:
        return None
    where = jnp.asarray(where)
    if where.ndim != ndim:
        where = jnp.expand_dims(where, normalize_axes(fn, axis, ndim) if axis is not None else tuple(range(ndim)))
    return where


def deprecated(fn: str, replacement: str) -> None:
    """Warns that ``fn`` is kept only for compatibility."""
    warnings.warn(
        f"The function {fn} is deprecated. Please use {replacement} instead.", DeprecationWarning, stacklevel=3
    )
