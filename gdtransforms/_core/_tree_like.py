"""Building, casting, clipping and selecting trees leaf by leaf (the public ``tree`` helpers).

These are the public ``tree.zeros_like``/``cast``/... with optax's exact
semantics (a ``None`` dtype keeps each leaf's dtype, weak typing included).
The internal helpers of the same names in :mod:`gdtransforms._core._tree`
differ on purpose (abstract leaves, strong dtypes) and stay as they are.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

import jax
import jax.numpy as jnp

__all__ = [
    "tree_batch_shape",
    "tree_cast",
    "tree_cast_like",
    "tree_clip",
    "tree_dtype",
    "tree_full_like",
    "tree_ones_like",
    "tree_where",
    "tree_zeros_like",
]

T = TypeVar("T")
DTypeLike = jax.typing.DTypeLike
ArrayLike = jax.typing.ArrayLike


def tree_zeros_like(tree: Any, dtype: DTypeLike | None = None) -> Any:
    """A tree of zeros shaped like ``tree``; ``dtype`` overrides every leaf's dtype."""
    return jax.tree.map(lambda x: jnp.zeros_like(x, dtype=dtype), tree)


def tree_ones_like(tree: Any, dtype: DTypeLike | None = None) -> Any:
    """A tree of ones shaped like ``tree``; ``dtype`` overrides every leaf's dtype."""
    return jax.tree.map(lambda x: jnp.ones_like(x, dtype=dtype), tree)


def tree_full_like(tree: Any, fill_value: ArrayLike, dtype: DTypeLike | None = None) -> Any:
    """A tree shaped like ``tree`` with every element equal to ``fill_value``.

    Args:
      tree: the template tree.
      fill_value: the value of every element.
      dtype: optional dtype of every leaf (default: each leaf's own).

    Returns:
      A tree with the structure and shapes of ``tree``.
    """
    return jax.tree.map(lambda x: jnp.full_like(x, fill_value, dtype=dtype), tree)


def tree_batch_shape(tree: Any, shape: tuple[int, ...] = ()) -> Any:
    """Every leaf broadcast to leading batch dimensions ``shape``: ``(*shape, *leaf.shape)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.tree.batch_shape({"w": jnp.zeros(3)}, (2, 5))["w"].shape
      (2, 5, 3)
    """
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (*shape, *jnp.shape(x))), tree)


def tree_clip(tree: Any, min_value: ArrayLike | None = None, max_value: ArrayLike | None = None) -> Any:
    r"""Every element clipped to :math:`[\text{min\_value}, \text{max\_value}]`; a ``None`` bound is open."""
    return jax.tree.map(lambda x: jnp.clip(x, min_value, max_value), tree)


def tree_where(condition: Any, tree_x: Any, tree_y: Any) -> Any:
    """Leafwise ``jnp.where(condition, x, y)``: ``tree_x`` where ``condition`` holds, else ``tree_y``.

    ``condition`` is one boolean (scalar or broadcastable array) used for every leaf.
    """
    return jax.tree.map(lambda x, y: jnp.where(condition, x, y), tree_x, tree_y)


def tree_cast(tree: Any, dtype: DTypeLike | None) -> Any:
    """Every leaf cast to ``dtype``; ``None`` returns ``tree`` unchanged.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.tree.cast({"a": jnp.ones(2)}, jnp.bfloat16)["a"].dtype
      dtype(bfloat16)
    """
    if dtype is None:
        return tree
    return jax.tree.map(lambda x: x.astype(dtype), tree)


def tree_cast_like(tree: T, other_tree: Any) -> T:
    """Each leaf of ``tree`` cast to the dtype of the matching leaf of ``other_tree``.

    Leaves of ``other_tree`` without a dtype (Python numbers) leave theirs as is.
    """
    return jax.tree.map(lambda x, o: x.astype(o.dtype) if hasattr(o, "dtype") else x, tree, other_tree)


def _below(d1: Any, d2: Any) -> Any:
    """The lower of two dtypes in the promotion order; ValueError if neither promotes to the other."""
    joined = jnp.promote_types(d1, d2)
    if joined == d1:
        return d2
    if joined == d2:
        return d1
    raise ValueError(f"tree_dtype: neither {d1} nor {d2} promotes to the other, so they cannot be ordered")


def _above(d1: Any, d2: Any) -> Any:
    return d2 if _below(d1, d2) == d1 else d1


def tree_dtype(tree: Any, mixed_dtype_handler: str | None = None) -> DTypeLike:
    """The dtype of the leaves of ``tree``.

    Args:
      tree: the tree; an empty tree gives JAX's default float dtype.
      mixed_dtype_handler: what to do when leaves differ. ``None``: raise.
        ``"promote"``: the dtype all leaves promote to
        (:func:`jax.numpy.promote_types`). ``"highest"`` / ``"lowest"``: the
        largest / smallest dtype in the promotion order (``d1 <= d2`` when
        ``d1`` promotes to ``d2``), raising if two leaves are not ordered.

    Returns:
      A numpy dtype.

    Raises:
      ValueError: mixed dtypes with ``mixed_dtype_handler=None`` (the message
        names each differing leaf's path), unordered dtypes, or an unknown
        handler.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tree = {"a": jnp.ones(1, jnp.float16), "b": jnp.ones(1, jnp.float32)}
      >>> gdt.tree.dtype(tree, "lowest"), gdt.tree.dtype(tree, "highest")
      (dtype('float16'), dtype('float32'))
    """
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray([]).dtype
    dtypes = [jnp.asarray(x).dtype for x in leaves]
    if mixed_dtype_handler is None:
        first = dtypes[0]
        paths = jax.tree_util.tree_flatten_with_path(tree)[0]
        wrong = [
            f"Expected dtype={first} for {jax.tree_util.keystr(p)} but got {d}."
            for (p, _), d in zip(paths, dtypes)
            if d != first
        ]
        if wrong:
            raise ValueError("\n".join(wrong))
        return first
    combine = {"promote": jnp.promote_types, "highest": _above, "lowest": _below}.get(mixed_dtype_handler)
    if combine is None:
        raise ValueError(
            f"tree_dtype: invalid `mixed_dtype_handler`={mixed_dtype_handler!r}; use None, 'promote', "
            "'highest' or 'lowest'"
        )
    return functools.reduce(combine, dtypes)
