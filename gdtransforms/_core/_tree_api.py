"""Finding optimizer state by name, replacing it, and mapping over param copies.

The state of a chain is a tree of NamedTuples, dicts and tuples. These helpers
find entries by name (a dict key, a NamedTuple field, a dataclass field, or a
NamedTuple's class name) wherever they sit, as ``optax.tree.get``/``set``/
``get_all_with_path`` do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

from gdtransforms._core._base import MaskedNode, OptState, Params, PyTree

__all__ = [
    "NamedTupleKey",
    "is_params_placeholder",
    "tree_get",
    "tree_get_all_with_path",
    "tree_map_params",
    "tree_set",
]

KeyPath = tuple[Any, ...]
Filtering = Callable[[KeyPath, Any], bool]


@dataclasses.dataclass(frozen=True)
class NamedTupleKey:
    """A path entry for a NamedTuple field that also names the NamedTuple.

    Paths returned by :func:`tree_get_all_with_path` use it, so a filter can
    tell ``ScaleByAdamState.count`` from ``ScaleByScheduleState.count``.

    Attributes:
      tuple_name: the NamedTuple's class name.
      name: the field name.
    """

    tuple_name: str
    name: str

    def __str__(self) -> str:
        return f"{self.tuple_name}.{self.name}"


@jax.tree_util.register_pytree_node_class
class _ParamsPlaceholder:
    """Stands in for the params when :func:`tree_map_params` calls ``init``."""

    def tree_flatten(self) -> tuple[tuple[()], None]:
        return (), None

    @classmethod
    def tree_unflatten(cls, aux: Any, children: Any) -> _ParamsPlaceholder:
        del aux, children
        return cls()


def is_params_placeholder(x: Any) -> bool:
    """Whether ``init`` is being called by :func:`tree_map_params`.

    Transformations that look into params at ``init`` (a mask function, say)
    pass the placeholder down unchanged instead.
    """
    return isinstance(x, _ParamsPlaceholder)


def _is_named_tuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _entries(node: Any) -> tuple[list[tuple[Any, Any]], Any]:
    """The ``(key entry, child)`` pairs of one node, and its one-level def."""
    keyed, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    if jax.tree_util.treedef_is_leaf(treedef):
        return [], treedef
    if _is_named_tuple(node):
        name = type(node).__name__
        return [(NamedTupleKey(name, f), getattr(node, f)) for f in node._fields], treedef
    return [(path[0], child) for path, child in keyed], treedef


def _entry_name(entry: Any) -> Any:
    """The name a key entry answers to, or a sentinel that matches nothing."""
    if isinstance(entry, jax.tree_util.DictKey):
        return entry.key
    if isinstance(entry, NamedTupleKey):
        return entry.name
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return entry.name
    return _NO_NAME


_NO_NAME = object()


def _keeps(filtering: Filtering | None, path: KeyPath, value: Any) -> bool:
    return filtering is None or bool(filtering(path, value))


def tree_get_all_with_path(tree: PyTree, key: Any, filtering: Filtering | None = None) -> list[tuple[KeyPath, Any]]:
    """All values of ``tree`` found under ``key``, with their paths.

    ``key`` matches a dict key, a NamedTuple or dataclass field, or the class
    name of a NamedTuple (which returns the whole NamedTuple). Values are
    listed in depth-first order; matches inside matches are listed too.

    Args:
      tree: the tree to search, typically an optimizer state.
      key: the name to look for.
      filtering: optional ``filtering(path, value) -> bool`` keeping only some
        matches; paths hold :class:`NamedTupleKey` entries for NamedTuple
        fields.

    Returns:
      A list of ``(path, value)``; ``jax.tree_util.keystr(path)`` prints a path.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(gdt.scale_by_schedule(lambda t: 0.1), gdt.scale(-1.0))
      >>> state = opt.init(jnp.zeros(2))
      >>> [jax.tree_util.keystr(p) for p, _ in gdt.tree_get_all_with_path(state, "count")]
      ['[0]ScaleByScheduleState.count']
    """
    found: list[tuple[KeyPath, Any]] = []

    def is_named(node: Any) -> bool:
        return _is_named_tuple(node) and type(node).__name__ == key

    def holds(node: Any) -> bool:
        return is_named(node) or any(_entry_name(entry) == key for entry, _ in _entries(node)[0])

    def visit(node: Any, path: KeyPath) -> None:
        # Level by level, as optax orders its matches: the outermost nodes that hold the
        # key (in tree order) give their matches first, then their children are searched.
        holders: list[tuple[KeyPath, Any]] = []

        def find(n: Any, p: KeyPath) -> None:
            if holds(n):
                holders.append((p, n))
                return
            for entry, child in _entries(n)[0]:
                find(child, (*p, entry))

        find(node, path)
        for p, n in holders:
            if is_named(n):
                matches = [(p, n)]
            else:
                matches = [((*p, e), c) for e, c in _entries(n)[0] if _entry_name(e) == key]
            found.extend((mp, m) for mp, m in matches if _keeps(filtering, mp, m))
        for p, n in holders:
            for entry, child in _entries(n)[0]:
                visit(child, (*p, entry))

    visit(tree, ())
    return found


def tree_get(tree: PyTree, key: Any, default: Any = None, filtering: Filtering | None = None) -> Any:
    """The one value of ``tree`` found under ``key``, or ``default``.

    Args:
      tree: the tree to search, typically an optimizer state.
      key: a dict key, NamedTuple/dataclass field or NamedTuple class name.
      default: returned when nothing matches.
      filtering: optional ``filtering(path, value) -> bool`` to pick among
        several matches.

    Returns:
      The matching value.

    Raises:
      KeyError: several values match; the message lists their paths.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.chain(gdt.snapshot("norm", gdt.global_norm), gdt.scale(-0.1))
      >>> state = opt.init(jnp.zeros(2))
      >>> _, state = opt.update(jnp.array([3.0, 4.0]), state)
      >>> float(gdt.tree_get(state, "norm"))
      5.0
    """
    found = tree_get_all_with_path(tree, key, filtering)
    if len(found) > 1:
        paths = [jax.tree_util.keystr(p) for p, _ in found]
        raise KeyError(
            f"tree_get: {len(found)} values match {key!r}, at {paths}; pass "
            "`filtering=lambda path, value: ...` to choose one"
        )
    return found[0][1] if found else default


def tree_set(tree: PyTree, filtering: Filtering | None = None, /, **kwargs: Any) -> PyTree:
    """A copy of ``tree`` with the values under each keyword's name replaced.

    Args:
      tree: the tree, typically an optimizer state.
      filtering: optional ``filtering(path, value) -> bool``; only matches it
        keeps are replaced.
      **kwargs: ``name=new_value`` pairs; ``name`` is matched as in
        :func:`tree_get`.

    Returns:
      The new tree; nothing else in it changes.

    Raises:
      KeyError: a name matches nothing (after filtering).

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> state = gdt.scale_by_schedule(lambda t: 0.1).init(jnp.zeros(2))
      >>> gdt.tree_set(state, count=jnp.asarray(5)).count
      Array(5, dtype=int32, weak_type=True)
    """
    for key in kwargs:
        if not tree_get_all_with_path(tree, key, filtering):
            extra = " that the filtering keeps" if filtering is not None else ""
            raise KeyError(f"tree_set: no value named {key!r}{extra} in the tree")

    def rebuild(node: Any, path: KeyPath) -> Any:
        if _is_named_tuple(node) and type(node).__name__ in kwargs and _keeps(filtering, path, node):
            return kwargs[type(node).__name__]
        entries, treedef = _entries(node)
        if not entries:
            return node
        children = []
        for entry, child in entries:
            child_path = (*path, entry)
            name = _entry_name(entry)
            if name is not _NO_NAME and name in kwargs and _keeps(filtering, child_path, child):
                children.append(kwargs[name])
            else:
                children.append(rebuild(child, child_path))
        return treedef.unflatten(children)

    return rebuild(tree, ())


def _is_masked_node(x: Any) -> bool:
    return isinstance(x, MaskedNode)


def tree_map_params(
    initable: Callable[[Params], OptState] | Any,
    f: Callable[..., Any],
    state: OptState,
    /,
    *rest: Any,
    transform_non_params: Callable[..., Any] | None = None,
    is_leaf: Callable[[Any], bool] | None = None,
) -> OptState:
    """Maps ``f`` over every copy of the params tree inside an optimizer state.

    ``initable.init`` (or ``initable`` itself) is called on a placeholder to
    find where the state holds params-shaped trees (Adam's ``mu`` and ``nu``,
    say); ``f(leaf, *rest_leaves)`` is mapped over those, which is how
    sharding specs for a state are built from the params' specs. Leaves that
    :func:`masked` left out (:class:`MaskedNode`) stay as they are, so no
    ``is_leaf`` is needed for masked states.

    Args:
      initable: a transformation (anything with ``init``) or an init function.
      f: the function mapped over params copies.
      state: the optimizer state.
      *rest: trees shaped like the params, passed to ``f`` leaf by leaf.
      transform_non_params: optional function applied to every other leaf.
      is_leaf: optional, passed to ``jax.tree.map`` over each params copy.

    Returns:
      The mapped state.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.ema_params(0.9)
      >>> state = opt.init({"w": jnp.ones(2)})
      >>> gdt.tree_map_params(opt, lambda x: x.shape, state).ema
      {'w': (2,)}
    """
    placeholder = _ParamsPlaceholder()  # type: ignore[union-attr]
    init: Any = initable.init if callable(getattr(initable, "init", None)) else initable  # type: ignore[union-attr]
    template = init(placeholder)

    def leaf_or_masked(x: Any) -> bool:
        return _is_masked_node(x) or (is_leaf is not None and is_leaf(x))

    def map_leaf(value: Any, *others: Any) -> Any:
        # A masked-out leaf stays as it is, unless the caller's is_leaf picks it (then f sees it, as in optax).
        if _is_masked_node(value) and not (is_leaf is not None and is_leaf(value)):
            return value
        return f(value, *others)

    def map_entry(template_value: Any, value: Any) -> Any:
        if is_params_placeholder(template_value):
            return jax.tree.map(map_leaf, value, *rest, is_leaf=leaf_or_masked)
        if transform_non_params is not None:
            return transform_non_params(value)
        return value

    return jax.tree.map(map_entry, template, state, is_leaf=is_params_placeholder)
