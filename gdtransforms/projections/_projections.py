"""Closed-form Euclidean projections of trees: boxes, balls, spheres, vectors, hyperplanes.

Each returns :math:`\\operatorname*{argmin}_{y \\in C} \\|x - y\\|_2^2` for a
convex set :math:`C` (or a sphere), with the whole tree treated as one vector.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core._tree_like import tree_full_like
from gdtransforms._core._tree_math import tree_add_scale, tree_norm, tree_scale, tree_vdot

__all__ = [
    "projection_box",
    "projection_halfspace",
    "projection_hypercube",
    "projection_hyperplane",
    "projection_l2_ball",
    "projection_l2_sphere",
    "projection_linf_ball",
    "projection_non_negative",
    "projection_vector",
]

ArrayLike = jax.typing.ArrayLike


def projection_non_negative(tree: Any) -> Any:
    r"""Projection onto the non-negative orthant, :math:`y = \max(x, 0)`.

    Args:
      tree: the tree :math:`x`.

    Returns:
      The projected tree.
    """
    return jax.tree.map(jax.nn.relu, tree)


def _is_scalar_bound(bound: Any) -> bool:
    return bound is None or isinstance(bound, (int, float)) or hasattr(bound, "shape")


def _bound_tree(bound: Any, tree: Any) -> Any:
    """``bound`` itself if it is a tree, else one copy of it per leaf of ``tree``."""
    if _is_scalar_bound(bound):
        return jax.tree.map(lambda _: bound, tree)
    return bound


def projection_box(tree: Any, lower: Any, upper: Any) -> Any:
    r"""Projection onto the box :math:`\{\ell \le y \le u\}`: :math:`y = \min(\max(x, \ell), u)`.

    Args:
      tree: the tree :math:`x`.
      lower: :math:`\ell`, a scalar (used for every leaf) or a tree shaped like ``tree``.
      upper: :math:`u`, a scalar or a tree shaped like ``tree``.

    Returns:
      The projected tree.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.projections.projection_box({"w": jnp.array([-2.0, 0.5, 3.0])}, -1.0, 1.0)
      {'w': Array([-1. ,  0.5,  1. ], dtype=float32)}
    """
    lower_tree = _bound_tree(lower, tree)
    upper_tree = _bound_tree(upper, tree)
    return jax.tree.map(jnp.clip, tree, lower_tree, upper_tree)


def projection_hypercube(tree: Any, scale: Any = 1) -> Any:
    r"""Projection onto the hypercube :math:`\{0 \le y \le s\}` (the unit cube by default).

    Args:
      tree: the tree :math:`x`.
      scale: :math:`s`, a scalar or a tree shaped like ``tree``.

    Returns:
      The projected tree.
    """
    return projection_box(tree, lower=0, upper=scale)


def projection_l2_sphere(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection onto the l2 sphere of radius ``scale``, :math:`y = s\, x / \|x\|_2`.

    Undefined at :math:`x = 0` (every point of the sphere is nearest; NaN is returned).

    Args:
      tree: the tree :math:`x`.
      scale: the radius :math:`s`.

    Returns:
      The projected tree.
    """
    return tree_scale(scale / tree_norm(tree), tree)


def projection_l2_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection onto the l2 ball of radius ``scale``.

    .. math:: y = \frac{s}{\max(\|x\|_2, s)}\, x

    Args:
      tree: the tree :math:`x`.
      scale: the radius :math:`s`.

    Returns:
      The projected tree.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.projections.projection_l2_ball(jnp.array([3.0, 4.0]))
      Array([0.6, 0.8], dtype=float32)
    """
    sq_norm = tree_norm(tree, squared=True)
    return tree_scale(scale / jnp.sqrt(jnp.maximum(sq_norm, scale**2)), tree)


def projection_linf_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection onto the l-infinity ball of radius ``scale``: :math:`y = \min(\max(x, -s), s)`.

    Args:
      tree: the tree :math:`x`.
      scale: the radius :math:`s`.

    Returns:
      The projected tree.
    """
    lower = tree_full_like(tree, -scale)  # type: ignore[operator]
    return projection_box(tree, lower=lower, upper=tree_full_like(tree, scale))


def projection_vector(x: Any, a: Any) -> Any:
    r"""Projection onto the line spanned by ``a``.

    .. math:: y = \frac{\langle x, a\rangle}{\langle a, a\rangle}\, a

    Args:
      x: the tree to project.
      a: the direction, a tree shaped like ``x``.

    Returns:
      A tree shaped like ``x``.
    """
    return tree_scale(tree_vdot(x, a) / tree_vdot(a, a), a)


def projection_hyperplane(x: Any, a: Any, b: ArrayLike) -> Any:
    r"""Projection onto the hyperplane :math:`\{y : \langle a, y\rangle = b\}`.

    .. math:: y = x + \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\, a

    Args:
      x: the tree to project.
      a: the normal, a tree shaped like ``x``.
      b: the offset, a scalar.

    Returns:
      A tree shaped like ``x``.
    """
    step = (b - tree_vdot(x, a)) / tree_vdot(a, a)  # type: ignore[operator]
    return tree_add_scale(x, step, a)


def projection_halfspace(x: Any, a: Any, b: ArrayLike) -> Any:
    r"""Projection onto the halfspace :math:`\{y : \langle a, y\rangle \le b\}`.

    .. math:: y = x + \min\Big(0, \frac{b - \langle a, x\rangle}{\langle a, a\rangle}\Big)\, a

    Args:
      x: the tree to project.
      a: the normal, a tree shaped like ``x``.
      b: the offset, a scalar.

    Returns:
      A tree shaped like ``x``; ``x`` itself where it already lies in the halfspace.
    """
    step = jnp.minimum((b - tree_vdot(x, a)) / tree_vdot(a, a), 0)  # type: ignore[operator]
    return tree_add_scale(x, step, a)
