"""Partitioning: route groups of parameters to their own transformations."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any, NamedTuple

import jax

from gdtransforms._core import _checks
from gdtransforms._core._base import GradientTransformation, PyTree, set_to_zero
from gdtransforms._core._tree_api import is_params_placeholder
from gdtransforms._transforms._masking import check_mask, masked, masked_named, resolve_mask

__all__ = [
    "MultiTransformState",
    "PartitionState",
    "freeze",
    "multi_transform",
    "partition",
    "selective_transform",
]


class PartitionState(NamedTuple):
    """The state of :func:`partition`: one inner state per label."""

    inner_states: Mapping[Hashable, Any]


MultiTransformState = PartitionState


def _check_labels(labels: Any, known: Mapping[Hashable, Any]) -> None:
    """Raises naming the first leaf whose label has no transformation."""
    for path, label in jax.tree_util.tree_flatten_with_path(labels)[0]:
        try:
            ok = label in known
        except TypeError:  # An unhashable label (an array, say).
            ok = False
        if not ok:
            raise ValueError(
                f"partition: the label at {_checks.path_str(path)} is {label!r}, "
                f"which has no transformation; the transforms have labels "
                f"{sorted(map(repr, known))}"
            )


def partition(
    transforms: Mapping[Hashable, Any],
    param_labels: PyTree | Any,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    r"""Applies a different transformation to each labelled group of params.

    .. math:: u_i \leftarrow T_{\ell(i)}(u)_i

    Each group's transformation sees only its own leaves (the others are
    :class:`MaskedNode`), so it holds state for those leaves only.

    Args:
      transforms: a mapping from label to transformation.
      param_labels: a tree of labels with the structure of params (or a
        prefix of it), or a function of params returning one. A callable pytree
        with leaves is a tree, not a function (optax #913).
      mask_compatible_extra_args: also mask extra keyword arguments whose tree
        structure equals the updates'.

    Returns:
      A :class:`GradientTransformation` whose state is :class:`PartitionState`.

    Raises:
      ValueError: a label has no transformation, or the label tree does not
        match params (the message names the first differing path).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
      >>> tx = gdt.partition({"fast": gdt.scale(-1.0), "slow": gdt.scale(-0.1)},
      ...                    {"w": "fast", "b": "slow"})
      >>> updates, _ = tx.update(params, tx.init(params))
      >>> updates["b"]
      Array([-0.1], dtype=float32)
    """
    if not isinstance(transforms, Mapping) or not transforms:
        raise TypeError(
            f"partition: `transforms` must be a non-empty mapping from label to transformation, got {transforms!r}"
        )

    def labels_for(tree: Any, tree_name: str) -> Any:
        labels = resolve_mask(param_labels, tree)
        check_mask(
            param_labels,
            labels,
            tree,
            tree_name=tree_name,
            where="partition",
            what="label tree",
            bool_leaves=False,
        )
        _check_labels(labels, transforms)
        return labels

    def group(labels: Any, label: Hashable, tx: Any) -> GradientTransformation:
        mask = jax.tree.map(lambda leaf_label: leaf_label == label, labels)
        return masked(tx, mask, mask_compatible_extra_args=mask_compatible_extra_args)

    def init_fn(params):
        if is_params_placeholder(params):  # tree_map_params is looking for params.
            return PartitionState({label: masked(tx, True).init(params) for label, tx in transforms.items()})
        labels = labels_for(params, "params")
        return PartitionState({label: group(labels, label, tx).init(params) for label, tx in transforms.items()})

    def update_fn(updates, state, params=None, **extra_args):
        _checks.check_state(state, PartitionState, "partition")
        labels = labels_for(updates, "updates")
        missing = [label for label in transforms if label not in state.inner_states]
        if missing:
            raise ValueError(
                f"partition: state has no inner state for labels {missing}; it has {list(state.inner_states)}"
            )
        new_states = {}
        for label, tx in transforms.items():
            updates, new_states[label] = group(labels, label, tx).update(
                updates, state.inner_states[label], params, **extra_args
            )
        return updates, PartitionState(new_states)

    return GradientTransformation(init_fn, update_fn)


multi_transform = partition


def freeze(mask: bool | PyTree) -> GradientTransformation:
    r"""Zeroes the updates of the parameters where ``mask`` is True.

    .. math:: u_i \leftarrow 0 \ \text{if}\ m_i, \quad u_i \ \text{otherwise}

    The state is empty: a frozen leaf holds no arrays.

    Args:
      mask: a bool (freeze all or nothing) or a tree of bools with the
        structure of params (or a prefix of it); True freezes.

    Returns:
      A :class:`GradientTransformation`.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> tx = gdt.freeze({"w": True, "b": False})
      >>> grads = {"w": jnp.ones(2), "b": jnp.ones(1)}
      >>> updates, _ = tx.update(grads, tx.init(grads))
      >>> updates["w"], updates["b"]
      (Array([0., 0.], dtype=float32), Array([1.], dtype=float32))
    """
    return masked_named(set_to_zero(), mask, where="freeze")


def selective_transform(optimizer: Any, *, freeze_mask: bool | PyTree) -> GradientTransformation:
    """Optimizes the unfrozen parameters with ``optimizer``; frozen ones get 0.

    Unlike ``chain(optimizer, freeze(mask))``, the optimizer holds no state
    for frozen leaves (no Adam moments for a frozen embedding, say).

    Args:
      optimizer: the transformation for the trainable leaves.
      freeze_mask: a bool or a tree of bools (a prefix of params); True
        freezes. Keyword-only, so a freeze mask is never taken for a train mask.

    Returns:
      A :func:`partition` with the labels ``"train"`` and ``"freeze"``.
    """

    def labels(params: Any) -> Any:
        check_mask(
            freeze_mask, freeze_mask, params, tree_name="params", where="selective_transform", what="freeze_mask"
        )
        return jax.tree.map(lambda frozen: "freeze" if frozen else "train", freeze_mask)

    return partition({"train": optimizer, "freeze": set_to_zero()}, labels)
