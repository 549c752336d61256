"""Masking: apply a transformation to a subset of the parameters."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax

from gdtransforms import _flat
from gdtransforms._base import GradientTransformation, MaskOrFn, with_extra_args_support

__all__ = ["MaskedNode", "MaskedState", "masked"]


class MaskedNode(NamedTuple):
    """Stands in for a masked-out leaf: an empty node, so it holds no state."""


class MaskedState(NamedTuple):
    """The state of :func:`masked`: the inner state over unmasked leaves."""

    inner_state: Any


def is_mask_fn(mask: MaskOrFn) -> bool:
    """Whether ``mask`` is a function of params rather than a tree of bools.

    A callable that is itself a pytree with children (a registered dataclass
    with ``__call__``, say) is a tree, not a function (optax #913).
    """
    return callable(mask) and jax.tree.leaves(mask) == [mask]


def resolve_mask(mask: MaskOrFn, tree: Any) -> Any:
    """The mask tree for ``tree``: ``mask(tree)`` if it is a function.

    On flat buffers a per-leaf mask (or mask function, which then sees the
    original tree) becomes one bool per buffer (see ``FlatLayout.mask``).
    """
    if _flat.is_flat(tree) and not _flat.is_flat(mask):
        return tree.layout.mask(mask)
    return mask(tree) if is_mask_fn(mask) else mask


def mask_tree(tree: Any, mask_tree: Any) -> Any:
    """Replaces the leaves of ``tree`` that the mask turns off by MaskedNode."""
    return jax.tree.map(lambda m, x: x if m else MaskedNode(), mask_tree, tree)


def masked(inner: Any, mask: MaskOrFn) -> GradientTransformation:
    """Applies ``inner`` only where ``mask`` is True; other updates pass through.

    Masked-out leaves hold no state in ``inner``.

    Args:
      inner: the transformation to apply to the selected leaves.
      mask: a tree of bools with the structure of params (or a prefix of it),
        or a function of params returning one.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MaskedState`.
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return MaskedState(inner_state=inner.init(mask_tree(params, resolve_mask(mask, params))))

    def update_fn(updates, state, params=None, **extra_args):
        mask_values = resolve_mask(mask, updates)
        masked_updates = mask_tree(updates, mask_values)
        masked_params = None if params is None else mask_tree(params, mask_values)
        new_updates, inner_state = inner.update(
            masked_updates, state.inner_state, masked_params, **extra_args
        )
        merged = jax.tree.map(
            lambda m, new, old: new if m else old, mask_values, new_updates, updates
        )
        return merged, MaskedState(inner_state=inner_state)

    return GradientTransformation(init_fn, update_fn)
