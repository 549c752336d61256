"""Scaling by the size of each block (leaf): param norm or RMS, centring, update norm."""

from __future__ import annotations

import jax

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation, init_empty_state, require_params
from gdtransforms._core._flat_params import leafwise
from gdtransforms._core._numerics import safe_norm, safe_root_mean_squares

__all__ = ["centralize", "normalize_by_update_norm", "scale_by_param_block_norm", "scale_by_param_block_rms"]


def _scale_by_param_block(name: str, measure, min_scale: jax.typing.ArrayLike) -> GradientTransformation:
    _checks.check_non_negative("min_scale", min_scale)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        params = require_params(params)
        _checks.check_same_structure(params, updates, reference_name="params", tree_name="updates", where=name)
        return jax.tree.map(lambda u, p: u * measure(p, min_scale), updates, params), state

    # One scale per leaf: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_empty_state, update_fn))


def scale_by_param_block_norm(min_scale: jax.typing.ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by the l2 norm of its parameter block.

    .. math:: u \leftarrow u \cdot \max(\|\theta\|_2, s_{\min})

    Args:
      min_scale: :math:`s_{\min} \ge 0`, the smallest scale.

    Returns:
      A stateless :class:`GradientTransformation` that needs ``params``.

    References:
      Shazeer and Stern, 2018 (relative step size), https://arxiv.org/abs/1804.04235
    """
    return _scale_by_param_block("scale_by_param_block_norm.update", safe_norm, min_scale)


def scale_by_param_block_rms(min_scale: jax.typing.ArrayLike = 1e-3) -> GradientTransformation:
    r"""Scales each leaf's update by the RMS of its parameter block.

    .. math:: u \leftarrow u \cdot \max\big(\mathrm{rms}(\theta), s_{\min}\big)

    Adafactor's ``multiply_by_parameter_scale``.

    Args:
      min_scale: :math:`s_{\min} \ge 0`, the smallest scale.

    Returns:
      A stateless :class:`GradientTransformation` that needs ``params``.

    References:
      Shazeer and Stern, 2018 (relative step size), https://arxiv.org/abs/1804.04235
    """
    return _scale_by_param_block("scale_by_param_block_rms.update", safe_root_mean_squares, min_scale)


def centralize() -> GradientTransformation:
    r"""Gradient centralisation: removes each row's mean from leaves of rank 2 or more.

    .. math:: u_{i, \dots} \leftarrow u_{i, \dots} - \mathrm{mean}_{\dots}\, u_{i, \dots}

    (the mean over every axis but the first); scalars and vectors are unchanged.

    Returns:
      A stateless :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.centralize()
      >>> g = jnp.array([[1.0, 2.0, 3.0], [4.0, 4.0, 7.0]])
      >>> tx.update(g, tx.init(g))[0]
      Array([[-1.,  0.,  1.],
             [-1., -1.,  2.]], dtype=float32)

    References:
      Yong et al., 2020, https://arxiv.org/abs/2004.01461
    """

    def centre(u):
        if u.ndim < 2:
            return u
        return u - u.mean(tuple(range(1, u.ndim)), keepdims=True)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        return jax.tree.map(centre, updates), state

    # Means over each leaf's rows: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_empty_state, update_fn))


def normalize_by_update_norm(
    scale_factor: jax.typing.ArrayLike = 1.0, eps: jax.typing.ArrayLike = 1e-6
) -> GradientTransformation:
    r"""Divides every update by the global norm of all of them.

    .. math:: u \leftarrow \frac{s\, u}{\|u\| + \epsilon}

    where :math:`\|u\|` is :func:`global_norm` over every leaf (so it works on
    flat buffers as they are).

    Args:
      scale_factor: :math:`s`, the length of the result (nonzero; negative flips it).
      eps: :math:`\epsilon \ge 0`, keeps a zero update finite.

    Returns:
      A stateless :class:`GradientTransformation`.
    """
    if isinstance(scale_factor, (int, float)) and (scale_factor == 0 or scale_factor != scale_factor):
        raise ValueError(f"`scale_factor` must be a nonzero number, got {scale_factor!r}")
    _checks.check_non_negative("eps", eps)

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        g_norm = (_tree.global_norm(updates) + eps) / scale_factor
        return jax.tree.map(lambda g: g / g_norm, updates), state

    return GradientTransformation(init_empty_state, update_fn)
