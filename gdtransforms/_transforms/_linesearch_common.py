"""What the line searches share: their extra arguments, interpolation, and reusing values."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gdtransforms._core._base import Params, Updates
from gdtransforms._core._tree import is_eager
from gdtransforms._core._tree_api import tree_get

__all__ = [
    "cubic_minimizer",
    "quadratic_minimizer",
    "required_extra_args",
    "split_fn_kwargs",
    "value_and_grad_from_state",
]


def required_extra_args(where: str, value: Any, grad: Any, value_fn: Any) -> None:
    """Raises a ``TypeError`` naming the line search's missing keyword argument."""
    for name, arg in (("value", value), ("grad", grad), ("value_fn", value_fn)):
        if arg is None:
            raise TypeError(
                f"{where}.update needs the keyword argument `{name}`: call "
                "update(grads, state, params, value=loss, grad=grads, value_fn=loss_fn, **loss_fn_kwargs)"
            )
    if not callable(value_fn):
        raise TypeError(f"{where}.update: `value_fn` must be the objective, a callable, got {type(value_fn).__name__}")


def split_fn_kwargs(where: str, value_fn: Callable[..., Any], extra_args: dict[str, Any]) -> dict[str, Any]:
    """The extra arguments that ``value_fn`` takes by name; raises on any other.

    A ``value_fn`` with ``**kwargs`` takes them all.
    """
    try:
        parameters = inspect.signature(value_fn).parameters
    except (TypeError, ValueError):
        return dict(extra_args)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return dict(extra_args)
    unknown = sorted(k for k in extra_args if k not in parameters)
    if unknown:
        raise TypeError(
            f"Unexpected keyword arguments {unknown} passed to `{where}.update`: `value_fn` does not take them "
            "(every extra keyword argument of the update is passed on to `value_fn`)"
        )
    return dict(extra_args)


def cubic_minimizer(a, fa, fpa, b, fb, c, fc) -> jax.Array:  # noqa: ANN001
    r"""The stationary point of the cubic through ``(a, fa)``, ``(b, fb)``, ``(c, fc)`` with slope ``fpa`` at ``a``.

    With :math:`p(x) = A (x-a)^3 + B (x-a)^2 + f'_a (x-a) + f_a`, the two
    remaining conditions give :math:`A, B` by a 2x2 solve, and the local
    minimum is :math:`a + (-B + \sqrt{B^2 - 3 A f'_a}) / (3A)`; NaN when the
    cubic has none (callers then fall back to a quadratic or a bisection).
    """
    db, dc = b - a, c - a
    denom = (db * dc) ** 2 * (db - dc)
    lhs = jnp.array([[dc**2, -(db**2)], [-(dc**3), db**3]])
    rhs = jnp.array([fb - fa - fpa * db, fc - fa - fpa * dc])
    coef_a, coef_b = jnp.dot(lhs, rhs, precision=jax.lax.Precision.HIGHEST) / denom
    radical = coef_b * coef_b - 3.0 * coef_a * fpa
    return a + (-coef_b + jnp.sqrt(radical)) / (3.0 * coef_a)


def quadratic_minimizer(a, fa, fpa, b, fb) -> jax.Array:  # noqa: ANN001
    r"""The stationary point of the parabola through ``(a, fa)``, ``(b, fb)`` with slope ``fpa`` at ``a``.

    .. math:: a - f'_a / (2B), \quad B = (f_b - f_a - f'_a (b - a)) / (b - a)^2
    """
    db = b - a
    curvature = (fb - fa - fpa * db) / (db**2)
    return a - fpa / (2.0 * curvature)


def value_and_grad_from_state(
    value_fn: Callable[..., jax.typing.ArrayLike],
) -> Callable[..., tuple[jax.Array, Updates]]:
    r"""``jax.value_and_grad(value_fn)`` that reuses what a line search stored.

    A line search ends by evaluating the objective and its gradient at the
    accepted point, the next iterate; it stores both in its state (fields
    ``value`` and ``grad``). The returned function reads them from ``state``
    and computes them afresh only where the stored value is not finite (the
    first step, whose state holds ``inf``, or a failed search).

    Args:
      value_fn: the objective, ``value_fn(params, *args, **kwargs) -> scalar``.

    Returns:
      ``fn(params, *args, state, **kwargs) -> (value, grad)``.

    Raises:
      ValueError: (when called) the state holds no ``value`` or no ``grad``
        (a backtracking line search built without ``store_grad=True``).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> f = lambda x: jnp.sum(x**2)
      >>> opt = gdt.lbfgs()
      >>> x = jnp.array([1.0, -2.0])
      >>> state = opt.init(x)
      >>> value_and_grad = gdt.value_and_grad_from_state(f)
      >>> value, grad = value_and_grad(x, state=state)
      >>> updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=f)
      >>> x = gdt.apply_updates(x, updates)
      >>> value, grad = value_and_grad(x, state=state)  # read from the state, not recomputed
      >>> print(f"{float(value):.4f} {float(f(x)):.4f}")
      1.5279 1.5279
    """
    if not callable(value_fn):
        raise TypeError(f"`value_fn` must be a callable, got {type(value_fn).__name__}")

    compiled = jax.jit(jax.value_and_grad(value_fn))

    def fn(params: Params, *args: Any, state: Any, **kwargs: Any) -> tuple[jax.Array, Updates]:
        value = tree_get(state, "value")
        grad = tree_get(state, "grad")
        if value is None or grad is None:
            raise ValueError(
                "value_and_grad_from_state: the state holds no `value` or no `grad`; use a line search "
                "that stores them (scale_by_zoom_linesearch, or "
                "scale_by_backtracking_linesearch(..., store_grad=True))"
            )
        stored = jnp.isfinite(value)
        if is_eager(params, args, kwargs, value, grad):  # decide in Python: no cond to trace at every call
            return (value, grad) if bool(stored) else compiled(params, *args, **kwargs)
        return jax.lax.cond(
            stored,
            lambda p, a, kw: (value, grad),
            lambda p, a, kw: jax.value_and_grad(value_fn)(p, *a, **kw),
            params,
            args,
            kwargs,
        )

    return fn
