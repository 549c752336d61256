"""Annealed Gaussian gradient noise."""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from gdtransforms._core import _checks, _tree
from gdtransforms._core._base import GradientTransformation
from gdtransforms._core._flat_params import leafwise

__all__ = ["AddNoiseState", "add_noise"]


class AddNoiseState(NamedTuple):
    """The step count (for the annealing) and the random key of :func:`add_noise`."""

    count: jax.Array  # type: ignore[assignment]  # int32 scalar
    rng_key: jax.Array  # a typed key


def _as_key(key: Any) -> jax.Array:
    """A typed key from a typed key (returned as is) or an integer seed."""
    if isinstance(key, jax.Array) and jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key
    return jax.random.key(key)


def add_noise(
    eta: jax.typing.ArrayLike,
    gamma: jax.typing.ArrayLike,
    key: jax.Array | int | None = None,
    *,
    seed: int | None = None,
) -> GradientTransformation:
    r"""Adds Gaussian noise whose variance decays with the step count.

    .. math::
        \sigma_t^2 = \frac{\eta}{t^{\gamma}}, \qquad
        u_t = g_t + \sigma_t\, \xi_t, \quad \xi_t \sim \mathcal{N}(0, I)

    At each step the key is split in two, one half kept for the next step;
    the other is split once per leaf and each leaf's noise is drawn in the
    leaf's dtype. The draws are the same as optax's for the same key, so
    runs match number for number. On flat buffers the noise is drawn leaf by
    leaf, so it is the same there too.

    Args:
      eta: :math:`\eta \ge 0`, the initial variance.
      gamma: :math:`\gamma \ge 0`, the annealing exponent.
      key: a typed key (``jax.random.key``) or an integer seed; ``None``
        warns and uses 0.
      seed: deprecated, use ``key``.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`AddNoiseState`.

    References:
      Neelakantan et al., 2015, https://arxiv.org/abs/1511.06807
    """
    _checks.check_non_negative("eta", eta)
    _checks.check_non_negative("gamma", gamma)
    if seed is not None:
        warnings.warn("`seed` is deprecated, pass `key` instead.", DeprecationWarning, stacklevel=2)
        if key is not None:
            raise ValueError("pass only one of `key` and `seed`")
        key = seed
    if key is None:
        warnings.warn("add_noise: no `key` given, using 0; pass a key.", stacklevel=2)
        key = 0
    if isinstance(key, (bool, float, str)):
        raise TypeError(f"`key` must be a jax.random.key or an integer seed, got {type(key).__name__}: {key!r}")

    def init_fn(params):
        del params
        return AddNoiseState(count=jnp.zeros([], jnp.int32), rng_key=_as_key(key))

    def update_fn(updates, state, params=None, **extra_args):
        del params, extra_args
        _checks.check_state(state, AddNoiseState, "add_noise")
        count = _tree.safe_increment(state.count)
        std = jnp.sqrt(eta / count**gamma)
        next_key, sample_key = jax.random.split(state.rng_key)
        leaves, treedef = jax.tree.flatten(updates)
        keys = jax.random.split(sample_key, len(leaves))
        noisy = [
            (g + std * jax.random.normal(k, jnp.shape(g), jnp.result_type(g))).astype(jnp.result_type(g))
            for g, k in zip(leaves, keys)
        ]
        return treedef.unflatten(noisy), AddNoiseState(count=count, rng_key=next_key)

    # Noise is drawn per leaf: on flat buffers it runs on leaf views.
    return leafwise(GradientTransformation(init_fn, update_fn))
