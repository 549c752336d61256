"""NaN and Inf safety: skip non-finite steps, or zero NaNs."""

from __future__ import annotations

import operator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates, with_extra_args_support
from gdtransforms._wrappers._conditionality import cond, inner_update_zeros

__all__ = [
    "ApplyIfFiniteState",
    "ZeroNansState",
    "adopt_inner_state",
    "all_finite",
    "apply_if_finite",
    "zero_nans",
]


class ApplyIfFiniteState(NamedTuple):
    """The state of :func:`apply_if_finite`.

    Attributes:
      notfinite_count: int32, the current streak of consecutive non-finite
        steps. Reset to 0 by a finite step, and by the step at which the
        wrapper gives up and applies a non-finite update (optax #1746).
      last_finite: bool, whether the last step's updates were all finite.
      total_notfinite: int32, every non-finite step since ``init``; never reset.
      inner_state: the inner transformation's state.
    """

    notfinite_count: jax.Array
    last_finite: jax.Array
    total_notfinite: jax.Array
    inner_state: Any


def all_finite(tree: Updates) -> jax.Array:
    """A bool scalar: whether every element of every leaf is finite."""
    flags = [jnp.all(jnp.isfinite(leaf)) for leaf in jax.tree.leaves(tree)]
    if not flags:
        return jnp.array(True)
    return jax.tree.reduce(operator.and_, flags)


def _has_foreign_nodes(tree: Any) -> bool:
    """Whether ``tree`` has a container built by optax (its state classes share our names)."""
    found = []

    def visit(x: Any) -> bool:
        if type(x).__module__.split(".")[0] == "optax":
            found.append(x)
        return False

    jax.tree.leaves(tree, is_leaf=visit)
    return bool(found)


def adopt_inner_state(update: Any, inner_state: Any) -> Any:
    """An optax-built inner state rebuilt with the classes ``update`` returns.

    optax states have our field names and leaves, but other classes; a wrapper
    that passes the old state through ``lax.cond`` next to a new one needs the
    same classes on both sides. ``update(inner_state)`` is only traced
    (``jax.eval_shape``), and only when the state holds optax classes.
    """
    if not _has_foreign_nodes(inner_state):
        return inner_state
    new_def = jax.tree.structure(jax.eval_shape(update, inner_state))
    leaves = jax.tree.leaves(inner_state)
    if new_def.num_leaves != len(leaves):  # type: ignore[attr-defined]
        return inner_state
    return jax.tree.unflatten(new_def, leaves)


def apply_if_finite(inner: Any, max_consecutive_errors: int, *, check_outputs: bool = False) -> GradientTransformation:
    r"""Skips the steps whose updates hold a NaN or an Inf.

    A skipped step returns zero updates and leaves the inner state exactly as
    it was, so the NaN reaches neither the params nor the optimizer state.
    After more than ``max_consecutive_errors`` non-finite steps in a row the
    wrapper gives up: that step's update is applied (so a run that is broken
    for good shows it) and the streak counter starts again from 0.

    .. math::
       (u, s) \leftarrow \begin{cases}
         T(u, s) & u \text{ finite, or } n > N \\
         (0, s) & \text{otherwise}
       \end{cases}

    where :math:`n` counts the consecutive non-finite steps including this one.

    Unlike optax 0.2.8, ``notfinite_count`` is reset on the give-up step
    (optax #1746): there it kept growing, so after one give-up every later
    non-finite step was applied until a finite one came. Here every streak of
    non-finite steps gets the same ``max_consecutive_errors`` skips. Up to the
    first give-up both behave identically.

    Finite gradients can still overflow inside the optimizer: a gradient of
    ``1e30`` squares to ``inf`` in float32, Adam's ``nu`` becomes ``inf``, the
    update of that parameter is 0 from then on, and nothing reports it (optax
    has the same hole). With ``check_outputs=True`` the inner update is run
    first and the step is skipped unless its outputs (the updates and the new
    inner state) are finite too. It is off by default, for optax's behaviour
    (and because the inner update then runs on every step, even skipped ones).

    Args:
      inner: the transformation to protect (usually the whole optimizer).
      max_consecutive_errors: :math:`N >= 0`, how many non-finite steps in a
        row are skipped before one is applied.
      check_outputs: also skip a step whose updates or new inner state hold a
        NaN or an Inf (keyword only; not in optax).

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ApplyIfFiniteState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.apply_if_finite(gdt.scale(-0.1), max_consecutive_errors=3)
      >>> state = tx.init(jnp.zeros(2))
      >>> updates, state = tx.update(jnp.array([1.0, jnp.nan]), state)
      >>> updates, int(state.total_notfinite)
      (Array([0., 0.], dtype=float32), 1)
    """
    _checks.check_int_at_least("max_consecutive_errors", max_consecutive_errors, 0, where="apply_if_finite")
    if not isinstance(check_outputs, bool):
        raise TypeError(f"apply_if_finite: `check_outputs` must be a bool, got {type(check_outputs).__name__}")
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return ApplyIfFiniteState(
            notfinite_count=jnp.zeros([], jnp.int32),
            last_finite=jnp.array(True, jnp.bool_),
            total_notfinite=jnp.zeros([], jnp.int32),
            inner_state=inner.init(params),
        )

    def update_fn(updates, state, params=None, **extra_args):
        state = _checks.adopt_state(state, ApplyIfFiniteState, "apply_if_finite")
        state = state._replace(
            inner_state=adopt_inner_state(
                lambda s: inner.update(updates, s, params, **extra_args)[1], state.inner_state
            )
        )
        finite = all_finite(updates)
        if check_outputs:
            # Run the inner update first: its outputs decide too.
            candidate = inner.update(updates, state.inner_state, params, **extra_args)
            finite = jnp.logical_and(finite, all_finite(candidate))
        streak = jnp.where(finite, jnp.zeros([], jnp.int32), _tree.safe_increment(state.notfinite_count))
        apply = jnp.logical_or(finite, streak > max_consecutive_errors)

        def do_update(_):
            if check_outputs:
                return candidate
            return inner.update(updates, state.inner_state, params, **extra_args)

        def skip(_):
            zeros = inner_update_zeros(inner, updates, state.inner_state, params, extra_args)
            return zeros, state.inner_state

        new_updates, inner_state = cond(apply, do_update, skip)
        return new_updates, ApplyIfFiniteState(
            # Applied steps (finite, or the give-up step) end the streak.
            notfinite_count=jnp.where(apply, jnp.zeros([], jnp.int32), streak),
            last_finite=finite,
            total_notfinite=jnp.where(finite, state.total_notfinite, _tree.safe_increment(state.total_notfinite)),
            inner_state=inner_state,
        )

    return GradientTransformation(init_fn, update_fn)


class ZeroNansState(NamedTuple):
    """The state of :func:`zero_nans`.

    Attributes:
      found_nan: a tree like params with one bool per leaf: whether the last
        update of that leaf held a NaN.
    """

    found_nan: Any


def zero_nans() -> GradientTransformation:
    r"""Replaces NaNs in the updates by zeros and records where they were.

    .. math:: u_i \leftarrow 0 \ \text{if}\ u_i\ \text{is NaN}

    Infs pass through unchanged (as in optax).

    Returns:
      A :class:`GradientTransformation` whose state is :class:`ZeroNansState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.zero_nans()
      >>> updates, state = tx.update({"w": jnp.array([1.0, jnp.nan])}, tx.init({"w": jnp.zeros(2)}))
      >>> updates["w"], bool(state.found_nan["w"])
      (Array([1., 0.], dtype=float32), True)
    """

    def init_fn(params):
        return ZeroNansState(found_nan=jax.tree.map(lambda _: jnp.array(False), params))

    def update_fn(updates, state, params=None, **extra_args):
        del state, params, extra_args
        found_nan = jax.tree.map(lambda u: jnp.any(jnp.isnan(u)), updates)
        updates = jax.tree.map(lambda u: jnp.where(jnp.isnan(u), jnp.zeros_like(u), u), updates)
        return updates, ZeroNansState(found_nan=found_nan)

    return GradientTransformation(init_fn, update_fn)
