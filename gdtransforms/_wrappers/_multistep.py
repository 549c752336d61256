"""Gradient accumulation: average k mini-batch gradients, then update once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Params, Updates, with_extra_args_support
from gdtransforms._wrappers._conditionality import bool_scalar, inner_update_zeros, switch
from gdtransforms._wrappers._finite import adopt_inner_state, all_finite

__all__ = [
    "MultiSteps",
    "MultiStepsState",
    "ShouldSkipUpdateFunction",
    "skip_large_updates",
    "skip_not_finite",
]


class ShouldSkipUpdateFunction(Protocol):
    """Decides whether a mini-step's gradients are dropped by :class:`MultiSteps`."""

    def __call__(
        self, updates: Updates, gradient_step: jax.typing.ArrayLike, params: Params | None
    ) -> tuple[jax.typing.ArrayLike, Any]:
        """Returns ``(should_skip, skip_state)``: a bool scalar and any tree of
        arrays, stored in :attr:`MultiStepsState.skip_state` for logging."""


def skip_not_finite(
    updates: Updates, gradient_step: jax.typing.ArrayLike, params: Params | None
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skips mini-steps whose updates hold a NaN or an Inf.

    Returns:
      ``(should_skip, {"should_skip": ..., "num_not_finite": ...})``, the
      second being the int32 count of non-finite elements.
    """
    del gradient_step, params
    counts = [jnp.sum(~jnp.isfinite(u), dtype=jnp.int32) for u in jax.tree.leaves(updates)]
    num_not_finite = sum(counts, start=jnp.zeros([], jnp.int32))
    should_skip = num_not_finite > 0
    return should_skip, {"should_skip": should_skip, "num_not_finite": num_not_finite}


def skip_large_updates(
    updates: Updates,
    gradient_step: jax.typing.ArrayLike,
    params: Params | None,
    max_squared_norm: jax.typing.ArrayLike,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Skips mini-steps whose squared global norm is not below ``max_squared_norm``.

    Use it as ``functools.partial(skip_large_updates, max_squared_norm=42.0)``.
    A NaN norm is skipped too.

    Returns:
      ``(should_skip, {"should_skip": ..., "norm_squared": ...})``.
    """
    del gradient_step, params
    norm_sq = sum((jnp.sum(jnp.square(u)) for u in jax.tree.leaves(updates)), start=jnp.zeros([]))
    should_skip = jnp.logical_not(norm_sq < max_squared_norm)
    return should_skip, {"should_skip": should_skip, "norm_squared": norm_sq}


def _at_least_float32(leaf: Any) -> Any:
    return jnp.promote_types(jnp.result_type(leaf), jnp.float32)


class MultiStepsState(NamedTuple):
    """The state of :class:`MultiSteps`.

    Attributes:
      mini_step: int32, mini-batches accumulated since the last update.
      gradient_step: int32, updates applied so far.
      inner_opt_state: the inner optimizer's state.
      acc_grads: the running mean (or sum) of this cycle's gradients: the one
        extra buffer, in ``accumulator_dtype``.
      skip_state: what ``should_skip_update_fn`` returned last (for logging).
    """

    mini_step: jax.Array
    gradient_step: jax.Array
    inner_opt_state: Any
    acc_grads: Any
    skip_state: Any = ()


def _no_skip(updates: Updates, gradient_step: Any, params: Any) -> tuple[jax.Array, tuple[()]]:
    del updates, gradient_step, params
    return jnp.array(False), ()


class MultiSteps:
    r"""Accumulates gradients over k mini-steps, then applies one inner update.

    .. math::
       \bar g_j = \bar g_{j-1} + \frac{g_j - \bar g_{j-1}}{j}, \quad j = 1..k;
       \qquad u = T(\bar g_k) \text{ at the } k\text{-th mini-step, else } 0

    The mean is kept with Welford's update, in one buffer (``acc_grads``).
    Between updates the returned updates are zeros; the inner optimizer runs
    only on the k-th mini-step (optax runs it at every mini-step and discards
    the result). Numerically the same as optax's ``MultiSteps``.

    Two differences from optax 0.2.8, outside the cases where both agree:

    - after an update the accumulator is reset to exact zeros; optax
      multiplies it by 0, which leaves a NaN in it forever once one got in
      (only without ``should_skip_update_fn``);
    - when a schedule shrinks k below the mini-steps already accumulated, the
      update is applied at once; optax keeps accumulating until the mini-step
      counter wraps around.

    Args:
      opt: the inner optimizer.
      every_k_schedule: k, an int >= 1, or a function of ``gradient_step``
        returning k (to grow the effective batch during training).
      use_grad_mean: average the gradients (default) or sum them.
      should_skip_update_fn: optional ``f(updates, gradient_step, params) ->
        (bool, skip_state)``; a skipped mini-step changes nothing but
        ``skip_state``. See :func:`skip_not_finite` and
        :func:`skip_large_updates`.
      accumulator_dtype: dtype of ``acc_grads``; by default each leaf's dtype
        promoted to at least float32 (float32 for bfloat16 and float16 params,
        float64 and complex params keep their own).
      check_outputs: also check the inner update's outputs (keyword only; not
        in optax; off by default for optax's behaviour): at the k-th
        mini-step, if the updates or the new inner state hold a NaN or an Inf
        (finite gradients can overflow inside the optimizer, e.g. ``g**2`` in
        float32), the cycle is dropped: zero updates, the inner state and
        ``gradient_step`` unchanged, the accumulator emptied.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.MultiSteps(gdt.scale(-1.0), every_k_schedule=2)
      >>> state = opt.init(jnp.zeros(1))
      >>> u1, state = opt.update(jnp.array([1.0]), state)
      >>> u2, state = opt.update(jnp.array([3.0]), state)
      >>> u1, u2, bool(opt.has_updated(state))
      (Array([0.], dtype=float32), Array([-2.], dtype=float32), True)
    """

    def __init__(
        self,
        opt: Any,
        every_k_schedule: int | Callable[[jax.Array], jax.typing.ArrayLike],
        use_grad_mean: bool = True,
        should_skip_update_fn: ShouldSkipUpdateFunction | None = None,
        accumulator_dtype: Any | None = None,
        *,
        check_outputs: bool = False,
    ):
        self._opt = with_extra_args_support(opt)
        if callable(every_k_schedule):
            self._every_k_schedule = every_k_schedule
        else:
            _checks.check_int_at_least("every_k_schedule", every_k_schedule, 1, where="MultiSteps")
            k = int(every_k_schedule)
            self._every_k_schedule = lambda step: k
        if should_skip_update_fn is not None:
            _checks.check_callable("should_skip_update_fn", should_skip_update_fn, where="MultiSteps")
        self._use_grad_mean = use_grad_mean
        self._should_skip_update_fn = should_skip_update_fn or _no_skip
        self._accumulator_dtype = _checks.check_float_dtype("accumulator_dtype", accumulator_dtype)
        if not isinstance(check_outputs, bool):
            raise TypeError(f"MultiSteps: `check_outputs` must be a bool, got {type(check_outputs).__name__}")
        self._check_outputs = check_outputs

    @property
    def inner_opt(self) -> GradientTransformation:
        """The wrapped optimizer."""
        return self._opt

    def _accumulate(self, grads: Updates, acc: Any, mini_step: jax.Array) -> Any:
        if self._use_grad_mean:
            step = lambda g, a: a + (g - a) / (mini_step + 1)  # noqa: E731
        else:
            step = lambda g, a: a + g  # noqa: E731
        return jax.tree.map(lambda g, a: step(g, a).astype(a.dtype), grads, acc)

    def init(self, params: Params) -> MultiStepsState:
        """Builds the state: counters at 0, a zero accumulator, the inner state."""
        gradient_step = jnp.zeros([], jnp.int32)
        _, skip_state = self._should_skip_update_fn(_tree.zeros_like(params), gradient_step, params)
        return MultiStepsState(
            mini_step=jnp.zeros([], jnp.int32),
            gradient_step=gradient_step,
            inner_opt_state=self._opt.init(params),
            acc_grads=jax.tree.map(
                lambda p: _tree.zeros_like(p, self._accumulator_dtype or _at_least_float32(p)),
                params,
            ),
            skip_state=skip_state,
        )

    def update(
        self,
        updates: Updates,
        state: MultiStepsState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, MultiStepsState]:
        """Accumulates ``updates``; every k-th call returns the inner update."""
        state = _checks.adopt_state(state, MultiStepsState, "MultiSteps")
        acc_like = _tree.cast_like(state.acc_grads, updates)
        state = state._replace(
            inner_opt_state=adopt_inner_state(
                lambda s: self._opt.update(acc_like, s, params, **extra_args)[1], state.inner_opt_state
            )
        )
        k = self._every_k_schedule(state.gradient_step)
        if not _checks.is_deferred(k) and not callable(k):
            _checks.check_int_at_least("every_k_schedule", k, 1, where="MultiSteps")
        should_skip, skip_state = self._should_skip_update_fn(updates, state.gradient_step, params)
        should_skip = bool_scalar(should_skip, "MultiSteps", "should_skip_update_fn")
        emit = state.mini_step >= k - 1
        opt = self._opt

        def zeros() -> Updates:
            acc = _tree.cast_like(state.acc_grads, updates)
            return inner_update_zeros(opt, acc, state.inner_opt_state, params, extra_args)

        def skip(_):
            return (zeros(), state.inner_opt_state, state.acc_grads, state.mini_step, state.gradient_step)

        def accumulate(_):
            acc = self._accumulate(updates, state.acc_grads, state.mini_step)
            return (zeros(), state.inner_opt_state, acc, _tree.safe_increment(state.mini_step), state.gradient_step)

        def apply(_):
            acc = self._accumulate(updates, state.acc_grads, state.mini_step)
            new_updates, inner_state = opt.update(
                _tree.cast_like(acc, updates), state.inner_opt_state, params, **extra_args
            )
            inner_state = jax.tree.map(
                lambda new, old: jnp.asarray(new).astype(jnp.asarray(old).dtype),
                inner_state,
                state.inner_opt_state,
            )
            applied = (
                new_updates,
                inner_state,
                _tree.zeros_like(acc),
                jnp.zeros([], jnp.int32),
                _tree.safe_increment(state.gradient_step),
            )
            if not self._check_outputs:
                return applied
            ok = all_finite((new_updates, inner_state))
            dropped = (
                zeros(),
                state.inner_opt_state,
                _tree.zeros_like(acc),
                jnp.zeros([], jnp.int32),
                state.gradient_step,
            )
            return jax.tree.map(lambda a, b: jnp.where(ok, a, b), applied, dropped)

        branch = jnp.where(should_skip, 0, jnp.where(emit, 2, 1))
        new_updates, inner_state, acc, mini_step, gradient_step = switch(branch, (skip, accumulate, apply))
        return new_updates, MultiStepsState(
            mini_step=mini_step,
            gradient_step=gradient_step,
            inner_opt_state=inner_state,
            acc_grads=acc,
            skip_state=skip_state,
        )

    def has_updated(self, state: MultiStepsState) -> jax.Array:
        """Whether the last call to ``update`` applied an inner update."""
        return jnp.logical_and(state.mini_step == 0, state.gradient_step > 0)

    def gradient_transformation(self) -> GradientTransformation:
        """This wrapper as a :class:`GradientTransformation` (for ``chain``)."""
        return GradientTransformation(init=self.init, update=self.update)
