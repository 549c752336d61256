"""A whole L-BFGS solve in one compiled loop, optionally within box bounds."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._tree_math import tree_sq_norm
from gdtransforms._core._update import apply_updates
from gdtransforms._optimizers._lbfgs_alias import lbfgs
from gdtransforms._optimizers._lbfgs_box import box_loop, projected_grad_norm
from gdtransforms._transforms._linesearch_zoom import scale_by_zoom_linesearch

__all__ = ["LbfgsMinimizeResult", "lbfgs_minimize"]


class LbfgsMinimizeResult(NamedTuple):
    """What :func:`lbfgs_minimize` returns.

    Attributes:
      params: the solution.
      value: the objective there.
      grad: its gradient there.
      num_iterations: the L-BFGS iterations taken (int32).
      converged: whether the (projected) gradient norm reached ``tol``.
      grad_norm: the l2 norm of the gradient (with bounds, of the projected
        gradient :math:`x - P(x - g)`).
      num_fun_evals: the evaluations of the objective and its gradient,
        the first one included (int32).
    """

    params: Any
    value: jax.Array
    grad: Any
    num_iterations: jax.Array
    converged: jax.Array
    grad_norm: jax.Array
    num_fun_evals: jax.Array


def _bound(name: str, bound: Any, params: Any, fill: float) -> Any:
    """``bound`` as a tree like ``params``: ``None`` is ``fill``, a scalar is broadcast."""
    if bound is None:
        return _tree.full_like(params, fill)
    if jax.tree_util.treedef_is_leaf(jax.tree.structure(bound)):
        if np.ndim(bound) != 0 and not jax.tree_util.treedef_is_leaf(jax.tree.structure(params)):
            raise ValueError(
                f"lbfgs_minimize: `{name}` must be a number or a tree like params, got shape {np.shape(bound)}"
            )
        bound = jax.tree.map(lambda _: bound, params)
    _checks.check_same_structure(params, bound, reference_name="params", tree_name=f"`{name}`", where="lbfgs_minimize")
    return jax.tree.map(lambda p, b: jnp.broadcast_to(jnp.asarray(b, jnp.result_type(p)), jnp.shape(p)), params, bound)


def lbfgs_minimize(
    fun: Callable[[Any], jax.typing.ArrayLike],
    params: Any,
    *,
    max_iterations: int = 500,
    tol: float = 1e-5,
    memory_size: int = 10,
    max_linesearch_steps: int = 20,
    lower: Any | None = None,
    upper: Any | None = None,
) -> LbfgsMinimizeResult:
    r"""Minimizes ``fun`` from ``params`` with L-BFGS, the whole loop under ``lax.while_loop``.

    Without bounds each iteration is one step of :func:`lbfgs` (its default
    zoom line search, with ``max_linesearch_steps`` trials), the value and
    gradient at the new point reused from the line search, so the iterates
    are those of the optimizer run by hand. It stops when
    :math:`\|\nabla f\|_2 \le` ``tol``, after ``max_iterations``, when the line
    search cannot move (stepsize 0), or on a non-finite value.

    With ``lower`` and/or ``upper`` it solves
    :math:`\min_{l \le x \le u} f(x)` by projected L-BFGS steps on the free
    variables (an L-BFGS-B-style method, see the references) and stops when the
    projected gradient :math:`\|x - P(x - \nabla f)\|_2 \le` ``tol``. ``params``
    is first projected into the box.

    It is a pure function of arrays: ``jax.jit`` it, or ``jax.vmap`` it over
    many problems (a batch of starting points, or data closed over by
    ``fun`` and vmapped); the loop runs until every problem has stopped.

    Args:
      fun: the objective, ``fun(params) -> scalar``; close over data.
      params: the starting point, a tree of floating arrays.
      max_iterations: the most iterations (>= 0).
      tol: the gradient-norm tolerance (>= 0).
      memory_size: the L-BFGS memory (>= 1).
      max_linesearch_steps: the most trials per line search (>= 1).
      lower: lower bounds: a number or a tree like ``params``; ``None`` for none.
      upper: upper bounds, likewise.

    Returns:
      An :class:`LbfgsMinimizeResult`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda x: jnp.sum((x - jnp.array([1.0, -2.0])) ** 2)
      >>> result = gdt.lbfgs_minimize(f, jnp.zeros(2), lower=0.0)
      >>> print(jnp.round(result.params, 4), bool(result.converged))
      [1. 0.] True
      >>> starts = jnp.array([[3.0, 3.0], [-1.0, 5.0]])
      >>> batch = jax.jit(jax.vmap(lambda x0: gdt.lbfgs_minimize(f, x0)))(starts)
      >>> print(jnp.round(batch.params, 4))
      [[ 1. -2.]
       [ 1. -2.]]

    References:
      Liu and Nocedal, 1989, https://doi.org/10.1007/BF01589116;
      Bertsekas, 1982, "Projected Newton methods for optimization problems
      with simple constraints", https://doi.org/10.1137/0320018;
      Byrd, Lu, Nocedal and Zhu, 1995, "A limited memory algorithm for bound
      constrained optimization", https://doi.org/10.1137/0916069
    """
    if not callable(fun):
        raise TypeError(f"`fun` must be the objective, a callable, got {type(fun).__name__}")
    _checks.check_int_at_least("max_iterations", max_iterations, 0, where="lbfgs_minimize")
    _checks.check_int_at_least("memory_size", memory_size, 1, where="lbfgs_minimize")
    _checks.check_int_at_least("max_linesearch_steps", max_linesearch_steps, 1, where="lbfgs_minimize")
    _checks.check_non_negative("tol", tol)
    _checks.check_params(params, "lbfgs_minimize")
    if lower is not None or upper is not None:
        lo = _bound("lower", lower, params, -jnp.inf)
        hi = _bound("upper", upper, params, jnp.inf)
        end = box_loop(
            fun,
            params,
            lo,
            hi,
            max_iterations=max_iterations,
            tol=tol,
            memory_size=memory_size,
            max_linesearch_steps=max_linesearch_steps,
        )
        gnorm = projected_grad_norm(end.params, end.grad, lo, hi)
        return LbfgsMinimizeResult(
            params=end.params,
            value=end.value,
            grad=end.grad,
            num_iterations=end.iteration,
            converged=gnorm <= tol,
            grad_norm=gnorm,
            num_fun_evals=end.evaluations,
        )
    return _unbounded(fun, params, max_iterations, tol, memory_size, max_linesearch_steps)


def _unbounded(fun, params, max_iterations, tol, memory_size, max_linesearch_steps) -> LbfgsMinimizeResult:  # noqa: ANN001
    search = scale_by_zoom_linesearch(max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one")
    opt = lbfgs(memory_size=memory_size, linesearch=search)
    value, grad = jax.value_and_grad(fun)(params)
    gnorm = lambda g: jnp.sqrt(tree_sq_norm(g))
    start = (params, opt.init(params), value, grad, jnp.asarray(0, jnp.int32), jnp.asarray(1, jnp.int32), False)

    def keep_going(carry):
        _, _, value, grad, it, _, stalled = carry
        return (it < max_iterations) & (gnorm(grad) > tol) & ~stalled & jnp.isfinite(value)

    def body(carry):
        x, state, value, grad, it, evals, _ = carry
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=fun)
        search_state = state[2]
        stalled = search_state.learning_rate == 0
        new = (
            apply_updates(x, updates),
            state,
            search_state.value,
            search_state.grad,
            it + 1,
            evals + search_state.info.num_linesearch_steps.astype(jnp.int32),
            stalled,
        )
        return _tree.cast_like(new, carry)

    start = jax.tree.map(jnp.asarray, start)
    x, _, value, grad, it, evals, _ = jax.lax.while_loop(keep_going, body, start)
    norm = gnorm(grad)
    return LbfgsMinimizeResult(
        params=x, value=value, grad=grad, num_iterations=it, converged=norm <= tol, grad_norm=norm, num_fun_evals=evals
    )
