"""The file side of checkpoints: atomic, concurrent-safe writes and checked reads.

A save writes a unique temporary file next to the destination, flushes and
fsyncs it, then renames it over the destination, so a reader sees the old
file or the new one, never a mix, and two saves to one path (threads or
processes) never share a temporary file. A symlink is kept (its target is
replaced), and so is the destination's file mode.

Reads turn every way a file can be wrong (not a zip, truncated, damaged,
missing members, a JSON record that does not parse) into one ``ValueError``
that names the file and says what is wrong.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

import numpy as np

__all__ = ["PathOrFile", "checksum", "describe_file", "read_npz", "write_atomically"]

PathOrFile = str | os.PathLike[str] | IO[bytes]


def describe_file(file: PathOrFile) -> str:
    """The file as messages name it: its path, or the file object's name."""
    if hasattr(file, "read") or hasattr(file, "write"):
        name = getattr(file, "name", None)
        return repr(name) if isinstance(name, str) else f"the file object {type(file).__name__}"
    return repr(os.fspath(file))


def checksum(array: np.ndarray) -> str:
    """A CRC-32 of an array's bytes (C order), as 8 hex digits."""
    data = np.ascontiguousarray(array).reshape(-1)  # 1-D: a zero-size array's view casts too
    return f"{zlib.crc32(memoryview(data).cast('B')) & 0xFFFFFFFF:08x}"  # type: ignore[arg-type]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(file: PathOrFile, write: Callable[[IO[bytes]], None]) -> None:
    """Writes a file with ``write(f)``, atomically when ``file`` is a path.

    A path: a unique temporary file in the destination's directory (so the
    rename stays on one file system), flushed and fsynced, then renamed over
    the destination. A symlink at the destination is followed, so the link
    stays and its target is replaced. An existing destination's mode is kept;
    a new file gets the usual ``0o666 & ~umask``.
    """
    if hasattr(file, "write"):
        write(file)  # type: ignore[arg-type]
        return
    path = os.path.realpath(os.fspath(file))  # follow a symlink: keep the link
    directory, name = os.path.split(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:  # pragma: no cover - a platform without directory fds
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


def read_npz(file: PathOrFile, meta_key: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reads a state file: its JSON record and every array in it.

    Raises:
      ValueError: naming the file, when it is not an
        ``.npz`` archive, has no record, or is truncated or damaged.
    """
    where = f"restore_state: {describe_file(file)}"
    source = file if hasattr(file, "read") else os.fspath(file)
    try:
        loaded = np.load(source, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(
            f"{where} is not a gdtransforms state file (not an .npz archive: {e}); write it with save_state"
        ) from e
    if not hasattr(loaded, "files"):  # A plain .npy array.
        raise ValueError(f"{where} is not a gdtransforms state file (a single .npy array); write it with save_state")
    try:
        with loaded as npz:
            names = list(npz.files)
            raw_meta = str(npz[meta_key]) if meta_key in names else None
            arrays = {name: npz[name] for name in names if name != meta_key}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as e:
        raise ValueError(f"{where} is truncated or damaged ({type(e).__name__}: {e})") from e
    if raw_meta is None:
        raise ValueError(f"{where} is not a gdtransforms state file (no {meta_key!r} record); write it with save_state")
    try:
        meta = json.loads(raw_meta)
    except json.JSONDecodeError as e:
        raise ValueError(f"{where}: its record is damaged (not JSON: {e})") from e
    if not isinstance(meta, dict):
        raise ValueError(f"{where}: its record is damaged (not a JSON object)")
    return meta, arrays
