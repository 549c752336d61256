"""Transformations and train steps on the flat path.

:func:`leafwise` lets a transformation that needs the leaf structure (per-leaf
norms, shapes) run on :class:`FlatParams` by giving it leaf views;
:func:`make_train_step` builds a jitted train step that donates its buffers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from gdtransforms._core import _checks
from gdtransforms._core._base import with_extra_args_support
from gdtransforms._core._flat_params import is_flat, leaf_views
from gdtransforms._core._update import apply_updates

__all__ = ["make_train_step"]


def _flat_value_and_grad(loss_fn: Callable[..., Any], params: Any, has_aux: bool) -> tuple[Any, Any, Any]:
    """``(loss, flat gradients, aux)`` of ``loss_fn`` at the leaf views of flat ``params``.

    The gradient is taken with respect to the views, not the buffers, and
    packed into buffers with one concatenate per buffer: the backward pass of
    the views is that concatenate and nothing else. (No ``jax.checkpoint``:
    it adds a ``reduce_precision`` to every saved residual, and the step
    compiled slower with it.) The residuals of the forward pass reach the backward pass
    through one ``optimization_barrier``: XLA's simplification passes, which
    run before it removes the barrier, then do not merge forward and backward
    computations, which on CPU keeps the step's peak memory at the tree
    step's (``benchmarks/compile_flat.py``: a 6-layer GPT needs 423.5 MiB with
    the barrier, 447.5 MiB without, 429.2 MiB on the tree).
    """
    layout = params.layout
    if has_aux:
        loss, vjp_fn, aux = jax.vjp(loss_fn, leaf_views(params), has_aux=True)
    else:
        (loss, vjp_fn), aux = jax.vjp(loss_fn, leaf_views(params)), None
    if jnp.shape(loss) != () or not jnp.issubdtype(jnp.result_type(loss), jnp.floating):
        raise TypeError(
            "make_train_step: loss_fn must return a real floating-point scalar loss, got shape "
            f"{jnp.shape(loss)} and dtype {jnp.result_type(loss)}"
        )
    residuals, treedef = jax.tree.flatten(vjp_fn)
    if residuals:
        vjp_fn = jax.tree.unflatten(treedef, lax.optimization_barrier(residuals))
    (grads,) = vjp_fn(jnp.ones_like(loss))
    return loss, layout.pack(layout.treedef.flatten_up_to(grads)), aux


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
    gradients of the flat path come out flat: taken with respect to the views
    and concatenated into buffers, they equal the tree path's bit for bit.
    For a model with repeated layers, flatten with
    ``flatten_params(params, blocks=True)``: one buffer per layer keeps the
    layers' kernels identical, so XLA compiles them once, as on the tree
    (see :func:`flat_layout`).

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
            return loss_fn(p, *args, **kwargs)

        if is_flat(params):
            loss, grads, aux = _flat_value_and_grad(objective, params, has_aux)
        elif has_aux:
            (loss, aux), grads = jax.value_and_grad(objective, has_aux=True)(params)
        else:
            loss, grads = jax.value_and_grad(objective)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params, value=loss)
        params = apply_updates(params, updates)
        if has_aux:
            return params, opt_state, loss, aux
        return params, opt_state, loss

    return jax.jit(step, donate_argnums=(0, 1) if donate else ())
