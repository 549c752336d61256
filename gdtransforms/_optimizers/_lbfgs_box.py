"""L-BFGS within box bounds: projected quasi-Newton steps on the free variables.

At :math:`x` with gradient :math:`g`, a variable is *held* when it sits on a
bound and the gradient pushes it out (:math:`x_i = l_i, g_i > 0` or
:math:`x_i = u_i, g_i < 0`); the others are *free*. With :math:`Z` the
projection onto the free variables, the direction is
:math:`d = -Z H Z g` (:math:`H` the L-BFGS inverse-Hessian estimate), a descent
direction whenever :math:`Zg \ne 0`, and the step searches along the projected
path :math:`x(t) = P_{[l,u]}(x + t d)` for Armijo's decrease
:math:`f(x(t)) \\le f(x) + c\\, \\langle g, x(t) - x\rangle`, halving :math:`t`
from 1. This is the two-metric projection of Bertsekas (1982) with the L-BFGS
metric; it stops where the projected gradient :math:`x - P(x - g)` is small,
the first-order optimality condition of L-BFGS-B (Byrd et al., 1995).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _tree
from gdtransforms._core._tree_math import tree_real, tree_sq_norm, tree_sub, tree_vdot
from gdtransforms._transforms._lbfgs import lbfgs_two_loop

__all__ = ["box_loop", "projected_grad_norm"]

_ARMIJO = 1e-4


class _Carry(NamedTuple):
    params: Any
    value: jax.Array
    grad: Any
    s_mem: Any
    y_mem: Any
    rho_mem: jax.Array
    pairs: jax.Array
    iteration: jax.Array
    evaluations: jax.Array
    stalled: jax.Array


def _clip(x: Any, lower: Any, upper: Any) -> Any:
    return jax.tree.map(lambda v, lo, hi: jnp.clip(v, lo, hi).astype(v.dtype), x, lower, upper)


def projected_grad_norm(params: Any, grad: Any, lower: Any, upper: Any) -> jax.Array:
    """:math:`\\|x - P_{[l,u]}(x - g)\\|_2`: zero exactly at a first-order point of the box problem."""
    return jnp.sqrt(tree_sq_norm(tree_sub(params, _clip(tree_sub(params, grad), lower, upper))))


def _free(params: Any, grad: Any, lower: Any, upper: Any) -> Any:
    return jax.tree.map(
        lambda x, g, lo, hi: ~(((x <= lo) & (g > 0)) | ((x >= hi) & (g < 0))), params, grad, lower, upper
    )


def box_loop(
    fun: Callable[[Any], Any],
    params: Any,
    lower: Any,
    upper: Any,
    *,
    max_iterations: int,
    tol: float,
    memory_size: int,
    max_linesearch_steps: int,
) -> _Carry:
    """Runs projected L-BFGS under ``lax.while_loop``; returns the final carry."""
    value_and_grad = jax.value_and_grad(fun)
    params = _clip(params, lower, upper)
    value, grad = value_and_grad(params)
    stack = lambda p: jnp.zeros((memory_size, *jnp.shape(p)), jnp.result_type(p))
    start = _Carry(
        params=params,
        value=value,
        grad=grad,
        s_mem=jax.tree.map(stack, params),
        y_mem=jax.tree.map(stack, params),
        rho_mem=jnp.zeros(memory_size, jnp.result_type(value)),
        pairs=jnp.asarray(0, jnp.int32),
        iteration=jnp.asarray(0, jnp.int32),
        evaluations=jnp.asarray(1, jnp.int32),
        stalled=jnp.asarray(False),
    )

    def keep_going(c: _Carry) -> jax.Array:
        gnorm = projected_grad_norm(c.params, c.grad, lower, upper)
        return (c.iteration < max_iterations) & (gnorm > tol) & ~c.stalled & jnp.isfinite(c.value)

    def body(c: _Carry) -> _Carry:
        free = _free(c.params, c.grad, lower, upper)
        g_free = jax.tree.map(lambda g, f: jnp.where(f, g, 0.0).astype(g.dtype), c.grad, free)
        newest = (c.pairs - 1) % memory_size
        s_new = jax.tree.map(lambda m: m[newest], c.s_mem)
        y_new = jax.tree.map(lambda m: m[newest], c.y_mem)
        yy = tree_sq_norm(y_new)
        gamma = jnp.where(
            c.pairs > 0,
            tree_real(tree_vdot(s_new, y_new)) / jnp.where(yy > 0, yy, 1.0),
            jnp.minimum(1.0, 1.0 / jnp.sqrt(tree_sq_norm(g_free))),
        )
        h_g = lbfgs_two_loop(g_free, c.s_mem, c.y_mem, c.rho_mem, gamma, c.pairs % memory_size)
        direction = jax.tree.map(lambda d, f: jnp.where(f, -d, 0.0).astype(d.dtype), h_g, free)
        descent = tree_real(tree_vdot(c.grad, direction)) < 0
        direction = jax.tree.map(lambda d, g: jnp.where(descent, d, -g), direction, g_free)

        def trial(t):
            point = _clip(jax.tree.map(lambda x, d: x + t * d, c.params, direction), lower, upper)
            value, grad = value_and_grad(point)
            decrease = c.value + _ARMIJO * tree_real(tree_vdot(c.grad, tree_sub(point, c.params)))
            return point, value, grad, jnp.isfinite(value) & (value <= decrease)

        def search_more(ls):
            t, _, _, _, ok, n = ls
            return ~ok & (n < max_linesearch_steps)

        def search_step(ls):
            t, *_, n = ls
            t = t * 0.5
            point, value, grad, ok = trial(t)
            return t, point, value, grad, ok, n + 1

        one = jnp.asarray(1.0, jnp.result_type(c.value))
        first = trial(one)
        t, point, value, grad, ok, n = jax.lax.while_loop(search_more, search_step, (one, *first, jnp.asarray(1)))
        # A failed search (no decrease, or no finite value) leaves everything as it was.
        point, value, grad = jax.tree.map(
            lambda new, old: jnp.where(ok, new, old), (point, value, grad), (c.params, c.value, c.grad)
        )
        s, y = tree_sub(point, c.params), tree_sub(grad, c.grad)
        sy, yy = tree_real(tree_vdot(s, y)), tree_sq_norm(y)
        keep = ok & (sy > jnp.finfo(jnp.result_type(c.value)).eps * yy) & (sy > 0)
        slot = c.pairs % memory_size
        s_mem, y_mem = jax.tree.map(lambda m, v: jnp.where(keep, m.at[slot].set(v), m), (c.s_mem, c.y_mem), (s, y))
        rho_mem = jnp.where(keep, c.rho_mem.at[slot].set(1.0 / jnp.where(sy > 0, sy, 1.0)), c.rho_mem)
        new = _Carry(
            params=point,
            value=value,
            grad=grad,
            s_mem=s_mem,
            y_mem=y_mem,
            rho_mem=rho_mem,
            pairs=c.pairs + keep.astype(jnp.int32),
            iteration=c.iteration + 1,
            evaluations=c.evaluations + n.astype(jnp.int32),
            stalled=~ok,
        )
        return _tree.cast_like(new, c)

    return jax.lax.while_loop(keep_going, body, start)
