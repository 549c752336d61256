"""Curvature of a loss ``loss(params, inputs, targets)``: Hessian-vector products and diagonals."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import flatten_util

__all__ = ["fisher_diag", "hessian_diag", "hvp"]

LossFn = Callable[[Any, jax.Array, jax.Array], jax.Array]


def _check_loss(name: str, loss: Any) -> None:
    if not callable(loss):
        raise TypeError(f"`{name}` must be a function loss(params, inputs, targets), got {type(loss).__name__}")


def hvp(loss: LossFn, v: jax.Array, params: Any, inputs: jax.Array, targets: jax.Array) -> Any:
    r"""The Hessian of the loss in the params times a vector, :math:`\nabla^2_\theta L\, v`.

    Forward-over-reverse differentiation (Pearlmutter, 1994): the
    directional derivative of the gradient along :math:`v`, at the cost of
    about two gradients, without forming the Hessian.

    Args:
      loss: ``loss(params, inputs, targets) -> scalar``.
      v: a flat vector with as many entries as the params have in all.
      params: the params, a tree.
      inputs: the inputs the loss is evaluated at.
      targets: the targets.

    Returns:
      :math:`H v` as a tree shaped like ``params``.

    References:
      Pearlmutter, 1994, "Fast exact multiplication by the Hessian",
      https://doi.org/10.1162/neco.1994.6.1.147
    """
    _check_loss("loss", loss)
    flat, unravel = flatten_util.ravel_pytree(params)
    if jnp.shape(v) != flat.shape:
        raise ValueError(f"`v` must be a flat vector of shape {flat.shape} (the params' size), got {jnp.shape(v)}")
    grad_fn = jax.grad(lambda p: loss(p, inputs, targets))
    return jax.jvp(grad_fn, (params,), (unravel(v),))[1]


def hessian_diag(loss: LossFn, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""The diagonal of the Hessian, :math:`H_{ii} = e_i^\top H e_i`, as a flat vector.

    One :func:`hvp` per coordinate (batched with ``vmap``): exact, and meant
    for small models; the cost grows with the number of params.

    Args:
      loss: ``loss(params, inputs, targets) -> scalar``.
      params: the params, a tree.
      inputs: the inputs.
      targets: the targets.

    Returns:
      A flat vector of :math:`H_{ii}`, in ``ravel_pytree`` order.
    """
    _check_loss("loss", loss)
    size = flatten_util.ravel_pytree(params)[0].size
    basis = jnp.eye(size)

    def entry(e):
        return jnp.vdot(e, flatten_util.ravel_pytree(hvp(loss, e, params, inputs, targets))[0])

    return jax.vmap(entry)(basis)


def fisher_diag(negative_log_likelihood: LossFn, params: Any, inputs: jax.Array, targets: jax.Array) -> jax.Array:
    r"""The diagonal of the observed Fisher information, :math:`(\partial_i \ell)^2`, as a flat vector.

    With :math:`\ell` the negative log-likelihood of the given batch, the
    squared gradient: the empirical Fisher's diagonal, the curvature proxy of
    natural-gradient and Adam-like methods.

    Args:
      negative_log_likelihood: ``nll(params, inputs, targets) -> scalar``.
      params: the params, a tree.
      inputs: the inputs.
      targets: the targets.

    Returns:
      A flat vector, in ``ravel_pytree`` order.

    References:
      Martens, 2020, "New insights and perspectives on the natural gradient method",
      https://jmlr.org/papers/v21/17-678.html
    """
    _check_loss("negative_log_likelihood", negative_log_likelihood)
    grad = jax.grad(negative_log_likelihood)(params, inputs, targets)
    return jnp.square(flatten_util.ravel_pytree(grad)[0])
