"""FlatParams: flat buffers with their layout, as a pytree of 1-D arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jax
import numpy as np

from gdtransforms._core._base import GradientTransformation, with_extra_args_support

FlatLayout = Any  # The layout type lives in the flat path; duck-typed here.

__all__ = ["FlatParams", "is_flat", "leafwise"]


class FlatParams:
    """Flat buffers with their :class:`FlatLayout`: a pytree of 1-D arrays.

    The leaves are the buffers (named by the layout's group keys); the layout
    is static. Optimizer states built from ``FlatParams`` hold ``FlatParams``
    too. Get the original tree with :meth:`unflatten`.

    Attributes:
      layout: the :class:`FlatLayout`.
      buffers: one entry per group, in the layout's order.
    """

    __slots__ = ("layout", "buffers")

    def __init__(self, layout: FlatLayout, buffers: tuple[Any, ...]):
        self.layout = layout
        self.buffers = tuple(buffers)

    def unflatten(self) -> Any:
        """The original tree as views of the buffers (see :meth:`FlatLayout.unflatten`)."""
        return self.layout.unflatten(self)

    def __getitem__(self, key: str) -> Any:
        try:
            return self.buffers[self.layout.group_keys.index(key)]
        except ValueError:
            raise KeyError(f"no buffer {key!r}; buffers are {list(self.layout.group_keys)}") from None

    def keys(self) -> tuple[str, ...]:
        return self.layout.group_keys

    def __iter__(self) -> Iterator[str]:
        return iter(self.layout.group_keys)

    def __len__(self) -> int:
        return len(self.buffers)

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{k!r}: {getattr(b, 'shape', b)}" if hasattr(b, "shape") else f"{k!r}: {b!r}"
            for k, b in zip(self.layout.group_keys, self.buffers)
        )
        return f"FlatParams({{{inner}}}, {self.layout.num_leaves} leaves)"


class _PerBufferValues:
    """The static part of a FlatParams holding per-buffer values (bools, labels).

    It equals its layout, so such a mask has the structure of the buffers it
    masks; mapping over it may return bools (``jax.tree.map(callable, mask)``,
    ``label == "decay"``), which mapping over buffers may not.
    """

    __slots__ = ("layout",)

    def __init__(self, layout: FlatLayout):
        self.layout = layout

    def __eq__(self, other: object) -> bool:
        other = other.layout if isinstance(other, _PerBufferValues) else other
        return bool(self.layout == other)

    def __hash__(self) -> int:
        return hash(self.layout)


def _aux(flat: FlatParams) -> Any:
    if any(_is_per_buffer_value(b) for b in flat.buffers):
        return _PerBufferValues(flat.layout)
    return flat.layout


def _flatten_with_keys(flat: FlatParams) -> tuple[Any, Any]:
    keys = [jax.tree_util.DictKey(k) for k in flat.layout.group_keys]
    return tuple(zip(keys, flat.buffers)), _aux(flat)


def _flatten(flat: FlatParams) -> tuple[tuple[Any, ...], Any]:
    return flat.buffers, _aux(flat)


def _is_per_buffer_value(child: Any) -> bool:
    """Whether ``child`` is a bool or a label: what a mask or label function returns."""
    return isinstance(child, (bool, np.bool_, str))


def _unflatten(aux: Any, children: Any) -> FlatParams:
    children = tuple(children)
    if isinstance(aux, _PerBufferValues):
        return FlatParams(aux.layout, children)
    layout = aux
    # ``jax.tree.map(fn, flat)`` builds a FlatParams from ``fn``'s results. Bools
    # or labels there mean a mask or label function looked at the 1-D buffers
    # (``x.ndim > 1`` is False for every one) instead of the leaves: refuse it
    # rather than silently select nothing. gdt's own masks build their
    # per-buffer values with the layout (``FlatLayout.per_buffer``).
    bad = next((c for c in children if _is_per_buffer_value(c)), None)
    if bad is not None:
        raise TypeError(
            "a function mapped over FlatParams returned per-buffer "
            f"{'labels' if isinstance(bad, str) else 'bools'} ({list(children)!r}): a mask or "
            "label function (optax's `masked`, `adamw(mask=fn)`, `multi_transform`) sees the 1-D "
            f"buffers {list(layout.group_keys)}, not the leaves, so it would select the wrong "
            "leaves (usually none). Use gdt's own `gdt.masked`, `gdt.adamw(mask=fn)` or "
            "`gdt.partition`, which evaluate the function on the leaves, or pass optax a "
            "per-buffer mask built from the leaves, `optax.masked(inner, flat.layout.mask(fn))`, with "
            "the layout built by `gdt.flat_layout(params, groups=fn)` (optax's `multi_transform` "
            "cannot run on flat buffers: use `gdt.partition`)."
        )
    return FlatParams(layout, children)


jax.tree_util.register_pytree_with_keys(FlatParams, _flatten_with_keys, _unflatten, _flatten)


def is_flat(tree: Any) -> bool:
    """Whether ``tree`` is a :class:`FlatParams`."""
    return isinstance(tree, FlatParams)


def leaf_views(flat: FlatParams) -> Any:
    return flat.layout.unflatten(flat)


def leafwise(inner: Any) -> GradientTransformation:
    """Runs ``inner`` leaf by leaf on flat buffers; a no-op on ordinary trees.

    Element-wise transformations need nothing: they work on the buffers as
    they are. A transformation whose result depends on the leaves (per-leaf
    norms as in LAMB's trust ratio, a leaf's shape as in Adafactor) is wrapped
    in ``leafwise``: on :class:`FlatParams` it sees the original tree as views
    of the buffers (its state is built from that tree), and its updates are
    packed back into buffers. On any other tree it is ``inner`` itself, with
    the same state and numbers.

    Args:
      inner: the transformation that needs the leaf structure.

    Returns:
      A :class:`GradientTransformation` with ``inner``'s state.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> per_leaf_sum = gdt.stateless(
      ...     lambda u, p: {k: v * 0 + v.sum() for k, v in u.items()})
      >>> tx = gdt.leafwise(per_leaf_sum)
      >>> flat = gdt.flatten_params({"a": jnp.ones(2), "b": jnp.ones(3)})
      >>> updates, _ = tx.update(flat, tx.init(flat))
      >>> updates["float32"]
      Array([2., 2., 3., 3., 3.], dtype=float32)
    """
    inner = with_extra_args_support(inner)

    def init_fn(params):
        return inner.init(leaf_views(params) if is_flat(params) else params)

    def update_fn(updates, state, params=None, **extra_args):
        if not is_flat(updates):
            return inner.update(updates, state, params, **extra_args)
        layout = updates.layout
        tree_params = leaf_views(params) if is_flat(params) else params
        new_updates, state = inner.update(leaf_views(updates), state, tree_params, **extra_args)
        return layout.pack(layout.treedef.flatten_up_to(new_updates)), state

    return GradientTransformation(init_fn, update_fn)
