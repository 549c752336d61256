"""Argument and tree validation: the one vocabulary of checks.

Every factory checks its arguments here, so one kind of mistake reads the same
everywhere: "`name` must be <what is allowed>, got <what was passed>".

Scalar hyperparameters (rates, decays, eps, weight decay, thresholds) must be
scalars: a Python number, a NumPy scalar or a 0-d array. Their values are
checked when a factory is called. A value that is only known when the step runs
(a tracer: a factory called inside ``jit``/``vmap``, or the hyperparameters
:func:`inject_hyperparams` hands to the factory it wraps) cannot be inspected,
but its shape can: a non-scalar tracer is refused too. A schedule (a function
of the step count) is accepted only where the argument may be one
(``schedule=True``); its values are checked where it is called, with
:func:`check_scalar_value`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core._tree_checks import (
    adopt_state,
    check_float_leaves,
    check_params,
    check_same_structure,
    check_state,
    check_tree_prefix,
    check_trees_match,
    check_updates,
    describe_state,
    first_prefix_difference,
    path_str,
    qualified_name,
)

__all__ = [
    "adopt_state",
    "check_axis",
    "check_axis_fits",
    "check_callable",
    "check_choice",
    "check_decay",
    "check_eps_pair",
    "check_float_dtype",
    "check_float_leaves",
    "check_in_range",
    "check_int",
    "check_int_at_least",
    "check_non_negative",
    "check_number",
    "check_params",
    "check_positive",
    "check_rate",
    "check_same_structure",
    "check_scalar_value",
    "check_state",
    "check_tree_prefix",
    "check_trees_match",
    "check_updates",
    "describe_state",
    "first_prefix_difference",
    "is_deferred",
    "is_tracer",
    "path_str",
    "qualified_name",
]


def is_deferred(value: Any) -> bool:
    """Whether ``value`` is only known when the step runs, so cannot be checked.

    True for tracers and for the hyperparameters :func:`inject_hyperparams`
    hands to the factory it wraps (their type sets ``_deferred_value``). The
    package's one test for a traced value: use it, not ``isinstance(x,
    jax.core.Tracer)``. Only its shape and dtype are known before the step runs.
    """
    return is_tracer(value) or bool(getattr(type(value), "_deferred_value", False))


def is_tracer(value: Any) -> bool:
    """Whether ``value`` is a JAX tracer (inside ``jit``, ``vmap`` or ``grad``)."""
    return isinstance(value, jax.core.Tracer)


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _describe(value: Any) -> str:
    """``value`` as an error message shows it: its type, and the value when short."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{type(value).__name__}: {text}"


def _is_schedule(value: Any) -> bool:
    return callable(value) and not is_deferred(value) and not isinstance(value, (jax.Array, np.ndarray, np.generic))


def _concrete(name: str, value: Any, *, schedule: bool = False, where: str = "") -> np.ndarray | None:
    """The value as a 0-d float64 array, or ``None`` if it cannot be inspected.

    Raises:
      TypeError: ``value`` is not a number (a bool, a string, a list, a
        callable where no schedule is allowed, ...).
      ValueError: ``value`` (or a tracer's shape) is not a scalar.
    """
    what = "a number or a schedule (a function of the step count)" if schedule else "a number"
    if value is None:
        return None
    if _is_schedule(value):
        if schedule:
            return None
        raise TypeError(f"{_prefix(where)}`{name}` must be {what}, got {_describe(value)}")
    if is_deferred(value):
        check_scalar_value(name, value, where=where)
        return None
    dtype = getattr(value, "dtype", None)
    if (
        isinstance(value, (bool, np.bool_, str, bytes, list, tuple, dict, set))
        or (dtype is not None and np.dtype(dtype) == np.bool_)
        or not isinstance(value, (int, float, np.generic, np.ndarray, jax.Array))
    ):
        raise TypeError(f"{_prefix(where)}`{name}` must be {what}, got {_describe(value)}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{_prefix(where)}`{name}` must be {what}, got {_describe(value)}") from None
    if arr.ndim != 0:
        raise ValueError(f"{_prefix(where)}`{name}` must be a scalar, got an array of shape {arr.shape}")
    return arr


def check_scalar_value(name: str, value: Any, *, where: str = "") -> Any:
    """Raises ``ValueError`` unless ``value`` has shape ``()``; returns it.

    For values known only when the step runs (a schedule's output, a
    hyperparameter read from the state, a tracer): their shape is known at
    trace time, so a non-scalar fails when the step is traced.
    """
    shape = np.shape(getattr(value, "live", value))
    if shape != ():
        raise ValueError(f"{_prefix(where)}`{name}` must be a scalar, got an array of shape {shape}")
    return value


def check_number(name: str, value: Any, *, schedule: bool = False, where: str = "") -> None:
    """Raises unless ``value`` is a scalar number (or, with ``schedule``, a schedule).

    Raises:
      TypeError: not a number (bools, strings, lists and, unless
        ``schedule``, callables are refused).
      ValueError: an array that is not a scalar.
    """
    _concrete(name, value, schedule=schedule, where=where)


def check_in_range(
    name: str,
    value: Any,
    low: float,
    high: float,
    *,
    low_closed: bool = True,
    high_closed: bool = True,
    schedule: bool = False,
    where: str = "",
) -> None:
    """Raises unless ``value`` is a scalar number in range.

    Args:
      name: the argument's name, used in the message.
      value: a number, a 0-d array, or a tracer (its value is not inspected).
      low: the lower bound.
      high: the upper bound (may be ``inf``).
      low_closed: whether ``low`` itself is allowed.
      high_closed: whether ``high`` itself is allowed.
      schedule: whether a schedule (a function of the step count) is allowed
        in place of a number; its values are not checked here.
      where: the factory that checks, for the message (optional).

    Raises:
      TypeError: ``value`` is not a number (see :func:`check_number`).
      ValueError: ``value`` is not a scalar, is NaN or is out of range.
    """
    arr = _concrete(name, value, schedule=schedule, where=where)
    if arr is None:
        return
    if np.isnan(arr).any():
        raise ValueError(f"{_prefix(where)}`{name}` must not be NaN, got {value!r}")
    above = arr >= low if low_closed else arr > low
    below = arr <= high if high_closed else arr < high
    if not (above & below).all():
        left, right = "[" if low_closed else "(", "]" if high_closed else ")"
        raise ValueError(f"{_prefix(where)}`{name}` must be in {left}{low}, {high}{right}, got {value!r}")


def check_rate(name: str, value: Any, *, schedule: bool = True, where: str = "") -> None:
    """A rate or strength: a finite scalar >= 0, or a schedule."""
    arr = _concrete(name, value, schedule=schedule, where=where)
    if arr is not None and not np.isfinite(arr).all():
        raise ValueError(f"{_prefix(where)}`{name}` must be finite, got {value!r}")
    check_in_range(name, value, 0.0, np.inf, schedule=schedule, where=where)


def check_decay(name: str, value: Any, *, schedule: bool = False, where: str = "") -> None:
    """A decay or beta: a scalar in [0, 1) (a schedule only where ``schedule``)."""
    check_in_range(name, value, 0.0, 1.0, high_closed=False, schedule=schedule, where=where)


def check_positive(name: str, value: Any, *, schedule: bool = False, where: str = "") -> None:
    """A finite scalar > 0, such as an ``eps`` that guards a division."""
    check_in_range(name, value, 0.0, np.inf, low_closed=False, high_closed=False, schedule=schedule, where=where)


def check_non_negative(name: str, value: Any, *, schedule: bool = False, where: str = "") -> None:
    """A finite scalar >= 0."""
    check_in_range(name, value, 0.0, np.inf, high_closed=False, schedule=schedule, where=where)


def check_callable(name: str, value: Any, what: str = "a function", *, where: str = "") -> None:
    """Raises ``TypeError`` unless ``value`` is callable.

    Args:
      name: the argument's name.
      value: the argument.
      what: what it must be, for the message (``"a schedule (a function of
        the step count)"``).
      where: the factory that checks, for the message (optional).
    """
    if not callable(value):
        raise TypeError(f"{_prefix(where)}`{name}` must be {what}, got {_describe(value)}")


def check_bool(name: str, value: Any, *, where: str = "") -> None:
    """Raises ``TypeError`` unless ``value`` is a Python or NumPy bool (a static flag)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{_prefix(where)}`{name}` must be True or False, got {_describe(value)}")


def check_choice(name: str, value: Any, choices: Collection[Any], *, where: str = "") -> None:
    """Raises ``ValueError`` unless ``value`` is one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in sorted(choices, key=repr))
        raise ValueError(f"{_prefix(where)}`{name}` must be one of {options}, got {value!r}")


def check_float_dtype(name: str, dtype: Any) -> jnp.dtype | None:
    """Canonicalises an optional floating dtype argument.

    Returns:
      The canonical dtype, or ``None`` when ``dtype`` is ``None``.

    Raises:
      TypeError: the dtype is not a floating-point type.
    """
    if dtype is None:
        return None
    try:
        canonical = jax.dtypes.canonicalize_dtype(dtype)
    except TypeError:
        raise TypeError(f"`{name}` must be a floating dtype, got {dtype!r}") from None
    if not jnp.issubdtype(canonical, jnp.inexact):
        raise TypeError(f"`{name}` must be a floating dtype, got {np.dtype(canonical).name}")
    return canonical


def check_int(name: str, value: Any, minimum: int | None = None, *, where: str = "", traced_ok: bool = True) -> None:
    """Raises unless ``value`` is an integer (>= ``minimum`` when given).

    Python ints, NumPy integers and integer 0-d arrays pass; bools, floats
    (even ``2.0``) and anything else do not. A tracer passes when
    ``traced_ok`` (its value is only known when the step runs).

    Raises:
      TypeError: ``value`` is not an integer.
      ValueError: ``value`` is below ``minimum``.
    """
    if is_deferred(value):
        if traced_ok:
            return
        raise TypeError(f"{_prefix(where)}`{name}` must be a concrete integer known when the factory is called")
    bound = "" if minimum is None else f" >= {minimum}"
    is_int = isinstance(value, (int, np.integer)) or (
        np.ndim(value) == 0 and jnp.issubdtype(getattr(value, "dtype", np.float64), jnp.integer)
    )
    if isinstance(value, (bool, np.bool_)) or not is_int:
        raise TypeError(f"{_prefix(where)}`{name}` must be an integer{bound}, got {_describe(value)}")
    if minimum is not None and int(value) < minimum:
        raise ValueError(f"{_prefix(where)}`{name}` must be an integer{bound}, got {int(value)}")


def check_int_at_least(name: str, value: Any, minimum: int, *, where: str = "") -> None:
    """Raises unless ``value`` is an integer >= ``minimum`` (tracers pass).

    Raises:
      TypeError: ``value`` is not an integer (bools are rejected).
      ValueError: ``value`` is below ``minimum``.
    """
    check_int(name, value, minimum, where=where)


def check_eps_pair(eps: Any, eps_root: Any) -> None:
    """``eps`` and ``eps_root`` are >= 0 and not both 0 (that divides by 0)."""
    check_non_negative("eps", eps)
    check_non_negative("eps_root", eps_root)
    eps_arr, root_arr = _concrete("eps", eps), _concrete("eps_root", eps_root)
    if eps_arr is not None and root_arr is not None and not ((eps_arr > 0) | (root_arr > 0)).all():
        raise ValueError(
            f"`eps` must be > 0 (or `eps_root` > 0) to keep the denominator "
            f"away from zero, got eps={eps!r}, eps_root={eps_root!r}"
        )


def check_axis(name: str, axis: Any, *, where: str, allow_none: bool = False) -> int | tuple[int, ...] | None:
    """The per-example axis as a Python int, or several as a tuple of distinct ints (``None`` if allowed).

    Raises:
      TypeError: ``axis`` is not an integer or a sequence of integers (bools are refused).
      ValueError: the sequence is empty or names an axis twice.
    """
    if axis is None and allow_none:
        return None

    def is_int(a: Any) -> bool:
        return isinstance(a, (int, np.integer)) and not isinstance(a, (bool, np.bool_))

    what = "an int or a sequence of ints" + (" or None" if allow_none else "")
    if is_int(axis):
        return int(axis)
    if not isinstance(axis, Sequence) or isinstance(axis, str):
        raise TypeError(f"{where}: `{name}` must be {what}, got {type(axis).__name__}: {axis!r}")
    if not all(is_int(a) for a in axis):
        raise TypeError(f"{where}: `{name}` must be {what}, got {axis!r}")
    axes = tuple(int(a) for a in axis)
    if not axes or len(set(axes)) != len(axes):
        raise ValueError(f"{where}: `{name}` must name at least one axis, each once, got {axis!r}")
    return axes


def check_axis_fits(per_elt_updates: Any, axis: int | tuple[int, ...], *, where: str) -> None:
    """Raises ``ValueError`` naming the first leaf that lacks one of the per-example axes (from :func:`check_axis`)."""
    axes = (axis,) if isinstance(axis, int) else axis
    leaves = jax.tree_util.tree_leaves_with_path(per_elt_updates)
    if not leaves:
        raise ValueError(f"{where}: `per_elt_updates` has no leaves")
    for path, leaf in leaves:
        ndim = jnp.ndim(leaf)
        if any(not -ndim <= a < ndim for a in axes):
            raise ValueError(
                f"{where}: `per_elt_axis`={axis!r} does not fit the leaf at {path_str(path)} of "
                f"`per_elt_updates`, which has shape {jnp.shape(leaf)}"
            )
