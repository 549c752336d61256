"""PSGD Kron: momentum preconditioned by Kronecker-factored Lie-group preconditioners."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Params, Schedule, Updates
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._moments import bias_correction, update_moment
from gdtransforms._transforms._factored import static_int
from gdtransforms._transforms._kron_precond import (
    balance,
    branch,
    init_factors,
    kron_layout,
    precondition,
    update_factors,
)

__all__ = ["ScaleByKronState", "default_update_probability", "precond_update_prob_schedule", "scale_by_kron"]

# The seed of the random probe vectors (psgd-jax's), and its knobs: balancing
# odds per preconditioner update, the probes' damping, the update RMS cap.
_SEED = 5318008
_BALANCE_ODDS = 0.01
_RMS_CAP = 1.1
_PRECISIONS = (None, "bfloat16", "tensorfloat32", "float32", "default", "high", "highest")


class ScaleByKronState(NamedTuple):
    """The state of :func:`scale_by_kron` (psgd-jax's field names, plus the key).

    Attributes:
      count: the number of updates so far (int32).
      mu: the momentum, shaped like the params (``None`` when ``b1`` is 0).
      Qs_preconditioners: per param, the list of its factors (a matrix or a
        vector per axis; one scalar for a scalar param).
      update_counter: updates since the preconditioner last changed (int32).
      key: the PRNG key the probe vectors are drawn from (folded with
        ``count`` at every step; replace it to reseed).
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    mu: Updates | None
    Qs_preconditioners: Any
    update_counter: jax.Array
    key: jax.Array


def precond_update_prob_schedule(
    max_prob: float = 1.0, min_prob: float = 0.03, decay: float = 0.001, flat_start: int = 500
) -> Schedule:
    r"""PSGD's preconditioner update probability: flat, then an exponential anneal.

    .. math:: p(n) = \min\bigl(\max(p_{\max} e^{-\lambda (n + 1 - n_0)},\ p_{\min}),\ p_{\max}\bigr)

    where :math:`n` is the number of updates so far (as every schedule
    here is called), so :math:`n + 1` is psgd-jax's 1-based step.

    Args:
      max_prob: :math:`p_{\max}`, the probability of the first steps.
      min_prob: :math:`p_{\min}`, the floor.
      decay: :math:`\lambda`, the anneal rate per step.
      flat_start: :math:`n_0`, the step the anneal starts at.

    Returns:
      A schedule, a function of the update count.
    """

    def schedule(count: jax.typing.ArrayLike) -> jax.Array:
        step = jnp.asarray(count) + 1
        return jnp.minimum(jnp.maximum(max_prob * jnp.exp(-decay * (step - flat_start)), min_prob), max_prob)

    return schedule


# The default schedule (one object: the alias and the primitive share it).
default_update_probability = precond_update_prob_schedule()


def _precision(name: str | None) -> Any:
    return contextlib.nullcontext() if name is None else jax.default_matmul_precision(name)


def _scale_from_first(g: jax.Array, factors: list, first: jax.Array, scanned: bool) -> list:
    """At the first step, the factors (built at scale 1) times ``(mean |g|^4)^(-1/8)`` shared out per axis."""
    fourth = jnp.mean(jnp.square(_tree.abs_sq(g.astype(jnp.float32))))
    scale = jnp.where(fourth > 0, fourth ** (-1 / 8), 1.0)
    per_axis = scale ** (1 / max(g.ndim - int(scanned), 1))
    return [jnp.where(first, q * per_axis.astype(q.dtype), q) for q in factors]


def _momentum_kept(b1: Any) -> bool:
    plain = getattr(b1, "plain", b1)
    return not (isinstance(plain, (int, float)) and plain == 0)


def scale_by_kron(
    b1: jax.typing.ArrayLike = 0.9,
    preconditioner_update_probability: jax.typing.ArrayLike | Schedule = default_update_probability,
    max_size_triangular: int = 8192,
    min_ndim_triangular: int = 2,
    memory_save_mode: str | None = None,
    momentum_into_precond_update: bool = True,
    preconditioner_lr: jax.typing.ArrayLike = 0.1,
    preconditioner_init_scale: jax.typing.ArrayLike | None = 1.0,
    mu_dtype: Any | None = None,
    precond_dtype: Any | None = None,
    precond_update_precision: str | None = "tensorfloat32",
    precond_grads_precision: str | None = None,
    scanned_layers: Params | None = None,
    lax_map_scanned_layers: bool = False,
    lax_map_batch_size: int = 8,
) -> GradientTransformation:
    r"""Preconditions momentum with PSGD's Kronecker-factored preconditioner (PSGD Kron).

    Each param of shape :math:`(n_1, \dots, n_k)` has factors :math:`Q_i`, one per
    axis, upper triangular (or diagonal: see ``max_size_triangular``,
    ``min_ndim_triangular``, ``memory_save_mode``), :math:`Q = \bigotimes_i Q_i`,
    and the update is the preconditioned, bias-corrected momentum with its RMS
    capped at 1.1:

    .. math::
        m_t = \beta_1 m_{t-1} + (1 - \beta_1) g_t, \quad \hat m_t = \frac{m_t}{1 - \beta_1^t}, \quad
        u_t = \frac{Q^H Q\, \hat m_t}{\max\bigl(1, \operatorname{RMS}(Q^H Q\, \hat m_t) / 1.1\bigr)}.

    Before preconditioning, when the update counter reaches :math:`1/p_t`
    (:math:`p_t` the update probability), the factors take one step of
    relative size ``preconditioner_lr`` on their Lie group towards
    :math:`Q^H Q\, \mathbb{E}[h h^H]\, Q^H Q = \mathbb{E}[v v^H]`, with :math:`v`
    a standard normal probe and :math:`h = \hat m_t + \sqrt{\epsilon}\,
    \overline{|\hat m_t|}\, v` (the damped momentum, or gradient without
    ``momentum_into_precond_update``); see :func:`update_factors` in
    ``_kron_precond``. With probability 0.01 per such step the factors of a
    param are rebalanced to equal largest entries. The probes come from
    ``state.key`` folded with the step count, drawn as psgd-jax draws them.

    Args:
      b1: :math:`\beta_1` in [0, 1); 0 keeps no momentum buffer.
      preconditioner_update_probability: :math:`p_t` in (0, 1], or a schedule
        of the update count (default: 1 for 500 steps, annealed to 0.03).
      max_size_triangular: axes longer than this get a diagonal factor.
      min_ndim_triangular: params with fewer axes get diagonal factors only.
      memory_save_mode: ``None`` (triangular where allowed), ``"one_diag"``
        (the longest axis diagonal) or ``"all_diag"``.
      momentum_into_precond_update: fit the preconditioner to the momentum
        (else to the raw gradient).
      preconditioner_lr: the factors' step size, >= 0.
      preconditioner_init_scale: > 0; each factor starts at
        ``scale^(1/k)`` times the identity. ``None``: the scale comes from
        each param's first gradient, :math:`(\overline{|g_1|^4})^{-1/8}`
        (as PSGD's reference code for PyTorch does; 1 for a zero gradient).
      mu_dtype: optional dtype of the momentum (default: the params').
      precond_dtype: optional dtype of the factors (default float32, float64
        with x64 enabled; a
        scalar param's factor has the param's dtype).
      precond_update_precision: matmul precision of the factors' update.
      precond_grads_precision: matmul precision of preconditioning.
      scanned_layers: optional tree of bools like the params; ``True`` marks
        a stack of layers along axis 0, each with its own factors.
      lax_map_scanned_layers: map over stacked layers with ``lax.map``
        (less memory) instead of ``vmap``.
      lax_map_batch_size: ``lax.map``'s batch size.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByKronState`.

    References:
      Li, 2015/2018, Preconditioned Stochastic Gradient Descent, https://arxiv.org/abs/1512.04202;
      Li, 2022, Black Box Lie Group Preconditioners for SGD, https://arxiv.org/abs/2211.04422
    """
    where = "scale_by_kron"
    _checks.check_decay("b1", b1, where=where)
    _checks.check_in_range(
        "preconditioner_update_probability",
        preconditioner_update_probability,
        0.0,
        1.0,
        low_closed=False,
        schedule=True,
        where=where,
    )
    _checks.check_non_negative("preconditioner_lr", preconditioner_lr, where=where)
    if preconditioner_init_scale is not None:
        _checks.check_positive("preconditioner_init_scale", preconditioner_init_scale, where=where)
    max_size = static_int("max_size_triangular", max_size_triangular, 0)
    min_ndim = static_int("min_ndim_triangular", min_ndim_triangular, 0)
    map_batch = static_int("lax_map_batch_size", lax_map_batch_size, 0)
    _checks.check_choice("memory_save_mode", memory_save_mode, (None, "one_diag", "all_diag"), where=where)
    _checks.check_choice("precond_update_precision", precond_update_precision, _PRECISIONS, where=where)
    _checks.check_choice("precond_grads_precision", precond_grads_precision, _PRECISIONS, where=where)
    mu_dtype = _checks.check_float_dtype("mu_dtype", mu_dtype)
    precond_dtype = _checks.check_float_dtype("precond_dtype", precond_dtype)
    keep_mu = _momentum_kept(b1)
    layout_of = functools.partial(
        kron_layout, max_size_triangular=max_size, min_ndim_triangular=min_ndim, memory_save_mode=memory_save_mode
    )

    def scanned_flags(treedef: Any) -> list[bool]:
        if scanned_layers is None:
            return [False] * treedef.num_leaves
        return [bool(s) for s in treedef.flatten_up_to(scanned_layers)]

    def over(scanned: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn`` on one layer, or on each layer of a stack."""
        if not scanned:
            return fn(*args)
        if lax_map_scanned_layers:
            return jax.lax.map(lambda xs: fn(*xs), args, batch_size=map_batch if map_batch > 1 else None)
        return jax.vmap(fn)(*args)

    def init_fn(params):
        _checks.check_params(params, where)
        leaves, treedef = jax.tree.flatten(params)
        factors = []
        for p, scanned in zip(leaves, scanned_flags(treedef)):
            shape = tuple(p.shape[1:] if scanned else p.shape)
            qs = init_factors(
                shape,
                precond_dtype or jax.dtypes.canonicalize_dtype(jnp.float64),
                layout_of(shape),
                1.0 if preconditioner_init_scale is None else preconditioner_init_scale,
                precond_dtype or p.dtype,
            )
            if scanned:
                qs = [jnp.repeat(q[None], p.shape[0], axis=0) for q in qs]
            factors.append(qs)
        return ScaleByKronState(
            count=jnp.zeros([], jnp.int32),
            mu=_tree.zeros_like(params, mu_dtype) if keep_mu else None,
            Qs_preconditioners=treedef.unflatten(factors),
            update_counter=jnp.zeros([], jnp.int32),
            key=jax.random.PRNGKey(_SEED),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, ScaleByKronState, where)
        if state.mu is not None:
            _checks.check_updates(updates, state.mu, where)
        grads, treedef = jax.tree.flatten(updates)
        try:
            factors = treedef.flatten_up_to(state.Qs_preconditioners)
        except (ValueError, TypeError) as error:
            raise ValueError(f"{where}.update: the updates' tree does not match the state's: {error}") from None
        scanned = scanned_flags(treedef)
        layouts = [layout_of(tuple(g.shape[1:] if s else g.shape)) for g, s in zip(grads, scanned)]
        count = state.count
        count_inc = _tree.safe_increment(count)
        if preconditioner_init_scale is None:
            factors = [_scale_from_first(g, f, count == 0, s) for g, f, s in zip(grads, factors, scanned)]
        if callable(preconditioner_update_probability):
            probability = preconditioner_update_probability(count)
        else:
            probability = preconditioner_update_probability

        if state.mu is None:
            mu, momentum = None, grads
        else:
            mu = update_moment(updates, state.mu, b1, 1)
            momentum = treedef.flatten_up_to(bias_correction(mu, b1, count_inc))
            mu = jax.tree.map(lambda m, old: m.astype(old.dtype), mu, state.mu)

        def refresh(key: jax.Array, factors: list) -> list:
            with _precision(precond_update_precision):
                key, balance_key = jax.random.split(key)
                factors = branch(
                    jax.random.uniform(balance_key) < _BALANCE_ODDS,
                    lambda fs: [over(s, balance, f) if len(f) > 1 else f for f, s in zip(fs, scanned)],
                    lambda fs: fs,
                    factors,
                )
                key, probe_key = jax.random.split(key)
                fit_to = momentum if momentum_into_precond_update else grads
                probes = [
                    jax.random.normal(k, g.shape, g.dtype)
                    for k, g in zip(jax.random.split(probe_key, len(fit_to)), fit_to)
                ]
                damping = jnp.sqrt(jnp.finfo(jnp.float32).eps)
                damped = [g + damping.astype(g.dtype) * jnp.mean(jnp.abs(g)) * v for g, v in zip(fit_to, probes)]
                return [
                    over(s, functools.partial(update_factors, layout=lay, lr=preconditioner_lr), f, h, v)
                    for s, lay, f, h, v in zip(scanned, layouts, factors, damped, probes)
                ]

        key = jax.random.fold_in(state.key, count)
        _, refresh_key = jax.random.split(key)
        counter = _tree.safe_increment(state.update_counter)
        due = counter >= 1 / probability
        counter = jnp.where(due, 0, counter)
        factors = branch(due, refresh, lambda _, fs: fs, refresh_key, factors)

        with _precision(precond_grads_precision):
            directions = [
                over(s, functools.partial(precondition, layout=lay), f, m)
                for s, lay, f, m in zip(scanned, layouts, factors, momentum)
            ]

        def capped(u: jax.Array, g: jax.Array) -> jax.Array:
            rms = jnp.sqrt(jnp.mean(_tree.abs_sq(u)))
            return (u / jnp.maximum(1.0, rms / _RMS_CAP)).astype(g.dtype)

        new_updates = treedef.unflatten([capped(u, g) for u, g in zip(directions, grads)])
        return new_updates, ScaleByKronState(
            count=count_inc,
            mu=mu,
            Qs_preconditioners=treedef.unflatten(factors),
            update_counter=counter,
            key=state.key,
        )

    # The factors follow each param's axes: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
