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
from gdtransforms._schedules._hyper import HyperScalar, contains_hyper, materialize

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


def _is_float(value: Any) -> bool:
    return jnp.issubdtype(jnp.asarray(value).dtype, jnp.floating)


def _bound_arguments(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:
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
    last step). Setting a value between steps does not recompile a jitted
    step when it keeps its type: assign a Python float, ``jnp.asarray(x)`` or
    an arithmetic result such as ``state.hyperparams["learning_rate"] * 0.5``
    (a strongly typed ``jnp.float32(x)`` is a different input type to ``jit``).

    Exactness: while a hyperparameter holds the value the optimizer was built
    with, the step computes exactly what the plain optimizer computes, bit for
    bit, including expressions such as ``1 - b1`` that the plain optimizer
    evaluates in Python (optax issues #1532, #583); once set to another value
    it is used as the array in the state. Derivatives with respect to
    ``state.hyperparams`` are those of the live values. (This holds when the
    factory combines hyperparameters with Python operators, as every
    gdtransforms and optax factory does; a factory that passes one to a
    ``jnp`` function gets arrays whose value is the built one while unchanged.)

    Dtypes come from the hyperparameters, not from the params (optax #1414):
    a Python float is a float32 (weakly typed, like the Python float itself);
    an array keeps its dtype; ``hyperparam_dtype`` casts every floating one.
    Inside the step a scalar hyperparameter meets each update in that update's
    dtype, as a Python scalar does, so bfloat16 params stay bfloat16.

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
        arguments = _bound_arguments(signature, args, kwargs)
        sched, numeric, other = {}, {}, {}
        for name, value in arguments.items():
            # A dtype (jnp.float32 is a callable type) is never a schedule.
            if name in static or isinstance(value, (bool, type, np.dtype)) or value is None:
                other[name] = value
            elif _is_stateful_schedule(value):
                sched[name] = value
            elif callable(value):
                sched[name] = WrappedSchedule(value)
            elif isinstance(value, (int, float, jax.Array, np.ndarray, np.number)):
                numeric[name] = value
            else:
                other[name] = value

        def cast(value: Any) -> jax.Array:
            value = jnp.asarray(value)
            if hyperparam_dtype is not None and jnp.issubdtype(value.dtype, jnp.floating):
                value = value.astype(hyperparam_dtype)
            return value

        # The Python numbers the plain optimizer would compute with.
        plain = {
            k: v
            for k, v in numeric.items()
            if isinstance(v, (int, float)) and (hyperparam_dtype is None or not isinstance(v, float))
        }
        dtypes = {k: cast(v).dtype for k, v in numeric.items()}

        def initial() -> tuple[dict[str, Any], dict[str, jax.Array], Any]:
            hparams_states = {k: f.init() for k, f in sched.items()}
            scheduled = {k: cast(f(hparams_states[k])) for k, f in sched.items()}
            return hparams_states, scheduled, inner_factory(**other, **numeric, **scheduled)

        initial()  # the factory checks the hyperparameters now, not at init

        def init_fn(params):
            hparams_states, scheduled, inner = initial()
            return InjectStatefulHyperparamsState(
                count=jnp.zeros([], jnp.int32),
                hyperparams={**{k: cast(v) for k, v in numeric.items()}, **scheduled},
                hyperparams_states=hparams_states,
                inner_state=inner.init(params),
            )

        def live_values(state: InjectStatefulHyperparamsState) -> dict[str, jax.Array]:
            if not isinstance(state, InjectStatefulHyperparamsState):
                raise TypeError(
                    f"inject_hyperparams: expected an InjectStatefulHyperparamsState "
                    f"(built by init), got {type(state).__name__}"
                )
            missing = set(numeric) - set(state.hyperparams)
            unknown = set(state.hyperparams) - set(numeric) - set(sched)
            if missing or unknown:
                raise ValueError(
                    f"inject_hyperparams: state.hyperparams must have the keys "
                    f"{sorted({*numeric, *sched})}; missing {sorted(missing)}, "
                    f"unknown {sorted(unknown)}"
                )
            values = {}
            for k in numeric:
                value = jnp.asarray(state.hyperparams[k])
                values[k] = value if value.dtype == dtypes[k] else value.astype(dtypes[k])
            return values

        def update_fn(updates, state, params=None, **extra_args):
            values = live_values(state)
            for k, f in sched.items():
                values[k] = cast(f(state.hyperparams_states[k], **extra_args))
            hparams_states = {k: f.update(state.hyperparams_states[k], **extra_args) for k, f in sched.items()}

            def wrap(k: str, v: jax.Array) -> Any:
                if k in plain and v.ndim == 0:
                    same = v == plain[k]
                    if not isinstance(v, jax.core.Tracer):  # eager: decide now
                        return plain[k] if bool(same) else HyperScalar(None, v, None)
                    return HyperScalar(plain[k], v, same)
                if k in sched or not isinstance(numeric[k], (jax.Array, np.ndarray, np.number)):
                    return HyperScalar(None, v, None) if v.ndim == 0 else v
                return v  # an array given by the user behaves as in the plain optimizer

            hyper = {k: wrap(k, v) for k, v in values.items()}

            def run(hps: dict[str, Any]):
                tx = with_extra_args_support(inner_factory(**other, **hps))
                return tx.update(updates, state.inner_state, params, **extra_args)

            try:
                new_updates, inner_state = run(hyper)
                if contains_hyper((new_updates, inner_state)):
                    new_updates, inner_state = materialize((new_updates, inner_state))
            except Exception:  # noqa: BLE001 - the factory used a hyperparameter as an array
                new_updates, inner_state = run(materialize(hyper))
            return new_updates, InjectStatefulHyperparamsState(
                count=_tree.safe_increment(state.count),
                hyperparams=values,
                hyperparams_states=hparams_states,
                inner_state=inner_state,
            )

        return GradientTransformation(init_fn, update_fn)

    return wrapped_factory
