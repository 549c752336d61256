"""The flat path: params, grads and optimizer state as one buffer per dtype.

A :class:`FlatLayout` records where each leaf of a parameter tree lives in a
few contiguous 1-D buffers (one per dtype, or per ``(group, dtype)``), and a
:class:`FlatParams` holds those buffers. ``FlatParams`` is a pytree whose
leaves are the buffers, so every element-wise optimizer runs on it unchanged,
with one fused loop per buffer instead of several per leaf.
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gdtransforms._core import _checks
from gdtransforms._core._flat_params import FlatParams
from gdtransforms._flat._leaves import leaf_dtype, per_leaf_values, repeated_blocks, static_value

__all__ = ["FlatLayout", "flat_layout", "flatten_params"]


class LeafSlot(NamedTuple):
    """Where one leaf lives: its buffer (``group``), offset, shape and dtype."""

    path: str
    group: int
    offset: int
    size: int
    shape: tuple[int, ...]
    dtype: np.dtype


class FlatLayout:
    """The structure of a flattened parameter tree.

    Leaves are packed in tree order into one buffer per group. Without
    ``groups`` a group is a dtype (``"float32"``); with ``groups`` it is a
    ``(label, dtype)`` pair named ``"label:float32"``. Build it with
    :func:`flat_layout`; it is immutable and hashable (static in ``jit``).

    Attributes:
      treedef: the structure of the original tree.
      slots: one :class:`LeafSlot` per leaf, in tree order.
      group_keys: the buffer names, in buffer order.
      group_sizes: the number of elements of each buffer.
      group_dtypes: the dtype of each buffer.
      leaf_norms: whether norms over all buffers (:func:`global_norm`, so
        ``clip_by_global_norm``) sum leaf by leaf in tree order (see
        :func:`flat_layout`).
    """

    def __init__(self, treedef: Any, slots: tuple[LeafSlot, ...], group_keys: tuple[str, ...], leaf_norms: bool = True):
        self.treedef = treedef
        self.slots = slots
        self.group_keys = group_keys
        self.leaf_norms = bool(leaf_norms)
        self.group_sizes = tuple(sum(s.size for s in slots if s.group == g) for g in range(len(group_keys)))
        self.group_dtypes = tuple(next(s.dtype for s in slots if s.group == g) for g in range(len(group_keys)))
        self._members = tuple(tuple(i for i, s in enumerate(slots) if s.group == g) for g in range(len(group_keys)))
        self._key = (treedef, tuple((s.group, s.shape, s.dtype) for s in slots), group_keys, self.leaf_norms)
        self._hash = hash(self._key)

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__, so the hash is recomputed in the new process.
        return FlatLayout, (self.treedef, self.slots, self.group_keys, self.leaf_norms)

    def __eq__(self, other: object) -> Any:
        if self is other:
            return True
        if not isinstance(other, FlatLayout):
            return NotImplemented  # A per-buffer mask's static part compares itself.
        return self._hash == other._hash and self._key == other._key

    def __repr__(self) -> str:
        groups = ", ".join(
            f"{k}: {len(m)} leaves, {n} elements" for k, m, n in zip(self.group_keys, self._members, self.group_sizes)
        )
        norms = "" if self.leaf_norms else ", leaf_norms=False"
        return f"FlatLayout({groups}{norms})"

    @property
    def num_leaves(self) -> int:
        """The number of leaves of the original tree."""
        return len(self.slots)

    def members(self, group: int) -> tuple[int, ...]:
        """The indices (in tree order) of the leaves packed into buffer ``group``."""
        return self._members[group]

    # -- Converting between the tree and the buffers ---------------------------

    def flatten(self, tree: Any) -> FlatParams:
        """Packs a tree with this layout's structure into :class:`FlatParams`.

        Leaves must have the layout's shapes and dtypes. This copies; do it
        once (at setup), not in every step: take gradients with respect to the
        flat buffers instead (see :meth:`unflatten`).

        Raises:
          ValueError: the structure or a leaf's shape differs.
          TypeError: a leaf's dtype differs.
        """
        leaves = self._leaves_of(tree, "tree", "FlatLayout.flatten")
        for slot, leaf in zip(self.slots, leaves):
            dtype = np.dtype(leaf.dtype) if hasattr(leaf, "dtype") else np.result_type(leaf)
            if dtype != slot.dtype:
                raise TypeError(
                    f"FlatLayout.flatten: leaf at {slot.path} has dtype {dtype.name}, "
                    f"the layout expects {slot.dtype.name} (cast it first)"
                )
        return self.pack(leaves)

    def unflatten(self, flat: FlatParams) -> Any:
        """The original tree, as views (slices) of the flat buffers.

        Use it in the model's forward pass: ``jax.grad`` with respect to the
        flat buffers then returns flat gradients directly (the backward pass
        of a split is one concatenate per buffer).

        Args:
          flat: a :class:`FlatParams` with this layout.

        Returns:
          A tree with the original structure, shapes and dtypes.
        """
        if not isinstance(flat, FlatParams):
            raise TypeError(f"FlatLayout.unflatten: expected FlatParams, got {type(flat).__name__}")
        if flat.layout != self:
            raise ValueError(
                f"FlatLayout.unflatten: the buffers have another layout ({flat.layout!r}); this one is {self!r}"
            )
        leaves: list[Any] = [None] * len(self.slots)
        for g, buf in enumerate(flat.buffers):
            members = self._members[g]
            if isinstance(buf, jax.ShapeDtypeStruct):
                pieces: list[Any] = [jax.ShapeDtypeStruct(self.slots[i].shape, buf.dtype) for i in members]
            elif not hasattr(buf, "shape"):  # MaskedNode, None: every leaf gets it.
                pieces = [buf] * len(members)
            elif len(members) == 1:
                pieces = [jnp.reshape(buf, self.slots[members[0]].shape)]
            else:
                sizes = tuple(self.slots[i].size for i in members)
                parts = lax.split(buf, sizes)
                pieces = [jnp.reshape(p, self.slots[i].shape) for p, i in zip(parts, members)]
            for i, piece in zip(members, pieces):
                leaves[i] = piece
        return self.treedef.unflatten(leaves)

    def pack(self, leaves: list[Any]) -> FlatParams:
        """Concatenates leaves (in tree order) into buffers, without checks.

        Dtypes are promoted within a buffer. A buffer whose leaves are all the
        same non-array object (``MaskedNode``, ``None``) becomes that object.
        """
        buffers: list[Any] = []
        for g, members in enumerate(self._members):
            parts = [leaves[i] for i in members]
            first = parts[0]
            if isinstance(first, jax.ShapeDtypeStruct):
                buffers.append(jax.ShapeDtypeStruct((self.group_sizes[g],), first.dtype))
            elif not hasattr(first, "shape") and not isinstance(first, (int, float, complex)):
                buffers.append(first)
            elif len(parts) == 1:
                buffers.append(jnp.ravel(first))
            else:
                buffers.append(jnp.concatenate([jnp.ravel(p) for p in parts]))
        return FlatParams(self, tuple(buffers))

    def abstract(self) -> Any:
        """The original tree with ``jax.ShapeDtypeStruct`` leaves."""
        return self.treedef.unflatten([jax.ShapeDtypeStruct(s.shape, s.dtype) for s in self.slots])

    # -- Per-leaf information as per-buffer information -------------------------

    def mask(self, mask: Any) -> FlatParams:
        """A per-leaf mask as a per-buffer mask, for ``masked`` and ``adamw``.

        ``masked``, ``partition`` and the ``mask`` arguments do this
        themselves when they are given :class:`FlatParams`.

        Args:
          mask: a tree of bools with the params' structure (or a prefix of
            it), or a function of params returning one; the function sees the
            original tree (abstract leaves), not the buffers.

        Returns:
          :class:`FlatParams` with one Python bool per buffer.

        Raises:
          ValueError: a buffer holds both masked and unmasked leaves; build
            the layout with ``flat_layout(params, groups=mask)``.
        """
        return self.per_buffer(mask, "mask")

    def labels(self, labels: Any) -> FlatParams:
        """Per-leaf labels (as for ``partition``) as one label per buffer.

        Raises:
          ValueError: a buffer holds leaves with different labels; build the
            layout with ``flat_layout(params, groups=labels)``.
        """
        return self.per_buffer(labels, "labels")

    def per_buffer(self, spec: Any, what: str = "mask or labels") -> FlatParams:
        """One value per buffer from per-leaf values (bools, labels).

        Args:
          spec: a tree (or prefix) of hashable values, or a function of the
            original tree returning one.
          what: what ``spec`` is, for error messages.

        Returns:
          :class:`FlatParams` whose leaves are the buffers' values.

        Raises:
          ValueError: a buffer holds leaves with different values.
        """
        values = [static_value(v) for v in per_leaf_values(spec, self.abstract(), what)]
        out = []
        for g, members in enumerate(self._members):
            found: dict[Any, list[str]] = {}
            for i in members:
                found.setdefault(values[i], []).append(self.slots[i].path)
            if len(found) > 1:
                detail = "; ".join(f"{v!r} at {', '.join(p[:3])}" for v, p in found.items())
                raise ValueError(
                    f"flat {what}: buffer {self.group_keys[g]!r} mixes leaves with different "
                    f"values ({detail}). On the flat path a per-leaf {what} needs one value per "
                    f"buffer: build the layout with "
                    f"`flat_layout(params, groups=<the same {what}>)`."
                )
            out.append(next(iter(found)))
        return FlatParams(self, tuple(out))

    def _leaves_of(self, tree: Any, name: str, where: str) -> list[Any]:
        treedef = jax.tree.structure(tree)
        if treedef != self.treedef:
            _checks.check_trees_match(self.abstract(), tree, reference_name="the layout", tree_name=name, where=where)
            raise ValueError(f"{where}: {name} has structure {treedef}, expected {self.treedef}")
        leaves = treedef.flatten_up_to(tree)  # type: ignore[attr-defined,operator]
        for slot, leaf in zip(self.slots, leaves):
            if tuple(np.shape(leaf)) != slot.shape:
                raise ValueError(
                    f"{where}: leaf at {slot.path} has shape {tuple(np.shape(leaf))}, expected {slot.shape}"
                )
        return leaves


def flat_layout(params: Any, *, groups: Any = None, leaf_norms: bool = True, blocks: bool = False) -> FlatLayout:
    """The :class:`FlatLayout` of a parameter tree.

    Args:
      params: the parameter tree (arrays or ``jax.ShapeDtypeStruct``).
      groups: ``None`` for one buffer per dtype; or a tree of hashable
        labels (a bool mask, partition labels; a prefix is fine) or a function
        of params returning one, for one buffer per ``(label, dtype)``. Group
        by the mask of ``adamw``/``masked`` or the labels of ``partition`` so
        that they work on the flat buffers.
      leaf_norms: ``True`` (the default): a norm over all buffers
        (:func:`global_norm`, ``clip_by_global_norm``) sums the squares leaf
        by leaf in tree order, so the flat path equals the tree path bit for
        bit. ``False``: one sum per buffer. That skips the per-leaf slices
        (on CPU XLA copies each large slice before reducing it: 8 bytes per
        parameter, a sixth of an Adam step's memory traffic), but adds in
        another order: the norm differs from the tree's in the last bits,
        and training amplifies that (about 1e-4 in the params of a small GPT
        after 200 steps). A speed option.
      blocks: ``True``: one buffer (per group and dtype) for each repeated
        block, that is each of several sibling subtrees with the same
        structure, leaf shapes and dtypes and at least two leaves (a model's
        layers), its leaves at the same offsets in every block's buffer.
        XLA fuses a leaf view's slice into the kernels that read it, so in
        one shared buffer every layer's kernels differ by their offsets and
        are compiled once per layer; with a buffer per block they are
        identical and compiled once (a 6-layer GPT's train step compiles
        about 10% faster, ``benchmarks/compile_flat.py``). The price: the
        optimizer runs one fused loop per buffer instead of one per dtype.
        ``False`` (the default): leaves outside ``groups`` share buffers.

    Returns:
      The layout.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
      >>> gdt.flat_layout(params, groups=lambda p: jax.tree.map(lambda x: x.ndim > 1, p))
      FlatLayout(False:float32: 1 leaves, 3 elements, True:float32: 1 leaves, 6 elements)
    """
    path_leaves, treedef = jax.tree_util.tree_flatten_with_path(params)
    if not path_leaves:
        raise ValueError("flat_layout: `params` has no leaves")
    paths = [_checks.path_str(p) for p, _ in path_leaves]
    leaves = [leaf for _, leaf in path_leaves]
    dtypes = [leaf_dtype(path, leaf) for path, leaf in zip(paths, leaves)]
    labels: list[Hashable] = (
        [None] * len(leaves) if groups is None else [static_value(v) for v in per_leaf_values(groups, params, "groups")]
    )
    _checks.check_bool("blocks", blocks, where="flat_layout")
    shapes = [tuple(int(d) for d in leaf.shape) for leaf in leaves]
    block_of = repeated_blocks([p for p, _ in path_leaves], shapes, dtypes) if blocks else [None] * len(leaves)
    group_keys: list[str] = []
    index: dict[tuple[Hashable, Hashable, np.dtype], int] = {}
    offsets: list[int] = []
    slots = []
    for path, shape, dtype, label, block in zip(paths, shapes, dtypes, labels, block_of):
        key = (block, label, dtype)
        if key not in index:
            index[key] = len(group_keys)
            name = dtype.name if groups is None else f"{label}:{dtype.name}"
            group_keys.append(name if block is None else f"{block}:{name}")
            offsets.append(0)
        g = index[key]
        size = math.prod(shape)
        slots.append(LeafSlot(path, g, offsets[g], size, shape, dtype))
        offsets[g] += size
    return FlatLayout(treedef, tuple(slots), tuple(group_keys), leaf_norms)


def flatten_params(params: Any, *, groups: Any = None, leaf_norms: bool = True, blocks: bool = False) -> FlatParams:
    """Packs a parameter tree into :class:`FlatParams` (one copy, at setup).

    Args:
      params: the parameter tree.
      groups: see :func:`flat_layout`.
      leaf_norms: see :func:`flat_layout`.
      blocks: see :func:`flat_layout`.

    Returns:
      The flat buffers; ``.layout`` is their :class:`FlatLayout` and
      ``.unflatten()`` gives the tree back.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> flat = gdt.flatten_params({"w": jnp.ones((2, 2)), "b": jnp.zeros(2)})
      >>> flat["float32"]
      Array([0., 0., 1., 1., 1., 1.], dtype=float32)
      >>> flat.unflatten()["w"].shape
      (2, 2)
    """
    return flat_layout(params, groups=groups, leaf_norms=leaf_norms, blocks=blocks).flatten(params)
