"""Tree reductions shared by the contrib optimizers (global sums, inner products).

Each reduction sums leaf by leaf in the leaf's own dtype and then adds the
per-leaf results in tree order, starting from a Python ``0``; a tree with a
bfloat16 leaf thus gives a float32 total when it also has float32 leaves. On
:class:`~gdtransforms.FlatParams` the leaves are the flat buffers, whose
global sums are the same sums in another order.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core._tree_math import tree_sq_norm, tree_vdot  # re-exported for contrib

__all__ = ["lowest_dtype", "tree_l1", "tree_sq_norm", "tree_sum_of", "tree_vdot", "wider_scalar_dtype"]


def _lower(a: Any, b: Any) -> Any:
    joined = jnp.promote_types(a, b)
    if joined == a:
        return b
    if joined == b:
        return a
    raise ValueError(f"params mix dtypes {a} and {b}, neither of which promotes to the other")


def lowest_dtype(tree: Any) -> Any:
    """The least precise dtype among the leaves (the one every other promotes from)."""
    leaves = jax.tree.leaves(tree)
    if not leaves:
        return jnp.asarray([]).dtype
    return functools.reduce(_lower, [jnp.asarray(x).dtype for x in leaves])


def wider_scalar_dtype(tree: Any) -> Any:
    """float32 or wider: :func:`lowest_dtype` promoted with float32."""
    return jnp.promote_types(lowest_dtype(tree), jnp.float32)


def tree_sum_of(fn: Any, *trees: Any) -> Any:
    """``sum over leaves of fn(*leaves)``, added in tree order from ``0``."""
    parts = jax.tree.leaves(jax.tree.map(fn, *trees))
    return functools.reduce(operator.add, parts, 0)


def tree_l1(tree: Any) -> Any:
    r"""The l1 norm :math:`\sum_i |x_i|` over all leaves."""
    return tree_sum_of(lambda x: jnp.sum(jnp.abs(x)), tree)
