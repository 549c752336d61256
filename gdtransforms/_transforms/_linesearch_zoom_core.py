"""The zoom line search's inner loop: bracketing, then zooming (Nocedal and Wright, Algorithms 3.5, 3.6).

One step of the loop evaluates the objective and its gradient once, at a trial
stepsize :math:`\\eta` along the direction :math:`u`. While no interval is known
to hold an acceptable stepsize, the trial grows by ``increase_factor``; then
the interval shrinks around one by cubic, quadratic or bisection steps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _tree
from gdtransforms._core._tree_like import tree_where
from gdtransforms._core._tree_math import tree_add_scale, tree_real, tree_vdot
from gdtransforms._transforms._linesearch_common import cubic_minimizer, quadratic_minimizer
from gdtransforms._transforms._linesearch_zoom_report import report_failure, report_max_reached

__all__ = ["ZoomConfig", "ZoomSearch", "zoom_init", "zoom_keep_going", "zoom_step"]


class ZoomConfig(NamedTuple):
    """The zoom line search's constants (see :func:`scale_by_zoom_linesearch`)."""

    max_steps: Any
    max_stepsize: Any
    tol: Any
    increase_factor: Any
    slope_rtol: Any
    curv_rtol: Any
    approx_dec_rtol: Any
    interval_threshold: Any


class ZoomSearch(NamedTuple):
    """The carry of the inner loop; ``low``/``high`` bracket, ``safe_*`` the best decreasing point."""

    count: jax.Array  # type: ignore[assignment]
    params: Any
    updates: Any
    stepsize_guess: jax.Array
    stepsize: jax.Array
    value: jax.Array
    grad: Any
    slope: jax.Array
    value_init: jax.Array
    slope_init: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array
    error: jax.Array
    interval_found: jax.Array
    done: jax.Array
    failed: jax.Array
    low: jax.Array
    value_low: jax.Array
    slope_low: jax.Array
    high: jax.Array
    value_high: jax.Array
    slope_high: jax.Array
    cubic_ref: jax.Array
    value_cubic_ref: jax.Array
    safe_stepsize: jax.Array
    safe_value: jax.Array
    safe_grad: Any


def _probe(value_and_grad_fn, params, stepsize, updates, fn_kwargs):
    """Value, gradient and slope :math:`\\langle \\nabla f(w + \\eta u), u\\rangle` at ``stepsize``."""
    value, grad = value_and_grad_fn(tree_add_scale(params, stepsize, updates), **fn_kwargs)
    return value, grad, tree_real(tree_vdot(jax.tree.map(jnp.conj, grad), updates))


def _decrease_error(cfg: ZoomConfig, stepsize, value, slope, value_init, slope_init):
    """How far ``value`` is above the Armijo line (or the approximate Wolfe test); 0 when met, inf if NaN."""
    error = value - value_init - cfg.slope_rtol * stepsize * slope_init
    if cfg.approx_dec_rtol is not None:
        # Hager and Zhang's approximate Wolfe condition, usable once the value
        # is within a relative ``approx_dec_rtol`` of the starting value.
        approx = slope - (2 * cfg.slope_rtol - 1.0) * slope_init
        near = value - value_init - cfg.approx_dec_rtol * jnp.abs(value_init)
        error = jnp.minimum(jnp.maximum(approx, near), error)
    error = jnp.maximum(error, 0.0)
    return jnp.where(jnp.isnan(error), jnp.inf, error)


def _curvature_error(cfg: ZoomConfig, slope, slope_init):
    """How far :math:`|\\phi'(\\eta)|` is above ``curv_rtol`` times :math:`|\\phi'(0)|`; 0 when met, inf if NaN."""
    error = jnp.maximum(jnp.abs(slope) - cfg.curv_rtol * jnp.abs(slope_init), 0.0)
    return jnp.where(jnp.isnan(error), jnp.inf, error)


def _bracket(cfg: ZoomConfig, s: ZoomSearch, value_and_grad_fn, fn_kwargs, verbose: bool = False) -> ZoomSearch:
    """Algorithm 3.5: try a larger stepsize until an interval holds an acceptable one."""
    trial = jnp.where(s.count == 0, s.stepsize_guess, cfg.increase_factor * s.stepsize)
    if cfg.max_stepsize is not None:
        # An infinite factor jumps to the maximum, also from a stepsize of 0 (inf * 0 is NaN).
        trial = jnp.where((s.count > 0) & jnp.isinf(cfg.increase_factor), cfg.max_stepsize, trial)
        at_max = trial >= cfg.max_stepsize
        trial = jnp.minimum(trial, cfg.max_stepsize)
    else:
        at_max = jnp.asarray(False)
    value, grad, slope = _probe(value_and_grad_fn, s.params, trial, s.updates, fn_kwargs)
    dec = _decrease_error(cfg, trial, value, slope, s.value_init, s.slope_init)
    curv = _curvature_error(cfg, slope, s.slope_init)
    error = jnp.maximum(dec, curv)
    safe_stepsize, safe_value, safe_grad = tree_where(
        dec <= cfg.tol, [trial, value, grad], [s.safe_stepsize, s.safe_value, s.safe_grad]
    )
    # Too far: the trial is the interval's upper end. Uphill: the trial is its lower end.
    high_is_trial = (dec > 0.0) | ((value >= s.value) & (s.count > 0))
    low_is_trial = (slope >= 0.0) & ~high_is_trial
    previous, current = [s.stepsize, s.value, s.slope], [trial, value, slope]
    low, value_low, slope_low, high, value_high, slope_high = tree_where(
        low_is_trial, current + previous, previous + current
    )
    interval_found = high_is_trial | low_is_trial | (error <= cfg.tol)
    done = (error <= cfg.tol) | (at_max & ~interval_found)
    if verbose:
        report_max_reached(at_max & ~interval_found, trial, slope)
    failed = (s.count + 1 >= cfg.max_steps) & ~done
    new = ZoomSearch(
        count=_tree.safe_increment(s.count),
        params=s.params,
        updates=s.updates,
        stepsize_guess=s.stepsize_guess,
        stepsize=trial,
        value=value,
        grad=grad,
        slope=slope,
        value_init=s.value_init,
        slope_init=s.slope_init,
        decrease_error=dec,
        curvature_error=curv,
        error=error,
        interval_found=jnp.asarray(interval_found),
        done=jnp.asarray(done),
        failed=jnp.asarray(failed),
        low=low,
        value_low=value_low,
        slope_low=slope_low,
        high=high,
        value_high=value_high,
        slope_high=slope_high,
        cubic_ref=low,
        value_cubic_ref=value_low,
        safe_stepsize=safe_stepsize,
        safe_value=safe_value,
        safe_grad=safe_grad,
    )
    return _tree.cast_like(new, s)


def _zoom(cfg: ZoomConfig, s: ZoomSearch, value_and_grad_fn, fn_kwargs) -> ZoomSearch:
    """Algorithm 3.6: shrink the interval; a NaN or inf trial counts as too far, so it shrinks too."""
    width = jnp.abs(s.high - s.low)
    left, right = jnp.minimum(s.high, s.low), jnp.maximum(s.high, s.low)
    too_small = width <= cfg.interval_threshold
    cubic = cubic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high, s.cubic_ref, s.value_cubic_ref)
    use_cubic = (cubic > left + 0.2 * width) & (cubic < right - 0.2 * width)
    quad = quadratic_minimizer(s.low, s.value_low, s.slope_low, s.high, s.value_high)
    use_quad = ~use_cubic & (quad > left + 0.1 * width) & (quad < right - 0.1 * width)
    use_bisection = ~use_cubic & ~use_quad
    trial = jnp.where(use_cubic, cubic, s.cubic_ref)
    trial = jnp.where(use_quad, quad, trial)
    trial = jnp.where(use_bisection, (s.low + s.high) / 2.0, trial)

    value, grad, slope = _probe(value_and_grad_fn, s.params, trial, s.updates, fn_kwargs)
    dec = _decrease_error(cfg, trial, value, slope, s.value_init, s.slope_init)
    curv = _curvature_error(cfg, slope, s.slope_init)
    error = jnp.maximum(dec, curv)
    better_safe = (dec <= cfg.tol) & (value < s.safe_value)
    safe_stepsize, safe_value, safe_grad = tree_where(
        better_safe, [trial, value, grad], [s.safe_stepsize, s.safe_value, s.safe_grad]
    )
    done = error <= cfg.tol
    high_to_trial = (dec > 0.0) | (value >= s.value_low)
    high_to_low = (slope * (s.high - s.low) >= 0.0) & ~high_to_trial
    low_to_trial = ~high_to_trial
    high = tree_where(high_to_trial, [trial, value, slope], [s.high, s.value_high, s.slope_high])
    high, value_high, slope_high = tree_where(high_to_low, [s.low, s.value_low, s.slope_low], high)
    low, value_low, slope_low = tree_where(low_to_trial, [trial, value, slope], [s.low, s.value_low, s.slope_low])
    cubic_ref, value_cubic_ref = tree_where(high_to_trial | high_to_low, [s.high, s.value_high], [s.low, s.value_low])
    out_of_steps = jnp.asarray(s.count + 1 >= cfg.max_steps)
    failed = (out_of_steps | (too_small & (safe_stepsize > 0.0))) & ~done
    new = s._replace(
        count=_tree.safe_increment(s.count),
        stepsize=trial,
        value=value,
        grad=grad,
        slope=slope,
        decrease_error=dec,
        curvature_error=curv,
        error=error,
        done=done,
        failed=failed,
        low=low,
        value_low=value_low,
        slope_low=slope_low,
        high=high,
        value_high=value_high,
        slope_high=slope_high,
        cubic_ref=cubic_ref,
        value_cubic_ref=value_cubic_ref,
        safe_stepsize=safe_stepsize,
        safe_value=safe_value,
        safe_grad=safe_grad,
    )
    return _tree.cast_like(new, s)


def _fall_back(s: ZoomSearch, verbose: bool, interval_threshold: Any = 0.0) -> ZoomSearch:
    """Out of steps: take the best stepsize with sufficient decrease, or 0 if the last trial was not finite."""
    not_finite = jnp.isinf(s.decrease_error)
    stepsize, value, grad = tree_where(
        (s.safe_stepsize > 0.0) | not_finite,
        [s.safe_stepsize, s.safe_value, s.safe_grad],
        [s.stepsize, s.value, s.grad],
    )
    if verbose:
        report_failure(s, interval_threshold, stepsize)
    return _tree.cast_like(s._replace(stepsize=stepsize, value=value, grad=grad), s)


def zoom_init(updates, params, *, value, grad, stepsize_guess) -> ZoomSearch:  # noqa: ANN001
    """The carry before the first trial: stepsize 0 with the current value and gradient."""
    val_dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
    slope = tree_real(tree_vdot(updates, grad))
    zero, inf, no = jnp.asarray(0.0), jnp.asarray(jnp.inf), jnp.asarray(False)
    return ZoomSearch(
        count=jnp.asarray(0),
        params=params,
        updates=updates,
        stepsize_guess=stepsize_guess,
        stepsize=jnp.asarray(0.0, dtype=val_dtype),
        value=jnp.asarray(value, dtype=val_dtype),
        grad=grad,
        slope=slope,
        value_init=value,
        slope_init=slope,
        decrease_error=inf,
        curvature_error=inf,
        error=inf,
        interval_found=no,
        done=no,
        failed=no,
        low=zero,
        value_low=value,
        slope_low=slope,
        high=zero,
        value_high=value,
        slope_high=slope,
        cubic_ref=zero,
        value_cubic_ref=value,
        safe_stepsize=zero,
        safe_value=value,
        safe_grad=grad,
    )


def zoom_step(
    cfg: ZoomConfig, value_and_grad_fn: Callable[..., Any], fn_kwargs: dict[str, Any], verbose: bool, s: ZoomSearch
) -> ZoomSearch:
    """One trial: bracket or zoom, then fall back if the search has failed."""
    bracket = functools.partial(
        _bracket, cfg, value_and_grad_fn=value_and_grad_fn, fn_kwargs=fn_kwargs, verbose=verbose
    )
    zoom = functools.partial(_zoom, cfg, value_and_grad_fn=value_and_grad_fn, fn_kwargs=fn_kwargs)
    new = jax.lax.cond(s.interval_found, zoom, bracket, s)
    fall_back = functools.partial(_fall_back, verbose=verbose, interval_threshold=cfg.interval_threshold)
    new = jax.lax.cond(new.failed, fall_back, lambda x: x, new)
    return _tree.cast_like(new, s)


def zoom_keep_going(s: ZoomSearch) -> jax.Array:
    """The loop's condition: neither done nor failed."""
    return ~(s.done | s.failed)
