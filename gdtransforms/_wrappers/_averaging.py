"""Weight averaging: an EMA of the parameters, and Polyak/SWA uniform averaging.

docs/notes.md §2 applied to the weights: :func:`ema_params` keeps
``v_t = b v_{t-1} + (1 - b) theta_t`` with bias correction, and
:func:`polyak_params` keeps the plain mean of the iterates. Both sit last in a
chain (they see the final updates, so ``params + updates`` are the new
params), pass the updates through unchanged, and :func:`averaged_params`
reads the average as a params tree from the optimizer state at any step.
For target networks, see :func:`incremental_update` and
:func:`periodic_update`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, OptState, Params, require_params
from gdtransforms._core._tree_api import tree_get_all_with_path
from gdtransforms._core._update import apply_updates

__all__ = [
    "EmaParamsState",
    "PolyakParamsState",
    "averaged_params",
    "ema_params",
    "polyak_params",
]


class EmaParamsState(NamedTuple):
    """The state of :func:`ema_params`.

    Attributes:
      count: int32, updates seen; the average covers the params after each
        of them and the initial params.
      ema: the running average :math:`v_t`, not bias-corrected.
      weight: float32, the total weight in ``ema``: :math:`1 - \\beta^{t+1}`
        with bias correction (so ``ema / weight`` is unbiased at every step,
        also for a scheduled decay), 1 without.
    """

    count: jax.Array  # type: ignore[assignment]
    ema: Any
    weight: jax.Array


class PolyakParamsState(NamedTuple):
    """The state of :func:`polyak_params`.

    Attributes:
      count: int32, updates seen.
      n_averaged: int32, iterates in the mean so far.
      mean: the uniform mean of those iterates; before the first one is
        averaged, the current params.
    """

    count: jax.Array  # type: ignore[assignment]
    n_averaged: jax.Array
    mean: Any


def _acc_dtype(leaf: Any, accumulator_dtype: Any) -> Any:
    if accumulator_dtype is not None:
        return accumulator_dtype
    return jnp.promote_types(leaf.dtype, jnp.float32)


def _cast_tree(tree: Any, accumulator_dtype: Any, scale: Any = 1.0) -> Any:
    """``scale * tree`` in the accumulator dtype; abstract leaves stay abstract."""

    def cast(x: Any) -> Any:
        dtype = _acc_dtype(x, accumulator_dtype)
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct(x.shape, dtype, sharding=x.sharding)
        return (scale * jnp.asarray(x).astype(dtype)).astype(dtype)

    return jax.tree.map(cast, tree)


def ema_params(decay: Any, debias: bool = True, accumulator_dtype: Any = None) -> GradientTransformation:
    r"""An exponential moving average of the parameters, readable at any step.

    With :math:`\theta_0` the initial params and :math:`\theta_t` the params
    after the t-th update:

    .. math::
       v_0 = (1 - \beta)\,\theta_0, \quad
       v_t = \beta\, v_{t-1} + (1 - \beta)\, \theta_t, \quad
       \hat v_t = \frac{v_t}{1 - \beta^{t+1}}

    This is the lecture's average with :math:`v_{-1} = 0`; the initial params
    count as the first value, so :math:`\hat v_0 = \theta_0` and the average
    is defined from the start. ``debias=False`` reads :math:`v_t` itself,
    which is biased towards 0 for the first :math:`\sim 1/(1-\beta)` steps.
    Memory: one copy of the params (in ``accumulator_dtype``).

    Put it last in the chain, after the learning rate, and pass ``params``
    to ``update``. Wrapped in :func:`apply_if_finite` or :class:`MultiSteps`,
    it only advances on the steps that update the params.

    Args:
      decay: :math:`\beta` in [0, 1), or a schedule of the update count.
      debias: divide by the total weight :math:`1 - \beta^{t+1}`.
      accumulator_dtype: dtype of the average; ``None`` gives float32 for
        bfloat16/float16/float32 params (float64 stays float64).

    Returns:
      A :class:`GradientTransformation` that leaves updates unchanged, with
      :class:`EmaParamsState`; read the average with :func:`averaged_params`.

    Example:
      docs/notes.md §2, beta = 0.98: after one update the average is
      (0.0196 theta_0 + 0.02 theta_1) / 0.0396.

      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(gdt.scale(-1.0), gdt.ema_params(0.98))
      >>> params = jnp.array([40.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(jnp.array([-9.0]), state, params)
      >>> print(f"{float(gdt.averaged_params(state)[0]):.4f}")  # (0.0196*40 + 0.02*49) / 0.0396
      44.5455
    """
    _checks.check_decay("decay", decay, schedule=True)
    accumulator_dtype = _checks.check_float_dtype("accumulator_dtype", accumulator_dtype)

    def beta_at(count: jax.Array) -> jax.Array:
        return jnp.asarray(decay(count) if callable(decay) else decay, jnp.float32)

    def init_fn(params):
        one_minus = 1.0 - beta_at(jnp.zeros([], jnp.int32))
        return EmaParamsState(
            count=jnp.zeros([], jnp.int32),
            ema=_cast_tree(params, accumulator_dtype, one_minus),
            weight=one_minus if debias else jnp.ones([], jnp.float32),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _checks.check_state(state, EmaParamsState, "ema_params")
        new_params = apply_updates(require_params(params), updates)
        beta = beta_at(state.count)

        def average(v: jax.Array, p: jax.Array) -> jax.Array:
            b = beta.astype(v.dtype)
            return b * v + (1 - b) * p.astype(v.dtype)

        ema = jax.tree.map(average, state.ema, new_params)
        weight = beta * state.weight + (1 - beta) if debias else state.weight
        return updates, EmaParamsState(count=_tree.safe_increment(state.count), ema=ema, weight=weight)

    return GradientTransformation(init_fn, update_fn)


def polyak_params(start: int = 0, every: int = 1, accumulator_dtype: Any = None) -> GradientTransformation:
    r"""The uniform (Polyak-Ruppert / SWA) average of the parameter iterates.

    With :math:`\theta_t` the params after the t-th update (:math:`\theta_0`
    the initial ones), the iterates :math:`t \ge` ``start`` with
    :math:`(t - \text{start}) \bmod \text{every} = 0` are averaged:

    .. math:: \bar\theta_n = \bar\theta_{n-1} + \frac{\theta_t - \bar\theta_{n-1}}{n}

    ``start=0, every=1`` is Polyak averaging; SWA starts late in training
    and takes one iterate per epoch (``every=steps_per_epoch``). Until the
    first averaged iterate, the state holds the current params, so
    :func:`averaged_params` is defined at every step. Put it last in the chain
    and pass ``params`` to ``update``.

    Args:
      start: the first iterate averaged (an update count, >= 0).
      every: take one iterate every ``every`` updates (>= 1).
      accumulator_dtype: dtype of the mean; ``None`` as in :func:`ema_params`.

    Returns:
      A :class:`GradientTransformation` that leaves updates unchanged, with
      :class:`PolyakParamsState`.

    References:
      Polyak and Juditsky, Acceleration of stochastic approximation by
      averaging, 1992. Izmailov et al., `Averaging Weights Leads to Wider
      Optima and Better Generalization <https://arxiv.org/abs/1803.05407>`_, 2018.
    """
    _checks.check_int_at_least("start", start, 0, where="polyak_params")
    _checks.check_int_at_least("every", every, 1, where="polyak_params")
    accumulator_dtype = _checks.check_float_dtype("accumulator_dtype", accumulator_dtype)

    def init_fn(params):
        return PolyakParamsState(
            count=jnp.zeros([], jnp.int32),
            n_averaged=jnp.asarray(1 if start == 0 else 0, jnp.int32),
            mean=_cast_tree(params, accumulator_dtype),
        )

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        _checks.check_state(state, PolyakParamsState, "polyak_params")
        new_params = apply_updates(require_params(params), updates)
        t = _tree.safe_increment(state.count)
        take = jnp.logical_and(t >= start, (t - start) % every == 0)
        n = state.n_averaged

        def new_mean(m: jax.Array, p: jax.Array) -> jax.Array:
            p = p.astype(m.dtype)
            averaged = m + (p - m) / (n + 1).astype(m.dtype)
            return jnp.where(take, averaged, jnp.where(n == 0, p, m))

        return updates, PolyakParamsState(
            count=t,
            n_averaged=jnp.where(take, n + 1, n),
            mean=jax.tree.map(new_mean, state.mean, new_params),
        )

    return GradientTransformation(init_fn, update_fn)


def averaged_params(state: OptState, like: Params | None = None) -> Params:
    """The averaged params kept by :func:`ema_params` or :func:`polyak_params`.

    Args:
      state: an optimizer state holding exactly one :class:`EmaParamsState`
        or :class:`PolyakParamsState` (anywhere in a chain or wrapper), or
        that state itself.
      like: optional params; the result is cast to their dtypes.

    Returns:
      The bias-corrected EMA (``ema / weight``) or the uniform mean.

    Raises:
      ValueError: the state holds no averaging state, or more than one.
    """
    found = [
        (path, value)
        for name in ("EmaParamsState", "PolyakParamsState")
        for path, value in tree_get_all_with_path(state, name)
    ]
    if len(found) != 1:
        what = "no" if not found else f"{len(found)}"
        paths = [jax.tree_util.keystr(p) for p, _ in found]
        raise ValueError(
            f"averaged_params: the state holds {what} ema_params/polyak_params "
            f"states{' (at ' + ', '.join(paths) + '); pass one of them' if found else ''}"
        )
    value = found[0][1]
    if isinstance(value, EmaParamsState):
        average = jax.tree.map(lambda v: v / value.weight.astype(v.dtype), value.ema)
    else:
        average = value.mean
    return average if like is None else _tree.cast_like(average, like)
