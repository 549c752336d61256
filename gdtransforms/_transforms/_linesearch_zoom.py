"""The zoom line search as a gradient transformation (strong Wolfe conditions)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, require_params
from gdtransforms._core._tree import is_eager
from gdtransforms._transforms._linesearch_common import required_extra_args, split_fn_kwargs
from gdtransforms._transforms._linesearch_zoom_core import ZoomConfig, zoom_init, zoom_keep_going, zoom_step

__all__ = ["ScaleByZoomLinesearchState", "ZoomLinesearchInfo", "scale_by_zoom_linesearch"]

_WHERE = "scale_by_zoom_linesearch"


class ZoomLinesearchInfo(NamedTuple):
    """What the last search did, for debugging.

    Attributes:
      num_linesearch_steps: the number of trial stepsizes (objective and
        gradient evaluations).
      decrease_error: how far the accepted stepsize is from sufficient
        decrease; 0 when met.
      curvature_error: how far it is from the curvature condition; 0 when met.
    """

    num_linesearch_steps: jax.Array
    decrease_error: jax.Array
    curvature_error: jax.Array


class ScaleByZoomLinesearchState(NamedTuple):
    """The state of :func:`scale_by_zoom_linesearch`.

    Attributes:
      learning_rate: the stepsize accepted by the last search.
      value: the objective at the accepted point (``inf`` before the first
        step); :func:`value_and_grad_from_state` reuses it.
      grad: the gradient at the accepted point.
      info: a :class:`ZoomLinesearchInfo`.
    """

    learning_rate: jax.Array
    value: jax.Array
    grad: Updates
    info: ZoomLinesearchInfo


def _search(updates, params, value, grad, guess, fn_kwargs, cfg, value_fn, verbose):  # noqa: ANN001, ANN202
    start = zoom_init(updates, params, value=value, grad=grad, stepsize_guess=guess)
    step = functools.partial(zoom_step, cfg, jax.value_and_grad(value_fn), fn_kwargs, verbose)
    return jax.lax.while_loop(zoom_keep_going, step, start)


# Outside any trace the search runs compiled, cached on the objective and the
# constants: an eager loop of updates then compiles it once, not at every step.
_search_compiled = jax.jit(_search, static_argnums=(6, 7, 8))


def _hashable(*objects: Any) -> bool:
    try:
        hash(objects)
    except TypeError:
        return False
    return True


def scale_by_zoom_linesearch(
    max_linesearch_steps: int,
    max_learning_rate: jax.typing.ArrayLike | None = None,
    tol: jax.typing.ArrayLike = 0.0,
    increase_factor: jax.typing.ArrayLike = 2.0,
    slope_rtol: jax.typing.ArrayLike = 1e-4,
    curv_rtol: jax.typing.ArrayLike = 0.9,
    approx_dec_rtol: jax.typing.ArrayLike | None = 1e-6,
    stepsize_precision: jax.typing.ArrayLike = 1e-5,
    initial_guess_strategy: str = "keep",
    verbose: bool = False,
) -> GradientTransformation:
    r"""Scales the updates by a stepsize meeting the strong Wolfe conditions.

    Along the incoming direction :math:`u` from the params :math:`w`, with
    :math:`\phi(\eta) = f(w + \eta u)`, it finds :math:`\eta` such that

    .. math::
        \phi(\eta) \le \phi(0) + c_1 \eta\, \phi'(0) + \epsilon, \qquad
        |\phi'(\eta)| \le c_2 |\phi'(0)| + \epsilon,

    with :math:`c_1` = ``slope_rtol``, :math:`c_2` = ``curv_rtol`` and
    :math:`\epsilon` = ``tol``, and returns :math:`\eta u`. Once
    :math:`\phi(\eta) \le \phi(0) + c_3 |\phi(0)|` (:math:`c_3` =
    ``approx_dec_rtol``), the first condition may be met in Hager and Zhang's
    approximate form :math:`\phi'(\eta) \le (2c_1 - 1)\phi'(0)`, which stays
    accurate where values differ by less than :math:`\sqrt{\varepsilon}`.

    The search brackets an acceptable stepsize by growing the first guess
    (1, or the last stepsize with ``initial_guess_strategy="keep"``) by
    ``increase_factor``, then shrinks the bracket by cubic, quadratic or
    bisection steps. A trial where the objective or its slope is NaN or inf
    counts as a step too far: the bracket shrinks and the state keeps finite
    values. Out of steps, it takes the best stepsize with sufficient decrease
    found, or 0 if none is known and the last trial was not finite.

    Args:
      max_linesearch_steps: the most trial stepsizes per search (>= 1).
      max_learning_rate: an upper bound on the stepsize, or ``None``.
      tol: :math:`\epsilon \ge 0`.
      increase_factor: the bracketing growth factor, in [1, inf]; ``inf`` jumps
        to ``max_learning_rate`` (which it then needs).
      slope_rtol: :math:`c_1`, in (0, 1).
      curv_rtol: :math:`c_2`, in (0, inf]; ``inf`` drops the curvature condition.
      approx_dec_rtol: :math:`c_3 \ge 0`, or ``None`` to use only the Armijo test.
      stepsize_precision: a bracket narrower than this ends the search with
        the best sufficiently decreasing stepsize.
      initial_guess_strategy: ``"one"`` (for quasi-Newton directions) or
        ``"keep"`` (the last stepsize; for gradient directions).
      verbose: print a diagnosis when a search fails.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ScaleByZoomLinesearchState`. Its update needs ``params`` and the
      keyword arguments ``value`` (the objective at ``params``), ``grad`` (its
      gradient) and ``value_fn`` (the objective); every other keyword argument
      is passed on to ``value_fn``.

    References:
      Nocedal and Wright, 2006, Numerical Optimization, Algorithms 3.5, 3.6;
      Hager and Zhang, 2006, "Algorithm 851: CG_DESCENT",
      https://doi.org/10.1145/1132973.1132979
    """
    if not _checks.is_deferred(max_linesearch_steps):
        _checks.check_int_at_least("max_linesearch_steps", max_linesearch_steps, 1, where=_WHERE)
    if max_learning_rate is not None:
        _checks.check_positive("max_learning_rate", max_learning_rate)
    _checks.check_non_negative("tol", tol)
    _checks.check_in_range("increase_factor", increase_factor, 1.0, float("inf"))
    if max_learning_rate is None and not _checks.is_deferred(increase_factor) and np.isinf(increase_factor):
        raise ValueError(
            f"{_WHERE}: `increase_factor`=inf needs a `max_learning_rate` (the bracketing would try an "
            "infinite stepsize)"
        )
    _checks.check_in_range("slope_rtol", slope_rtol, 0.0, 1.0, low_closed=False, high_closed=False)
    _checks.check_in_range("curv_rtol", curv_rtol, 0.0, float("inf"), low_closed=False)
    if approx_dec_rtol is not None:
        _checks.check_non_negative("approx_dec_rtol", approx_dec_rtol)
    _checks.check_non_negative("stepsize_precision", stepsize_precision)
    if initial_guess_strategy not in ("one", "keep"):
        raise ValueError(f"`initial_guess_strategy` must be 'one' or 'keep', got {initial_guess_strategy!r}")
    cfg = ZoomConfig(
        max_steps=max_linesearch_steps,
        max_stepsize=max_learning_rate,
        tol=tol,
        increase_factor=increase_factor,
        slope_rtol=slope_rtol,
        curv_rtol=curv_rtol,
        approx_dec_rtol=approx_dec_rtol,
        interval_threshold=stepsize_precision,
    )

    def init_fn(params):
        _checks.check_params(params, _WHERE)
        val_dtype = jnp.real(jnp.empty((), jax.tree.leaves(params)[0].dtype)).dtype
        return ScaleByZoomLinesearchState(
            learning_rate=jnp.asarray(1.0, dtype=val_dtype),
            value=jnp.asarray(jnp.inf, dtype=val_dtype),
            grad=_tree.zeros_like(params),
            info=ZoomLinesearchInfo(
                num_linesearch_steps=jnp.asarray(0),
                decrease_error=jnp.asarray(jnp.inf),
                curvature_error=jnp.asarray(jnp.inf),
            ),
        )

    def update_fn(
        updates: Updates,
        state: ScaleByZoomLinesearchState,
        params: Any = None,
        *,
        value: jax.typing.ArrayLike | None = None,
        grad: Updates | None = None,
        value_fn: Callable[..., jax.typing.ArrayLike] | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, ScaleByZoomLinesearchState]:
        params = require_params(params)
        required_extra_args(_WHERE, value, grad, value_fn)
        value_fn = cast(Callable[..., jax.typing.ArrayLike], value_fn)
        value = cast(jax.typing.ArrayLike, value)
        _checks.check_state(state, ScaleByZoomLinesearchState, _WHERE)
        _checks.check_updates(updates, state.grad, _WHERE)
        fn_kwargs = split_fn_kwargs(_WHERE, value_fn, extra_args)
        guess = jnp.asarray(1.0) if initial_guess_strategy == "one" else state.learning_rate
        run = _search
        if is_eager(updates, params, value, grad, guess, fn_kwargs) and _hashable(cfg, value_fn):
            run = _search_compiled
        final = run(updates, params, value, grad, guess, fn_kwargs, cfg, value_fn, verbose)
        stepsize = final.stepsize
        new_updates = jax.tree.map(lambda u: (stepsize * u).astype(u.dtype), updates)
        new_state = ScaleByZoomLinesearchState(
            learning_rate=stepsize,
            value=final.value,
            grad=final.grad,
            info=ZoomLinesearchInfo(
                num_linesearch_steps=final.count,
                decrease_error=final.decrease_error,
                curvature_error=final.curvature_error,
            ),
        )
        # A leaf the caller set to a Python number (``tree.set(state, learning_rate=1.0)``) has no dtype to keep.
        return new_updates, _tree.cast_like(new_state, state)

    return GradientTransformation(init_fn, update_fn)
