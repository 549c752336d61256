"""Inverse p-th roots of symmetric PSD matrices for Shampoo (coupled Newton iteration).

Shampoo's preconditioners are :math:`(L + \\epsilon I)^{-1/p}`. On accelerators
an eigendecomposition is slow and poorly sharded, so the distributed Shampoo
paper (Anil et al., 2020, §3 and Appendix) computes the root with the coupled
Newton iteration of Higham (2008, eq. 7.18), which needs only matrix products:

.. math::
    M_0 = z A, \\quad H_0 = z^{1/p} I, \\quad z = \\frac{1 + p}{2 \\|A\\|_F}, \\\\
    T_k = \\frac{p + 1}{p} I - \\frac{1}{p} M_k, \\quad
    M_{k+1} = T_k^p M_k, \\quad H_{k+1} = H_k T_k,

with :math:`M_k \\to I` and :math:`H_k \\to A^{-1/p}`. The damping
:math:`\\epsilon` is relative: ``matrix_epsilon`` times the largest eigenvalue
of :math:`A` (found by power iteration), so it scales with the statistics.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["inverse_pth_root", "largest_eigenvalue"]

_POWER_ITERS = 100
_NEWTON_ITERS = 100
_TOLERANCE = 1e-6
# The Newton error may grow for a step before it shrinks; past this ratio the
# iteration has diverged and the previous iterate is kept.
_MAX_ERROR_RATIO = 1.2


def largest_eigenvalue(matrix: jax.Array, precision: Any) -> jax.Array:
    """The largest eigenvalue of a symmetric PSD ``matrix`` by power iteration.

    The start vector is fixed (a seeded uniform draw), so the estimate is
    deterministic; the iteration stops when the Rayleigh quotient moves by at
    most 1e-6.
    """
    n = matrix.shape[-1]
    start = jnp.asarray(np.random.RandomState(1729).uniform(-1.0, 1.0, n).astype(matrix.dtype))

    def keep_going(carry):
        i, _, _, moving = carry
        return (i < _POWER_ITERS) & moving

    def body(carry):
        i, v, rayleigh, _ = carry
        v = v / jnp.linalg.norm(v)
        av = jnp.einsum("ij,j->i", matrix, v, precision=precision)
        new_rayleigh = jnp.einsum("i,i->", v, av, precision=precision)
        return i + 1, av, new_rayleigh, jnp.abs(new_rayleigh - rayleigh) > _TOLERANCE

    init = (0, start, jnp.zeros([], matrix.dtype), jnp.asarray(True))
    return lax.while_loop(keep_going, body, init)[2]


def _int_power(matrix: jax.Array, p: int, precision: Any) -> jax.Array:
    """``matrix ** p`` by binary exponentiation, in a loop.

    A loop rather than an unrolled chain of products: XLA may reassociate a
    chain, which changes the rounding (and the iterates of an ill-conditioned
    root) from one program to the next.
    """

    def body(carry):
        k, result, base = carry
        result = lax.cond(k % 2 == 1, lambda: jnp.matmul(base, result, precision=precision), lambda: result)
        return k // 2, result, jnp.matmul(base, base, precision=precision)

    eye = jnp.eye(matrix.shape[0], dtype=matrix.dtype)
    return lax.while_loop(lambda carry: carry[0] > 0, body, (jnp.int32(p), eye, matrix))[1]


def inverse_pth_root(
    matrix: jax.Array, p: int, matrix_epsilon: Any, precision: Any, *, relative: bool = True
) -> tuple[jax.Array, jax.Array]:
    """:math:`(A + \\epsilon \\lambda_{max} I)^{-1/p}` and its residual error.

    Args:
      matrix: a symmetric PSD float32 matrix :math:`A`, ``(n, n)``.
      p: the root, a positive Python int.
      matrix_epsilon: :math:`\\epsilon`, relative to :math:`\\lambda_{max}(A)`
        (floored at 1e-6).
      precision: the ``lax.Precision`` of the matrix products.
      relative: scale the damping by :math:`\\lambda_{max}` (else by 1).

    Returns:
      The root and the error :math:`\\max |M_k - I|` of the coupled iteration
      (0 for a 1x1 matrix); a large or NaN error means the root failed.
    """
    n = matrix.shape[0]
    scale = largest_eigenvalue(matrix, precision) if relative else jnp.ones([], matrix.dtype)
    ridge = matrix_epsilon * jnp.maximum(scale, 1e-6)
    alpha = -1.0 / p
    if n == 1:
        return (matrix + ridge) ** alpha, jnp.zeros([], jnp.float32)
    eye = jnp.eye(n, dtype=matrix.dtype)
    damped = matrix + ridge * eye
    z = (1 + p) / (2 * jnp.linalg.norm(damped))
    m0 = damped * z
    h0 = eye * jnp.power(z, 1.0 / p)

    def keep_going(carry):
        i, _, _, _, error, ratio = carry
        return (i < _NEWTON_ITERS) & (error > _TOLERANCE) & (ratio < _MAX_ERROR_RATIO)

    def body(carry):
        i, m, h, _, error, _ = carry
        t = (1 - alpha) * eye + alpha * m
        new_m = jnp.matmul(_int_power(t, p, precision), m, precision=precision)
        new_h = jnp.matmul(h, t, precision=precision)
        new_error = jnp.max(jnp.abs(new_m - eye))
        return i + 1, new_m, new_h, h, new_error, new_error / error

    init = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - eye)), jnp.asarray(1.0, matrix.dtype))
    _, m, h, previous_h, _, ratio = lax.while_loop(keep_going, body, init)
    error = jnp.max(jnp.abs(m - eye)).astype(jnp.float32)
    root = jnp.where(ratio < _MAX_ERROR_RATIO, h, previous_h)
    return root, error
