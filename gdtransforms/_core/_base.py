"""Base types: the gradient transformation and its trivial members."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, TypeAlias

import jax
import jax.numpy as jnp

PyTree: TypeAlias = Any
Params: TypeAlias = PyTree
Updates: TypeAlias = PyTree
OptState: TypeAlias = PyTree
Schedule: TypeAlias = Callable[[jax.typing.ArrayLike], jax.typing.ArrayLike]
ScalarOrSchedule: TypeAlias = jax.typing.ArrayLike | Schedule
MaskOrFn: TypeAlias = PyTree | Callable[[Params], PyTree] | None

NO_PARAMS_MSG = (
    "This transformation needs the current parameters: call "
    "`update(updates, state, params)` with `params` (got params=None)."
)


class TransformInitFn(Protocol):
    """Builds the initial state of a transformation from the parameters."""

    def __call__(self, params: Params) -> OptState: ...


class TransformUpdateFn(Protocol):
    """Transforms updates and returns them with the new state."""

    def __call__(
        self,
        updates: Updates,
        state: OptState,
        params: Params | None = None,
        **extra_args: Any,
    ) -> tuple[Updates, OptState]: ...


# The update of a transformation that takes extra arguments: the same call as
# TransformUpdateFn (every gdtransforms update accepts ``**extra_args``).
TransformUpdateExtraArgsFn = TransformUpdateFn


class StatefulSchedule(Protocol):
    """A schedule with state: ``init() -> state``, ``update(state, **extra_args) -> state``,
    ``__call__(state, **extra_args) -> value`` (what ``inject_hyperparams`` accepts besides
    plain functions of the step count)."""

    def init(self) -> Any: ...

    def update(self, state: Any, **extra_args: Any) -> Any: ...

    def __call__(self, state: Any, **extra_args: Any) -> Any: ...


class GradientTransformation(NamedTuple):
    """A pair of pure functions ``(init, update)``.

    ``init(params) -> state`` builds the state; ``update(updates, state,
    params=None, **extra_args) -> (updates, state)`` transforms the updates.
    Every update function of gdtransforms takes extra keyword arguments (such as
    ``value=loss``) and ignores those it does not use, so any transformation
    can sit in any chain.

    Attributes:
      init: the state initialiser.
      update: the update function.
    """

    init: TransformInitFn
    update: TransformUpdateFn


class GradientTransformationExtraArgs(GradientTransformation):
    """A :class:`GradientTransformation` whose ``update`` is known to take ``**extra_args``.

    Every gdtransforms update takes extra keyword arguments; this subclass
    marks the transformations that say so in their type, as optax's does:
    :func:`chain` and :func:`with_extra_args_support` return one, and
    ``isinstance`` works as in optax in both directions (an instance of this
    class is a :class:`GradientTransformation`; a plain
    ``GradientTransformation(init, update)`` is not one of these).

    Attributes:
      init: the state initialiser.
      update: the update function, taking ``**extra_args``.
    """


class EmptyState(NamedTuple):
    """The state of a stateless transformation: it holds no arrays."""


def init_empty_state(params: Params) -> EmptyState:
    """Init function of a stateless transformation."""
    del params
    return EmptyState()


def require_params(params: Params | None) -> Params:
    """Returns ``params``, or raises the standard missing-params error."""
    if params is None:
        raise ValueError(NO_PARAMS_MSG)
    return params


def accepts_extra_args(update: Callable[..., Any]) -> bool:
    """Whether ``update`` takes arbitrary keyword arguments."""
    try:
        parameters = inspect.signature(update).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def with_extra_args_support(tx: Any) -> GradientTransformation:
    """Wraps any ``(init, update)`` pair so its update ignores extra kwargs.

    Transformations from gdtransforms and optax's ``GradientTransformation
    ExtraArgs`` pass through unchanged; a plain optax transformation gets a
    wrapper that drops the keyword arguments it cannot take.

    Args:
      tx: an object with ``init`` and ``update`` attributes.

    Returns:
      A :class:`GradientTransformationExtraArgs` (``tx`` itself when it is one).
    """
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise TypeError(f"expected a gradient transformation with `init` and `update`, got {type(tx).__name__}")
    if isinstance(tx, GradientTransformationExtraArgs):
        return tx
    if accepts_extra_args(tx.update):
        return GradientTransformationExtraArgs(tx.init, tx.update)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        return tx.update(updates, state, params)

    return GradientTransformationExtraArgs(tx.init, update_fn)


def identity() -> GradientTransformation:
    """Leaves updates unchanged: ``u -> u``.

    Returns:
      A stateless :class:`GradientTransformation`.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return updates, state

    return GradientTransformation(init_empty_state, update_fn)


def set_to_zero() -> GradientTransformation:
    """Replaces every update with zeros: ``u -> 0``.

    Used to freeze parameters, for example inside :func:`partition`.

    Returns:
      A stateless :class:`GradientTransformation`.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(jnp.zeros_like, updates), state

    return GradientTransformation(init_empty_state, update_fn)


def stateless(
    f: Callable[[Updates, Params | None], Updates],
) -> GradientTransformation:
    """Builds a stateless transformation from ``f(updates, params)``.

    Args:
      f: a function of the whole updates tree and the params (or ``None``).

    Returns:
      A :class:`GradientTransformation` with an empty state.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del state, extra_args
        return f(updates, params), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


def stateless_with_tree_map(
    f: Callable[[jax.Array, jax.Array | None], jax.Array],
) -> GradientTransformation:
    """Builds a stateless transformation that maps ``f(u, p)`` over leaves.

    Args:
      f: a function of one update leaf and its parameter leaf (or ``None``
        when ``update`` is called without params).

    Returns:
      A :class:`GradientTransformation` with an empty state.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del state, extra_args
        if params is None:
            return jax.tree.map(lambda u: f(u, None), updates), EmptyState()
        return jax.tree.map(f, updates, params), EmptyState()

    return GradientTransformation(init_empty_state, update_fn)


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf: an empty node, so it holds no state.

    ``jax.tree.map`` skips it (it has no children), so an inner
    transformation never allocates anything for a masked-out parameter.
    """
