"""Monitoring: keep named measurements of the updates in the chain's state.

A measurement taken at one point of a chain (the global norm before
clipping, optax #326) is stored in the state under its name and read with
``tree_get(state, name)`` after each step, inside or outside ``jit``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks
from gdtransforms._core._base import (
    GradientTransformation,
    OptState,
    PyTree,
    Updates,
    stateless,
    with_extra_args_support,
)
from gdtransforms._core._combine import chain
from gdtransforms._transforms._accumulation import ema

__all__ = ["MonitorState", "SnapshotState", "measure_with_ema", "monitor", "snapshot"]


class SnapshotState(NamedTuple):
    """The state of :func:`snapshot`: ``{name: measurement}``."""

    measurement: dict[str, Any]


class MonitorState(NamedTuple):
    """The state of :func:`monitor`.

    Attributes:
      measurements: ``{name: measurement}`` from the last update.
      measure_states: the states of the stateful measures, in order.
    """

    measurements: dict[str, Any]
    measure_states: tuple[OptState, ...]


def _zeros_like_shapes(shapes: PyTree) -> PyTree:
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)


def _check_name(name: Any, where: str) -> None:
    if not isinstance(name, str) or not name:
        raise TypeError(f"{where}: a measurement name must be a non-empty str, got {name!r}")


def snapshot(measure_name: str, measure: Callable[[Updates], PyTree]) -> GradientTransformation:
    """Stores ``measure(updates)`` in the state under ``measure_name``.

    The updates pass through unchanged; in a chain the measure sees the
    updates as transformed up to that point. Read the value with
    ``tree_get(state, measure_name)``. Before the first update the stored
    value is zeros shaped like a measurement (optax stores ``measure(params)``
    there); the state's structure never changes, so it works in
    ``lax.scan`` loops and with abstract (``ShapeDtypeStruct``) params.

    Args:
      measure_name: the name to store the measurement under.
      measure: a function of the updates returning a tree of arrays.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`SnapshotState`.

    Example:
      Log the global norm before clipping (optax #326):

      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(
      ...     gdt.snapshot("norm_before_clip", gdt.global_norm),
      ...     gdt.scale(-0.1),
      ... )
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.array([3.0, 4.0]), state)
      >>> float(gdt.tree_get(state, "norm_before_clip"))
      5.0
    """
    _check_name(measure_name, "snapshot")
    _checks.check_callable("measure", measure, "a function of the updates", where="snapshot")

    def init_fn(params):
        return SnapshotState({measure_name: _zeros_like_shapes(jax.eval_shape(measure, params))})

    def update_fn(updates, state, params=None, **extra_args):
        del state, params, extra_args
        return updates, SnapshotState({measure_name: measure(updates)})

    return GradientTransformation(init_fn, update_fn)


def _measure_updates(measure: Callable[[Any], Any], updates: Any, params: Any) -> Any:
    del params
    return measure(updates)


def monitor(
    measures: Mapping[str, GradientTransformation | Callable[[Updates], PyTree]],
) -> GradientTransformation:
    """Stores several measurements, stateful ones included, under their names.

    Each measure is either a function of the updates (as in :func:`snapshot`)
    or a transformation whose returned "updates" are the measurement and whose
    state carries across steps (as :func:`measure_with_ema` builds). The
    updates pass through unchanged. ``measurements`` starts as zeros shaped
    like the measurements, so the state keeps one structure (optax starts it
    as an empty dict).

    Args:
      measures: ``{name: measure}``.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MonitorState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(
      ...     gdt.monitor({"norm": gdt.global_norm, "max": lambda u: jnp.max(jnp.abs(u))}),
      ...     gdt.scale(-0.1),
      ... )
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.array([3.0, -4.0]), state)
      >>> float(gdt.tree_get(state, "norm")), float(gdt.tree_get(state, "max"))
      (5.0, 4.0)
    """
    if not isinstance(measures, Mapping):
        raise TypeError(f"monitor: `measures` must be a dict name -> measure, got {measures!r}")
    txs: dict[str, GradientTransformation] = {}
    for name, measure in measures.items():
        _check_name(name, "monitor")
        if callable(measure):
            txs[name] = stateless(functools.partial(_measure_updates, measure))
        else:
            txs[name] = with_extra_args_support(measure)
    names = tuple(txs)

    def init_fn(params):
        states = tuple(txs[name].init(params) for name in names)
        shapes = {
            name: jax.eval_shape(lambda p, s, tx=txs[name]: tx.update(p, s, p)[0], params, state)
            for name, state in zip(names, states)
        }
        return MonitorState(_zeros_like_shapes(shapes), states)

    def update_fn(updates, state, params=None, **extra_args):
        _checks.check_state(state, MonitorState, "monitor")
        measurements, states = {}, []
        for name, measure_state in zip(names, state.measure_states):
            measurements[name], measure_state = txs[name].update(updates, measure_state, params, **extra_args)
            states.append(measure_state)
        return updates, MonitorState(measurements, tuple(states))

    return GradientTransformation(init_fn, update_fn)


def measure_with_ema(
    measure: Callable[[Updates], PyTree],
    decay: Any,
    debias: bool = True,
    accumulator_dtype: Any = None,
) -> GradientTransformation:
    r"""A measure for :func:`monitor` that keeps an EMA of ``measure(updates)``.

    .. math:: v_t = \beta\, v_{t-1} + (1 - \beta)\, m(u_t), \quad \hat v_t = v_t / (1 - \beta^t)

    Bool and integer measurements (``norm > threshold``, say) are averaged as
    float32, which gives the fraction of recent steps where they held.

    Args:
      measure: a function of the updates returning a tree of arrays.
      decay: :math:`\beta` in [0, 1).
      debias: return the bias-corrected average.
      accumulator_dtype: dtype of the average; ``None`` keeps the measure's.

    Returns:
      A :class:`GradientTransformation` whose "updates" are the averaged
      measurement: ``chain(measure, ema(decay, debias, accumulator_dtype))``.
    """

    def measure_float(updates: Updates) -> PyTree:
        # A bool or int measurement (``norm > threshold``) is averaged as a float.
        return jax.tree.map(
            lambda x: x if jnp.issubdtype(x.dtype, jnp.inexact) else x.astype(jnp.float32),
            measure(updates),
        )

    base = ema(decay, debias=debias, accumulator_dtype=accumulator_dtype)
    # The EMA averages measurements, so it is initialised on one.
    average = GradientTransformation(
        lambda params: base.init(_zeros_like_shapes(jax.eval_shape(measure_float, params))),
        base.update,
    )
    return chain(stateless(lambda updates, _: measure_float(updates)), average)
