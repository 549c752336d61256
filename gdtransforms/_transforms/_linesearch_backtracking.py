"""The backtracking line search (Armijo's sufficient decrease)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, require_params
from gdtransforms._core._tree_math import tree_add_scale, tree_real, tree_vdot
from gdtransforms._transforms._linesearch_common import required_extra_args, split_fn_kwargs

__all__ = [
    "BacktrackingLinesearchInfo",
    "ScaleByBacktrackingLinesearchState",
    "scale_by_backtracking_linesearch",
]

_WHERE = "scale_by_backtracking_linesearch"


class BacktrackingLinesearchInfo(NamedTuple):
    """What the last search did: its number of trials and final decrease error (0 when met)."""

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array


class ScaleByBacktrackingLinesearchState(NamedTuple):
    """The state of :func:`scale_by_backtracking_linesearch`.

    Attributes:
      learning_rate: the stepsize accepted by the last search (0 if it failed).
      value: the objective at the accepted point (``inf`` before the first step).
      grad: the gradient there with ``store_grad=True``, else ``None``.
      info: a :class:`BacktrackingLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates | None
    info: BacktrackingLinesearchInfo


class _Search(NamedTuple):
    learning_rate: jax.Array
    new_value: jax.Array
    new_grad: Any
    decrease_error: jax.Array
    iter_num: jax.Array


def scale_by_backtracking_linesearch(
    max_backtracking_steps: int,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    decrease_factor: jax.typing.ArrayLike = 0.8,
    increase_factor: jax.typing.ArrayLike = 1.5,
    max_learning_rate: jax.typing.ArrayLike = 1.0,
    atol: jax.typing.ArrayLike = 0.0,
    rtol: jax.typing.ArrayLike = 0.0,
    store_grad: bool = False,
    verbose: bool = False,
) -> GradientTransformation:
    r"""Scales the updates by a stepsize with sufficient decrease (Armijo).

    Along the incoming direction :math:`u` from :math:`w`, starting from
    :math:`\eta = \min(\text{increase\_factor}\cdot\eta_{prev}, \eta_{max})` it
    multiplies :math:`\eta` by ``decrease_factor`` until

    .. math::
        f(w + \eta u) \le (1 + \delta) f(w) + c\, \eta \langle u, \nabla f(w)\rangle + \epsilon

    (:math:`c` = ``slope_rtol``, :math:`\delta` = ``rtol``, :math:`\epsilon` =
    ``atol``), and returns :math:`\eta u`. A trial where the objective is NaN
    or inf is rejected like one that does not decrease; if no trial succeeds,
    the stepsize is 0 when the last trial was not finite. The state never
    holds a non-finite value from a rejected trial: with stepsize 0 it keeps
    the value (and gradient) at ``params``.

    Args:
      max_backtracking_steps: the most reductions per search (>= 0).
      slope_rtol: :math:`c`, in [0, 1).
      decrease_factor: the reduction factor, in (0, 1).
      increase_factor: the growth of the first guess over the last stepsize, in
        [1, inf]: 1 starts from the last stepsize, ``inf`` from
        ``max_learning_rate`` (also after a failed search, whose stepsize is 0).
      max_learning_rate: :math:`\eta_{max} > 0`.
      atol: :math:`\epsilon \ge 0`.
      rtol: :math:`\delta \ge 0`.
      store_grad: also compute and store the gradient at the accepted point,
        for :func:`value_and_grad_from_state`.
      verbose: print a diagnosis when a search fails.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByBacktrackingLinesearchState`. Its update needs ``params``
      and the keyword arguments ``value``, ``grad`` and ``value_fn``; every
      other keyword argument is passed on to ``value_fn``.

    References:
      Armijo, 1966, https://doi.org/10.2140/pjm.1966.16.1;
      Vaswani et al., 2019, "Painless stochastic gradient", https://arxiv.org/abs/1905.09997
    """
    if not _checks.is_deferred(max_backtracking_steps):
        _checks.check_int_at_least("max_backtracking_steps", max_backtracking_steps, 0, where=_WHERE)
    _checks.check_in_range("slope_rtol", slope_rtol, 0.0, 1.0, high_closed=False)
    _checks.check_in_range("decrease_factor", decrease_factor, 0.0, 1.0, low_closed=False, high_closed=False)
    _checks.check_in_range("increase_factor", increase_factor, 1.0, float("inf"))
    _checks.check_positive("max_learning_rate", max_learning_rate)
    _checks.check_non_negative("atol", atol)
    _checks.check_non_negative("rtol", rtol)
    if not isinstance(store_grad, bool):
        raise TypeError(f"`store_grad` must be a bool, got {type(store_grad).__name__}")

    def init_fn(params):
        _checks.check_params(params, _WHERE)
        val_dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        return ScaleByBacktrackingLinesearchState(
            learning_rate=jnp.asarray(1.0, dtype=val_dtype),
            value=jnp.asarray(jnp.inf, dtype=val_dtype),
            grad=_tree.zeros_like(params) if store_grad else None,
            info=BacktrackingLinesearchInfo(
                num_linesearch_steps=jnp.asarray(0), decrease_error=jnp.asarray(jnp.inf, dtype=val_dtype)
            ),
        )

    def update_fn(
        updates: Updates,
        state: ScaleByBacktrackingLinesearchState,
        params: Any = None,
        *,
        value: jax.typing.ArrayLike | None = None,
        grad: Updates | None = None,
        value_fn: Callable[..., jax.typing.ArrayLike] | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, ScaleByBacktrackingLinesearchState]:
        params = require_params(params)
        required_extra_args(_WHERE, value, grad, value_fn)
        value_fn = cast(Callable[..., jax.typing.ArrayLike], value_fn)
        value = cast(jax.typing.ArrayLike, value)
        _checks.check_state(state, ScaleByBacktrackingLinesearchState, _WHERE)
        _checks.check_trees_match(params, updates, reference_name="params", tree_name="updates", where=_WHERE)
        fn_kwargs = split_fn_kwargs(_WHERE, value_fn, extra_args)
        slope = tree_real(tree_vdot(updates, jax.tree.map(jnp.conj, grad)))

        def decrease_error(stepsize, new_value):
            error = new_value - (1.0 + rtol) * value - stepsize * slope_rtol * slope
            return jnp.maximum(jnp.where(jnp.isnan(error), jnp.inf, error), 0.0)

        def keep_going(s: _Search):
            return ~(s.decrease_error <= atol) & (s.iter_num <= max_backtracking_steps)

        def trial(s: _Search) -> _Search:
            lr = jnp.where(s.iter_num > 0, decrease_factor * s.learning_rate, s.learning_rate)
            point = tree_add_scale(params, lr, updates)
            objective = lambda p: value_fn(p, **fn_kwargs)
            if store_grad:
                new_value, linear = jax.linearize(objective, point)
                error = decrease_error(lr, new_value)
                last = (error <= atol) | (s.iter_num == max_backtracking_steps)
                new_grad = jax.lax.cond(last, lambda: jax.linear_transpose(linear, point)(1.0)[0], lambda: s.new_grad)
            else:
                new_value = objective(point)
                error = decrease_error(lr, new_value)
                new_grad = s.new_grad
            new = _Search(lr, new_value, new_grad, error, s.iter_num + 1)
            return _tree.cast_like(new, s)

        # An infinite increase_factor starts from max_learning_rate, also after a failed search (inf * 0 is NaN).
        guess = jnp.minimum(increase_factor * state.learning_rate, max_learning_rate)
        guess = jnp.where(jnp.isinf(increase_factor), max_learning_rate, guess)
        start = _Search(
            learning_rate=guess,
            new_value=jnp.asarray(value),
            new_grad=_tree.zeros_like(params),
            decrease_error=jnp.array(jnp.inf),
            iter_num=jnp.asarray(0),
        )
        final = jax.lax.while_loop(keep_going, trial, start)
        not_finite = jnp.isinf(final.decrease_error)
        lr = jnp.where(not_finite, 0.0, final.learning_rate)
        # Stepsize 0 stays at `params`: keep its (finite) value and gradient.
        new_value = jnp.where(not_finite, value, final.new_value)
        new_grad = jax.tree.map(lambda g, n: jnp.where(not_finite, g, n), grad, final.new_grad) if store_grad else None
        if verbose:
            jax.debug.print(
                "scale_by_backtracking_linesearch: decrease error {err} after {n} trials (0 means success); "
                "stepsize taken {lr}",
                err=final.decrease_error,
                n=final.iter_num,
                lr=lr,
                ordered=True,
            )
        new_updates = jax.tree.map(lambda u: (lr * u).astype(u.dtype), updates)
        new_state = ScaleByBacktrackingLinesearchState(
            learning_rate=lr,
            value=new_value,
            grad=new_grad,
            info=BacktrackingLinesearchInfo(num_linesearch_steps=final.iter_num, decrease_error=final.decrease_error),
        )
        # A leaf the caller set to a Python number (``tree.set(state, learning_rate=1.0)``) has no dtype to keep.
        return new_updates, _tree.cast_like(new_state, state)

    return GradientTransformation(init_fn, update_fn)
