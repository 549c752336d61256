"""What the zoom line search prints with ``verbose=True``: why a search ended short of both Wolfe conditions.

The ``FLAG_*`` sentences are the ones optax's line search prints (its tests,
and users' log filters, look for them); each is followed here by the numbers
that explain it.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = [
    "FLAG_CURVATURE_COND_NOT_SATISFIED",
    "FLAG_INTERVAL_NOT_FOUND",
    "FLAG_INTERVAL_TOO_SMALL",
    "FLAG_NOT_A_DESCENT_DIRECTION",
    "FLAG_NO_STEPSIZE_FOUND",
    "report_failure",
    "report_max_reached",
]

FLAG_INTERVAL_NOT_FOUND = (
    "No interval satisfying curvature condition. Consider increasing maximal possible stepsize of the linesearch."
)
FLAG_INTERVAL_TOO_SMALL = "Length of searched interval has been reduced below threshold."
FLAG_CURVATURE_COND_NOT_SATISFIED = "Returning stepsize with sufficient decrease but curvature condition not satisfied."
FLAG_NO_STEPSIZE_FOUND = "Linesearch failed, no stepsize satisfying sufficient decrease found."
FLAG_NOT_A_DESCENT_DIRECTION = "The linesearch failed because the provided direction is not a descent direction. "

_WHO = "scale_by_zoom_linesearch: "


def _print_if(condition: Any, message: str, **values: Any) -> None:
    """``jax.debug.print(message, **values)`` where ``condition`` holds (traced or not)."""
    jax.lax.cond(condition, lambda: jax.debug.print(message, ordered=True, **values), lambda: None)


def report_max_reached(reached: Any, stepsize: Any, slope: Any) -> None:
    """The bracketing hit ``max_learning_rate`` while the objective still went down: it stops there."""
    _print_if(
        reached,
        _WHO + "the trial reached max_learning_rate = {stepsize}, where the slope is still {slope}. "
        f"{FLAG_INTERVAL_NOT_FOUND}\n{FLAG_CURVATURE_COND_NOT_SATISFIED}",
        stepsize=stepsize,
        slope=slope,
    )


def report_failure(s: Any, interval_threshold: Any, stepsize: Any) -> None:
    """The search ran out of steps (or its interval vanished): which condition failed, and the stepsize taken.

    Args:
      s: the search's carry (a ``ZoomSearch``) when it failed.
      interval_threshold: the ``stepsize_precision`` of the search.
      stepsize: the stepsize it takes instead.
    """
    jax.debug.print(
        _WHO + "no stepsize met both conditions within max_linesearch_steps. Value at 0: {value}, slope at 0: "
        "{slope}, last trial: {trial}, its decrease error: {dec}, its curvature error: {curv}; stepsize taken: {step}.",
        value=s.value_init,
        slope=s.slope_init,
        trial=s.stepsize,
        dec=s.decrease_error,
        curv=s.curvature_error,
        step=stepsize,
        ordered=True,
    )
    width = jnp.abs(s.high - s.low)
    _print_if(width <= interval_threshold, FLAG_INTERVAL_TOO_SMALL + " Its width is {width}.", width=width)
    has_safe = s.safe_stepsize > 0.0
    _print_if(has_safe, FLAG_CURVATURE_COND_NOT_SATISFIED + " Stepsize {safe}.", safe=s.safe_stepsize)
    _print_if(~has_safe, FLAG_NO_STEPSIZE_FOUND)
    descent = s.slope_init < 0.0
    _print_if(
        ~has_safe & ~descent,
        FLAG_NOT_A_DESCENT_DIRECTION + "Its slope at stepsize 0 is {slope}; it must be negative.",
        slope=s.slope_init,
    )
    _print_if(
        ~has_safe & descent,
        "More max_linesearch_steps may help. A stepsize below float32's epsilon calls for float64 "
        "(jax_enable_x64); a slope of magnitude above 1e16 for a better scaled objective or starting point.",
    )
    stuck = jnp.isinf(s.decrease_error)
    _print_if(~has_safe & stuck, "Every trial gave NaN or inf: the stepsize is 0 and the params stay where they are.")
    _print_if(
        ~has_safe & ~stuck,
        "Taking the last trial, which does not decrease the objective enough: convergence is not guaranteed.",
    )
