"""The Kronecker-factored preconditioner of PSGD Kron, one leaf at a time.

A leaf ``G`` of shape ``(n_1, ..., n_k)`` has one factor ``Q_i`` per axis: an
upper-triangular ``n_i x n_i`` matrix, or a vector (a diagonal matrix) when
the axis is too long, the leaf has too few axes, or ``memory_save_mode``
asks for it. A scalar leaf has one scalar factor. The preconditioner is
``P = Q^H Q`` with ``Q = Q_1 (x) ... (x) Q_k``; every product with ``Q`` is one
``einsum`` over the leaf's axes.

These helpers carry the math; :mod:`gdtransforms._transforms._kron` holds the
optimizer (state, momentum, randomness, the update decision).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks

__all__ = [
    "KronLayout",
    "balance",
    "branch",
    "init_factors",
    "kron_layout",
    "precondition",
    "update_factors",
]

# Three alphabets for a leaf's axes: the leaf's own axis, and two contracted copies.
_OWN = "abcdefghijklm"
_MID = "nopqrstuvwxyz"
_FAR = "ABCDEFGHIJKLM"
_MAX_NDIM = len(_OWN)


class KronLayout(NamedTuple):
    """How one leaf is preconditioned: which axes are diagonal, and the contractions.

    Attributes:
      diagonal: per axis, whether its factor is a vector (diagonal matrix).
      apply_q: subscripts of ``Q G`` (operands: the factors, then ``G``).
      grams: per axis, the subscripts of the Gram term of two tensors over
        all other axes (``n_i x n_i`` for a triangular factor, ``n_i`` for a
        diagonal one).
      apply_p: subscripts of ``Q^H Q G`` (operands: conjugated factors,
        factors, ``G``).
    """

    diagonal: tuple[bool, ...]
    apply_q: str
    grams: tuple[str, ...]
    apply_p: str


def _diagonal_axes(
    shape: tuple[int, ...], max_size_triangular: int, min_ndim_triangular: int, memory_save_mode: str | None
) -> tuple[bool, ...]:
    if memory_save_mode == "all_diag":
        forced = [True] * len(shape)
    elif memory_save_mode == "one_diag":
        forced = [False] * len(shape)
        # The longest axis (the last one among equals) is the diagonal one.
        forced[int(np.argsort(shape)[::-1][0])] = True
    else:
        forced = [False] * len(shape)
    return tuple(
        bool(f or n == 1 or n > max_size_triangular or len(shape) < min_ndim_triangular) for n, f in zip(shape, forced)
    )


def kron_layout(
    shape: tuple[int, ...], max_size_triangular: int, min_ndim_triangular: int, memory_save_mode: str | None
) -> KronLayout:
    """The factor kinds and contractions for a leaf of ``shape``.

    Raises:
      ValueError: the leaf has more than 13 axes.
    """
    k = len(shape)
    if k == 0:
        return KronLayout((), ",->", (",->",), ",,->")
    if k > _MAX_NDIM:
        raise ValueError(f"scale_by_kron: a leaf has {k} axes; at most {_MAX_NDIM} are supported")
    diagonal = _diagonal_axes(shape, max_size_triangular, min_ndim_triangular, memory_save_mode)
    q_terms, g_in, g_out = [], "", ""
    conj_terms, plain_terms, p_in, p_out = [], [], "", ""
    grams = []
    for i, diag in enumerate(diagonal):
        own, mid, far = _OWN[i], _MID[i], _FAR[i]
        left = "".join(mid if j == i else _OWN[j] for j in range(k))
        if diag:
            q_terms.append(own)
            g_in += own
            g_out += own
            grams.append(f"{left},{left}->{mid}")
            conj_terms.append(mid)
            plain_terms.append(mid)
            p_in += mid
            p_out += mid
        else:
            q_terms.append(own + mid)
            g_in += mid
            g_out += own
            right = "".join(far if j == i else _OWN[j] for j in range(k))
            grams.append(f"{left},{right}->{mid}{far}")
            conj_terms.append(own + mid)
            plain_terms.append(own + far)
            p_in += far
            p_out += mid
    apply_q = ",".join(q_terms) + f",{g_in}->{g_out}"
    apply_p = ",".join(conj_terms) + "," + ",".join(plain_terms) + f",{p_in}->{p_out}"
    return KronLayout(diagonal, apply_q, tuple(grams), apply_p)


def init_factors(shape: tuple[int, ...], dtype: Any, layout: KronLayout, scale: Any, scalar_dtype: Any) -> list:
    """The initial factors: ``scale^(1/k)`` times identities (or ones for diagonal axes).

    A scalar leaf's one factor has ``scalar_dtype`` (the leaf's dtype unless
    ``precond_dtype`` is given); the others have ``dtype`` (float32 unless
    ``precond_dtype`` is given).
    """
    if not shape:
        return [scale * jnp.ones((), scalar_dtype)]
    per_axis = scale ** (1 / len(shape))
    return [
        per_axis * (jnp.ones(n, dtype) if diag else jnp.eye(n, dtype=dtype)) for n, diag in zip(shape, layout.diagonal)
    ]


def branch(pred: jax.Array, on_true: Callable[..., Any], on_false: Callable[..., Any], *operands: Any) -> Any:
    """``lax.cond`` when traced; a Python branch when ``pred`` is concrete (eager steps compile no cond)."""
    if _checks.is_tracer(pred):
        return jax.lax.cond(pred, on_true, on_false, *operands)
    return on_true(*operands) if bool(pred) else on_false(*operands)


def _spectral_norm_floor(m: jax.Array) -> jax.Array:
    """A cheap lower bound of the spectral norm of the square matrix ``m``.

    One power-iteration step from the row or column of largest norm
    (whichever is larger), on ``m`` divided by its largest entry; within a
    factor of about sqrt(2) of the true norm in practice.
    """
    peak = jnp.max(jnp.abs(m))

    def estimate(m: jax.Array) -> jax.Array:
        unit = m / peak
        power = jnp.real(unit * unit.conj())
        col_sq, row_sq = jnp.sum(power, axis=0), jnp.sum(power, axis=1)
        col, row = jnp.argmax(col_sq), jnp.argmax(row_sq)

        def from_column() -> jax.Array:
            v = unit[:, col].conj() @ unit
            return peak * jnp.linalg.norm((v / jnp.linalg.norm(v)) @ unit.conj().T)

        def from_row() -> jax.Array:
            v = unit @ unit[row].conj()
            return peak * jnp.linalg.norm(unit.conj().T @ (v / jnp.linalg.norm(v)))

        return branch(col_sq[col] > row_sq[row], from_column, from_row)

    return branch(peak > 0, estimate, lambda _: peak, m)


def _plus_tiny(x: jax.Array) -> jax.Array:
    return x + jnp.finfo(x.dtype).tiny


def _right_solve_upper(x: jax.Array, r: jax.Array) -> jax.Array:
    """``x @ inv(r)`` over the last axis of ``x``, for an upper-triangular ``r``."""
    dtype = jnp.promote_types(x.dtype, r.dtype)
    rows = x.reshape(-1, x.shape[-1]).astype(dtype)
    solved = jax.lax.linalg.triangular_solve(r.astype(dtype), rows, left_side=False, lower=False)
    return solved.reshape(x.shape)


def _inverse_transpose_applied(factors: list, v: jax.Array) -> jax.Array:
    """``conj(V)`` with each axis multiplied by ``Q_i^{-T}`` (the conjugate of ``Q^{-H} V``), axis 0 first."""
    out = v.conj()
    for i, q in enumerate(factors):
        if out.ndim == 0:
            out = out / q
            continue
        moved = jnp.moveaxis(out, i, -1)
        moved = moved / q if q.ndim < 2 else _right_solve_upper(moved, q)
        out = jnp.moveaxis(moved, -1, i)
    return out


def update_factors(factors: list, g: jax.Array, v: jax.Array, layout: KronLayout, lr: Any) -> list:
    r"""One step of the factors on the Lie group of (triangular or diagonal) matrices.

    With :math:`A = Q G` and :math:`B = Q^{-H} V`, each factor moves by

    .. math:: Q_i \leftarrow Q_i - \frac{\mu}{\lVert T_1 + T_2 \rVert} \operatorname{triu}(T_1 - T_2)\, Q_i,

    :math:`T_1` and :math:`T_2` the Gram matrices of :math:`A` and :math:`B` over every other
    axis (the norm a lower bound of the spectral norm; for a diagonal factor the
    entries' maximum and an element-wise product). All factors use the old
    :math:`Q` in :math:`A` and :math:`B`.
    """
    a = jnp.einsum(layout.apply_q, *factors, g)
    b = _inverse_transpose_applied(factors, v)
    a_conj, b_conj = a.conj(), b.conj()
    new = []
    for i, q in enumerate(factors):
        t1 = jnp.einsum(layout.grams[i], a, a_conj)
        t2 = jnp.einsum(layout.grams[i], b_conj, b)
        step = (t1 - t2) * lr
        if q.ndim < 2:
            step = step * q
            step = step / _plus_tiny(jnp.max(jnp.abs(t1 + t2)))
            new.append((q - step).astype(q.dtype))
        else:
            step = jnp.triu(step)
            step = step / _plus_tiny(_spectral_norm_floor(t1 + t2))
            new.append((q - step @ q).astype(q.dtype))
    return new


def balance(factors: list) -> list:
    """Rescales a leaf's factors to equal largest entries, keeping their product."""
    if len(factors) < 2:
        return factors
    peaks = jnp.stack([jnp.max(jnp.abs(q)).astype(jnp.float32) for q in factors])
    geometric_mean = jnp.prod(peaks) ** (1 / len(factors))
    ratios = geometric_mean / peaks
    return [q * ratios[i].astype(q.dtype) for i, q in enumerate(factors)]


def precondition(factors: list, g: jax.Array, layout: KronLayout) -> jax.Array:
    """``P G = Q^H Q G``."""
    return jnp.einsum(layout.apply_p, *[q.conj() for q in factors], *factors, g)
