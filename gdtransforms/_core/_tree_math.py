"""Tree arithmetic for the quasi-Newton methods and line searches.

Inner products accumulate at ``Precision.HIGHEST`` (a default-precision
matmul on an accelerator rounds its inputs to bfloat16, which is too coarse
for the curvature pairs of L-BFGS), and complex leaves are conjugated on the
left, so ``vdot(x, x)`` is real and non-negative.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "tree_add_scale",
    "tree_conj",
    "tree_real",
    "tree_scale",
    "tree_sq_norm",
    "tree_sub",
    "tree_sum",
    "tree_vdot",
    "tree_where",
]


def _leaf_vdot(a: Any, b: Any) -> jax.Array:
    a, b = jnp.asarray(a), jnp.asarray(b)
    if jnp.iscomplexobj(a):
        a = jnp.conj(a)
    return jnp.tensordot(a, b, a.ndim, precision=jax.lax.Precision.HIGHEST)


def tree_vdot(x: Any, y: Any) -> jax.Array:
    r"""The inner product :math:`\sum_i \bar x_i y_i` over all leaves."""
    return jnp.asarray(jax.tree.reduce(operator.add, jax.tree.map(_leaf_vdot, x, y), initializer=0))


def tree_sum(tree: Any) -> jax.Array:
    """The sum of every element of every leaf."""
    return jnp.asarray(jax.tree.reduce(operator.add, jax.tree.map(jnp.sum, tree), initializer=0))


def tree_sq_norm(tree: Any) -> jax.Array:
    r"""The squared l2 norm :math:`\sum_i |x_i|^2` over all leaves."""
    return jnp.asarray(tree_sum(jax.tree.map(lambda x: jnp.square(x.real) + jnp.square(x.imag), tree)))


def tree_sub(x: Any, y: Any) -> Any:
    """``x - y`` leaf by leaf."""
    return jax.tree.map(operator.sub, x, y)


def tree_scale(scalar: Any, tree: Any) -> Any:
    """``scalar * tree`` leaf by leaf."""
    return jax.tree.map(lambda x: scalar * x, tree)


def tree_add_scale(x: Any, scalar: Any, y: Any) -> Any:
    """``x + scalar * y`` leaf by leaf."""
    scalar = jnp.asarray(scalar)
    return jax.tree.map(lambda a, b: a + scalar * b, x, y)


def tree_where(condition: Any, x: Any, y: Any) -> Any:
    """``x`` where the scalar ``condition`` holds, else ``y``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), x, y)


def tree_real(tree: Any) -> Any:
    """The real part of every leaf."""
    return jax.tree.map(jnp.real, tree)


def tree_conj(tree: Any) -> Any:
    """The complex conjugate of every leaf."""
    return jax.tree.map(jnp.conj, tree)
