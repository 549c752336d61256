"""SAM (sharpness-aware minimization) and the gradient normalization it uses."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import EmptyState, GradientTransformation, OptState, Params, with_extra_args_support
from gdtransforms._core._update import apply_updates

__all__ = ["NormalizeState", "SAMState", "normalize", "sam"]

NormalizeState = EmptyState


def normalize() -> GradientTransformation:
    r"""Divides the updates by their global norm: :math:`u \leftarrow u / \|u\|`.

    All-zero updates stay zero (optax divides 0 by 0).

    Returns:
      A stateless :class:`GradientTransformation`.
    """

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        norm = _tree.global_norm(updates)
        safe = jnp.where(norm == 0, jnp.ones_like(norm), norm)
        return jax.tree.map(lambda g: (g / safe).astype(g.dtype), updates), state

    return GradientTransformation(lambda params: NormalizeState(), update_fn)


class SAMState(NamedTuple):
    """SAM's position in the sync period, both optimizers' states and the cached outer params.

    Attributes:
      steps_since_sync: adversarial steps since the last outer update (int32).
      opt_state: the outer optimizer's state.
      adv_state: the adversarial optimizer's state.
      cache: the outer params (``None`` in opaque mode).
    """

    steps_since_sync: jax.Array
    opt_state: OptState
    adv_state: OptState
    cache: Params | None


def _select(flag: jax.Array, a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.where(flag, x, y), a, b)


def sam(
    optimizer: GradientTransformation,
    adv_optimizer: GradientTransformation,
    sync_period: int = 2,
    reset_state: bool = True,
    opaque_mode: bool = False,
    batch_axis_name: str | None = None,
) -> GradientTransformation:
    r"""Sharpness-aware minimization: adversarial ascent steps, then one outer step.

    With :math:`k` = ``sync_period``, steps :math:`1..k-1` of a period move the
    params along the adversarial optimizer's ascent, :math:`\theta \leftarrow
    \theta - \mathrm{adv}(g)` (for SAM, :math:`\rho\, g/\|g\|`); step :math:`k`
    returns to the cached outer params :math:`\bar\theta` and applies the outer
    optimizer to the gradient at the perturbed point:

    .. math:: \bar\theta \leftarrow \bar\theta + \mathrm{opt}(g(\bar\theta + \epsilon)).

    In opaque mode one ``update`` runs the whole period, calling
    ``grad_fn(params, i)`` for the adversarial gradients.

    Args:
      optimizer: the outer optimizer.
      adv_optimizer: the adversarial optimizer, e.g. ``chain(normalize(), sgd(rho))``.
      sync_period: :math:`k \ge 1`.
      reset_state: reset the adversarial state at each sync.
      opaque_mode: run the period inside one ``update`` (needs ``grad_fn=``).
      batch_axis_name: in opaque mode, average adversarial gradients over this axis.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`SAMState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> adv = gdt.chain(gdt.contrib.normalize(), gdt.sgd(0.1))
      >>> opt = gdt.contrib.sam(gdt.sgd(0.5), adv, sync_period=2)
      >>> params = jnp.array([3.0, 4.0])
      >>> state = opt.init(params)
      >>> updates, state = opt.update(params, state, params)  # ascend 0.1 along g/|g|
      >>> print(jnp.round(updates, 4))
      [0.06 0.08]

    References:
      Foret et al., 2021, https://arxiv.org/abs/2010.01412
    """
    _checks.check_int_at_least("sync_period", sync_period, 1, where="sam")
    optimizer = with_extra_args_support(optimizer)
    adv_optimizer = with_extra_args_support(adv_optimizer)

    def init_fn(params):
        return SAMState(
            steps_since_sync=jnp.zeros([], jnp.int32),
            opt_state=optimizer.init(params),
            adv_state=adv_optimizer.init(params),
            cache=None if opaque_mode else params,
        )

    def transparent_update(updates, state, params=None, *, grad_fn: Callable[..., Any] | None = None, **extra):
        del grad_fn, extra
        _checks.check_state(state, SAMState, "sam")
        if params is None:
            raise ValueError("sam: `update` needs `params`")
        first = state.steps_since_sync == 0
        last = state.steps_since_sync == sync_period - 1
        adv_updates, adv_state = adv_optimizer.update(updates, state.adv_state, params)
        adv_updates = jax.tree.map(lambda x: -x, adv_updates)
        opt_updates, opt_state = optimizer.update(updates, state.opt_state, state.cache)
        opt_updates = jax.tree.map(lambda c, p, u: c - p + u, state.cache, params, opt_updates)
        cache = _select(first, params, state.cache)
        new_updates = _select(last, opt_updates, adv_updates)
        kept_adv = adv_optimizer.init(params) if reset_state else state.adv_state
        return new_updates, SAMState(
            steps_since_sync=(state.steps_since_sync + 1) % sync_period,
            opt_state=_select(last, opt_state, state.opt_state),
            adv_state=_select(last, kept_adv, adv_state),
            cache=cache,
        )

    def opaque_update(updates, state, params=None, *, grad_fn: Callable[..., Any] | None = None, **extra):
        del extra
        _checks.check_state(state, SAMState, "sam")
        if grad_fn is None:
            raise ValueError("sam: with opaque_mode=True, `update` needs `grad_fn=` (params, i) -> grads")
        if params is None:
            raise ValueError("sam: `update` needs `params`")
        adv_params, adv_updates, adv_state = params, updates, state.adv_state
        for i in range(sync_period - 1):
            adv_updates, adv_state = adv_optimizer.update(adv_updates, adv_state, adv_params)
            adv_params = apply_updates(adv_params, jax.tree.map(lambda x: -x, adv_updates))
            adv_updates = grad_fn(adv_params, i)
            if batch_axis_name is not None:
                adv_updates = jax.lax.pmean(adv_updates, axis_name=batch_axis_name)
        if reset_state:
            adv_state = adv_optimizer.init(params)
        new_updates, opt_state = optimizer.update(adv_updates, state.opt_state, params)
        return new_updates, SAMState(jnp.zeros([], jnp.int32), opt_state, adv_state, None)

    return GradientTransformation(init_fn, opaque_update if opaque_mode else transparent_update)
