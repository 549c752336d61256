"""Euclidean projections onto the simplex, the l1 sphere and the l1 ball.

The simplex projection is the sort-and-threshold algorithm: sort the entries
in decreasing order, find the largest :math:`\\rho` whose partial mean keeps
the :math:`\\rho`-th entry positive, and subtract the resulting threshold.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

from gdtransforms._core._tree_math import tree_mul, tree_norm

__all__ = ["projection_l1_ball", "projection_l1_sphere", "projection_simplex"]

ArrayLike = jax.typing.ArrayLike


@jax.custom_jvp
def _unit_simplex(x: jax.Array) -> jax.Array:
    """The projection of a vector onto the unit simplex (one compiled program per shape)."""
    return _unit_simplex_impl(x)


@jax.jit
def _unit_simplex_impl(x: jax.Array) -> jax.Array:
    r"""The projection of a vector onto :math:`\{p \ge 0, \sum_i p_i = 1\}`.

    With :math:`u` the entries sorted in decreasing order and
    :math:`c_k = \sum_{i \le k} u_i`, :math:`\rho = \#\{k : 1/k + u_k - c_k/k > 0\}`
    and :math:`p = \max(0,\ 1/\rho + x - c_\rho/\rho)`.
    """
    n = x.shape[0]
    desc = jnp.sort(x)[::-1]
    partial_sums = jnp.cumsum(desc)
    k = jnp.arange(1, n + 1)
    rho = jnp.count_nonzero(1 / k + (desc - partial_sums / k) > 0)
    return jax.nn.relu(1 / rho + (x - partial_sums[rho - 1] / rho))


@_unit_simplex.defjvp
def _unit_simplex_jvp(primals: tuple[jax.Array], tangents: tuple[jax.Array]) -> tuple[jax.Array, jax.Array]:
    r"""The projection is piecewise linear: on the support :math:`S` its Jacobian is :math:`I_S - 1_S 1_S^\top/|S|`."""
    (x,), (dx,) = primals, tangents
    p = _unit_simplex(x)
    # A bfloat16/float16 x gives a float32 p (1/rho is float32): the tangent must be float32 too.
    dx = dx.astype(p.dtype)
    support = p > 0
    size = jnp.count_nonzero(support)
    dp = support * dx - (jnp.dot(support, dx) / size) * support
    return p, dp


def projection_simplex(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection of a whole tree onto the simplex of total ``scale``.

    .. math:: \operatorname*{argmin}_{p} \|x - p\|_2^2 \quad \text{s.t.} \quad p \ge 0,\ \textstyle\sum_i p_i = s

    All leaves are flattened into one vector (promoted to a common dtype) and
    projected together; the result has the structure and dtypes of ``tree``.
    Differentiable: the JVP is that of the piecewise-linear projection.

    Args:
      tree: the tree :math:`x`.
      scale: :math:`s > 0`, the sum of the result (default 1: the probability simplex).

    Returns:
      The projected tree.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.projections.projection_simplex(jnp.array([1.0, 0.5, -1.0]))
      Array([0.75, 0.25, 0.  ], dtype=float32)

    References:
      Held, Wolfe and Crowder, `Validation of subgradient optimization
      <https://doi.org/10.1007/BF01580223>`_, 1974;
      Duchi et al., `Efficient projections onto the l1-ball for learning in
      high dimensions <https://doi.org/10.1145/1390156.1390191>`_, 2008.
    """
    flat, unflatten = flatten_util.ravel_pytree(tree)
    out = unflatten(scale * _unit_simplex(flat / scale))  # type: ignore[arg-type]
    # Each leaf keeps its dtype (unflatten alone leaves a tree of one low-precision dtype in float32).
    return jax.tree.map(_like, out, tree)


def _like(out: jax.Array, leaf: Any) -> jax.Array:
    dtype = getattr(leaf, "dtype", None)
    return out if dtype is None or out.dtype == dtype else out.astype(dtype)


def projection_l1_sphere(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection onto the l1 sphere of radius ``scale``.

    .. math:: \operatorname*{argmin}_{y} \|x - y\|_2^2 \quad \text{s.t.} \quad \|y\|_1 = s

    Solved as :math:`y = \operatorname{sign}(x) \odot \Pi_{\Delta_s}(|x|)`, the
    simplex projection of the magnitudes with the signs put back. (At
    :math:`x = 0` every point of the sphere is nearest; this returns 0.)

    Args:
      tree: the tree :math:`x`.
      scale: the radius :math:`s`.

    Returns:
      The projected tree.
    """
    magnitudes = jax.tree.map(jnp.abs, tree)
    signs = jax.tree.map(jnp.sign, tree)
    return tree_mul(signs, projection_simplex(magnitudes, scale))


def projection_l1_ball(tree: Any, scale: ArrayLike = 1) -> Any:
    r"""Projection onto the l1 ball of radius ``scale``.

    .. math:: \operatorname*{argmin}_{y} \|x - y\|_2^2 \quad \text{s.t.} \quad \|y\|_1 \le s

    Inside the ball :math:`x` is returned; outside, its projection onto the
    l1 sphere.

    Args:
      tree: the tree :math:`x`.
      scale: the radius :math:`s`.

    Returns:
      The projected tree.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> gdt.projections.projection_l1_ball(jnp.array([2.0, -1.0]))
      Array([ 1., -0.], dtype=float32)

    References:
      Duchi et al., `Efficient projections onto the l1-ball for learning in
      high dimensions <https://doi.org/10.1145/1390156.1390191>`_, 2008.
    """
    inside = tree_norm(tree, ord=1) <= scale
    # `scale` stays a closure constant (a Python float keeps its weak type, so bfloat16 stays bfloat16).
    return jax.lax.cond(inside, lambda t: t, lambda t: projection_l1_sphere(t, scale), tree)
