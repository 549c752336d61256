"""Wrappers that call the inner transformation only at some steps."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import (
    GradientTransformation,
    OptState,
    Params,
    Updates,
    with_extra_args_support,
)

__all__ = [
    "ConditionFn",
    "cond",
    "switch",
    "ConditionallyMaskState",
    "ConditionallyTransformState",
    "conditionally_mask",
    "conditionally_transform",
]


class ConditionFn(Protocol):
    """Decides from the step count whether the inner transformation runs."""

    def __call__(self, step: jax.Array, **extra_args: Any) -> jax.typing.ArrayLike:
        """Returns a bool scalar: True to call the inner transformation."""


class ConditionallyTransformState(NamedTuple):
    """The state of :func:`conditionally_transform`."""

    inner_state: Any
    step: jax.Array  # int32 scalar: how many times update was called.


class ConditionallyMaskState(NamedTuple):
    """The state of :func:`conditionally_mask`."""

    step: jax.Array  # int32 scalar: how many times update was called.
    inner_state: OptState


def inner_update_zeros(
    inner: GradientTransformation,
    updates: Updates,
    state: OptState,
    params: Params | None,
    extra_args: dict[str, Any],
) -> Updates:
    """Zeros shaped and typed like what ``inner.update`` would return.

    Used by the branch that skips the inner update, so both branches of a
    ``lax.cond`` agree even when ``inner`` changes dtypes. Costs a trace, no
    computation.
    """
    shapes = jax.eval_shape(lambda u, s, p: inner.update(u, s, p, **extra_args)[0], updates, state, params)
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def switch(index: Any, branches: Sequence[Callable[[Any], Any]], operand: Any = None) -> Any:
    """``lax.switch`` that runs only the chosen branch when ``index`` is concrete.

    Outside ``jit``/``vmap`` the index is a concrete array: calling the branch
    directly avoids compiling a new XLA conditional at every eager step.
    """
    if _checks.is_deferred(index):
        return jax.lax.switch(index, branches, operand)
    return branches[int(index)](operand)


def cond(
    pred: Any,
    true_fn: Callable[[Any], Any],
    false_fn: Callable[[Any], Any],
    operand: Any = None,
) -> Any:
    """``lax.cond`` that runs only the chosen branch when ``pred`` is concrete."""
    if _checks.is_deferred(pred):
        return jax.lax.cond(pred, true_fn, false_fn, operand)
    return true_fn(operand) if bool(pred) else false_fn(operand)


def bool_scalar(value: Any, where: str, name: str) -> jax.Array:
    """Checks that a condition is a bool scalar and returns it as an array."""
    value = jnp.asarray(value)
    if value.shape != () or value.dtype != jnp.bool_:
        raise ValueError(
            f"{where}: `{name}` must return a bool scalar, got dtype {value.dtype} and shape {value.shape}"
        )
    return value


def _check_callable(fn: Any, where: str) -> None:
    _checks.check_callable("should_transform_fn", fn, "a function of the step count", where=where)


def _conditional(
    inner: Any,
    should_transform_fn: ConditionFn,
    forward_extra_args: bool,
    *,
    where: str,
    state_cls: type,
    zero_when_skipped: bool,
) -> GradientTransformation:
    """The shared body: call ``inner`` when the condition holds, else skip it.

    A skipped step leaves the inner state as it was and returns either zero
    updates (``zero_when_skipped``) or the incoming updates.
    """
    _check_callable(should_transform_fn, where)
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return state_cls(step=jnp.zeros([], jnp.int32), inner_state=inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        _checks.check_state(state, state_cls, where)
        kwargs = extra_args if forward_extra_args else {}
        condition = bool_scalar(should_transform_fn(state.step, **kwargs), where, "should_transform_fn")

        def do_update(_):
            return inner.update(updates, state.inner_state, params, **extra_args)

        def skip(_):
            zeros = inner_update_zeros(inner, updates, state.inner_state, params, extra_args)
            kept = zeros if zero_when_skipped else _tree.cast_like(updates, zeros)
            return kept, state.inner_state

        updates, inner_state = cond(condition, do_update, skip, None)
        return updates, state_cls(step=_tree.safe_increment(state.step), inner_state=inner_state)

    return GradientTransformation(init_fn, update_fn)


def conditionally_transform(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformation:
    r"""Calls ``inner`` only at the steps where ``should_transform_fn`` says so.

    .. math::
       (u, s) \leftarrow \begin{cases} T(u, s) & c(t) \\ (u, s) & \text{otherwise} \end{cases}

    At other steps the updates and the inner state pass through unchanged
    (use :func:`conditionally_mask` to zero the updates instead).

    Args:
      inner: the inner transformation.
      should_transform_fn: ``c(step, **extra_args) -> bool`` scalar, where
        ``step`` counts the calls to ``update`` from 0 (int32).
      forward_extra_args: pass the extra keyword arguments to
        ``should_transform_fn`` too.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ConditionallyTransformState`.
    """
    return _conditional(
        inner,
        should_transform_fn,
        forward_extra_args,
        where="conditionally_transform",
        state_cls=ConditionallyTransformState,
        zero_when_skipped=False,
    )


def conditionally_mask(
    inner: Any, should_transform_fn: ConditionFn, forward_extra_args: bool = False
) -> GradientTransformation:
    r"""Calls ``inner`` at the chosen steps and returns zero updates at others.

    .. math::
       (u, s) \leftarrow \begin{cases} T(u, s) & c(t) \\ (0, s) & \text{otherwise} \end{cases}

    Args:
      inner: the inner transformation.
      should_transform_fn: ``c(step, **extra_args) -> bool`` scalar, where
        ``step`` counts the calls to ``update`` from 0 (int32).
      forward_extra_args: pass the extra keyword arguments to
        ``should_transform_fn`` too.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`ConditionallyMaskState`.

    Example:
      Apply updates only every other step:

      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.conditionally_mask(gdt.scale(-1.0), lambda step: step % 2 == 0)
      >>> state = tx.init(jnp.zeros(1))
      >>> u0, state = tx.update(jnp.ones(1), state)
      >>> u1, state = tx.update(jnp.ones(1), state)
      >>> u0, u1
      (Array([-1.], dtype=float32), Array([0.], dtype=float32))
    """
    return _conditional(
        inner,
        should_transform_fn,
        forward_extra_args,
        where="conditionally_mask",
        state_cls=ConditionallyMaskState,
        zero_when_skipped=True,
    )
