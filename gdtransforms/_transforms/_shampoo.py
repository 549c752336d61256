"""Shampoo: blocked Kronecker-factored preconditioning, grafted to a diagonal method."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._moments import bias_correction_factor
from gdtransforms._transforms._factored import static_int
from gdtransforms._transforms._shampoo_blocks import BlockLayout
from gdtransforms._transforms._shampoo_roots import inverse_pth_root

__all__ = ["GRAFT_TYPES", "ScaleByShampooState", "scale_by_shampoo"]

_WHERE = "scale_by_shampoo"
# Grafts that keep a per-element second moment (``diagonal_statistics``).
_DIAGONAL_GRAFTS = ("adagrad", "adagrad_normalized", "rmsprop", "rmsprop_normalized", "adam")
GRAFT_TYPES = ("sgd", "sqrt_n", *_DIAGONAL_GRAFTS)


class ScaleByShampooState(NamedTuple):
    """Shampoo's step count, graft and momentum buffers, block statistics and roots.

    ``diagonal_statistics``, ``diagonal_momentum`` and ``momentum`` mirror the
    params (``diagonal_statistics`` is an empty tuple per leaf when the graft
    keeps none); ``statistics`` and ``preconditioners`` hold, per leaf, a tuple
    of float32 square matrices, one per block and dimension (empty for leaves
    that are not preconditioned).
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    diagonal_statistics: Any
    statistics: Any
    preconditioners: Any
    diagonal_momentum: Updates
    momentum: Updates


def _is_python(value: Any, target: float) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == target


def _eye(n: int, scale: Any, like: Any) -> Any:
    if isinstance(like, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct((n, n), jnp.float32)
    return scale * jnp.eye(n, dtype=jnp.float32)


def _zeros(like: Any) -> Any:
    if isinstance(like, jax.ShapeDtypeStruct):
        return jax.ShapeDtypeStruct(like.shape, like.dtype, sharding=like.sharding)
    return jnp.zeros_like(like)


def _graft_name(graft_type: Any) -> str:
    """``"adam"``, or an enum such as optax-shampoo's ``GraftingType.RMSPROP``, as a lower-case name."""
    name = getattr(graft_type, "name", graft_type)
    name = name.lower() if isinstance(name, str) else name
    _checks.check_choice("graft_type", name, GRAFT_TYPES, where=_WHERE)
    return name


def _maybe(predicate: Any, fn: Callable[[Any], Any], operand: Any, eager: bool, keep: int | None = None) -> Any:
    """``fn(operand)`` if ``predicate`` else ``operand`` (its item ``keep``): ``lax.cond`` when traced.

    Eagerly a Python ``if``: an eager ``lax.cond`` would compile its branches anew at every step.
    """

    def unchanged(x: Any) -> Any:
        return list(x[keep]) if keep is not None else x

    if eager:
        return fn(operand) if bool(predicate) else unchanged(operand)
    return lax.cond(predicate, fn, unchanged, operand)


def _stacked_roots(
    stack: jax.Array, old: jax.Array, eps: Any, limit: Any, *, p: int, precision: Any, relative: bool
) -> jax.Array:
    """Inverse ``p``-th roots of a stack of matrices; a failed one (NaN or residual >= ``limit``) keeps ``old``."""
    roots, errors = jax.vmap(lambda m: inverse_pth_root(m, p, eps, precision, relative=relative))(stack)
    failed = jnp.isnan(errors) | (errors >= limit)
    return jnp.where(failed[:, None, None], old, roots)


_stacked_roots_jit = jax.jit(_stacked_roots, static_argnames=("p", "precision", "relative"))


def scale_by_shampoo(
    block_size: int = 128,
    beta1: jax.typing.ArrayLike = 0.9,
    beta2: jax.typing.ArrayLike = 0.999,
    diagonal_epsilon: jax.typing.ArrayLike = 1e-10,
    matrix_epsilon: jax.typing.ArrayLike = 1e-6,
    weight_decay: jax.typing.ArrayLike = 0.0,
    start_preconditioning_step: jax.typing.ArrayLike = 5,
    preconditioning_compute_steps: jax.typing.ArrayLike = 1,
    statistics_compute_steps: jax.typing.ArrayLike = 1,
    best_effort_shape_interpretation: bool = True,
    graft_type: Any = "adam",
    nesterov: bool = True,
    exponent_override: int = 0,
    inverse_failure_threshold: jax.typing.ArrayLike = 0.1,
    moving_average_for_momentum: bool = True,
    skip_preconditioning_dim_size_gt: int = 4096,
    clip_by_scaled_gradient_norm: float | None = None,
    precision: Any = lax.Precision.HIGHEST,
    tensordot_precision: Any = None,
    relative_matrix_epsilon: bool = True,
    merge_small_dims_block_size: int = 4096,
    skip_preconditioning_rank_lt: int = 1,
) -> GradientTransformation:
    r"""Shampoo's preconditioned direction, grafted to a diagonal method's per-leaf norm.

    Each parameter's gradient :math:`G` is cut into blocks (dimensions above
    ``block_size`` are split; small dimensions merged first). For a block of
    rank :math:`k` and each dimension :math:`i`, with the step :math:`t`
    counted from 0:

    .. math::
        L_i \leftarrow \beta_2 L_i + (1 - \beta_2)\, G_{(i)} G_{(i)}^T
        \quad (L_i^{(0)} = \epsilon_M I), \qquad
        P_i = (L_i + \epsilon_M \lambda_{max}(L_i) I)^{-1/(2k)},

    :math:`P_i` recomputed when :math:`t \bmod` ``preconditioning_compute_steps``
    :math:`= 0` (by the coupled Newton iteration; a root whose residual is NaN
    or :math:`\ge` ``inverse_failure_threshold`` keeps the previous one), the
    statistics when :math:`t \bmod` ``statistics_compute_steps`` :math:`= 0`.
    The preconditioned block is :math:`\tilde G = G \times_1 P_1 \cdots
    \times_k P_k`. With the graft's update :math:`D` (e.g. Adam's
    :math:`g / (\sqrt{\hat v} + \epsilon_D)`), per leaf:

    .. math::
        S = \tilde G \frac{\|D\|_F}{\|\tilde G\|_F + 10^{-16}} + \lambda p, \qquad
        D' = D + \lambda p, \\
        m_S \leftarrow \beta_1 m_S + w S, \quad m_D \leftarrow \beta_1 m_D + w D', \quad
        w = 1 - \beta_1 \text{ (moving average) or } 1, \\
        u = \begin{cases} m_S \; (+ \beta_1 m_S\text{-look-ahead}) & t \ge t_0 \\
        m_D \; (\ldots) & t < t_0 \end{cases}

    where :math:`t_0` is ``start_preconditioning_step`` and, with ``nesterov``,
    :math:`u = w X + \beta_1 m` for the chosen pair :math:`(X, m)`. Leaves of
    rank below ``skip_preconditioning_rank_lt`` (scalars) or with a dimension
    above ``skip_preconditioning_dim_size_gt`` take the graft alone. The
    learning rate is not applied (see :func:`gdtransforms.shampoo`).

    Grafts: ``"sgd"`` (:math:`D = g`), ``"adagrad"`` (sum of :math:`g^2`),
    ``"rmsprop"`` (EMA of :math:`g^2` with :math:`\beta_2`, no bias correction),
    ``"adam"`` (that EMA bias-corrected by :math:`1 - \beta_2^{t+1}`; the first
    moment is the momentum above), ``"sqrt_n"`` (:math:`\mathrm{sign}(g)`),
    and ``"adagrad_normalized"`` / ``"rmsprop_normalized"`` (on
    :math:`g / (\|g\| + 10^{-16})`). optax-shampoo's ``GraftingType`` enum
    members are accepted too.

    Args:
      block_size: the largest block side (a Python int; ``0``: no blocking). This and the
        other structural ints fix the state's shapes: under ``inject_hyperparams`` the
        built value is used (list them in ``static_args`` to change them).
      beta1: momentum :math:`\beta_1` in [0, 1).
      beta2: statistics decay :math:`\beta_2` in [0, 1]; 1 sums them (AdaGrad).
      diagonal_epsilon: :math:`\epsilon_D \ge 0` of the diagonal graft.
      matrix_epsilon: :math:`\epsilon_M \ge 0`: initial statistics and damping.
      weight_decay: :math:`\lambda \ge 0`, added to the update before momentum (needs ``params``).
      start_preconditioning_step: :math:`t_0`, the first step using Shampoo's direction.
      preconditioning_compute_steps: how often the roots are recomputed (>= 1).
      statistics_compute_steps: how often the statistics are updated (>= 1).
      best_effort_shape_interpretation: merge small dimensions first.
      graft_type: the graft, a name above.
      nesterov: Nesterov momentum.
      exponent_override: a fixed root :math:`p` for every statistic (0: :math:`2k`).
      inverse_failure_threshold: largest accepted residual of the root.
      moving_average_for_momentum: :math:`w = 1 - \beta_1` (else :math:`w = 1`).
      skip_preconditioning_dim_size_gt: leaves with a larger dimension take the graft only.
      clip_by_scaled_gradient_norm: optional clip of the RMSProp/Adam graft's
        RMS (its norm over :math:`\sqrt{n}`).
      precision: ``lax.Precision`` of the root iterations.
      tensordot_precision: ``lax.Precision`` of the statistics' products.
      relative_matrix_epsilon: damping :math:`\epsilon_M \lambda_{max}` (else :math:`\epsilon_M`).
      merge_small_dims_block_size: the merge limit of small dimensions.
      skip_preconditioning_rank_lt: leaves of lower rank take the graft only.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ScaleByShampooState`.

    References:
      Gupta, Koren and Singer, 2018, Shampoo: Preconditioned Stochastic Tensor
      Optimization, https://arxiv.org/abs/1802.09568;
      Anil, Gupta, Koren, Regan and Singer, 2020, Scalable Second Order
      Optimization for Deep Learning, https://arxiv.org/abs/2002.09018
    """
    block_size = static_int("block_size", block_size, 0)
    exponent_override = static_int("exponent_override", exponent_override, 0)
    skip_preconditioning_dim_size_gt = static_int(
        "skip_preconditioning_dim_size_gt", skip_preconditioning_dim_size_gt, 0
    )
    merge_small_dims_block_size = static_int("merge_small_dims_block_size", merge_small_dims_block_size, 1)
    skip_preconditioning_rank_lt = static_int("skip_preconditioning_rank_lt", skip_preconditioning_rank_lt, 0)
    _checks.check_decay("beta1", beta1, where=_WHERE)
    _checks.check_in_range("beta2", beta2, 0.0, 1.0, where=_WHERE)
    _checks.check_non_negative("diagonal_epsilon", diagonal_epsilon, where=_WHERE)
    _checks.check_non_negative("matrix_epsilon", matrix_epsilon, where=_WHERE)
    _checks.check_non_negative("weight_decay", weight_decay, where=_WHERE)
    _checks.check_int_at_least("start_preconditioning_step", start_preconditioning_step, 0, where=_WHERE)
    _checks.check_int_at_least("preconditioning_compute_steps", preconditioning_compute_steps, 1, where=_WHERE)
    _checks.check_int_at_least("statistics_compute_steps", statistics_compute_steps, 1, where=_WHERE)
    _checks.check_positive("inverse_failure_threshold", inverse_failure_threshold, where=_WHERE)
    if clip_by_scaled_gradient_norm is not None:
        _checks.check_positive("clip_by_scaled_gradient_norm", clip_by_scaled_gradient_norm, where=_WHERE)
    graft = _graft_name(graft_type)
    if graft == "adam" and _is_python(beta2, 1):
        raise ValueError(f"{_WHERE}: `beta2` = 1 (sums) has no bias correction; use graft_type='adagrad'")
    merge_limit = merge_small_dims_block_size if best_effort_shape_interpretation else None

    def layout_of(shape: tuple[int, ...]) -> BlockLayout | None:
        """The leaf's blocking, or ``None`` when it takes the graft alone."""
        if len(shape) < skip_preconditioning_rank_lt or any(d > skip_preconditioning_dim_size_gt for d in shape):
            return None
        layout = BlockLayout(shape, block_size, merge_limit)
        return layout if layout.rank else None

    def exponent(layout: BlockLayout) -> int:
        return exponent_override if exponent_override else 2 * layout.rank

    def init_fn(params):
        _checks.check_params(params, _WHERE)

        def matrices(scale):
            def leaf(p):
                layout = layout_of(p.shape)
                return tuple(_eye(n, scale, p) for n in ([] if layout is None else layout.statistic_sizes()))

            return jax.tree.map(leaf, params)

        diagonal = jax.tree.map(_zeros if graft in _DIAGONAL_GRAFTS else (lambda p: ()), params)
        return ScaleByShampooState(
            count=jnp.zeros([], jnp.int32),
            diagonal_statistics=diagonal,
            statistics=matrices(matrix_epsilon),
            preconditioners=matrices(1.0),
            diagonal_momentum=jax.tree.map(_zeros, params),
            momentum=jax.tree.map(_zeros, params),
        )

    def new_roots(stats: list[jax.Array], old: list[jax.Array], powers: list[int], eager: bool) -> list[jax.Array]:
        """All roots at once: matrices of one size and power are stacked and vmapped."""
        groups: dict[tuple[int, int], list[int]] = {}
        for i, (s, p) in enumerate(zip(stats, powers)):
            groups.setdefault((s.shape[0], p), []).append(i)
        out: list[Any] = [None] * len(stats)
        for (_, p), idx in groups.items():
            args = (jnp.stack([stats[i] for i in idx]), jnp.stack([old[i] for i in idx]))
            if eager:  # compiled once per shape and power, not once per step
                eps, limit = jnp.float32(matrix_epsilon), jnp.float32(inverse_failure_threshold)
                roots = _stacked_roots_jit(
                    *args, eps, limit, p=p, precision=precision, relative=relative_matrix_epsilon
                )
            else:
                roots = _stacked_roots(
                    *args,
                    matrix_epsilon,
                    inverse_failure_threshold,
                    p=p,
                    precision=precision,
                    relative=relative_matrix_epsilon,
                )
            for j, i in enumerate(idx):
                out[i] = roots[j]
        return out

    def graft_update(g: jax.Array, v: Any, count: jax.Array, w2: Any) -> tuple[jax.Array, Any]:
        if graft == "sgd":
            return g, v
        if graft == "sqrt_n":
            return jnp.sign(g), v
        scaled = g / (jnp.linalg.norm(g) + 1e-16) if graft.endswith("_normalized") else g
        if graft.startswith("adagrad"):
            v = v + jnp.square(scaled)
            return scaled / (jnp.sqrt(v) + diagonal_epsilon), v
        v = beta2 * v + w2 * jnp.square(scaled)
        v_hat = v / bias_correction_factor(beta2, count + 1) if graft == "adam" else v
        d = scaled / (jnp.sqrt(v_hat) + diagonal_epsilon)
        if clip_by_scaled_gradient_norm is not None:
            rms = jnp.linalg.norm(d) / jnp.sqrt(float(d.size))
            d = d / jnp.maximum(1.0, rms / clip_by_scaled_gradient_norm)
        return d, v

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _checks.check_state(state, ScaleByShampooState, _WHERE)
        _checks.check_updates(updates, state.momentum, _WHERE)
        decays = not _is_python(weight_decay, 0)
        if decays and params is None:
            raise ValueError(f"{_WHERE}.update: `params` are needed for `weight_decay`")
        step = state.count
        grads, treedef = jax.tree.flatten(updates)
        layouts = [layout_of(g.shape) for g in grads]
        stats_in = [list(s) for s in treedef.flatten_up_to(state.statistics)]
        roots_in = [list(r) for r in treedef.flatten_up_to(state.preconditioners)]
        w2 = (1 - beta2) + (beta2 == 1) * 1.0  # beta2 = 1: AdaGrad's sums

        def updated_stats(stats):
            out = []
            for g, layout, old in zip(grads, layouts, stats):
                grams = [] if layout is None else layout.gram_matrices(g.astype(jnp.float32), tensordot_precision)
                out.append([beta2 * s + w2 * gram for s, gram in zip(old, grams)])
            return out

        eager = not _checks.is_deferred(step)
        stats = _maybe(step % statistics_compute_steps == 0, updated_stats, stats_in, eager)

        flat_stats = [s for leaf in stats for s in leaf]
        flat_old = [r for leaf in roots_in for r in leaf]
        powers = [exponent(layout) for layout, leaf in zip(layouts, stats) if layout for _ in leaf]
        if flat_stats:
            # From step 0 on, as the reference: the Shampoo momentum runs before t_0 too.
            compute = step % preconditioning_compute_steps == 0
            flat_roots = _maybe(compute, lambda so: new_roots(*so, powers, eager), (flat_stats, flat_old), eager, 1)
        else:
            flat_roots = []
        roots, k = [], 0
        for leaf in stats:
            roots.append(flat_roots[k : k + len(leaf)])
            k += len(leaf)

        run_shampoo = start_preconditioning_step <= step
        w = (1 - beta1) if moving_average_for_momentum else 1.0
        p_leaves = treedef.flatten_up_to(params) if decays else [None] * len(grads)
        diag_in = treedef.flatten_up_to(state.diagonal_statistics)
        dm_in = treedef.flatten_up_to(state.diagonal_momentum)
        m_in = treedef.flatten_up_to(state.momentum)
        outs, diags, dms, ms = [], [], [], []
        for g, layout, r, p, v, dm, m in zip(grads, layouts, roots, p_leaves, diag_in, dm_in, m_in):
            g32 = g.astype(jnp.float32)
            d, new_v = graft_update(g32, v, step, w2)
            if layout is None:
                precond = d
            else:
                precond = layout.precondition(g32, r)
            s = precond * (jnp.linalg.norm(d) / (jnp.linalg.norm(precond) + 1e-16))
            if decays:
                s, d = s + weight_decay * p, d + weight_decay * p
            new_m = m * beta1 + w * s
            new_dm = dm * beta1 + w * d
            moment = jnp.where(run_shampoo, new_m, new_dm)
            u = w * jnp.where(run_shampoo, s, d) + beta1 * moment if nesterov else moment
            outs.append(u.astype(g.dtype))
            diags.append(new_v.astype(v.dtype) if hasattr(v, "dtype") else new_v)  # () without a diagonal graft
            dms.append(new_dm.astype(dm.dtype))
            ms.append(new_m.astype(m.dtype))

        def unflat(leaves: list[Any]) -> Any:
            return jax.tree.unflatten(treedef, leaves)

        new_state = ScaleByShampooState(
            count=_tree.safe_increment(step),
            diagonal_statistics=unflat(diags),
            statistics=unflat([tuple(s) for s in stats]),
            preconditioners=unflat([tuple(r) for r in roots]),
            diagonal_momentum=unflat(dms),
            momentum=unflat(ms),
        )
        return unflat(outs), new_state

    return leafwise(GradientTransformation(init_fn, update_fn))
