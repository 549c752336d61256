"""Small tree helpers shared by the transformations."""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks
from gdtransforms._core._flat_params import is_flat, leaf_views
from gdtransforms._core._tree_like import tree_cast_like as cast_like

__all__ = [
    "abs_sq",
    "cast",
    "cast_like",
    "full_like",
    "global_norm",
    "is_eager",
    "map_unzip",
    "safe_increment",
    "update_dtype",
    "widen_f16",
    "zeros_like",
]


def _full(leaf: Any, fill_value: Any, dtype: Any) -> Any:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        # Abstract leaves stay abstract: init on ShapeDtypeStructs allocates nothing.
        return jax.ShapeDtypeStruct(leaf.shape, dtype or leaf.dtype, sharding=leaf.sharding)
    # An explicit dtype also drops weak typing: a weakly typed param would
    # otherwise give a state whose type changes after the first update.
    return jnp.full_like(leaf, fill_value, dtype=dtype or jnp.result_type(leaf))


def zeros_like(tree: Any, dtype: Any = None) -> Any:
    """A tree of zeros shaped like ``tree``, optionally of another dtype.

    Leaves that are ``jax.ShapeDtypeStruct`` give ``ShapeDtypeStruct`` leaves,
    so ``init`` on an abstract tree allocates nothing.
    """
    return jax.tree.map(lambda x: _full(x, 0, dtype), tree)


def full_like(tree: Any, fill_value: Any, dtype: Any = None) -> Any:
    """A tree shaped like ``tree`` filled with ``fill_value``."""
    return jax.tree.map(lambda x: _full(x, fill_value, dtype), tree)


def cast(tree: Any, dtype: Any) -> Any:
    """Casts every leaf to ``dtype``; ``None`` leaves the tree as it is."""
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def safe_increment(count: jax.Array) -> jax.Array:
    """``count + 1`` that saturates at the dtype's maximum instead of wrapping.

    Integer counters (signed or unsigned) stop at ``iinfo.max``, floating ones
    at ``finfo.max``.

    Raises:
      ValueError: the counter is neither integer nor floating (bool, complex).
    """
    count = jnp.asarray(count)
    dtype = count.dtype
    max_value: Any
    if jnp.issubdtype(dtype, jnp.integer):
        max_value = jnp.iinfo(dtype).max
    elif jnp.issubdtype(dtype, jnp.floating):
        max_value = jnp.finfo(dtype).max
    else:
        raise ValueError(f"safe_increment: the counter must have an integer or floating dtype, got {dtype}")
    top = jnp.asarray(np.asarray(max_value, dtype=dtype))
    return jnp.where(count < top, count + jnp.ones([], dtype), top)


def global_norm(updates: Any) -> jax.Array:
    r"""The l2 norm of all leaves of a tree together.

    .. math:: \|u\| = \sqrt{\textstyle\sum_{\text{leaves}} \sum_i |u_i|^2}

    Args:
      updates: a tree of arrays.

    Returns:
      A scalar array.
    """
    if is_flat(updates) and getattr(updates.layout, "leaf_norms", True):
        if all(hasattr(b, "shape") for b in updates.buffers):
            # Leaf by leaf, in tree order, as on the tree: one sum per buffer
            # would add in another order and differ in the last bit, which
            # training then amplifies (1e-4 in the params after 200 steps).
            # On CPU, XLA copies a large slice before reducing it; a layout
            # built with ``leaf_norms=False`` sums the buffers instead.
            updates = leaf_views(updates)
    squares = jax.tree.map(lambda x: jnp.sum(abs_sq(x)), updates)
    return jnp.sqrt(jax.tree.reduce(operator.add, squares, initializer=0))


def map_unzip(fn: Callable[..., tuple[Any, ...]], tree: Any, *rest: Any, num_outputs: int) -> tuple[Any, ...]:
    """Maps ``fn`` over matching leaves and returns one tree per output.

    ``fn(leaf, *rest_leaves)`` returns a tuple of ``num_outputs`` arrays. All
    outputs of one leaf are computed in one place, which lets XLA fuse them.
    Under a trace, ``fn`` is traced once per repeated leaf signature (see
    :func:`_leaf_callers`), which keeps tracing of many-leaf trees quick.
    """
    leaves, treedef = jax.tree.flatten(tree)
    rest_leaves = [treedef.flatten_up_to(r) for r in rest]  # type: ignore[attr-defined,operator]
    rows = list(zip(leaves, *rest_leaves))
    outputs = [call(*args) for call, args in zip(_leaf_callers(fn, rows), rows)]
    columns = list(zip(*outputs)) if outputs else [()] * num_outputs
    return tuple(treedef.unflatten(list(column)) for column in columns)  # type: ignore[attr-defined,operator]


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        (np.shape(a), getattr(a, "dtype", None), getattr(getattr(a, "aval", None), "weak_type", None)) for a in args
    )


def _leaf_callers(fn: Callable[..., Any], rows: list[tuple[Any, ...]]) -> list[Callable[..., Any]]:
    """For each row of leaves: ``fn``, or ``fn`` under ``jax.jit`` if traced and repeated.

    Tracing ``fn`` costs one pass of JAX's Python per operation per leaf; the
    jitted ``fn`` is traced once per leaf signature (shapes and dtypes) and
    reused by every leaf with that signature. XLA inlines the calls, so the
    compiled program (and every number it computes) is the same. Eager calls
    never compile.
    """
    if len(rows) < 2 or not any(_checks.is_deferred(a) for row in rows for a in row):
        return [fn] * len(rows)
    signatures = [_signature(row) for row in rows]
    counts = collections.Counter(signatures)
    if max(counts.values()) < 2:
        return [fn] * len(rows)
    jitted = jax.jit(fn)
    return [jitted if counts[sig] > 1 else fn for sig in signatures]


def update_dtype(grad_dtype: Any, *state_dtypes: Any) -> Any:
    """The dtype of the updates of a transformation with a state.

    The gradients' dtype, so bfloat16 gradients give bfloat16 updates even with
    a float32 state (optax promotes them). The exception is float16: its range
    (max 65504) cannot hold, say, a momentum sum ``g / (1 - decay)`` or Adam's
    ``mu / eps`` that the wider state holds, so float16 gradients with a wider
    state give updates in the state's dtype, as in optax. Pass the dtypes of
    the state that optax promotes by (``mu``, ``trace``, ``ema``), so float16
    updates get exactly optax's dtype.
    """
    if jnp.dtype(grad_dtype) != jnp.float16:
        return grad_dtype
    return jnp.result_type(grad_dtype, *state_dtypes)


def widen_f16(x: jax.Array) -> jax.Array:
    """``x`` in float32 if it is float16, else unchanged.

    Denominators go through this: a default ``eps`` such as 1e-8 is below
    float16's smallest subnormal, so in float16 ``sqrt(0) + eps`` is 0 and a
    zero gradient gives ``0 / 0 = NaN`` (optax #1754, #1784). bfloat16 has
    float32's range and is left alone, so it stays bit-identical to optax.
    """
    return x.astype(jnp.float32) if x.dtype == jnp.float16 else x


def abs_sq(x: jax.Array) -> jax.Array:
    """``|x|^2`` elementwise, real for complex ``x``."""
    if jnp.iscomplexobj(x):
        return jnp.square(x.real) + jnp.square(x.imag)
    return jnp.square(x)


def is_eager(*trees: Any) -> bool:
    """Whether no leaf of ``trees`` is a tracer: the call runs outside ``jit``, ``vmap`` and ``grad``."""
    return not any(_checks.is_tracer(leaf) for leaf in jax.tree.leaves(trees))
