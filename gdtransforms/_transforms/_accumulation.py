"""Momentum: the heavy-ball trace and the exponential moving average."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, Updates
from gdtransforms._core._moments import bias_correction

__all__ = ["EmaState", "TraceState", "ema", "trace"]


class TraceState(NamedTuple):
    """The momentum buffer of :func:`trace`."""

    trace: Updates


class EmaState(NamedTuple):
    """The step count and moving average of :func:`ema`."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    ema: Updates


def trace(
    decay: jax.typing.ArrayLike,
    nesterov: bool = False,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Heavy-ball momentum: accumulates a decaying sum of past updates.

    .. math::
        v_t = g_t + \mu\, v_{t-1}, \qquad
        u_t = \begin{cases} g_t + \mu\, v_t & \text{(Nesterov)} \\ v_t \end{cases}

    Followed by ``scale_by_learning_rate(eta)`` this is docs/notes.md §3's
    heavy-ball form :math:`v \leftarrow \mu v - \eta g,\ W \leftarrow W + v`
    (with :math:`v` rescaled by :math:`-\eta`). The Nesterov branch is the
    usual reformulation of docs/notes.md §4 that needs only the gradient at
    the current point. Compare :func:`ema`, the notes' EMA form.

    Args:
      decay: :math:`\mu`, in [0, 1]; 1 keeps a plain running sum.
      nesterov: use Nesterov's accelerated gradient.
      accumulator_dtype: optional dtype of the buffer (``None``: the params').

    Returns:
      A :class:`GradientTransformation` whose state is :class:`TraceState`.

    References:
      Polyak, 1964; Sutskever et al., 2013, http://proceedings.mlr.press/v28/sutskever13.pdf
    """
    # 1.0 is a running sum (optax accepts it too), not a mistake.
    _checks.check_in_range("decay", decay, 0.0, 1.0)
    accumulator_dtype = _checks.check_float_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        _checks.check_params(params, "trace")
        return TraceState(trace=_tree.zeros_like(params, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, TraceState, "trace")
        _checks.check_updates(updates, state.trace, "trace")

        def leaf(g, t):
            new_t = g + decay * t
            u = g + decay * new_t if nesterov else new_t
            new_t = new_t if accumulator_dtype is None else new_t.astype(accumulator_dtype)
            return u.astype(_tree.update_dtype(g.dtype, t.dtype)), new_t

        updates, new_trace = _tree.map_unzip(leaf, updates, state.trace, num_outputs=2)
        return updates, TraceState(trace=new_trace)

    return GradientTransformation(init_fn, update_fn)


def ema(
    decay: jax.typing.ArrayLike,
    debias: bool = True,
    accumulator_dtype: Any | None = None,
) -> GradientTransformation:
    r"""Exponential moving average of updates, optionally bias-corrected.

    .. math::
        v_t = \beta\, v_{t-1} + (1 - \beta)\, g_t, \qquad
        u_t = \begin{cases} v_t / (1 - \beta^t) & \text{(debias)} \\ v_t \end{cases}

    This is docs/notes.md §2's average; followed by a learning rate it is the
    EMA form of momentum (section 3), :func:`ema_momentum`. With
    :math:`\beta = 0.98`, :math:`v_2 = 0.0196\,g_1 + 0.02\,g_2` and the
    correction divides by :math:`1 - \beta^2 = 0.0396`.

    Args:
      decay: :math:`\beta`, in [0, 1).
      debias: divide by :math:`1 - \beta^t` to remove the zero-start bias.
      accumulator_dtype: optional dtype of the average (``None``: the params').

    Returns:
      A :class:`GradientTransformation` whose state is :class:`EmaState`.
    """
    _checks.check_decay("decay", decay)
    accumulator_dtype = _checks.check_float_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        _checks.check_params(params, "ema")
        return EmaState(count=jnp.zeros([], jnp.int32), ema=_tree.zeros_like(params, accumulator_dtype))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, EmaState, "ema")
        _checks.check_updates(updates, state.ema, "ema")
        count = _tree.safe_increment(state.count)
        new_ema = jax.tree.map(lambda g, t: (1 - decay) * g + decay * t, updates, state.ema)
        out = bias_correction(new_ema, decay, count) if debias else new_ema
        out = jax.tree.map(lambda u, g: u.astype(_tree.update_dtype(g.dtype, u.dtype)), out, updates)
        return out, EmaState(count=count, ema=_tree.cast(new_ema, accumulator_dtype))

    return GradientTransformation(init_fn, update_fn)
