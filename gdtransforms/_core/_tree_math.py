"""Arithmetic and reductions over whole trees (the public ``tree`` maths).

Each function applies one array operation leaf by leaf, or reduces all leaves
to one scalar. Reductions over an empty tree give the operation's identity
(0 for sums and inner products, -inf for a maximum, +inf for a minimum).
"""

from __future__ import annotations

import functools
import operator
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "tree_sq_norm",
    "tree_add",
    "tree_add_scale",
    "tree_allclose",
    "tree_conj",
    "tree_div",
    "tree_max",
    "tree_min",
    "tree_mul",
    "tree_norm",
    "tree_real",
    "tree_scale",
    "tree_size",
    "tree_sub",
    "tree_sum",
    "tree_vdot",
]

ArrayLike = jax.typing.ArrayLike


def _is_none(x: Any) -> bool:
    return x is None


def tree_add(tree_x: Any, tree_y: Any, *other_trees: Any) -> Any:
    r"""The leafwise sum of two or more trees, :math:`x + y + \dots`.

    Args:
      tree_x: the first tree.
      tree_y: the second tree, shaped like ``tree_x``.
      *other_trees: more trees shaped like ``tree_x``.

    Returns:
      A tree shaped like ``tree_x``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.tree.add({"a": jnp.array(1.0)}, {"a": jnp.array(2.0)}, {"a": jnp.array(4.0)})
      {'a': Array(7., dtype=float32, weak_type=True)}
    """
    return jax.tree.map(lambda *leaves: functools.reduce(operator.add, leaves), tree_x, tree_y, *other_trees)


def tree_sub(tree_x: Any, tree_y: Any) -> Any:
    """The leafwise difference :math:`x - y`."""
    return jax.tree.map(operator.sub, tree_x, tree_y)


def tree_mul(tree_x: Any, tree_y: Any) -> Any:
    r"""The leafwise (Hadamard) product :math:`x \odot y`."""
    return jax.tree.map(operator.mul, tree_x, tree_y)


def tree_div(tree_x: Any, tree_y: Any) -> Any:
    """The leafwise quotient :math:`x / y`."""
    return jax.tree.map(operator.truediv, tree_x, tree_y)


def tree_scale(scalar: ArrayLike, tree: Any) -> Any:
    r"""Every leaf times one scalar, :math:`\alpha\, x`.

    Args:
      scalar: :math:`\alpha`, a number or a 0-d array.
      tree: the tree :math:`x`.

    Returns:
      A tree shaped like ``tree``.
    """
    return jax.tree.map(lambda leaf: scalar * leaf, tree)


def tree_add_scale(tree_x: Any, scalar: ArrayLike, tree_y: Any) -> Any:
    r"""The axpy update :math:`x + \alpha\, y`, leaf by leaf.

    ``None`` leaves of ``tree_x`` stay ``None``.

    Args:
      tree_x: the tree :math:`x`.
      scalar: :math:`\alpha`.
      tree_y: the tree :math:`y`, shaped like ``tree_x``.

    Returns:
      A tree shaped like ``tree_x``.
    """
    alpha = jnp.asarray(scalar)
    return jax.tree.map(lambda x, y: None if x is None else x + alpha * y, tree_x, tree_y, is_leaf=_is_none)


def _leaf_vdot(a: Any, b: Any) -> jax.Array:
    """:math:`\\sum_i \\bar a_i b_i` for two arrays of one shape, at full precision."""
    a, b = jnp.asarray(a), jnp.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"tree_vdot: leaves of shapes {a.shape} and {b.shape} differ")
    if jnp.iscomplexobj(a):
        a = jnp.conj(a)
    kwargs: dict[str, Any] = {}
    mesh = getattr(getattr(jax.typeof(a), "sharding", None), "mesh", None)
    if mesh is not None and getattr(mesh, "are_all_axes_explicit", False):
        # Under explicit sharding the scalar result must be replicated.
        kwargs["out_sharding"] = jax.sharding.NamedSharding(mesh, jax.P())
    return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST, **kwargs)


def tree_vdot(tree_x: Any, tree_y: Any) -> ArrayLike:
    r"""The inner product of two trees, :math:`\langle x, y\rangle = \sum_{\text{leaves}} \sum_i \bar x_i y_i`.

    Each leaf's product is computed at ``Precision.HIGHEST``; ``x`` is
    conjugated for complex leaves.

    Args:
      tree_x: the tree :math:`x`.
      tree_y: the tree :math:`y`, shaped like ``tree_x``.

    Returns:
      A scalar (0 for empty trees).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.tree.vdot({"a": jnp.array([1, 2])}, {"a": jnp.array([3, -1])})
      Array(1, dtype=int32)
    """
    products = jax.tree.map(_leaf_vdot, tree_x, tree_y)
    return jax.tree.reduce(operator.add, products, initializer=0)


def tree_sum(tree: Any, associative_reduction: bool = False) -> ArrayLike:
    r"""The sum of every element of every leaf, :math:`\sum_{\text{leaves}} \sum_i x_i`.

    Args:
      tree: the tree.
      associative_reduction: add the per-leaf sums pairwise
        (``jax.tree.reduce_associative``) instead of left to right; quicker to
        trace for trees of many leaves, and may round differently.

    Returns:
      A scalar (0 for empty trees).
    """
    sums = jax.tree.map(jnp.sum, tree)
    if not associative_reduction:
        return jax.tree.reduce(operator.add, sums, initializer=0)
    if not hasattr(jax.tree, "reduce_associative"):
        raise ValueError("tree_sum: `associative_reduction=True` needs jax.tree.reduce_associative (jax >= 0.6)")
    return jax.tree.reduce_associative(operator.add, sums, identity=0)


def _reduce_extreme(tree: Any, leaf_fn: Any, pair_fn: Any, identity: float) -> ArrayLike:
    per_leaf = jax.tree.map(lambda x: None if jnp.size(x) == 0 else leaf_fn(x), tree)
    return jax.tree.reduce(pair_fn, per_leaf, initializer=identity)


def tree_max(tree: Any) -> ArrayLike:
    r"""The largest element of the tree, :math:`\max_{\text{leaves}, i} x_i`.

    Empty leaves are skipped; an empty tree gives ``-inf``. The result is
    promoted with the float ``-inf`` identity (integer trees give a float).
    """
    return _reduce_extreme(tree, jnp.max, jnp.maximum, -float("inf"))


def tree_min(tree: Any) -> ArrayLike:
    r"""The smallest element of the tree, :math:`\min_{\text{leaves}, i} x_i`.

    Empty leaves are skipped; an empty tree gives ``+inf``.
    """
    return _reduce_extreme(tree, jnp.min, jnp.minimum, float("inf"))


def tree_size(tree: Any) -> int:
    """The number of elements in all leaves together (a Python int)."""
    return sum(int(jnp.size(leaf)) for leaf in jax.tree.leaves(tree))


def tree_conj(tree: Any) -> Any:
    r"""The complex conjugate of every leaf, :math:`\bar x`."""
    return jax.tree.map(jnp.conj, tree)


def tree_real(tree: Any) -> Any:
    r"""The real part of every leaf, :math:`\operatorname{Re} x`."""
    return jax.tree.map(jnp.real, tree)


def _abs_sq(x: Any) -> Any:
    return jnp.square(x.real) + jnp.square(x.imag)


def tree_norm(tree: Any, ord: int | str | float | None = None, squared: bool = False) -> jax.Array:  # noqa: A002
    r"""The vector norm of all leaves together.

    .. math::
        \|x\|_1 = \sum |x_i|, \quad \|x\|_2 = \Big(\sum |x_i|^2\Big)^{1/2}, \quad
        \|x\|_\infty = \max |x_i|

    Args:
      tree: the tree.
      ord: ``None`` or ``2`` (Euclidean), ``1``, or ``inf`` (``jnp.inf``,
        ``"inf"`` or ``"infinity"``).
      squared: return :math:`\|x\|^2` instead.

    Returns:
      A scalar array.

    Raises:
      ValueError: ``ord`` is none of the above.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tree = {"a": jnp.array([3.0, -4.0]), "b": jnp.array(-12.0)}
      >>> [float(gdt.tree.norm(tree, o)) for o in (None, 1, "inf")]
      [13.0, 19.0, 12.0]
    """
    if ord is None or ord == 2:
        total = tree_sum(jax.tree.map(_abs_sq, tree))
        return jnp.array(total if squared else jnp.sqrt(total))
    if ord == 1:
        value = tree_sum(jax.tree.map(jnp.abs, tree))
    elif ord == jnp.inf or ord in ("inf", "infinity"):
        value = tree_max(jax.tree.map(jnp.abs, tree))
    else:
        raise ValueError(f"tree_norm: unsupported `ord`={ord!r}; use None, 1, 2 or inf")
    return jnp.array(_abs_sq(value) if squared else value)


def tree_allclose(
    a: Any,
    b: Any,
    rtol: ArrayLike = 1e-05,
    atol: ArrayLike = 1e-08,
    equal_nan: bool = False,
) -> Any:
    r"""Whether every pair of leaves satisfies :math:`|a - b| \le \text{atol} + \text{rtol}\,|b|`.

    See :func:`jax.numpy.allclose`; the two trees must have one structure.

    Args:
      a: a tree.
      b: a tree shaped like ``a``.
      rtol: relative tolerance.
      atol: absolute tolerance.
      equal_nan: count two NaNs as equal.

    Returns:
      A boolean scalar (``True`` for empty trees).
    """
    verdicts = jax.tree.map(lambda x, y: jnp.allclose(x, y, rtol=rtol, atol=atol, equal_nan=equal_nan), a, b)
    return functools.reduce(operator.and_, jax.tree.leaves(verdicts), True)


def tree_sq_norm(tree: Any) -> jax.Array:
    r"""The squared l2 norm :math:`\sum_i |x_i|^2` over all leaves (``tree_norm(tree, squared=True)``)."""
    return tree_norm(tree, squared=True)
