"""FlatParams: flat buffers with their layout, as a pytree of 1-D arrays."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import jax

if TYPE_CHECKING:
    from gdtransforms._flat import FlatLayout

__all__ = ["FlatParams", "is_flat"]


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


def _flatten_with_keys(flat: FlatParams) -> tuple[Any, FlatLayout]:
    keys = [jax.tree_util.DictKey(k) for k in flat.layout.group_keys]
    return tuple(zip(keys, flat.buffers)), flat.layout


def _flatten(flat: FlatParams) -> tuple[tuple[Any, ...], FlatLayout]:
    return flat.buffers, flat.layout


jax.tree_util.register_pytree_with_keys(
    FlatParams, _flatten_with_keys, lambda layout, children: FlatParams(layout, children), _flatten
)


def is_flat(tree: Any) -> bool:
    """Whether ``tree`` is a :class:`FlatParams`."""
    return isinstance(tree, FlatParams)
