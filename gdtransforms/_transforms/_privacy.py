"""Per-example clipping and DP-SGD's noisy aggregation."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation
from gdtransforms._core._flat_params import leafwise

__all__ = [
    "DifferentiallyPrivateAggregateState",
    "differentially_private_aggregate",
    "per_example_global_norm_clip",
    "per_example_layer_norm_clip",
]


def _check_batch_axis(grads: Any, where: str) -> list[Any]:
    leaves = jax.tree.leaves(grads)
    if not leaves:
        raise ValueError(f"{where}: expects at least one array with a batch axis, got {grads!r}")
    batch = np.shape(leaves[0])[0] if np.ndim(leaves[0]) else None
    if batch is None or any(np.ndim(g) < 1 or np.shape(g)[0] != batch for g in leaves):
        raise ValueError(
            f"{where}: expects per-example gradients, every array with the same batch size "
            f"on axis 0; got shapes {[np.shape(g) for g in leaves]}"
        )
    return leaves


def per_example_global_norm_clip(grads: Any, l2_norm_clip: jax.typing.ArrayLike) -> tuple[Any, jax.Array]:
    r"""Clips each example's gradient to a global l2 norm and sums them.

    .. math:: \sum_b g_b \cdot \min\!\Big(1, \frac{C}{\|g_b\|}\Big)

    where :math:`\|g_b\|` is the norm of example :math:`b`'s slice of every
    array together (a zero norm keeps the multiplier at 1).

    Args:
      grads: a tree (usually a list) of arrays, each with the batch on axis 0.
      l2_norm_clip: :math:`C \ge 0`.

    Returns:
      ``(clipped_sum, num_clipped)``: the sum over the batch, shaped like one
      example, and the number of examples that were clipped (int32).

    References:
      Abadi et al., 2016, https://arxiv.org/abs/1607.00133
    """
    _check_batch_axis(grads, "per_example_global_norm_clip")
    _checks.check_in_range("l2_norm_clip", l2_norm_clip, 0.0, np.inf)
    norms = jax.vmap(_tree.global_norm)(grads)
    multipliers = jnp.nan_to_num(jnp.minimum(l2_norm_clip / norms, 1.0), nan=1.0)
    clipped_sum = jax.tree.map(lambda g: jnp.tensordot(multipliers, g, axes=1), grads)
    return clipped_sum, jnp.sum(multipliers < 1.0)


def per_example_layer_norm_clip(
    grads: Any, global_l2_norm_clip: jax.typing.ArrayLike, uniform: bool = True
) -> tuple[Any, Any]:
    r"""Clips each example's gradient layer by layer and sums them.

    Each of the :math:`K` arrays (layers) is clipped per example with
    :func:`per_example_global_norm_clip` to its own bound :math:`C_k`:
    :math:`C / \sqrt{K}` when ``uniform``, else :math:`C \sqrt{D_k / D}` with
    :math:`D_k` the size of one example of layer :math:`k` and :math:`D` the
    total. With one layer this is :func:`per_example_global_norm_clip`.

    Args:
      grads: a tree (usually a list) of arrays, each with the batch on axis 0.
      global_l2_norm_clip: :math:`C \ge 0`.
      uniform: the same bound for every layer, or bounds by layer size.

    Returns:
      ``(clipped_sums, num_clipped)``: two trees shaped like ``grads``, the
      sum over the batch of each layer and how many examples it clipped.

    References:
      McMahan et al., 2018, https://arxiv.org/abs/1710.06963
    """
    leaves = _check_batch_axis(grads, "per_example_layer_norm_clip")
    _checks.check_in_range("global_l2_norm_clip", global_l2_norm_clip, 0.0, np.inf)
    if uniform:
        bounds = jax.tree.map(lambda _: global_l2_norm_clip * (1.0 / len(leaves)) ** 0.5, grads)
    else:
        total = sum(int(np.prod(np.shape(g)[1:])) for g in leaves)
        bounds = jax.tree.map(lambda g: global_l2_norm_clip * (int(np.prod(np.shape(g)[1:])) / total) ** 0.5, grads)
    treedef: Any = jax.tree.structure(grads)
    pairs = [per_example_global_norm_clip(g, c) for g, c in zip(leaves, treedef.flatten_up_to(bounds))]
    return treedef.unflatten([s for s, _ in pairs]), treedef.unflatten([n for _, n in pairs])


class DifferentiallyPrivateAggregateState(NamedTuple):
    """The random key of :func:`differentially_private_aggregate`."""

    rng_key: jax.Array


def _canonical_key(key: Any) -> jax.Array:
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.key(key)


def differentially_private_aggregate(
    l2_norm_clip: jax.typing.ArrayLike,
    noise_multiplier: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    r"""DP-SGD's aggregation: clip each example, sum, add Gaussian noise, average.

    .. math:: u = \frac{1}{B}\Big(\sum_b \text{clip}_C(g_b) + \mathcal N(0, \sigma^2 C^2 I)\Big)

    with :math:`\text{clip}_C` as in :func:`per_example_global_norm_clip` and
    one key per leaf split from the state's key each step (the same draws as
    optax for the same key). The updates must be per-example gradients, batch
    on axis 0, so put it first in a chain.

    Args:
      l2_norm_clip: :math:`C \ge 0`, the bound of each example's gradient norm.
      noise_multiplier: :math:`\sigma \ge 0`, the noise's standard deviation over :math:`C`.
      key: a ``jax.random`` key or an int seed (``None``: seed 0, with a warning).
      seed: deprecated, use ``key``.

    Returns:
      A :class:`GradientTransformation` whose state is
      :class:`DifferentiallyPrivateAggregateState`.

    References:
      Abadi et al., 2016, https://arxiv.org/abs/1607.00133
    """
    _checks.check_in_range("l2_norm_clip", l2_norm_clip, 0.0, np.inf)
    _checks.check_non_negative("noise_multiplier", noise_multiplier)
    if seed is not None:
        warnings.warn("`seed` is deprecated: pass `key`", DeprecationWarning, stacklevel=2)
        if key is not None:
            raise ValueError("pass one of `seed` and `key`, not both")
        key = seed
    if key is None:
        warnings.warn("differentially_private_aggregate: no `key` given, using seed 0", UserWarning, stacklevel=2)
        key = 0
    if not _checks.is_deferred(key):
        key = _canonical_key(key)
    noise_std = l2_norm_clip * noise_multiplier

    def init_fn(params):
        del params
        # Under inject_hyperparams an int seed is deferred; the key is only needed here.
        return DifferentiallyPrivateAggregateState(rng_key=_canonical_key(key))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, DifferentiallyPrivateAggregateState, "differentially_private_aggregate")
        leaves, treedef = jax.tree.flatten(updates)
        _check_batch_axis(leaves, "differentially_private_aggregate.update")
        batch = leaves[0].shape[0]
        clipped, _ = per_example_global_norm_clip(leaves, l2_norm_clip)
        new_key, *keys = jax.random.split(state.rng_key, len(leaves) + 1)
        noised = [(g + noise_std * jax.random.normal(k, g.shape, g.dtype)) / batch for g, k in zip(clipped, keys)]
        return treedef.unflatten(noised), DifferentiallyPrivateAggregateState(rng_key=new_key)

    # Per-example norms across leaves: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
