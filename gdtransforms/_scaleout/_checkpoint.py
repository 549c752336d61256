"""Saving and restoring optimizer states as ``.npz`` files keyed by tree paths.

The file holds one array per state leaf, named by the leaf's tree path
(``"[0].mu['layer']['w']"``), plus a JSON record of the tree: each leaf's
path, dtype, shape and weak type, the container types along the way, and the
empty nodes (``EmptyState()``, ``None``). Restoring needs a *target* state of
the right optimizer (``opt.init(params)`` or ``jax.eval_shape(opt.init,
params)``); the record is checked against it, so a checkpoint of another
optimizer or another params tree is refused with the first differing path.

The file is plain numpy: ``np.load(path)`` reads it without gdtransforms
(dtypes numpy lacks, such as bfloat16, are stored as their raw bits).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import IO, Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core._checks import path_str

__all__ = ["restore_state", "save_state"]

_META_KEY = "__gdtransforms_state__"
_FORMAT = "gdtransforms.state"
_VERSION = 1

PathOrFile = str | os.PathLike[str] | IO[bytes]


class _Entry(NamedTuple):
    """One leaf or empty node of a tree, as recorded in a checkpoint."""

    path: str
    nodes: tuple[str, ...]  # container type names from the root down
    kind: str  # "leaf" or the type name of an empty node
    dtype: str = ""
    shape: tuple[int, ...] = ()
    weak_type: bool = False

    def describe(self) -> str:
        if self.kind == "leaf":
            article = "an" if self.dtype[0] in "aeiou" else "a"
            return f"{article} {self.dtype}{list(self.shape)} leaf"
        return f"an empty node ({self.kind})"


def _walk(tree: Any) -> Iterator[tuple[tuple[Any, ...], tuple[str, ...], Any]]:
    """Yields ``(key path, container type names, node)`` for every leaf and
    every empty node of ``tree``, in flattening order."""

    def walk(node: Any, path: tuple[Any, ...], nodes: tuple[str, ...]):
        treedef = jax.tree.structure(node)
        if treedef.num_leaves == 0 or jax.tree_util.treedef_is_leaf(treedef):  # type: ignore[attr-defined,operator]
            yield path, nodes, node
            return
        # Flatten one level: every child of `node` is a leaf of this call.
        children, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
        inner = (*nodes, type(node).__qualname__)
        for key, child in children:
            yield from walk(child, (*path, *key), inner)

    yield from walk(tree, (), ())


def _leaf_info(leaf: Any) -> tuple[str, tuple[int, ...], bool]:
    dtype = np.dtype(leaf.dtype if hasattr(leaf, "dtype") else np.asarray(leaf).dtype)
    return dtype.name, tuple(np.shape(leaf)), bool(getattr(leaf, "weak_type", False))


def _entries(tree: Any) -> list[tuple[_Entry, Any]]:
    out = []
    for path, nodes, node in _walk(tree):
        if jax.tree.structure(node).num_leaves == 0:  # type: ignore[attr-defined,operator]
            out.append((_Entry(path_str(path), nodes, type(node).__qualname__), node))
        else:
            dtype, shape, weak = _leaf_info(node)
            out.append((_Entry(path_str(path), nodes, "leaf", dtype, shape, weak), node))
    return out


def _to_numpy(path: str, leaf: Any) -> np.ndarray:
    if isinstance(leaf, jax.ShapeDtypeStruct):
        raise TypeError(
            f"save_state: the leaf at {path} is an abstract ShapeDtypeStruct; "
            "save a concrete state (from opt.init or opt.update)"
        )
    if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
        raise ValueError(
            f"save_state: the leaf at {path} is sharded across processes; a single "
            "process cannot write it. Use orbax-checkpoint for multi-host states."
        )
    # device_get is an explicit transfer: saving works under
    # jax.transfer_guard("disallow").
    value = np.asarray(jax.device_get(leaf))
    if value.dtype.kind in "OSU":  # numpy would pickle it; restore could not read it.
        raise TypeError(
            f"save_state: the leaf at {path} is a {type(leaf).__name__}, not a numeric array; a state holds only arrays"
        )
    return value


def _bits_dtype(dtype: np.dtype) -> np.dtype | None:
    """The unsigned integer dtype that stores ``dtype``'s bits, for dtypes
    that numpy's file format cannot name (bfloat16, float8, int4, ...)."""
    if dtype.isbuiltin == 1:
        return None
    return np.dtype(f"u{dtype.itemsize}")


def save_state(file: PathOrFile, state: Any) -> None:
    """Saves a state (any tree of arrays) to an ``.npz`` file.

    Every leaf is stored bit-exactly under its tree path, with its dtype
    (bfloat16 and int32 counters included) and weak type. A path is written
    atomically: a crash mid-save leaves the previous file intact. Sharded
    arrays are gathered to the host; states sharded across several processes
    need orbax-checkpoint instead.

    Args:
      file: a path (written as given: no ``.npz`` suffix is added) or a binary
        file object.
      state: the optimizer state, or any tree of arrays, such as
        ``(params, opt_state)``.

    Example:
      >>> import tempfile, os
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> opt = gdt.adam(1e-3)
      >>> params = {"w": jnp.ones(3)}
      >>> _, state = opt.update({"w": jnp.ones(3)}, opt.init(params))
      >>> path = os.path.join(tempfile.mkdtemp(), "opt_state.npz")
      >>> gdt.save_state(path, state)
      >>> gdt.restore_state(path, jax.eval_shape(opt.init, params))[0].count
      Array(1, dtype=int32)
    """
    arrays: dict[str, np.ndarray] = {}
    records = []
    for entry, node in _entries(state):
        records.append(entry._asdict())
        if entry.kind != "leaf":
            continue
        value = _to_numpy(entry.path, node)
        bits = _bits_dtype(value.dtype)
        arrays[entry.path] = value if bits is None else value.view(bits)
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "treedef": str(jax.tree.structure(state)),
        "entries": records,
    }
    arrays[_META_KEY] = np.array(json.dumps(meta))
    if hasattr(file, "write"):
        np.savez(file, **arrays)
        return
    path = os.fspath(file)
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _load(file: PathOrFile) -> Any:
    not_npz = ValueError(
        f"restore_state: {file!r} is not a gdtransforms state file (not an .npz archive); write it with save_state"
    )
    try:
        loaded = np.load(file if hasattr(file, "read") else os.fspath(file), allow_pickle=False)
    except ValueError as e:  # Neither .npz nor .npy: numpy guesses a pickle, refuses it.
        raise not_npz from e
    if not hasattr(loaded, "files"):  # A plain .npy array.
        raise not_npz
    return loaded


def _read(file: PathOrFile) -> tuple[list[_Entry], dict[str, np.ndarray]]:
    with _load(file) as npz:
        if _META_KEY not in npz.files:
            raise ValueError(
                f"restore_state: {file!r} is not a gdtransforms state file "
                f"(no {_META_KEY!r} record); write it with save_state"
            )
        meta = json.loads(str(npz[_META_KEY]))
        if meta.get("format") != _FORMAT or meta.get("version", 0) > _VERSION:
            raise ValueError(
                f"restore_state: unsupported state file format {meta.get('format')!r} version {meta.get('version')!r}"
            )
        entries = [
            _Entry(
                path=e["path"],
                nodes=tuple(e["nodes"]),
                kind=e["kind"],
                dtype=e["dtype"],
                shape=tuple(e["shape"]),
                weak_type=e["weak_type"],
            )
            for e in meta["entries"]
        ]
        arrays = {e.path: npz[e.path] for e in entries if e.kind == "leaf"}
    return entries, arrays


def _mismatch(saved: list[_Entry], target: list[_Entry]) -> str | None:
    """Describes the first difference between two records, or ``None``."""
    for s, t in zip(saved, target):
        if s.path != t.path:
            return f"the target has {t.describe()} at {t.path}, where the checkpoint has {s.describe()} at {s.path}"
        if s.kind != t.kind or (s.kind == "leaf" and (s.dtype, s.shape) != (t.dtype, t.shape)):
            return f"at {t.path} the target has {t.describe()}, the checkpoint {s.describe()}"
        if s.nodes != t.nodes:
            return (
                f"at {t.path} the containers differ: the target has "
                f"{' > '.join(t.nodes)}, the checkpoint {' > '.join(s.nodes)}"
            )
    if len(saved) > len(target):
        s = saved[len(target)]
        return f"the checkpoint has {s.describe()} at {s.path} that the target lacks"
    if len(target) > len(saved):
        t = target[len(saved)]
        return f"the target has {t.describe()} at {t.path} that the checkpoint lacks"
    return None


def _concrete_sharding(leaf: Any) -> jax.sharding.Sharding | None:
    sharding = getattr(leaf, "sharding", None)
    if not isinstance(sharding, jax.sharding.Sharding):
        return None
    mesh = getattr(sharding, "mesh", None)
    if isinstance(mesh, jax.sharding.AbstractMesh):
        return None  # from eval_shape under explicit sharding: no devices to put on
    return sharding


@jax.jit
def _weaken(array: jax.Array) -> jax.Array:
    """The same values, weakly typed.

    JAX has no public constructor for weakly typed arrays; writing into a weak
    zero array keeps the weak type. Compiled, so the zero is a constant of the
    program rather than a host-to-device transfer.
    """
    zero = {"i": 0, "f": 0.0, "c": 0j}[array.dtype.kind]
    return jax.lax.full(array.shape, zero).at[...].set(array)


def _can_be_weak(dtype: np.dtype) -> bool:
    """Whether JAX gives Python scalars this dtype (only those can be weak)."""
    zero = {"i": 0, "f": 0.0, "c": 0j}.get(dtype.kind)
    return zero is not None and jnp.result_type(zero) == dtype


def _to_device(entry: _Entry, value: np.ndarray, target: Any) -> jax.Array:
    dtype = np.dtype(jnp.dtype(entry.dtype))
    if value.dtype != dtype:
        value = value.view(dtype)  # stored as raw bits
    sharding = _concrete_sharding(target)
    # device_put is an explicit transfer: restoring works under
    # jax.transfer_guard("disallow").
    array = jax.device_put(value, sharding)
    if getattr(target, "weak_type", entry.weak_type) and _can_be_weak(dtype):
        # Weak types decide dtype promotion (bfloat16 updates times a weak
        # float32 learning rate stay bfloat16) and jit's cache keys.
        array = _weaken(array)
        if sharding is not None:
            array = jax.device_put(array, sharding)
    return array


def restore_state(file: PathOrFile, target: Any) -> Any:
    """Restores a state saved with :func:`save_state` into ``target``'s tree.

    ``target`` fixes the tree, dtypes and placement of the result: build it
    with the optimizer the checkpoint was written for, ``opt.init(params)`` or,
    without allocating, ``jax.eval_shape(opt.init, params)``. Each restored
    leaf is placed with the matching target leaf's sharding when it has one,
    so a state restores directly sharded.

    Args:
      file: a path or binary file object written by :func:`save_state`.
      target: a state (or tree of ``jax.ShapeDtypeStruct``) of the same
        optimizer and params tree.

    Returns:
      The saved state, bit-exact, with ``target``'s tree structure.

    Raises:
      ValueError: the checkpoint does not match ``target`` (another optimizer,
        params tree, shape or dtype); the message names the first differing
        tree path.
    """
    saved, arrays = _read(file)
    target_entries = _entries(target)
    problem = _mismatch(saved, [e for e, _ in target_entries])
    if problem is not None:
        raise ValueError(
            f"restore_state: the checkpoint does not match the target state: "
            f"{problem}. Build the target with the optimizer and params the "
            "checkpoint was saved with."
        )
    leaves = [_to_device(entry, arrays[entry.path], node) for entry, node in target_entries if entry.kind == "leaf"]
    return jax.tree.unflatten(jax.tree.structure(target), leaves)
