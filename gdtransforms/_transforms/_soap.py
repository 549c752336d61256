"""SOAP: Adam run in the eigenbasis of Shampoo's Kronecker factors."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._factored import static_int

__all__ = ["ScaleBySoapState", "scale_by_soap"]

_HIGHEST = jax.lax.Precision.HIGHEST
# lax.switch branches of the basis update (one switch for the whole tree).
_FIRST, _REFRESH, _KEEP = 0, 1, 2


class ScaleBySoapState(NamedTuple):
    """SOAP's step count, Adam moments, Kronecker factors and their eigenbases.

    ``preconditioners`` and ``eigenbases`` hold, for every leaf, a tuple with
    one entry per axis: a ``(d, d)`` matrix for a preconditioned axis of size
    ``d`` and a ``(0, 0)`` placeholder for an axis left in its own basis.
    ``mu`` and ``nu`` have the params' shapes and take their sharding
    (:func:`gdtransforms.state_shardings`); the factors and bases are replicated.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar: calls of update
    mu: Updates  # first moment, in the parameters' own coordinates
    nu: Updates  # second moment, in the eigenbasis coordinates
    preconditioners: Updates  # per leaf and axis: EMA of G G^T (contracted over the other axes)
    eigenbases: Updates  # per leaf and axis: the orthogonal basis Q of that factor


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be a bool, got {type(value).__name__}: {value!r}")


def _precondition_axes(shape: tuple[int, ...], max_precond_dim: int, precondition_1d: bool) -> tuple[bool, ...]:
    """Which axes of a leaf of ``shape`` get an eigenbasis (the others stay as they are)."""
    if len(shape) == 1 and not precondition_1d:
        return (False,)
    return tuple(d <= max_precond_dim for d in shape)


def _factor_dtype(dtype: Any) -> Any:
    """Factors and bases are kept in at least float32 (eigh and QR need it)."""
    return jnp.promote_types(dtype, jnp.float32)


def _project(x: jax.Array, bases: tuple[jax.Array, ...], back: bool = False) -> jax.Array:
    """``x`` in the eigenbasis (:math:`Q_L^T X Q_R`), or back (:math:`Q_L X Q_R^T`)."""
    for axis, q in enumerate(bases):
        if q.shape[0] == 0:
            continue
        x = jnp.moveaxis(jnp.tensordot(x, q, axes=((axis,), (1 if back else 0,)), precision=_HIGHEST), -1, axis)
    return x


def _gram(g: jax.Array, axis: int) -> jax.Array:
    """:math:`G G^T` along ``axis``: the contraction of ``g`` with itself over every other axis."""
    others = [a for a in range(g.ndim) if a != axis]
    return jnp.tensordot(g, g, axes=(others, others), precision=_HIGHEST)


def _eigh_basis(factor: jax.Array) -> jax.Array:
    """The eigenvectors of a factor, largest eigenvalue first (the first basis)."""
    _, q = jnp.linalg.eigh(factor)
    return q[:, ::-1]


def _refresh(factors: tuple, bases: tuple, nu: jax.Array) -> tuple[tuple, jax.Array]:
    """One power-iteration step and a QR per axis; ``nu`` follows the re-sorted basis.

    The columns of each basis are sorted by their Rayleigh quotients
    :math:`\\operatorname{diag}(Q^T L Q)`, largest first; the second moment is
    permuted along that axis the same way, so each of its entries keeps
    following the same direction; then :math:`Q \\leftarrow \\operatorname{QR}(L Q)`.
    """
    new_bases = []
    for axis, (factor, q) in enumerate(zip(factors, bases)):
        if q.shape[0] == 0:
            new_bases.append(q)
            continue
        lq = jnp.matmul(factor, q, precision=_HIGHEST)
        order = jnp.argsort(-jnp.sum(q * lq, axis=0))
        nu = jnp.take(nu, order, axis=axis)
        new_q, _ = jnp.linalg.qr(jnp.take(lq, order, axis=1))
        new_bases.append(new_q)
    return tuple(new_bases), nu


def _first_bases(factors: list, bases: list, nus: list) -> tuple[list, list]:
    def leaf(fs, qs):
        return tuple(q if q.shape[0] == 0 else _eigh_basis(f) for f, q in zip(fs, qs))

    return [leaf(fs, qs) for fs, qs in zip(factors, bases)], nus


def _refreshed_bases(factors: list, bases: list, nus: list) -> tuple[list, list]:
    pairs = [_refresh(fs, qs, nu) for fs, qs, nu in zip(factors, bases, nus)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _same_bases(factors: list, bases: list, nus: list) -> tuple[list, list]:
    del factors
    return bases, nus


@jax.jit
def _update_bases(branch: jax.Array, factors: list, bases: list, nus: list) -> tuple[list, list]:
    """The new bases (and second moments) of every leaf: one ``lax.switch`` for the tree.

    Compiled once per tree of shapes, so eager steps reuse it (inlined under an
    outer ``jit``); it holds no hyperparameter.
    """
    return jax.lax.switch(branch, (_first_bases, _refreshed_bases, _same_bases), factors, bases, nus)


def scale_by_soap(
    b1: jax.typing.ArrayLike = 0.95,
    b2: jax.typing.ArrayLike = 0.95,
    shampoo_beta: jax.typing.ArrayLike | None = None,
    eps: jax.typing.ArrayLike = 1e-8,
    precondition_frequency: int = 10,
    max_precond_dim: int = 10000,
    precondition_1d: bool = False,
    normalize_grads: bool = False,
    mu_dtype: Any | None = None,
) -> GradientTransformation:
    r"""SOAP: Adam in the eigenbasis of Shampoo's preconditioner.

    For a matrix leaf with gradient :math:`G_t` and bases :math:`Q_L, Q_R`
    (from the previous step):

    .. math::
        G'_t = Q_L^T G_t Q_R, \quad
        M_t = \beta_1 M_{t-1} + (1 - \beta_1) G_t, \quad
        V_t = \beta_2 V_{t-1} + (1 - \beta_2)\, G'_t \odot G'_t, \\
        u_t = \frac{\sqrt{1 - \beta_2^s}}{1 - \beta_1^s}\;
              Q_L \frac{Q_L^T M_t Q_R}{\sqrt{V_t} + \epsilon} Q_R^T, \\
        L_t = \beta_s L_{t-1} + (1 - \beta_s) G_t G_t^T, \quad
        R_t = \beta_s R_{t-1} + (1 - \beta_s) G_t^T G_t

    with :math:`\beta_s` = ``shampoo_beta``. The first call only accumulates
    :math:`L, R`, sets :math:`Q_L, Q_R` to their eigenvectors (``eigh``) and
    returns zero updates, so a gradient never preconditions itself; the Adam
    step count :math:`s` starts at the second call. After step :math:`s`, when
    :math:`s` is a multiple of ``precondition_frequency``, each basis is
    refreshed by one power-iteration step, :math:`Q \leftarrow
    \operatorname{QR}(L Q)`, its columns first sorted by the estimated
    eigenvalues :math:`\operatorname{diag}(Q^T L Q)` and :math:`V` permuted to
    match. Tensors of any rank get one factor per axis (contracting
    :math:`G` with itself over the other axes); an axis longer than
    ``max_precond_dim``, every axis of a 1-D leaf unless ``precondition_1d``,
    and scalars keep the identity basis, where this is Adam. With
    ``normalize_grads`` each leaf's :math:`u_t` is divided by its RMS.

    Args:
      b1: :math:`\beta_1`, the first moment's decay, in [0, 1).
      b2: :math:`\beta_2`, the second moment's decay, in [0, 1).
      shampoo_beta: :math:`\beta_s`, the factors' decay, in [0, 1); ``None``
        uses ``b2``.
      eps: :math:`\epsilon \ge 0`, added to :math:`\sqrt{V_t}`.
      precondition_frequency: refresh the bases every this many steps (>= 1).
      max_precond_dim: axes longer than this keep the identity basis (a Python
        int: it fixes the state's shapes).
      precondition_1d: also precondition 1-D leaves.
      normalize_grads: divide each leaf's update by its RMS.
      mu_dtype: optional dtype of the first moment.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleBySoapState`.
      On flat buffers (:func:`gdtransforms.flatten_params`) it runs leaf by leaf.

    References:
      Vyas et al., 2024, "SOAP: Improving and Stabilizing Shampoo using Adam",
      https://arxiv.org/abs/2409.11321 (Algorithm 3)
    """
    _checks.check_decay("b1", b1)
    _checks.check_decay("b2", b2)
    if shampoo_beta is None:
        shampoo_beta = b2
    else:
        _checks.check_decay("shampoo_beta", shampoo_beta)
    _checks.check_non_negative("eps", eps)
    _checks.check_int("precondition_frequency", precondition_frequency, 1)
    max_dim = static_int("max_precond_dim", max_precond_dim, 1)
    _check_bool("precondition_1d", precondition_1d)
    _check_bool("normalize_grads", normalize_grads)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)

    def init_fn(params):
        _checks.check_params(params, "scale_by_soap")
        complex_leaf = next((p for p in jax.tree.leaves(params) if jnp.iscomplexobj(p)), None)
        if complex_leaf is not None:
            raise TypeError(f"scale_by_soap.init: params must be real, got a leaf of dtype {complex_leaf.dtype}")

        def leaf_factors(p):
            dtype = _factor_dtype(p.dtype)
            axes = _precondition_axes(p.shape, max_dim, precondition_1d)
            return tuple(jnp.zeros((d, d) if on else (0, 0), dtype) for d, on in zip(p.shape, axes))

        def leaf_bases(p):
            dtype = _factor_dtype(p.dtype)
            axes = _precondition_axes(p.shape, max_dim, precondition_1d)
            return tuple(jnp.eye(d, dtype=dtype) if on else jnp.zeros((0, 0), dtype) for d, on in zip(p.shape, axes))

        return ScaleBySoapState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.zeros_like(params, mu_dtype),
            nu=_tree.zeros_like(params),
            preconditioners=jax.tree.map(leaf_factors, params),
            eigenbases=jax.tree.map(leaf_bases, params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleBySoapState, "scale_by_soap")
        _checks.check_updates(updates, state.mu, "scale_by_soap")
        count = _tree.safe_increment(state.count)
        first = count == 1
        step = jnp.maximum(count - 1, 1)  # Adam's step count s (the first call is no step)
        refresh = jnp.logical_and(count > 1, (count - 1) % precondition_frequency == 0)
        # The first call makes no step (its size is 0).
        step_size = jnp.where(first, 0.0, jnp.sqrt(bias_correction_factor(b2, step)) / bias_correction_factor(b1, step))

        treedef = jax.tree.structure(updates)
        grads = treedef.flatten_up_to(updates)
        mus, nus = treedef.flatten_up_to(state.mu), treedef.flatten_up_to(state.nu)
        old_factors = treedef.flatten_up_to(state.preconditioners)
        old_bases = treedef.flatten_up_to(state.eigenbases)

        new_updates, new_mus, new_nus, new_factors = [], [], [], []
        for g, mu, nu, factors, bases in zip(grads, mus, nus, old_factors, old_bases):
            wide = _factor_dtype(g.dtype)
            gw = g.astype(wide)
            mu_new = (1 - b1) * gw + b1 * mu.astype(wide)
            g_rot = _project(gw, bases)
            nu_new = (1 - b2) * jnp.square(g_rot) + b2 * nu.astype(wide)
            direction = _project(_project(mu_new, bases) / (jnp.sqrt(nu_new) + eps), bases, back=True)
            if normalize_grads:
                direction = direction / (1e-30 + jnp.sqrt(jnp.mean(jnp.square(direction))))
            u = step_size.astype(wide) * direction
            new_updates.append(u.astype(_tree.update_dtype(g.dtype, mu.dtype)))
            new_mus.append(jnp.where(first, mu, mu_new.astype(mu.dtype)))
            new_nus.append(jnp.where(first, nu, nu_new.astype(nu.dtype)))
            new_factors.append(
                tuple(
                    f if f.shape[0] == 0 else shampoo_beta * f + (1 - shampoo_beta) * _gram(gw, axis).astype(f.dtype)
                    for axis, f in enumerate(factors)
                )
            )

        branch = jnp.where(first, _FIRST, jnp.where(refresh, _REFRESH, _KEEP))
        new_bases, new_nus = _update_bases(branch, new_factors, list(old_bases), new_nus)
        unflatten = treedef.unflatten
        new_state = ScaleBySoapState(
            count=count,
            mu=unflatten(new_mus),
            nu=unflatten(new_nus),
            preconditioners=unflatten(new_factors),
            eigenbases=unflatten(new_bases),
        )
        return unflatten(new_updates), new_state

    # Factors follow each leaf's shape: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
