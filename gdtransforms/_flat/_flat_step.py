"""Transformations and train steps on the flat path.

:func:`leafwise` lets a transformation that needs the leaf structure (per-leaf
norms, shapes) run on :class:`FlatParams` by giving it leaf views;
:func:`make_train_step` builds a jitted train step that donates its buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from jax.ad_checkpoint import checkpoint_name

from gdtransforms._core import _checks
from gdtransforms._core._base import with_extra_args_support
from gdtransforms._core._flat_params import is_flat, leaf_views
from gdtransforms._core._update import apply_updates

__all__ = ["make_train_step"]

_VIEW_NAME = "gdt_flat_view"
_SAVE_ALL_BUT_VIEWS = jax.checkpoint_policies.save_anything_except_these_names(_VIEW_NAME)


def _recomputed_views(flat: Any) -> Any:
    """Leaf views of ``flat``, named so that the backward pass recomputes them."""
    return jax.tree.map(lambda x: checkpoint_name(x, _VIEW_NAME), leaf_views(flat))


def make_train_step(
    loss_fn: Callable[..., Any],
    optimizer: Any,
    *,
    has_aux: bool = False,
    donate: bool = True,
) -> Callable[..., tuple[Any, ...]]:
    r"""A jitted train step: forward, backward, update, apply.

    .. math:: g = \nabla_\theta L(\theta, x);\quad (u, s) = T(g, s, \theta);
        \quad \theta \leftarrow \theta + u

    ``step(params, opt_state, *args, **kwargs)`` returns ``(params, opt_state,
    loss)`` (and ``aux`` last with ``has_aux``). ``params`` may be a tree or
    :class:`FlatParams`; ``loss_fn`` always receives the tree (on the flat
    path, views of the buffers), so the same model code serves both, and the
    gradients of the flat path come out flat.

    The params and optimizer state are donated by default: their buffers are
    updated in place. Without donation every step writes into fresh memory,
    which on CPU is several times slower for large parameters. Donated inputs
    must not be used after the call: keep only what ``step`` returns.

    Args:
      loss_fn: ``loss_fn(params_tree, *args, **kwargs)`` returning a scalar
        loss (or ``(loss, aux)`` with ``has_aux``).
      optimizer: a gradient transformation; its update receives
        ``value=loss``.
      has_aux: whether ``loss_fn`` returns ``(loss, aux)``.
      donate: donate ``params`` and ``opt_state`` to the step.

    Returns:
      The jitted step function.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> loss_fn = lambda p, x: jnp.sum((p["w"] * x - 1.0) ** 2)
      >>> opt = gdt.sgd(0.1)
      >>> params = gdt.flatten_params({"w": jnp.zeros(2)})
      >>> state = opt.init(params)
      >>> step = gdt.make_train_step(loss_fn, opt)
      >>> params, state, loss = step(params, state, jnp.ones(2))
      >>> params.unflatten()["w"]
      Array([0.2, 0.2], dtype=float32)
    """
    _checks.check_callable("loss_fn", loss_fn, "a function of (params, *batch)")
    optimizer = with_extra_args_support(optimizer)

    def step(params, opt_state, *args, **kwargs):
        def objective(p):
            return loss_fn(_recomputed_views(p) if is_flat(p) else p, *args, **kwargs)

        if is_flat(params):
            # The views are slices of the buffers; XLA copies a slice that feeds
            # a matmul. Saved for the backward pass, those copies are a second
            # float32 copy of the weights alive from the forward to the
            # backward pass; recomputed there, they live only briefly.
            objective = jax.checkpoint(objective, policy=_SAVE_ALL_BUT_VIEWS)

        if has_aux:
            (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params)
        else:
            loss, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params, value=loss)
        params = apply_updates(params, updates)
        if has_aux:
            return params, opt_state, loss, aux
        return params, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())
