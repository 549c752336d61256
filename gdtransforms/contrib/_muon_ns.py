"""Muon's orthogonalization: batched Newton–Schulz over groups of same-shaped matrices.

Every leaf is first viewed as a stack of matrices ``(batch, reduction, output)``
(its :class:`MuonDimensionNumbers` choose the axes), transposed so that rows
<= columns. Stacks with the same matrix shape and dtype are concatenated into
one ``(B, r, c)`` array and orthogonalized by a single chain of batched
matmuls; the result is split back into the leaves. A tree with 96 matrices of
four shapes then runs four Newton–Schulz chains instead of 96.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks
from gdtransforms._core._base import MaskedNode

__all__ = [
    "PRECONDITIONINGS",
    "MuonDimensionNumbers",
    "PerLeaf",
    "check_ns_coeffs",
    "fan_in_out",
    "leaf_dim_nums",
    "orthogonalize_leaves",
]

PRECONDITIONINGS = ("frobenius", "spectral", "aol", "schatten")


class MuonDimensionNumbers(NamedTuple):
    """Which axes of a weight form the matrix that Muon orthogonalizes.

    The weight acts as ``y = x W``: ``reduction_axis`` are the input axes
    (contracted with ``x``) and ``output_axis`` the output axes. Every other
    axis is a batch axis: each of its entries is orthogonalized on its own.
    The default suits a 2-D ``(fan_in, fan_out)`` matrix.

    Attributes:
      reduction_axis: an axis or a sequence of axes (negative counts from the end).
      output_axis: an axis or a sequence of axes.
    """

    reduction_axis: Sequence[int] | int = 0
    output_axis: Sequence[int] | int = 1


class PerLeaf:
    """A spec function whose result is already one entry per leaf of the tree it gets."""

    __slots__ = ("fn",)

    def __init__(self, fn: Callable[[Any], list[Any]]) -> None:
        self.fn = fn


def _is_spec(x: Any) -> bool:
    return x is None or isinstance(x, (MuonDimensionNumbers, MaskedNode))


def _axes(value: Sequence[int] | int, ndim: int) -> tuple[int, ...]:
    return tuple(a % ndim for a in ((value,) if isinstance(value, (int, np.integer)) else value))


def leaf_dim_nums(spec: Any, tree: Any, *, default_2d_only: bool, where: str) -> list[MuonDimensionNumbers | None]:
    """One :class:`MuonDimensionNumbers` (or ``None``) per leaf of ``tree``.

    Args:
      spec: ``None`` (every 2-D leaf gets the default), one
        :class:`MuonDimensionNumbers` for every leaf, a tree of them (a prefix
        of ``tree``; ``None`` entries mark leaves that are not matrices) or a
        function of ``tree`` returning one.
      tree: the updates (masked-out leaves are :class:`MaskedNode`).
      default_2d_only: with ``spec=None``, give ``None`` to leaves that are not 2-D.
      where: the caller, for error messages.
    """
    if isinstance(spec, PerLeaf):
        return spec.fn(tree)
    leaves, treedef = jax.tree.flatten(tree)
    if spec is None:
        default = MuonDimensionNumbers()
        return [default if (np.ndim(x) == 2 or not default_2d_only) else None for x in leaves]
    if callable(spec) and not isinstance(spec, MuonDimensionNumbers):
        spec = spec(tree)
    if isinstance(spec, MuonDimensionNumbers):
        return [spec] * len(leaves)
    try:
        expanded = jax.tree.map(lambda dn, sub: jax.tree.map(lambda _: dn, sub), spec, tree, is_leaf=_is_spec)
        return list(treedef.flatten_up_to(expanded))  # type: ignore[attr-defined]
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"{where}: the weight dimension numbers do not match the updates (they must be a "
            f"prefix of the params tree with MuonDimensionNumbers or None entries): {err}"
        ) from None


def _matrix_axes(shape: tuple[int, ...], dn: MuonDimensionNumbers, path: str) -> tuple[tuple[int, ...], ...]:
    ndim = len(shape)
    if ndim < 2:
        raise ValueError(f"Muon orthogonalizes matrices: the leaf at {path} has shape {shape} (rank {ndim} < 2)")
    reduction, output = _axes(dn.reduction_axis, ndim), _axes(dn.output_axis, ndim)
    if set(reduction) & set(output) or not reduction or not output:
        raise ValueError(
            f"Muon: the leaf at {path} (shape {shape}) needs disjoint, non-empty reduction and output "
            f"axes, got {dn} (normalized: {reduction} and {output})"
        )
    batch = tuple(a for a in range(ndim) if a not in reduction and a not in output)
    return batch, reduction, output


def fan_in_out(shape: tuple[int, ...], dn: MuonDimensionNumbers) -> tuple[int, int]:
    """The sizes of the reduction (fan-in) and output (fan-out) sides of a weight."""
    _, reduction, output = _matrix_axes(shape, dn, "?")
    return math.prod(shape[a] for a in reduction), math.prod(shape[a] for a in output)


def check_ns_coeffs(ns_coeffs: Any) -> np.ndarray:
    """The coefficients as an array of shape (3,) or (n, 3), or a ``ValueError``."""
    arr = np.asarray(ns_coeffs, dtype=np.float64) if not isinstance(ns_coeffs, jax.Array) else ns_coeffs
    if arr.ndim not in (1, 2) or arr.shape[-1] != 3:
        raise ValueError(f"`ns_coeffs` must have shape (3,) or (n, 3), got {tuple(arr.shape)}")
    return arr  # type: ignore[return-value]


def _at_least(v: jax.Array, eps: Any) -> jax.Array:
    # An injected eps (inject_hyperparams) gives its value as an array of v's dtype.
    return jnp.clip(v, min=eps.operand(v) if hasattr(eps, "operand") else eps)


def _swap(x: jax.Array) -> jax.Array:
    return jnp.swapaxes(x, -1, -2)


def _quintic(x: jax.Array, a: jax.Array, c: jax.Array) -> jax.Array:
    # f(X) = c0 X + (c1 A + c2 A A) X with A = X X^H, evaluated as (c2 A) A.
    b = c[1] * a + (c[2] * a) @ a
    return c[0] * x + b @ x


def _base_step(x: jax.Array, c: jax.Array) -> jax.Array:
    return _quintic(x, x @ _swap(x.conj()), c)


def _aol_step(x: jax.Array, c: jax.Array, eps: float) -> jax.Array:
    # Almost-orthogonal-layer rescaling: row i of X by 1/sqrt(sum_j |A_ij|).
    a = x @ _swap(x.conj())
    s = jax.lax.rsqrt(_at_least(jnp.abs(a).sum(axis=-1), eps))[..., None]
    return _quintic(x * s, a * s * _swap(s), c)


def _schatten_step(x: jax.Array, c: jax.Array, eps: float) -> jax.Array:
    # Schatten-4 rescaling: X by ||X X^T||_F^(-1/2).
    a = x @ _swap(x)
    s = jax.lax.rsqrt(_at_least(jnp.linalg.norm(a, ord="fro", axis=(-2, -1), keepdims=True), eps))
    return _quintic(x * s, a * s**2, c)


def _first_step(preconditioning: str) -> Callable[[jax.Array, jax.Array, Any], jax.Array]:
    if preconditioning == "aol":
        return _aol_step
    if preconditioning == "schatten":
        return _schatten_step
    return lambda x, c, eps: _base_step(x, c)


def newton_schulz(x: jax.Array, coeffs: jax.Array, ns_steps: Any, preconditioning: str, eps: Any) -> jax.Array:
    """Orthogonalizes every matrix of a ``(B, r, c)`` stack with ``r <= c``.

    Args:
      x: the stack.
      coeffs: shape (3,) (used for ``ns_steps`` steps) or (n, 3) (one row per step).
      ns_steps: the number of steps with (3,) coefficients; an int, or a traced
        value (then the steps run in a loop).
      preconditioning: one of :data:`PRECONDITIONINGS`.
      eps: guards the rescaling's division.
    """
    if preconditioning == "frobenius":
        x = x / (jnp.linalg.norm(x, ord="fro", axis=(-2, -1), keepdims=True) + eps)
    elif preconditioning == "spectral":
        # LAPACK has no 16-bit SVD: take the largest singular value in float32.
        wide = x.astype(jnp.float32) if jnp.finfo(x.dtype).bits < 32 else x
        x = x / (jnp.linalg.norm(wide, ord=2, axis=(-2, -1), keepdims=True).astype(x.dtype) + eps)
    first = _first_step(preconditioning)
    coeffs = coeffs.astype(x.dtype)
    if coeffs.ndim == 2:
        for i in range(coeffs.shape[0]):
            x = first(x, coeffs[i], eps) if i == 0 else _base_step(x, coeffs[i])
        return x
    if isinstance(ns_steps, (int, np.integer)):
        return _unrolled(x, coeffs, int(ns_steps), first, eps)
    plain, same = getattr(ns_steps, "plain", None), getattr(ns_steps, "same", None)
    if isinstance(plain, (int, np.integer)) and same is not None:
        # An injected hyperparameter (inject_hyperparams): while it keeps its
        # built value, run the same unrolled chain as the plain optimizer.
        return jax.lax.cond(
            same,
            lambda y: _unrolled(y, coeffs, int(plain), first, eps),
            lambda y: _looped(y, coeffs, ns_steps.live, preconditioning, first, eps),
            x,
        )
    return _looped(x, coeffs, ns_steps, preconditioning, first, eps)


def _unrolled(x: jax.Array, coeffs: jax.Array, steps: int, first: Any, eps: Any) -> jax.Array:
    for i in range(steps):
        x = first(x, coeffs, eps) if i == 0 else _base_step(x, coeffs)
    return x


def _looped(x: jax.Array, coeffs: jax.Array, ns_steps: Any, preconditioning: str, first: Any, eps: Any) -> jax.Array:

    def body(i, y):
        if preconditioning in ("aol", "schatten"):
            return jax.lax.cond(i == 0, lambda z: first(z, coeffs, eps), lambda z: _base_step(z, coeffs), y)
        return _base_step(y, coeffs)

    return jax.lax.fori_loop(0, jnp.asarray(ns_steps, jnp.int32), body, x)


def orthogonalize_leaves(
    leaves: list[jax.Array],
    dim_nums: list[MuonDimensionNumbers],
    paths: list[str],
    coeffs: jax.Array,
    ns_steps: Any,
    preconditioning: str,
    eps: Any,
) -> list[jax.Array]:
    r"""Orthogonalizes every leaf; leaves whose matrices share shape and dtype share one chain.

    Each matrix :math:`G` becomes about :math:`U V^\top` where :math:`G = U S V^\top`.
    """
    stacks, inverses, keys = [], [], []
    for x, dn, path in zip(leaves, dim_nums, paths):
        batch, reduction, output = _matrix_axes(x.shape, dn, path)
        order = batch + reduction + output
        sizes = [math.prod(x.shape[a] for a in group) for group in (batch, reduction, output)]
        m = jnp.transpose(x, order).reshape(sizes)
        flip = sizes[1] > sizes[2]
        if flip:
            m = _swap(m)
        stacks.append(m)
        inverses.append((flip, tuple(x.shape[a] for a in order), tuple(np.argsort(order))))
        keys.append((m.shape[1:], m.dtype))
    groups: dict[Any, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    results: list[Any] = [None] * len(leaves)
    for members in groups.values():
        stacked = stacks[members[0]] if len(members) == 1 else jnp.concatenate([stacks[i] for i in members])
        out = newton_schulz(stacked, coeffs, ns_steps, preconditioning, eps)
        offsets = np.cumsum([0] + [stacks[i].shape[0] for i in members])
        for j, i in enumerate(members):
            piece = out if len(members) == 1 else out[offsets[j] : offsets[j + 1]]
            flip, shape, inverse = inverses[i]
            piece = _swap(piece) if flip else piece
            results[i] = jnp.transpose(piece.reshape(shape), inverse)
    return results


def check_preconditioning(preconditioning: Any) -> None:
    if preconditioning not in PRECONDITIONINGS:
        raise ValueError(f"`preconditioning` must be one of {list(PRECONDITIONINGS)}, got {preconditioning!r}")


def check_ns_steps(ns_steps: Any) -> None:
    if not _checks.is_deferred(ns_steps):
        _checks.check_int_at_least("ns_steps", ns_steps, 0)
