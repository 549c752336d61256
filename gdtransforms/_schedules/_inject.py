"""Live hyperparameters: keep them in the state, schedule them, change them.

Hyperparameter sweeps with ``vmap``: an optimizer whose hyperparameters are
arrays trains a batch of configurations in one compiled call (see
:func:`inject_hyperparams`'s example); that is the notes' grid or random
search (docs/notes.md §10) without one compilation per configuration.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, OptState, Schedule, with_extra_args_support
from gdtransforms._schedules._hyper import (
    Hyperparams,
    HyperScalar,
    as_hyperparam,
    contains_hyper,
    materialize,
    used_as_array,
    weak,
)

__all__ = [
    "InjectHyperparamsState",
    "InjectStatefulHyperparamsState",
    "WrappedSchedule",
    "WrappedScheduleState",
    "inject_hyperparams",
]


class InjectHyperparamsState(NamedTuple):
    """optax's older state for injected hyperparameters, kept for compatibility."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    hyperparams: dict[str, jax.Array]
    inner_state: OptState


class InjectStatefulHyperparamsState(NamedTuple):
    """The state of an optimizer built by :func:`inject_hyperparams`.

    Attributes:
      count: the number of updates so far (int32).
      hyperparams: the hyperparameters by name; set one between steps with
        ``state.hyperparams["learning_rate"] = new_value``.
      hyperparams_states: the state of each scheduled hyperparameter.
      inner_state: the wrapped optimizer's state.
    """

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    hyperparams: dict[str, jax.Array]
    hyperparams_states: dict[str, Any]
    inner_state: OptState


class WrappedScheduleState(NamedTuple):
    """The state of a :class:`WrappedSchedule`: the step count."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar


class WrappedSchedule:
    """A stateful schedule (``init``, ``update``, ``__call__``) from a plain one.

    Args:
      schedule_fn: a function of the step count.
    """

    def __init__(self, schedule_fn: Schedule) -> None:
        self.schedule_fn = schedule_fn

    def init(self) -> WrappedScheduleState:
        return WrappedScheduleState(count=jnp.zeros([], jnp.int32))

    def update(self, state: WrappedScheduleState, **extra_args: Any) -> WrappedScheduleState:
        del extra_args
        return WrappedScheduleState(count=_tree.safe_increment(state.count))

    def __call__(self, state: WrappedScheduleState, **extra_args: Any) -> jax.typing.ArrayLike:
        del extra_args
        return self.schedule_fn(state.count)


def _is_stateful_schedule(value: Any) -> bool:
    return callable(value) and callable(getattr(value, "init", None)) and callable(getattr(value, "update", None))


def _bound_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:
    """The factory's arguments by name, defaults included."""
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(
                    f"inject_hyperparams passes hyperparameters by name; the factory's *{name} cannot receive {value!r}"
                )
        else:
            arguments[name] = value
    return arguments


def _declared_int(signature: inspect.Signature, name: str) -> bool:
    """Whether the factory declares ``name`` an integer (an int default or an int-only annotation).

    Such a hyperparameter (``patience``, a count) is stored as int32; every
    other numeric one (rates, decays, ... even when given as ``1``) as a float.
    """
    param = signature.parameters.get(name)
    if param is None:
        return False
    default = param.default
    if isinstance(default, int) and not isinstance(default, bool):
        return True
    annotation = param.annotation
    if annotation is int:
        return True
    if isinstance(annotation, str):
        words = set(annotation.replace("|", " ").replace("[", " ").replace("]", " ").replace(",", " ").split())
        return "int" in words and not any(w in words for w in ("float", "Schedule", "ScalarOrSchedule", "ArrayLike"))
    return False


class _Arguments(NamedTuple):
    """A factory's arguments sorted by what :func:`inject_hyperparams` does with them."""

    scheduled: dict[str, Any]  # stateful schedules (plain ones wrapped)
    numeric: dict[str, Any]  # numbers and arrays: live in the state
    static: dict[str, Any]  # passed to the factory as they are


def _sort_arguments(arguments: dict[str, Any], static_names: set[str]) -> _Arguments:
    scheduled, numeric, static = {}, {}, {}
    for name, value in arguments.items():
        # A dtype (jnp.float32 is a callable type) is never a schedule.
        if name in static_names or isinstance(value, (bool, np.bool_, type, np.dtype)) or value is None:
            static[name] = value
        elif isinstance(value, jax.Array) and jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            static[name] = value  # a random key (jax.random.key) is not a hyperparameter, as in optax
        elif _is_stateful_schedule(value):
            scheduled[name] = value
        elif callable(value):
            scheduled[name] = WrappedSchedule(value)
        elif isinstance(value, (int, float, jax.Array, np.ndarray, np.number)):
            numeric[name] = value
        else:
            static[name] = value
    return _Arguments(scheduled, numeric, static)


def _storage_dtype(value: Any, declared_int: bool, requested: Any) -> Any:
    """The fixed dtype a numeric hyperparameter is kept in.

    A floating hyperparameter: ``requested`` (``hyperparam_dtype``) when given,
    else a floating array's own dtype, else float32 (Python numbers, integer
    arrays for a rate). An integer one (``declared_int``): int32.
    """
    dtype = jnp.asarray(value).dtype
    if declared_int and jnp.issubdtype(dtype, jnp.integer):
        return jnp.dtype(jnp.int32)
    if requested is not None:
        return requested
    if isinstance(value, (jax.Array, np.ndarray, np.floating)) and jnp.issubdtype(dtype, jnp.inexact):
        return jax.dtypes.canonicalize_dtype(dtype)
    return jnp.dtype(jnp.float32)


class _Injected:
    """One injected optimizer: its arguments, their dtypes, ``init`` and ``update``.

    Built by :func:`inject_hyperparams`'s wrapped factory for one call.
    """

    def __init__(
        self, inner_factory: Callable[..., Any], args: _Arguments, signature: inspect.Signature, hyperparam_dtype: Any
    ) -> None:
        self.inner_factory = inner_factory
        self.args = args
        self.hyperparam_dtype = hyperparam_dtype
        self.dtypes = {
            k: _storage_dtype(v, _declared_int(signature, k), hyperparam_dtype) for k, v in args.numeric.items()
        }
        # The Python numbers the plain optimizer computes with (exact while unchanged).
        self.plain = {
            k: v
            for k, v in args.numeric.items()
            if isinstance(v, (int, float)) and (hyperparam_dtype is None or not isinstance(v, float))
        }
        self.scalar = {k for k, v in args.numeric.items() if np.ndim(v) == 0}
        self._build_initial()  # the factory checks the hyperparameters now, not at init

    # -- Values ---------------------------------------------------------------------------

    def _schedule_dtype(self, value: jax.Array) -> Any:
        if self.hyperparam_dtype is not None and jnp.issubdtype(value.dtype, jnp.inexact):
            return self.hyperparam_dtype
        return jnp.dtype(jnp.float32) if jnp.issubdtype(value.dtype, jnp.inexact) else value.dtype

    def _scheduled_value(self, name: str, value: Any) -> jax.Array:
        """A schedule's output, checked scalar, in the dtype the step uses."""
        value = _checks.check_scalar_value(name, jnp.asarray(value), where="inject_hyperparams")
        if self.hyperparam_dtype is not None and jnp.issubdtype(value.dtype, jnp.inexact):
            value = value.astype(self.hyperparam_dtype)
        return value

    def _stored(self, name: str, value: Any) -> jax.Array:
        dtype = self.dtypes[name] if name in self.dtypes else self._schedule_dtype(jnp.asarray(value))
        return as_hyperparam(value, dtype)

    def _build_initial(self) -> tuple[dict[str, Any], dict[str, jax.Array], Any]:
        hparams_states = {k: f.init() for k, f in self.args.scheduled.items()}
        scheduled = {k: self._scheduled_value(k, f(hparams_states[k])) for k, f in self.args.scheduled.items()}
        inner = self.inner_factory(**self.args.static, **self.args.numeric, **scheduled)
        return hparams_states, scheduled, inner

    def read_state(self, state: Any) -> dict[str, jax.Array]:
        """The numeric hyperparameters in ``state``, each cast to its fixed dtype and checked scalar."""
        _checks.check_state(state, InjectStatefulHyperparamsState, "inject_hyperparams")
        hyperparams = state.hyperparams
        names = {*self.args.numeric, *self.args.scheduled}
        missing, unknown = set(self.args.numeric) - set(hyperparams), set(hyperparams) - names
        if missing or unknown:
            raise ValueError(
                f"inject_hyperparams: state.hyperparams must have the keys {sorted(names)}; "
                f"missing {sorted(missing)}, unknown {sorted(unknown)}"
            )
        values = {}
        for k in self.args.numeric:
            value = hyperparams[k]
            if isinstance(value, (bool, np.bool_, str, list, tuple)) or callable(value):
                raise TypeError(
                    f"inject_hyperparams: state.hyperparams[{k!r}] must be a number or an array, got "
                    f"{type(value).__name__}: {value!r}"
                )
            value = as_hyperparam(value, self.dtypes[k])
            if k in self.scalar:
                _checks.check_scalar_value(f"state.hyperparams[{k!r}]", value, where="inject_hyperparams")
            values[k] = value
        return values

    def for_factory(self, name: str, value: jax.Array) -> Any:
        """What the inner factory receives for ``name``: a :class:`HyperScalar` or an array."""
        if name in self.plain and value.ndim == 0:
            live = weak(value)
            same = value == self.plain[name]
            if not _checks.is_deferred(value):  # eager: decide now
                return self.plain[name] if bool(same) else HyperScalar(None, live, None)
            return HyperScalar(self.plain[name], live, same)
        if name in self.args.scheduled:
            return HyperScalar(None, value, None) if value.ndim == 0 else value
        if not isinstance(self.args.numeric[name], (jax.Array, np.ndarray, np.number)):
            # A float given with hyperparam_dtype: that dtype, strongly typed.
            return HyperScalar(None, value, None) if value.ndim == 0 else value
        return value  # an array given by the user behaves as in the plain optimizer

    # -- The transformation ---------------------------------------------------------------

    def init(self, params: Any) -> InjectStatefulHyperparamsState:
        hparams_states, scheduled, inner = self._build_initial()
        numeric = {k: self._stored(k, v) for k, v in self.args.numeric.items()}
        return InjectStatefulHyperparamsState(
            count=jnp.zeros([], jnp.int32),
            hyperparams=Hyperparams({**numeric, **{k: self._stored(k, v) for k, v in scheduled.items()}}),
            hyperparams_states=hparams_states,
            inner_state=inner.init(params),
        )

    def _inner_update(self, hyper: dict[str, Any], updates: Any, state: Any, params: Any, extra_args: dict) -> Any:
        tx = with_extra_args_support(self.inner_factory(**self.args.static, **hyper))
        return tx.update(updates, state.inner_state, params, **extra_args)

    def update(self, updates: Any, state: Any, params: Any = None, **extra_args: Any) -> tuple[Any, Any]:
        values = self.read_state(state)
        scheduled = {
            k: self._scheduled_value(k, f(state.hyperparams_states[k], **extra_args))
            for k, f in self.args.scheduled.items()
        }
        values.update(scheduled)
        hparams_states = {
            k: f.update(state.hyperparams_states[k], **extra_args) for k, f in self.args.scheduled.items()
        }
        hyper = {k: self.for_factory(k, v) for k, v in values.items()}
        try:
            new_updates, inner_state = self._inner_update(hyper, updates, state, params, extra_args)
        except TypeError as error:
            if not used_as_array(error):
                raise
            # The factory used a hyperparameter as an array (jnp.sqrt(b1)): build it with arrays.
            new_updates, inner_state = self._inner_update(materialize(hyper), updates, state, params, extra_args)
        if contains_hyper((new_updates, inner_state)):
            new_updates, inner_state = materialize((new_updates, inner_state))
        stored = {k: self._stored(k, v) for k, v in values.items()}
        return new_updates, InjectStatefulHyperparamsState(
            count=_tree.safe_increment(state.count),
            hyperparams=Hyperparams(stored),
            hyperparams_states=hparams_states,
            inner_state=inner_state,
        )


def inject_hyperparams(
    inner_factory: Callable[..., Any],
    static_args: str | Iterable[str] = (),
    hyperparam_dtype: Any | None = None,
) -> Callable[..., GradientTransformation]:
    r"""Moves a factory's hyperparameters into the optimizer state.

    ``inject_hyperparams(gdt.adam)(learning_rate=1e-3)`` is ``gdt.adam(1e-3)``
    whose numeric hyperparameters live in ``state.hyperparams`` (read them by
    name, set them between steps, ``vmap`` over them) and whose schedules are
    evaluated at every step (``state.hyperparams`` holds the value used by the
    last step). Setting a value between steps never recompiles a jitted step:
    ``state.hyperparams`` (a :class:`Hyperparams` dict) casts whatever is
    assigned to it (a Python float or int, a NumPy scalar, an array of any
    float dtype) to the hyperparameter's fixed dtype.

    Exactness: while a hyperparameter holds the value the optimizer was built
    with, the step computes exactly what the plain optimizer computes, bit for
    bit, including expressions such as ``1 - b1`` that the plain optimizer
    evaluates in Python (optax issues #1532, #583); once set to another value
    it is used as the array in the state. Derivatives with respect to
    ``state.hyperparams`` are those of the live values. (This holds when the
    factory combines hyperparameters with Python operators, as every
    gdtransforms and optax factory does; a factory that passes one to a
    ``jnp`` function gets arrays whose value is the built one while unchanged.)

    Dtypes come from the hyperparameters, not from the params (optax #1414).
    Each hyperparameter is kept in one fixed, strongly typed dtype:
    ``hyperparam_dtype`` when given; else a floating array's own dtype; else
    float32, for Python floats and for ints passed as a rate
    (``learning_rate=1`` is a float32, so setting 0.5 later never truncates,
    unlike optax). Only an argument the factory declares an integer (an int
    default or annotation, such as ``patience``) is kept as int32. A value
    is cast to that dtype when it is assigned and again when it is read, so
    ``save_state`` always writes the same dtypes. Inside the step a scalar
    hyperparameter built from a Python number meets each update in that
    update's dtype, as a Python scalar does, so bfloat16 params stay bfloat16.

    Every scalar hyperparameter must stay a scalar: a value of another shape
    in the state, or a schedule that returns one, raises ``ValueError``
    naming it when the step is traced.

    Args:
      inner_factory: a function returning a gradient transformation.
      static_args: names of arguments that are not hyperparameters (callables
        that are not schedules, flags used in Python control flow). Booleans,
        ``None`` and non-numeric arguments are static anyway.
      hyperparam_dtype: an optional floating dtype for every float
        hyperparameter.

    Returns:
      A function with ``inner_factory``'s signature that returns a
      :class:`GradientTransformation` whose state is
      :class:`InjectStatefulHyperparamsState`. Hyperparameters may be numbers,
      arrays, schedules ``f(count)`` or stateful schedules
      (``init``/``update``/``__call__``, see :class:`WrappedSchedule`).

    Example:
      Lower the rate by hand while training (docs/notes.md §8's manual decay):

      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.inject_hyperparams(gdt.scale_by_learning_rate)(learning_rate=0.1)
      >>> params = {"w": jnp.ones(2)}
      >>> state = opt.init(params)
      >>> step = jax.jit(opt.update)
      >>> updates, state = step(params, state)
      >>> state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] / 2
      >>> updates, state = step(params, state)  # same compiled step
      >>> updates["w"]
      Array([-0.05, -0.05], dtype=float32)

      Sweep three learning rates in one compiled call:

      >>> def final_w(lr):
      ...     opt = gdt.inject_hyperparams(gdt.scale_by_learning_rate)(learning_rate=lr)
      ...     p, s = params, opt.init(params)
      ...     for _ in range(3):
      ...         u, s = opt.update(p, s)
      ...         p = gdt.apply_updates(p, u)
      ...     return p["w"][0]
      >>> jax.jit(jax.vmap(final_w))(jnp.array([0.5, 0.25, 0.75]))
      Array([0.125   , 0.421875, 0.015625], dtype=float32)
    """
    static = {static_args} if isinstance(static_args, str) else set(static_args)
    signature = inspect.signature(inner_factory)
    if not static.issubset(signature.parameters):
        raise ValueError(
            f"`static_args` must name parameters of `inner_factory`; got "
            f"{sorted(static)}, it has {list(signature.parameters)}"
        )
    hyperparam_dtype = _checks.check_float_dtype("hyperparam_dtype", hyperparam_dtype)

    @functools.wraps(inner_factory)
    def wrapped_factory(*args: Any, **kwargs: Any) -> GradientTransformation:
        arguments = _sort_arguments(_bound_arguments(signature, args, kwargs), static)
        injected = _Injected(inner_factory, arguments, signature, hyperparam_dtype)
        return GradientTransformation(injected.init, injected.update)

    return wrapped_factory


# optax keeps two names; gdtransforms' inject_hyperparams already takes stateful
# schedules and always returns an InjectStatefulHyperparamsState.
inject_stateful_hyperparams = inject_hyperparams
