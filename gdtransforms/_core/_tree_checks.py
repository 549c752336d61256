"""Tree and state checks: trees that do not match name the first differing path.

Re-exported by :mod:`gdtransforms._core._checks`, the one module of checks a
factory imports.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "adopt_state",
    "check_float_leaves",
    "check_params",
    "check_same_structure",
    "check_state",
    "check_tree_prefix",
    "check_trees_match",
    "check_updates",
    "describe_state",
    "first_prefix_difference",
    "path_str",
    "qualified_name",
]


def path_str(path: tuple[Any, ...]) -> str:
    """Formats a tree path as ``['a'][0].b``; the root is ``<root>``."""
    return jax.tree_util.keystr(path) if path else "<root>"


def check_float_leaves(tree: Any, *, what: str, where: str) -> None:
    """Raises ``TypeError`` naming the first leaf that is not floating point.

    Args:
      tree: params or updates.
      what: what the tree is (``"params"``, ``"updates"``).
      where: the transformation that checks, for the message.
    """
    leaves = jax.tree.leaves(tree)
    if all(_is_float(leaf) for leaf in leaves):
        return
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if not _is_float(leaf):
            dtype = getattr(leaf, "dtype", type(leaf).__name__)
            raise TypeError(
                f"{where}: {what} leaf at {path_str(path)} has dtype {dtype}; "
                "gradient transformations need floating-point leaves "
                "(cast it, e.g. x.astype(jnp.float32), or mask it out)"
            )


def _is_float(leaf: Any) -> bool:
    dtype = getattr(leaf, "dtype", None)
    if dtype is None:
        return isinstance(leaf, float)
    return jnp.issubdtype(dtype, jnp.inexact)


def check_trees_match(reference: Any, tree: Any, *, reference_name: str, tree_name: str, where: str) -> None:
    """Raises if ``tree`` differs from ``reference`` in structure or shapes.

    The message names the first differing tree path.

    Raises:
      ValueError: the structures or a leaf's shape differ.
      TypeError: a leaf of ``tree`` is not floating point.
    """
    ref_def = jax.tree.structure(reference)
    tree_def = jax.tree.structure(tree)
    if ref_def != tree_def:  # type: ignore[attr-defined,operator]
        raise ValueError(
            f"{where}: {tree_name} do not match {reference_name}: {_first_structure_difference(reference, tree)}"
        )
    ref_leaves, leaves = ref_def.flatten_up_to(reference), tree_def.flatten_up_to(tree)  # type: ignore[attr-defined,operator]
    if all(np.shape(a) == np.shape(b) for a, b in zip(ref_leaves, leaves)):
        check_float_leaves(tree, what=tree_name, where=where)
        return
    paths = [p for p, _ in jax.tree_util.tree_flatten_with_path(reference)[0]]
    for path, a, b in zip(paths, ref_leaves, leaves):
        if np.shape(a) != np.shape(b):
            raise ValueError(
                f"{where}: {tree_name} do not match {reference_name} at "
                f"{path_str(path)}: expected shape {np.shape(a)}, got {np.shape(b)}"
            )


def check_same_structure(reference: Any, tree: Any, *, reference_name: str, tree_name: str, where: str) -> None:
    """Raises ``ValueError`` naming the first path where the structures differ.

    A ``None`` matches any leaf (optax passes ``None`` updates for frozen
    params), so this is cheaper and looser than :func:`check_trees_match`.
    """
    is_none = lambda x: x is None  # noqa: E731
    if jax.tree.structure(reference, is_leaf=is_none) == jax.tree.structure(tree, is_leaf=is_none):  # type: ignore[attr-defined,operator]
        return
    raise ValueError(
        f"{where}: {tree_name} do not match {reference_name}: {_first_structure_difference(reference, tree)}"
    )


def _first_structure_difference(reference: Any, tree: Any) -> str:
    ref_paths = [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(reference)[0]]
    paths = [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]
    for expected, got in zip(ref_paths, paths):
        if expected != got:
            return f"expected a leaf at {expected}, found one at {got}"
    if len(ref_paths) > len(paths):
        return f"missing the leaf at {ref_paths[len(paths)]}"
    if len(paths) > len(ref_paths):
        return f"unexpected extra leaf at {paths[len(ref_paths)]}"
    node_difference = _first_node_type_difference(reference, tree, ())
    if node_difference is not None:
        return node_difference
    return (
        f"same leaf paths but different containers: expected "
        f"{jax.tree.structure(reference)}, got {jax.tree.structure(tree)}"
    )


def _first_node_type_difference(reference: Any, tree: Any, path: tuple[Any, ...]) -> str | None:
    """The first node whose class differs (two classes of one name print alike), or ``None``."""
    if type(reference) is not type(tree):
        ref_cls, cls = type(reference), type(tree)
        built = "" if _library(cls) == "builtins" else f" (built by {_library(cls)})"
        return (
            f"different containers at {path_str(path)}: expected a {qualified_name(ref_cls)} node, "
            f"got a {qualified_name(cls)}{built}"
        )
    if _is_leaf(reference) or _is_leaf(tree):
        return None
    keys, children, _ = _children(reference)
    tree_keys, tree_children, _ = _children(tree)
    if [str(k) for k in keys] != [str(k) for k in tree_keys]:
        return None
    for key, child, tree_child in zip(keys, children, tree_children):
        found = _first_node_type_difference(child, tree_child, path + (key,))
        if found is not None:
            return found
    return None


def _children(node: Any) -> tuple[list[Any], list[Any], Any]:
    """One level of a pytree node: child keys, children and the node's def."""
    keyed, treedef = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
    return [k[0] for k, _ in keyed], [c for _, c in keyed], treedef


def _is_leaf(node: Any) -> bool:
    return jax.tree_util.treedef_is_leaf(jax.tree.structure(node)) and (jax.tree.leaves(node) == [node])


def first_prefix_difference(
    prefix: Any,
    tree: Any,
    path: tuple[Any, ...] = (),
    *,
    prefix_name: str = "prefix",
    tree_name: str = "tree",
) -> str | None:
    """Where ``prefix`` stops being a tree prefix of ``tree``, or ``None``.

    Returns:
      A message naming the first differing path, or ``None`` if every leaf of
      ``prefix`` sits on a node of ``tree``.
    """
    if _is_leaf(prefix):
        return None
    keys, children, treedef = _children(prefix)
    if _is_leaf(tree) or tree is None:
        what = "None" if tree is None else f"a leaf of shape {np.shape(tree)}"
        return f"at {path_str(path)} the {prefix_name} has a {type(prefix).__name__} node, the {tree_name} {what}"
    tree_keys, tree_children, tree_def = _children(tree)
    names, tree_names = [str(k) for k in keys], [str(k) for k in tree_keys]
    only_prefix = [k for k in keys if str(k) not in tree_names]
    only_tree = [k for k in tree_keys if str(k) not in names]
    if only_prefix or only_tree:
        parts = []
        if only_prefix:
            parts.append(f"{path_str(path + (only_prefix[0],))} is in the {prefix_name} but not in the {tree_name}")
        if only_tree:
            parts.append(f"{path_str(path + (only_tree[0],))} is in the {tree_name} but not in the {prefix_name}")
        if isinstance(prefix, dict) and isinstance(tree, dict):
            parts[-1] += " (Dict key mismatch)"  # JAX's own words too, which code written for optax may look for
        return "; ".join(parts)
    if type(prefix) is not type(tree):
        return (
            f"at {path_str(path)} the {prefix_name} has a {type(prefix).__name__} "
            f"node, the {tree_name} a {type(tree).__name__}"
        )
    for key, child, tree_child in zip(keys, children, tree_children):
        found = first_prefix_difference(child, tree_child, path + (key,), prefix_name=prefix_name, tree_name=tree_name)
        if found is not None:
            return found
    if treedef != tree_def:
        return f"at {path_str(path)}: expected {treedef}, got {tree_def}"
    return None


def check_tree_prefix(prefix: Any, tree: Any, *, prefix_name: str, tree_name: str, where: str, hint: str = "") -> None:
    """Raises ``ValueError`` unless ``prefix`` is a tree prefix of ``tree``.

    A mask or label tree may stop above the leaves of the params (one label
    for a whole subtree), but every node it has must exist in ``tree``.

    Raises:
      ValueError: naming the first differing path.
    """
    treedef = jax.tree.structure(prefix)
    try:
        treedef.flatten_up_to(tree)  # type: ignore[attr-defined,operator]
        return
    except (ValueError, TypeError):
        pass
    where_differs = (
        first_prefix_difference(prefix, tree, prefix_name=prefix_name, tree_name=tree_name) or "the structures differ"
    )
    raise ValueError(f"{where}: {prefix_name} does not match {tree_name}: {where_differs}{hint}")


def check_params(params: Any, where: str) -> None:
    """``init``'s check: every params leaf is floating point."""
    check_float_leaves(params, what="params", where=f"{where}.init")


def check_updates(updates: Any, reference: Any, where: str) -> None:
    """``update``'s check: updates mirror a state tree built from params."""
    check_trees_match(
        reference,
        updates,
        reference_name="the params the state was built from",
        tree_name="updates",
        where=f"{where}.update",
    )


def _library(cls: type) -> str:
    """The library a class comes from: the top package of its module."""
    return (cls.__module__ or "?").split(".")[0]


def qualified_name(cls: type) -> str:
    """``module.QualName`` of a class, as messages name it."""
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_state(state: Any) -> str:
    """A state's class with its module, fields and the library that built it."""
    cls = type(state)
    got = qualified_name(cls)
    got_fields = getattr(cls, "_fields", None) if isinstance(state, tuple) else None
    if got_fields is not None:
        got += f"({', '.join(got_fields)})"
    elif isinstance(state, tuple):
        got += f" of {len(state)} entries ({', '.join(qualified_name(type(x)) for x in state)})"
        libraries = [_library(type(x)) for x in state if _library(type(x)) != "builtins"]
        if libraries:
            return f"{got}, built by {libraries[0]}"
    return f"{got}, built by {_library(cls)}"


def check_state(state: Any, expected: type, where: str) -> None:
    """``update``'s check: ``state`` has the fields of the NamedTuple ``expected``.

    Any NamedTuple with those fields passes, so does optax's state of the same
    name (the two libraries share class and field names). Anything else,
    typically the state of another optimizer restored into this one, raises a
    ``TypeError`` that names both classes with their modules and the library
    that built the state (never "expected X, got X"), instead of an
    ``AttributeError`` from deep inside.
    """
    fields = expected._fields  # type: ignore[attr-defined]
    # `_fields`, not hasattr: every tuple has a `count` method.
    got_fields = getattr(type(state), "_fields", None) if isinstance(state, tuple) else None
    if isinstance(state, expected) or (got_fields is not None and set(fields) <= set(got_fields)):
        return
    raise TypeError(
        f"{where}.update: expected state {qualified_name(expected)}({', '.join(fields)}) as built "
        f"by {where}.init, got {describe_state(state)}; was the state built by (or restored from) "
        "another optimizer?"
    )


def adopt_state(state: Any, expected: type, where: str) -> Any:
    """:func:`check_state`, then ``state`` as an ``expected`` (optax's state of the same fields, say).

    Code that passes the state through ``lax.cond`` or ``lax.switch`` next to
    a freshly built ``expected`` needs the same class on both sides.
    """
    check_state(state, expected, where)
    if isinstance(state, expected):
        return state
    return expected(**{f: getattr(state, f) for f in expected._fields})  # type: ignore[attr-defined]
