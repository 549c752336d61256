"""Random trees: one key per leaf, noise shaped like a tree, raw key data."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax

__all__ = ["tree_random_like", "tree_split_key_like", "tree_unwrap_random_key_data"]


def tree_split_key_like(rng_key: jax.Array, target_tree: Any) -> Any:
    """One fresh key per leaf of ``target_tree``, in a tree of its structure.

    The keys are ``jax.random.split(rng_key, n)`` for the ``n`` leaves, taken
    in flattening order.

    Args:
      rng_key: the key to split.
      target_tree: the tree whose structure the keys take.

    Returns:
      A tree of keys.
    """
    treedef = jax.tree.structure(target_tree)
    return jax.tree.unflatten(treedef, jax.random.split(rng_key, treedef.num_leaves))  # type: ignore[attr-defined]


def _takes_sharding(sampler: Callable[..., Any]) -> bool:
    try:
        return "out_sharding" in inspect.signature(sampler).parameters
    except (TypeError, ValueError):
        return False


def tree_random_like(
    rng_key: jax.Array,
    target_tree: Any,
    sampler: Callable[..., Any] = jax.random.normal,
    dtype: jax.typing.DTypeLike | None = None,
) -> Any:
    """A tree of random arrays shaped like ``target_tree``.

    Leaf :math:`k` is ``sampler(key_k, leaf.shape, dtype or leaf.dtype)`` with
    the keys of :func:`tree_split_key_like`; a sampler that accepts
    ``out_sharding`` also gets the leaf's sharding.

    Args:
      rng_key: the key.
      target_tree: the tree of arrays to match.
      sampler: ``sampler(key, shape, dtype)`` (default ``jax.random.normal``).
      dtype: the dtype of every leaf (default: each leaf's own).

    Returns:
      A random tree with the structure, shapes (and, by default, dtypes) of
      ``target_tree``.

    Example:
      >>> import jax
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> noise = gdt.tree.random_like(jax.random.key(0), {"w": jnp.zeros((2, 3))})
      >>> noise["w"].shape
      (2, 3)
    """
    keys = tree_split_key_like(rng_key, target_tree)
    if _takes_sharding(sampler):

        def draw(leaf: Any, key: jax.Array) -> Any:
            return sampler(key, leaf.shape, dtype or leaf.dtype, out_sharding=jax.typeof(leaf).sharding)

    else:

        def draw(leaf: Any, key: jax.Array) -> Any:
            return sampler(key, leaf.shape, dtype or leaf.dtype)

    return jax.tree.map(draw, target_tree, keys)


def _key_data(x: Any) -> Any:
    if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
        return jax.random.key_data(x)
    return x


def tree_unwrap_random_key_data(input_tree: Any) -> Any:
    """Typed keys (``jax.random.key``) in a tree replaced by their raw ``key_data``; other leaves kept.

    Useful to compare or save trees that hold keys.
    """
    return jax.tree.map(_key_data, input_tree)
