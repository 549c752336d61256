"""Linear algebra used by second-order and preconditioned methods.

``power_iteration`` (dominant eigenpair), ``matrix_inverse_pth_root``
(:math:`A^{-1/p}` by coupled Newton iterations, as Shampoo needs) and ``nnls``
(non-negative least squares by fast projected gradient).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from gdtransforms._core._tree_math import tree_add_scale, tree_norm, tree_scale, tree_vdot

__all__ = ["matrix_inverse_pth_root", "nnls", "power_iteration"]


def _normalized(tree: Any) -> Any:
    return tree_scale(1.0 / jnp.sqrt(tree_norm(tree, squared=True)), tree)


def power_iteration(
    matrix: jax.typing.ArrayLike | Callable[[Any], Any],
    *,
    v0: Any | None = None,
    num_iters: jax.typing.ArrayLike = 100,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
    key: jax.Array | None = None,
) -> tuple[jax.Array, Any]:
    r"""The dominant eigenvalue and its eigenvector, by power iteration.

    .. math::
        v_{k+1} = \frac{A v_k}{\|A v_k\|}, \qquad \lambda_{k+1} = \langle v_{k+1}, A v_{k+1}\rangle

    until :math:`\|A v - \lambda v\| / |\lambda|` < ``error_tolerance`` or
    ``num_iters`` products.

    Args:
      matrix: a square array, or a function computing the product with a
        tree (then ``v0`` is required and fixes the tree's structure).
      v0: the starting vector (tree); by default uniform in [-1, 1] drawn with
        ``key`` (``PRNGKey(0)`` if ``None``).
      num_iters: the most products.
      error_tolerance: the relative residual that stops the iteration.
      precision: the matmul precision for an array ``matrix``.
      key: the random key for the default ``v0``.

    Returns:
      ``(eigenvalue, eigenvector)``, the eigenvector normalized.

    References:
      von Mises and Pollaczek-Geiringer, 1929, "Praktische Verfahren der
      Gleichungsauflösung", https://doi.org/10.1002/zamm.19290090206
    """
    if callable(matrix):
        product = matrix
        if v0 is None:
            raise ValueError("`v0` must be given when `matrix` is a function (it fixes the vector's structure)")
    else:
        matrix = jnp.asarray(matrix)
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"`matrix` must be a square 2-D array, got shape {matrix.shape}")
        product = lambda v: jnp.matmul(matrix, v, precision=precision)
        if v0 is None:
            key = jax.random.PRNGKey(0) if key is None else key
            v0 = jax.random.uniform(key, shape=matrix.shape[-1:], dtype=matrix.dtype, minval=-1.0, maxval=1.0)
    v0 = _normalized(v0)

    def keep_going(carry):
        vec, image, eig, it = carry
        residual = jnp.sqrt(tree_norm(tree_add_scale(image, -eig, vec), squared=True))
        return ~(jnp.abs(residual / eig) < error_tolerance) & (it < num_iters)

    def body(carry):
        _, image, _, it = carry
        vec = _normalized(image)
        image = product(vec)
        return vec, image, tree_vdot(vec, image), it + 1

    _, image, eig, _ = lax.while_loop(keep_going, body, (v0, product(v0), jnp.asarray(0.0), jnp.asarray(0)))
    return eig, _normalized(image)


def matrix_inverse_pth_root(
    matrix: jax.typing.ArrayLike,
    p: jax.typing.ArrayLike,
    num_iters: jax.typing.ArrayLike = 100,
    ridge_epsilon: jax.typing.ArrayLike = 1e-6,
    error_tolerance: jax.typing.ArrayLike = 1e-6,
    precision: lax.Precision = lax.Precision.HIGHEST,
) -> tuple[jax.Array, jax.Array]:
    r""":math:`A^{-1/p}` of a symmetric positive semi-definite matrix, by coupled Newton iterations.

    With :math:`\alpha = -1/p`, :math:`A_\epsilon = A + \epsilon \lambda_{max} I`,
    :math:`z = (1+p) / (2\|A_\epsilon\|_F)`, :math:`M_0 = z A_\epsilon` and
    :math:`H_0 = z^{1/p} I`:

    .. math::
        T_k = (1 - \alpha) I + \alpha M_k, \qquad M_{k+1} = T_k^p M_k, \qquad H_{k+1} = H_k T_k

    while :math:`\max|M_k - I|` > ``error_tolerance`` and it does not grow by
    more than 20% in a step; :math:`H_k \to A_\epsilon^{-1/p}`. ``p`` must be 1,
    2, 4 or 8 (the powers are unrolled squarings).

    Args:
      matrix: the square PSD matrix.
      p: the root, 1, 2, 4 or 8.
      num_iters: the most iterations.
      ridge_epsilon: :math:`\epsilon`, relative to the largest eigenvalue.
      error_tolerance: the stopping error.
      precision: the matmul precision.

    Returns:
      ``(root, error)``: :math:`A^{-1/p}` (in ``matrix``'s dtype) and the final
      :math:`\max|M - I|`.

    References:
      Higham, 2008, Functions of Matrices, Eq. 7.18, https://doi.org/10.1137/1.9780898717778;
      Gupta et al., 2018, "Shampoo", https://arxiv.org/abs/1802.09568
    """
    matrix = jnp.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"`matrix` must be a square 2-D array, got shape {matrix.shape}")
    size = matrix.shape[0]
    alpha = jnp.asarray(-1.0 / p, jnp.float32)
    eye = jnp.eye(size, dtype=jnp.float32)
    max_ev, _ = power_iteration(matrix, num_iters=100, error_tolerance=1e-6, precision=precision)
    ridge = ridge_epsilon * jnp.maximum(max_ev, 1e-16)
    mm = lambda a, b: jnp.matmul(a, b, precision=precision)

    def square(x):
        return mm(x, x)

    def fourth(x):
        return square(square(x))

    def eighth(x):
        return square(fourth(x))

    def power(m, exponent):
        # m^1, m^2, m^4 or m^8 by repeated squaring.
        index = jnp.asarray(jnp.round(jnp.log2(exponent)), jnp.int32)
        return lax.switch(index, [lambda x: x, square, fourth, eighth], m)

    if size == 1:
        return (matrix + ridge) ** alpha, jnp.asarray(0)

    def keep_going(carry):
        it, _, _, _, error, improving = carry
        return (it < num_iters) & ((error > error_tolerance) & improving)

    def body(carry):
        it, m, h, _, error, _ = carry
        t = (1 - alpha) * eye + alpha * m
        new_m = mm(power(t, p), m)
        new_h = mm(h, t)
        new_error = jnp.max(jnp.abs(new_m - eye))
        # The error may rise a little before it falls; more than 20% means divergence.
        return it + 1, new_m, new_h, h, new_error, new_error < error * 1.2

    damped = matrix + ridge * eye
    z = (1 + p) / (2 * jnp.linalg.norm(damped))
    m0 = damped * z
    h0 = eye * jnp.power(z, 1.0 / p)
    start = (0, m0, h0, h0, jnp.max(jnp.abs(m0 - eye)), True)
    _, m, h, previous_h, _, improving = lax.while_loop(keep_going, body, start)
    error = jnp.max(jnp.abs(m - eye))
    keep = jnp.asarray(improving, previous_h.dtype)
    root = keep * h + (1 - keep) * previous_h
    return jnp.asarray(root, matrix.dtype), error


def _spectral_radius_bound(q: jax.Array) -> jax.Array:
    """``min(||Q||_F, ||Q||_1)``, an upper bound on the spectral radius."""
    fro = jnp.linalg.matrix_norm(q, ord="fro")
    one = jnp.linalg.matrix_norm(q, ord=1) if q.size != 0 else 0
    return jnp.minimum(fro, one)


def nnls(
    A: jax.Array,  # noqa: N803
    b: jax.Array,
    iters: int,
    unroll: int | bool = 1,
    L: jax.typing.ArrayLike | None = None,  # noqa: N803
) -> jax.Array:
    r"""Non-negative least squares, :math:`\min_{x \ge 0} \|Ax - b\|_2`, by fast projected gradient.

    With :math:`Q = A^\top A`, :math:`q = A^\top b` and :math:`L \ge \lambda_{max}(Q)`:

    .. math::
        x_{k+1} = \max(0, p_k - (Q p_k - q)/L), \quad
        c_{k+1} = \tfrac{1 + \sqrt{1 + 4 c_k^2}}{2}, \quad
        p_{k+1} = x_{k+1} + \tfrac{c_k - 1}{c_{k+1}} (x_{k+1} - x_k)

    from :math:`x_0 = p_0 = 0`, :math:`c_0 = 0`, for ``iters`` steps.

    Args:
      A: the ``(M, N)`` matrix.
      b: the ``(M,)`` vector or ``(M, K)`` matrix.
      iters: the number of steps.
      unroll: ``lax.scan``'s unroll.
      L: an upper bound on the spectral radius of :math:`A^\top A`; by
        default :math:`\min(\|Q\|_F, \|Q\|_1)`.

    Returns:
      ``x`` of shape ``(N,)`` or ``(N, K)``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> x = gdt.nnls(jnp.array([[1.0, 2.0], [3.0, 4.0]]), jnp.array([5.0, 6.0]), 1000)
      >>> print([f"{v:.2f}" for v in x.tolist()])
      ['0.00', '1.70']

    References:
      Polyak, 2015, "Projected gradient method for non-negative least square",
      https://doi.org/10.1090/conm/636/12735
    """
    A, b = jnp.asarray(A), jnp.asarray(b)  # noqa: N806
    if A.ndim != 2:
        raise ValueError(f"`A` must be a 2-D matrix, got shape {A.shape}")
    if b.ndim not in (1, 2) or b.shape[0] != A.shape[0]:
        raise ValueError(f"`b` must have shape ({A.shape[0]},) or ({A.shape[0]}, K), got {b.shape}")
    q_mat, q = A.mT @ A, A.mT @ b
    lipschitz = _spectral_radius_bound(q_mat) if L is None else L
    lipschitz = jnp.where(lipschitz == 0, 1, lipschitz)

    def step(carry, _):
        x, p, c = carry
        c_next = (1 + jnp.sqrt(1 + 4 * c**2)) / 2
        momentum = (c - 1) / c_next
        x_next = (p - (q_mat @ p - q) / lipschitz).clip(0)
        return (x_next, x_next + momentum * (x_next - x), c_next), None

    x0 = jnp.zeros_like(b, shape=A.shape[-1:] + b.shape[1:])
    (x, _, _), _ = lax.scan(step, (x0, x0, 0.0), length=iters, unroll=unroll)
    return x
