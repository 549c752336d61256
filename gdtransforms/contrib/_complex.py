"""Complex parameters as pairs of real ones, for optimizers defined on reals."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core._base import GradientTransformation, OptState, with_extra_args_support

__all__ = ["SplitRealAndImaginaryState", "split_real_and_imaginary"]


class _RealPair(NamedTuple):
    """The real and imaginary parts of one complex leaf."""

    real: jax.Array
    imaginary: jax.Array


def _split(x: Any) -> Any:
    return _RealPair(x.real, x.imag) if jnp.iscomplexobj(x) else x


def _merge(x: Any) -> Any:
    return x.real + x.imaginary * 1j if isinstance(x, _RealPair) else x


class SplitRealAndImaginaryState(NamedTuple):
    """The inner transformation's state, built on the split (real) params."""

    inner_state: OptState


def split_real_and_imaginary(inner: GradientTransformation) -> GradientTransformation:
    r"""Runs ``inner`` on :math:`(\Re z, \Im z)` pairs in place of complex leaves.

    .. math:: u = u_{\Re} + i\, u_{\Im}, \qquad (u_{\Re}, u_{\Im}) = T(\Re g, \Im g)

    Real leaves pass to ``inner`` unchanged. (JAX's gradient of a real loss
    in :math:`z` is the conjugate of the steepest-ascent direction: conjugate
    it before ``update``.)

    Args:
      inner: a transformation for real leaves.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`SplitRealAndImaginaryState`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.contrib.split_real_and_imaginary(gdt.scale_by_adam())
      >>> z = jnp.array([3.0 - 0.5j])
      >>> updates, _ = opt.update(z, opt.init(z))
      >>> print(jnp.round(updates, 3))  # Adam's first step is about the sign, per part
      [1.-1.j]

    References:
      optax issue #196 (complex-valued optimization), https://github.com/google-deepmind/optax/issues/196
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return SplitRealAndImaginaryState(inner.init(jax.tree.map(_split, params)))

    def update_fn(updates, state, params=None, **extra_args):
        split_params = None if params is None else jax.tree.map(_split, params)
        new, inner_state = inner.update(jax.tree.map(_split, updates), state.inner_state, split_params, **extra_args)
        return jax.tree.map(_merge, new, is_leaf=lambda x: isinstance(x, _RealPair)), SplitRealAndImaginaryState(
            inner_state
        )

    return GradientTransformation(init_fn, update_fn)
