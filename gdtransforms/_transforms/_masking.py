"""Masking: apply a transformation to a subset of the parameters."""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import numpy as np

from gdtransforms._core import _checks
from gdtransforms._core._base import GradientTransformation, MaskedNode, MaskOrFn, with_extra_args_support
from gdtransforms._core._flat_params import is_flat
from gdtransforms._core._tree_api import is_params_placeholder

__all__ = ["MaskedNode", "MaskedState", "masked"]


class MaskedState(NamedTuple):
    """The state of :func:`masked`: the inner state over unmasked leaves."""

    inner_state: Any


def is_mask_fn(mask: Any) -> bool:
    """Whether ``mask`` (or a label tree) is a function of params.

    A plain function, lambda, ``functools.partial`` or ``jax.tree_util.Partial``
    is a function. A callable that is itself a pytree with children (an
    equinox module with ``__call__`` whose fields are bools, say) is a tree:
    optax #913 took such trees for functions and called them.
    """
    if not callable(mask):
        return False
    if isinstance(mask, jax.tree_util.Partial):
        return True
    leaves = jax.tree.leaves(mask)
    return not leaves or leaves == [mask]


def resolve_mask(mask: MaskOrFn, tree: Any) -> Any:
    """The mask (or label) tree for ``tree``: ``mask(tree)`` if it is a function.

    On flat buffers a per-leaf mask or label tree (or a function, which then
    sees the original tree) becomes one value per buffer (``FlatLayout.per_buffer``).
    """
    if is_flat(tree) and not is_flat(mask):
        return tree.layout.per_buffer(mask)
    return mask(tree) if is_mask_fn(mask) else mask  # type: ignore[misc]


def _callable_hint(mask: Any) -> str:
    if callable(mask) and not is_mask_fn(mask):
        return (
            f" (the {type(mask).__name__} is callable but also a pytree with "
            "leaves, so it is used as a tree; wrap a mask function in a lambda)"
        )
    return ""


def check_mask(
    mask: Any,
    mask_values: Any,
    tree: Any,
    *,
    tree_name: str,
    where: str,
    what: str = "mask",
    bool_leaves: bool = True,
) -> None:
    """Raises unless ``mask_values`` is a tree prefix of ``tree`` (with bool leaves).

    Raises:
      ValueError: naming the first path where the trees differ.
      TypeError: naming the first leaf that is not a static bool.
    """
    _checks.check_tree_prefix(
        mask_values,
        tree,
        prefix_name=what,
        tree_name=tree_name,
        where=where,
        hint=_callable_hint(mask),
    )
    if not bool_leaves:
        return
    for path, leaf in jax.tree_util.tree_flatten_with_path(mask_values)[0]:
        if _checks.is_deferred(leaf):
            raise TypeError(
                f"{where}: {what} leaf at {_checks.path_str(path)} is traced; a mask "
                "must be static (Python bools), it decides which state exists"
            )
        if not (isinstance(leaf, (bool, np.bool_)) or (np.ndim(leaf) == 0 and np.asarray(leaf).dtype == np.bool_)):
            raise TypeError(
                f"{where}: {what} leaf at {_checks.path_str(path)} must be a bool, got {type(leaf).__name__}: {leaf!r}"
            )


def _is_foreign_masked_node(x: Any) -> bool:
    return type(x).__name__ == "MaskedNode" and not isinstance(x, MaskedNode) and not jax.tree.leaves(x)


def adopt_masked_nodes(tree: Any) -> Any:
    """``tree`` with another library's empty ``MaskedNode`` (optax's) replaced by ours.

    A state built by optax's ``masked`` or ``multi_transform`` holds optax's
    ``MaskedNode``; its structure is the same as ours but the tree types
    differ, so without this the inner update would refuse the state with two
    identical-looking trees.
    """
    if not any(_is_foreign_masked_node(x) for x in jax.tree.leaves(tree, is_leaf=_is_foreign_masked_node)):
        return tree
    return jax.tree.map(
        lambda x: MaskedNode() if _is_foreign_masked_node(x) else x, tree, is_leaf=_is_foreign_masked_node
    )


def mask_tree(tree: Any, mask_values: Any) -> Any:
    """Replaces the subtrees of ``tree`` that the mask turns off by MaskedNode."""
    return jax.tree.map(lambda m, x: x if bool(m) else MaskedNode(), mask_values, tree)


def masked(
    inner: Any,
    mask: MaskOrFn,
    *,
    mask_compatible_extra_args: bool = False,
) -> GradientTransformation:
    r"""Applies ``inner`` only where ``mask`` is True; other updates pass through.

    .. math::
       u_i \leftarrow \begin{cases} T(u)_i & m_i \\ u_i & \text{otherwise} \end{cases}

    Masked-out leaves hold no state in ``inner``: they are replaced by
    :class:`MaskedNode`, an empty node, before ``inner`` sees the tree.

    Args:
      inner: the transformation to apply to the selected leaves.
      mask: a tree of bools with the structure of params (or a prefix of it:
        one bool for a whole subtree), or a function of params returning one.
        A callable pytree with leaves (an equinox module, say) is a tree, not
        a function. The mask must be static (Python bools).
      mask_compatible_extra_args: also mask the extra keyword arguments whose
        tree structure equals the updates' (per-parameter tags, say).

    Returns:
      A :class:`GradientTransformation` whose state is :class:`MaskedState`.

    Raises:
      ValueError: (at ``init``/``update``) the mask does not match params; the
        message names the first differing path.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> params = {"w": jnp.ones(2), "b": jnp.ones(1)}
      >>> tx = gdt.masked(gdt.scale(-1.0), {"w": True, "b": False})
      >>> updates, _ = tx.update(params, tx.init(params))
      >>> updates["w"], updates["b"]
      (Array([-1., -1.], dtype=float32), Array([1.], dtype=float32))
    """
    return masked_named(inner, mask, mask_compatible_extra_args, where="masked")


def masked_named(
    inner: Any, mask: MaskOrFn, mask_compatible_extra_args: bool = False, *, where: str
) -> GradientTransformation:
    """:func:`masked` whose errors name ``where`` (``freeze``, say)."""
    inner = with_extra_args_support(inner)

    def resolved(tree: Any, tree_name: str) -> Any:
        mask_values = resolve_mask(mask, tree)
        check_mask(mask, mask_values, tree, tree_name=tree_name, where=where)
        return mask_values

    def mask_extra_args(extra_args: dict[str, Any], updates: Any, mask_values: Any) -> dict[str, Any]:
        if not mask_compatible_extra_args:
            return extra_args
        structure = jax.tree.structure(updates)
        return {  # type: ignore[operator]
            k: mask_tree(v, mask_values) if jax.tree.structure(v) == structure else v  # type: ignore[operator]
            for k, v in extra_args.items()  # type: ignore[attr-defined,operator]
        }

    def init_fn(params):
        if is_params_placeholder(params):  # tree_map_params is looking for params.
            return MaskedState(inner_state=inner.init(params))
        mask_values = resolved(params, "params")
        return MaskedState(inner_state=inner.init(mask_tree(params, mask_values)))

    def update_fn(updates, state, params=None, **extra_args):
        _checks.check_state(state, MaskedState, where)
        mask_values = resolved(updates, "updates")
        masked_updates = mask_tree(updates, mask_values)
        masked_params = None if params is None else mask_tree(params, mask_values)
        new_updates, inner_state = inner.update(
            masked_updates,
            adopt_masked_nodes(state.inner_state),
            masked_params,
            **mask_extra_args(extra_args, updates, mask_values),
        )
        merged = jax.tree.map(lambda m, new, old: new if bool(m) else old, mask_values, new_updates, updates)
        return merged, MaskedState(inner_state=inner_state)

    return GradientTransformation(init_fn, update_fn)
