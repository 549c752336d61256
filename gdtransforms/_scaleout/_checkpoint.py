"""Saving and restoring optimizer states as ``.npz`` files keyed by tree paths.

The file holds one array per state leaf, named by the leaf's tree path
(``"[0].mu['layer']['w']"``), plus a JSON record of the tree: each leaf's
path, dtype, shape and weak type, the container types along the way, and the
empty nodes (``EmptyState()``, ``None``). Restoring needs a *target* state of
the right optimizer (``opt.init(params)`` or ``jax.eval_shape(opt.init,
params)``); the record is checked against it, so a checkpoint of another
optimizer or another params tree is refused with the first differing path.

The file checks itself: the record holds a CRC-32 of every array and, for
the flat path, each FlatParams layout (leaf paths, shapes, dtypes). Restoring
checks every array's stored dtype, shape and checksum against the record, the
record against the target, and the layouts against the target's, so a
damaged, truncated or foreign file, or moments for another params layout,
raise a ``ValueError`` that names the file and what is wrong. Saves are
atomic and safe to run concurrently (see :mod:`._state_file`).

The file is plain numpy: ``np.load(path)`` reads it without gdtransforms
(dtypes numpy lacks, such as bfloat16, are stored as their raw bits).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms._core._checks import path_str
from gdtransforms._scaleout._state_file import (
    PathOrFile,
    checksum,
    describe_file,
    read_npz,
    write_atomically,
)

__all__ = ["restore_state", "save_state"]

_META_KEY = "__gdtransforms_state__"
_FORMAT = "gdtransforms.state"
_VERSION = 2  # 2: a checksum per array and the flat layouts; version 1 files still restore


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


def _layouts(tree: Any) -> dict[str, list[list[Any]]]:
    """The layout of every FlatParams node of ``tree``, by its tree path.

    Each layout is its leaves in order: ``[path, buffer, offset, shape, dtype]``.
    Two layouts with buffers of the same sizes can place the leaves
    differently, so the buffers' shapes alone do not tell them apart.
    """
    found: dict[str, list[list[Any]]] = {}
    for path, _, node in _walk_nodes(tree):
        slots = getattr(getattr(node, "layout", None), "slots", None)
        if slots is not None and hasattr(node, "buffers"):
            found[path_str(path)] = [
                [s.path, int(s.group), int(s.offset), list(s.shape), np.dtype(s.dtype).name] for s in slots
            ]
    return found


def _walk_nodes(tree: Any) -> Iterator[tuple[tuple[Any, ...], tuple[str, ...], Any]]:
    """Like :func:`_walk`, but also yields every inner node (before its children)."""

    def walk(node: Any, path: tuple[Any, ...], nodes: tuple[str, ...]):
        yield path, nodes, node
        treedef = jax.tree.structure(node)
        if treedef.num_leaves == 0 or jax.tree_util.treedef_is_leaf(treedef):  # type: ignore[attr-defined]
            return
        children, _ = jax.tree_util.tree_flatten_with_path(node, is_leaf=lambda x: x is not node)
        for key, child in children:
            yield from walk(child, (*path, *key), (*nodes, type(node).__qualname__))

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
        if leaf.sharding.is_fully_replicated:
            # Every process holds the whole array: write this process's copy.
            return np.asarray(jax.device_get(leaf.addressable_data(0)))
        raise ValueError(
            f"save_state: the leaf at {path} is split across processes (this process holds "
            f"{len(leaf.addressable_shards)} of its shards, not the whole array), so no single process "
            "can write it. Save such states with orbax-checkpoint (every process writes its shards), or "
            "gather the leaf first (e.g. reshard it replicated)."
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
    (bfloat16 and int32 counters included), weak type and a CRC-32 checksum.
    A path is written atomically and safely from several threads or
    processes at once: a unique temporary file is written, fsynced and
    renamed over the destination, so a crash mid-save leaves the previous
    file intact; a symlink stays a symlink and the file keeps its mode.
    Sharded arrays are gathered to the host. Across processes, a replicated
    leaf is written from the process's own copy; a leaf split across
    processes cannot be written by one process: use orbax-checkpoint.

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
        record = entry._asdict()
        if entry.kind == "leaf":
            value = _to_numpy(entry.path, node)
            bits = _bits_dtype(value.dtype)
            stored = value if bits is None else value.view(bits)
            arrays[entry.path] = stored
            record["crc32"] = checksum(stored)
        records.append(record)
    meta = {
        "format": _FORMAT,
        "version": _VERSION,
        "treedef": str(jax.tree.structure(state)),
        "entries": records,
        "layouts": _layouts(state),
    }
    arrays[_META_KEY] = np.array(json.dumps(meta))
    write_atomically(file, lambda f: np.savez(f, **arrays))  # type: ignore[arg-type]


def _read(file: PathOrFile) -> tuple[list[_Entry], dict[str, np.ndarray], dict[str, Any]]:
    """The record and arrays of a state file, each array checked against its record.

    Raises:
      ValueError: naming the file: not a state file, an unsupported version, a
        damaged record, or an array whose dtype, shape or checksum is not the
        recorded one.
    """
    meta, stored = read_npz(file, _META_KEY)
    where = f"restore_state: {describe_file(file)}"
    if meta.get("format") != _FORMAT or not isinstance(meta.get("version"), int) or meta["version"] > _VERSION:
        raise ValueError(
            f"{where}: unsupported state file format {meta.get('format')!r} version {meta.get('version')!r}"
        )
    try:
        entries = [
            _Entry(
                path=str(e["path"]),
                nodes=tuple(e["nodes"]),
                kind=str(e["kind"]),
                dtype=str(e["dtype"]),
                shape=tuple(int(n) for n in e["shape"]),
                weak_type=bool(e["weak_type"]),
            )
            for e in meta["entries"]
        ]
        sums = {str(e["path"]): e.get("crc32") for e in meta["entries"]}
        layouts = dict(meta.get("layouts", {}))
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ValueError(f"{where}: its record is damaged ({type(e).__name__}: {e})") from e
    arrays = {}
    for entry in entries:
        if entry.kind != "leaf":
            continue
        if entry.path not in stored:
            raise ValueError(f"{where} is damaged: the record lists a leaf at {entry.path} but the file has no array")
        arrays[entry.path] = _check_array(where, entry, stored[entry.path], sums.get(entry.path))
    return entries, arrays, layouts


def _check_array(where: str, entry: _Entry, value: np.ndarray, crc: str | None) -> np.ndarray:
    """The array as recorded, after checking its stored dtype, shape and checksum."""
    try:
        dtype = np.dtype(jnp.dtype(entry.dtype))
    except TypeError as e:
        raise ValueError(f"{where}: the leaf at {entry.path} has an unknown dtype {entry.dtype!r}") from e
    expected_stored = _bits_dtype(dtype) or dtype
    if value.dtype != expected_stored or value.shape != entry.shape:
        raise ValueError(
            f"{where}: the array at {entry.path} is stored as {value.dtype.name}{list(value.shape)} but recorded "
            f"as {entry.dtype}{list(entry.shape)}; the file is damaged or was not written by save_state"
        )
    if crc is not None and checksum(value) != crc:
        raise ValueError(f"{where}: the array at {entry.path} fails its checksum; the file is damaged")
    return value if value.dtype == dtype else value.view(dtype)


def _layout_mismatch(saved: dict[str, Any], target: dict[str, Any]) -> str | None:
    """Describes the first difference between two sets of flat layouts, or ``None``."""
    for path in sorted(set(saved) | set(target)):
        if path not in target or path not in saved:
            return None  # the record check names the containers that differ
        for s, t in zip(saved[path], target[path]):
            if list(s) != list(t):
                return (
                    f"the flat layout at {path} differs: the target puts {t[0]} ({t[4]}{t[3]}) at buffer {t[1]} "
                    f"offset {t[2]}, the checkpoint {s[0]} ({s[4]}{s[3]}) at buffer {s[1]} offset {s[2]}"
                )
        if len(saved[path]) != len(target[path]):
            return f"the flat layout at {path} has {len(target[path])} leaves in the target, {len(saved[path])} saved"
    return None


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


def _target_mesh(leaves: list[Any]) -> jax.sharding.Mesh | None:
    """The mesh of the target's first leaf placed by a NamedSharding over several devices."""
    for leaf in leaves:
        sharding = _concrete_sharding(leaf)
        if isinstance(sharding, jax.sharding.NamedSharding) and len(sharding.device_set) > 1:
            return sharding.mesh  # type: ignore[return-value]
    return None


def _placement(leaf: Any, mesh: jax.sharding.Mesh | None) -> jax.sharding.Sharding | None:
    """Where a restored leaf goes: the target leaf's sharding, or replicated on the target's mesh.

    A leaf the target keeps on a single device, or gives no placement
    (``opt.init`` makes the step count with ``jnp.zeros``, on the default
    device), is replicated on the mesh the rest of the state lives on, so the
    next jitted update does not see arrays committed to incompatible devices.
    Without any mesh in the target a leaf without placement stays uncommitted.
    """
    sharding = _concrete_sharding(leaf)
    if mesh is not None and (sharding is None or len(sharding.device_set) == 1):
        return jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
    return sharding


def _put(value: np.ndarray, sharding: jax.sharding.Sharding | None) -> jax.Array:
    # device_put is an explicit transfer: restoring works under jax.transfer_guard("disallow").
    if sharding is None or sharding.is_fully_addressable:
        return jax.device_put(value, sharding)
    # A sharding over several processes: each process places its own shards of the (whole) value.
    return jax.make_array_from_callback(value.shape, sharding, lambda index: value[index])


def _to_device(entry: _Entry, value: np.ndarray, target: Any, sharding: jax.sharding.Sharding | None) -> jax.Array:
    dtype = value.dtype
    array = _put(value, sharding)
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
    leaf is placed like the matching target leaf: on its sharding when it has
    one (a concrete array, or a ``jax.ShapeDtypeStruct`` with a sharding);
    a leaf the target keeps on one device or gives no placement (such as the
    step count) is replicated on the mesh the rest of the target lives on, so
    the next jitted update runs. Across processes every process calls it and
    gets its own shards.

    The file is checked before anything is placed: every array's stored dtype,
    shape and checksum against the file's record, the record against the
    target, and any flat (FlatParams) layout against the target's.

    Args:
      file: a path or binary file object written by :func:`save_state`.
      target: a state (or tree of ``jax.ShapeDtypeStruct``) of the same
        optimizer and params tree.

    Returns:
      The saved state, bit-exact, with ``target``'s tree structure.

    Raises:
      ValueError: the file is damaged, truncated or not a state file (the
        message names the file), or the checkpoint does not match ``target``
        (another optimizer, params tree, flat layout, shape or dtype; the
        message names the first differing tree path).
    """
    saved, arrays, saved_layouts = _read(file)
    target_entries = _entries(target)
    problem = _mismatch(saved, [e for e, _ in target_entries]) or _layout_mismatch(saved_layouts, _layouts(target))
    if problem is not None:
        raise ValueError(
            f"restore_state: the checkpoint {describe_file(file)} does not match the target state: "
            f"{problem}. Build the target with the optimizer and params the "
            "checkpoint was saved with."
        )
    leaf_entries = [(entry, node) for entry, node in target_entries if entry.kind == "leaf"]
    mesh = _target_mesh([node for _, node in leaf_entries])
    leaves = [_to_device(entry, arrays[entry.path], node, _placement(node, mesh)) for entry, node in leaf_entries]
    return jax.tree.unflatten(jax.tree.structure(target), leaves)
