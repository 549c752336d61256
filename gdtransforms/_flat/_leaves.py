"""What a flat layout reads from each leaf: its dtype, its per-leaf values
(``groups``, masks, labels) and the repeated block it belongs to."""

from __future__ import annotations

import collections
from collections.abc import Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks

__all__ = ["leaf_dtype", "per_leaf_values", "repeated_blocks", "static_value"]


def per_leaf_values(spec: Any, tree: Any, what: str) -> list[Any]:
    """One value per leaf of ``tree`` from a tree, a tree prefix or a function."""
    if callable(spec) and jax.tree.leaves(spec) == [spec]:
        spec = spec(tree)
    try:
        full = jax.tree.map(lambda v, sub: jax.tree.map(lambda _: v, sub), spec, tree)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"flat {what}: expected a tree (or prefix) with the params' structure, got {jax.tree.structure(spec)}: {e}"
        ) from None
    values = jax.tree.structure(tree).flatten_up_to(full)  # type: ignore[attr-defined,operator]
    for v in values:
        if _checks.is_deferred(v):
            raise TypeError(
                f"flat {what}: values must be concrete (Python bools or labels), got a traced "
                "array; compute them from shapes or paths, not from values"
            )
    return values


def static_value(v: Any) -> Hashable:
    """A per-leaf value as a hashable Python value (0-d bool arrays become bools)."""
    if isinstance(v, (bool, np.bool_)) or (np.ndim(v) == 0 and getattr(v, "dtype", None) == np.bool_):
        return bool(v)
    try:
        hash(v)
    except TypeError:
        raise TypeError(
            f"flat layouts need hashable per-leaf values (bools or labels), got {type(v).__name__}: {v!r}"
        ) from None
    return v


_FILTER_HINT = (
    "The flat path holds trainable floating-point params only: split them from the rest of the "
    "model state first, e.g. `graphdef, params, rest = nnx.split(model, nnx.Param, ...)` "
    "(flax.nnx), `params, static = eqx.partition(model, eqx.is_inexact_array)` (equinox), or "
    "`jax.tree.map(lambda x: x if jnp.issubdtype(x.dtype, jnp.inexact) else None, tree)`."
)


def leaf_dtype(path: str, leaf: Any) -> np.dtype:
    """The dtype of a leaf the flat path can hold; raises naming the leaf otherwise."""
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        raise TypeError(
            f"flat_layout: leaf at {path} is a {type(leaf).__name__}; expected arrays "
            f"(or jax.ShapeDtypeStruct). {_FILTER_HINT}"
        )
    if jax.dtypes.issubdtype(dtype, jax.dtypes.extended):  # PRNG keys (nnx.Rngs, dropout state).
        raise TypeError(
            f"flat_layout: leaf at {path} is a {dtype} array (a PRNG key, say), not a parameter. {_FILTER_HINT}"
        )
    dtype = np.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.inexact):
        raise TypeError(
            f"flat_layout: leaf at {path} has dtype {dtype.name}; only floating-point (or complex) "
            f"leaves can be optimized (an int counter or a bool flag is state, not a parameter). {_FILTER_HINT}"
        )
    return dtype


def repeated_blocks(
    key_paths: list[tuple[Any, ...]], shapes: list[tuple[int, ...]], dtypes: list[np.dtype]
) -> list[str | None]:
    """Per leaf, the path of the outermost repeated block holding it, or ``None``.

    A repeated block is a subtree with at least two leaves that has a sibling
    with the same structure, leaf shapes and dtypes (the layers of a model).
    """
    keys = [tuple(jax.tree_util.keystr((k,)) for k in path) for path in key_paths]
    subtrees: dict[tuple[str, ...], list[Any]] = {}
    for path, shape, dtype in zip(keys, shapes, dtypes):
        for depth in range(1, len(path)):
            subtrees.setdefault(path[:depth], []).append((path[depth:], shape, dtype))
    # A subtree's (parent, signature): siblings that repeat share it.
    kinds = {prefix: (prefix[:-1], tuple(leaves)) for prefix, leaves in subtrees.items() if len(leaves) > 1}
    counts = collections.Counter(kinds.values())
    repeated = {prefix for prefix, kind in kinds.items() if counts[kind] > 1}
    return [
        next(("".join(path[:depth]) for depth in range(1, len(path)) if path[:depth] in repeated), None)
        for path in keys
    ]
