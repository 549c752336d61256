"""L-BFGS: the limited-memory BFGS preconditioner (Nocedal 1980; Liu and Nocedal 1989)."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Params, Updates, require_params
from gdtransforms._core._tree import is_eager
from gdtransforms._core._tree_math import tree_add_scale, tree_real, tree_scale, tree_sq_norm, tree_sub, tree_vdot

__all__ = ["ScaleByLBFGSState", "lbfgs_two_loop", "scale_by_lbfgs"]


class ScaleByLBFGSState(NamedTuple):
    """The memory of :func:`scale_by_lbfgs`.

    Attributes:
      count: the number of updates so far (int32).
      params: the parameters seen at the last update.
      updates: the incoming updates (gradients) seen at the last update.
      diff_params_memory: the last ``memory_size`` parameter differences
        :math:`s_j`, stacked on a leading axis of every leaf (a ring buffer).
      diff_updates_memory: the matching gradient differences :math:`y_j`.
      weights_memory: :math:`\\rho_j = 1 / \\langle y_j, s_j \\rangle`, zero
        for an empty slot.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    params: Params
    updates: Params
    diff_params_memory: Any
    diff_updates_memory: Any
    weights_memory: jax.Array


def _take(tree: Any, idx: jax.Array) -> Any:
    return jax.tree.map(lambda x: x[idx], tree)


def lbfgs_two_loop(
    updates: Updates,
    diff_params_memory: Any,
    diff_updates_memory: Any,
    weights_memory: jax.Array,
    identity_scale: jax.typing.ArrayLike,
    memory_idx: jax.typing.ArrayLike,
) -> Updates:
    r"""Multiplies ``updates`` by the L-BFGS inverse-Hessian estimate :math:`H u`.

    The two-loop recursion (Nocedal and Wright, Algorithm 7.4): from the newest
    pair to the oldest, :math:`a_j = \rho_j \langle s_j, q\rangle`,
    :math:`q \leftarrow q - a_j y_j`; then :math:`r = \gamma q`; from the oldest
    to the newest, :math:`b_j = \rho_j \langle y_j, r\rangle`,
    :math:`r \leftarrow r + (a_j - b_j) s_j`. Empty slots have
    :math:`\rho_j = 0` and change nothing.

    Args:
      updates: the vector :math:`u` (a tree).
      diff_params_memory: the stacked :math:`s_j` (ring buffer).
      diff_updates_memory: the stacked :math:`y_j`.
      weights_memory: the :math:`\rho_j`.
      identity_scale: :math:`\gamma`, the initial estimate :math:`H_0 = \gamma I`.
      memory_idx: the slot the next pair will be written to, i.e. the oldest.

    Returns:
      :math:`H u`, a tree shaped like ``updates``.
    """
    size = weights_memory.shape[0]
    order = (memory_idx + jnp.arange(size)) % size  # oldest first

    def newest_to_oldest(q, idx):
        s, y = _take(diff_params_memory, idx), _take(diff_updates_memory, idx)
        a = weights_memory[idx] * tree_real(tree_vdot(s, q))
        return _tree.cast_like(tree_add_scale(q, -a, y), q), a

    q, alphas = jax.lax.scan(newest_to_oldest, updates, order, reverse=True)
    r = tree_scale(identity_scale, q)

    def oldest_to_newest(r, idx_alpha):
        idx, a = idx_alpha
        s, y = _take(diff_params_memory, idx), _take(diff_updates_memory, idx)
        b = weights_memory[idx] * tree_real(tree_vdot(y, r))
        return _tree.cast_like(tree_add_scale(r, a - b, s), r), None

    r, _ = jax.lax.scan(oldest_to_newest, r, (order, alphas))
    return r


def _lbfgs_step(
    updates: Updates, state: ScaleByLBFGSState, params: Params, scale_init_precond: bool
) -> tuple[Updates, ScaleByLBFGSState]:
    """One update of :func:`scale_by_lbfgs`: store the newest pair, then precondition."""
    # The size comes from the state, so an injected `memory_size` is never traced here.
    size = state.weights_memory.shape[0]
    first = state.count == 0
    newest = (state.count - 1) % size
    s, y = tree_sub(params, state.params), tree_sub(updates, state.updates)
    sy = tree_real(tree_vdot(y, s))
    rho = jnp.where(sy == 0.0, 0.0, 1.0 / sy)
    s, y, rho = jax.tree.map(lambda x: jnp.where(first, jnp.zeros_like(x), x), (s, y, rho))
    s_mem, y_mem, rho_mem = jax.tree.map(
        lambda mem, new: mem.at[newest].set(new),
        (state.diff_params_memory, state.diff_updates_memory, state.weights_memory),
        (s, y, rho),
    )
    gamma: Any
    if scale_init_precond:
        yy = tree_sq_norm(y)
        gamma = jnp.where(yy > 0.0, tree_real(tree_vdot(y, s)) / yy, 1.0)
        first_scale = jnp.minimum(1.0, 1.0 / jnp.sqrt(tree_sq_norm(jax.lax.stop_gradient(updates))))
        gamma = jnp.where(first, first_scale, gamma)
    else:
        gamma = 1.0
    direction = lbfgs_two_loop(updates, s_mem, y_mem, rho_mem, gamma, state.count % size)
    # The updates keep the gradients' dtype (optax promotes bfloat16 ones to float32).
    direction = _tree.cast_like(direction, updates)
    new_state = ScaleByLBFGSState(
        count=_tree.safe_increment(state.count),
        params=params,
        updates=updates,
        diff_params_memory=s_mem,
        diff_updates_memory=y_mem,
        weights_memory=rho_mem,
    )
    return direction, new_state


# Called outside any trace, the step runs compiled: the loops inside it would
# otherwise be traced and compiled again at every eager call.
_lbfgs_step_compiled = jax.jit(_lbfgs_step, static_argnums=3)


def scale_by_lbfgs(memory_size: int = 10, scale_init_precond: bool = True) -> GradientTransformation:
    r"""Preconditions updates with the L-BFGS estimate of the inverse Hessian.

    With :math:`w_k` the params and :math:`u_k` the incoming updates (the
    gradients) at step :math:`k`, the pairs :math:`s_j = w_{j+1} - w_j`,
    :math:`y_j = u_{j+1} - u_j`, :math:`\rho_j = 1/\langle y_j, s_j\rangle` of the
    last :math:`m` steps define

    .. math::
        H_k = V_{k-1}^\top H_{k-1} V_{k-1} + \rho_{k-1} s_{k-1} s_{k-1}^\top,
        \quad V_j = I - \rho_j y_j s_j^\top, \quad H_{k-m} = \gamma_k I,

    and the output is :math:`H_k u_k`, computed by :func:`lbfgs_two_loop`.
    :math:`\gamma_k = \langle s_{k-1}, y_{k-1}\rangle / \|y_{k-1}\|^2` with
    ``scale_init_precond`` (else 1); at the first step, where there is no pair
    yet, :math:`\gamma_0 = \min(1, 1/\|u_0\|)`, so the first direction has norm at
    most 1. The memory is updated first, from the params and updates passed
    now, so chained with a line search the pair is that of the accepted step.

    Args:
      memory_size: :math:`m \ge 1`, the number of pairs kept.
      scale_init_precond: whether :math:`H_{k-m} = \gamma_k I` (else :math:`I`).

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByLBFGSState`; its update needs ``params``.

    References:
      Nocedal, 1980, "Updating quasi-Newton matrices with limited storage",
      https://doi.org/10.1090/S0025-5718-1980-0572855-7;
      Liu and Nocedal, 1989, https://doi.org/10.1007/BF01589116;
      Nocedal and Wright, 2006, Numerical Optimization, Algorithms 7.4, 7.5.
    """
    if not _checks.is_deferred(memory_size):
        _checks.check_int_at_least("memory_size", memory_size, 1, where="scale_by_lbfgs")
    if not isinstance(scale_init_precond, bool):
        raise TypeError(f"`scale_init_precond` must be a bool, got {type(scale_init_precond).__name__}")

    def init_fn(params):
        _checks.check_params(params, "scale_by_lbfgs")
        stacked = jax.tree.map(lambda p: jnp.zeros((memory_size, *jnp.shape(p)), jnp.result_type(p)), params)
        return ScaleByLBFGSState(
            count=jnp.zeros([], jnp.int32),
            params=_tree.zeros_like(params),
            updates=_tree.zeros_like(params),
            diff_params_memory=stacked,
            diff_updates_memory=stacked,
            weights_memory=jnp.zeros(memory_size),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_state(state, ScaleByLBFGSState, "scale_by_lbfgs")
        _checks.check_updates(updates, state.params, "scale_by_lbfgs")
        _checks.check_trees_match(
            state.params, params, reference_name="the state's params", tree_name="params", where="scale_by_lbfgs.update"
        )
        step = _lbfgs_step_compiled if is_eager(updates, state, params) else _lbfgs_step
        return step(updates, state, params, scale_init_precond)

    return GradientTransformation(init_fn, update_fn)
