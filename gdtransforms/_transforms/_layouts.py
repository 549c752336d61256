"""Running a transformation on one concatenated vector (flatten)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core._base import GradientTransformation, with_extra_args_support

__all__ = ["flatten"]


def _concat(tree: Any) -> jax.Array:
    return jnp.concatenate([jnp.reshape(x, [-1]) for x in jax.tree.leaves(tree)])


def _split_like(reference: Any, vector: jax.Array) -> Any:
    leaves, treedef = jax.tree.flatten(reference)
    ends = np.cumsum([np.size(x) for x in leaves])[:-1].tolist()
    pieces = jnp.split(vector, ends)
    return jax.tree.unflatten(treedef, [jnp.reshape(v, np.shape(x)) for v, x in zip(pieces, leaves)])


def flatten(inner: Any) -> GradientTransformation:
    r"""Runs ``inner`` on all leaves concatenated into one vector.

    .. math:: u \leftarrow \text{split}\big(\text{inner}(\text{concat}(u))\big)

    Fewer, larger operations for trees of many small leaves. Leaves of
    different dtypes are promoted to a common one by the concatenation, and
    the updates keep it (as in optax). For one buffer per dtype that keeps
    each dtype, use :func:`flatten_params`.

    Args:
      inner: the transformation to run on the vector.

    Returns:
      A :class:`GradientTransformation` with ``inner``'s state (built from the vector).
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return inner.init(_concat(params))

    def update_fn(updates, state, params=None, **extra_args):
        flat_params = None if params is None else _concat(params)
        flat_updates, state = inner.update(_concat(updates), state, flat_params, **extra_args)
        return _split_like(updates, flat_updates), state

    return GradientTransformation(init_fn, update_fn)
