"""The text race's data: Python's own standard-library sources, as bytes.

A fixed list of modules that ship with every CPython 3.11+ is read from the
running interpreter's standard library (``sysconfig.get_paths()["stdlib"]``).
Each file is split by position: its first 90% goes to the training stream and
its last 10% to the validation stream, so both see every file and no window
is shared. Training batches are random contiguous windows drawn with a fixed
seed; validation uses fixed, evenly spaced windows. The bytes are those of the
installed Python (the files differ a little between Python versions), so the
corpus prints its size and a digest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import sysconfig

import numpy as np

VOCAB = 256  # bytes

#: The modules read, in this order (``<stdlib>/<name>``).
STDLIB_FILES = (
    "textwrap.py",
    "string.py",
    "heapq.py",
    "bisect.py",
    "queue.py",
    "calendar.py",
    "fractions.py",
    "shlex.py",
    "functools.py",
    "contextlib.py",
    "pprint.py",
    "random.py",
)

TRAIN_FRACTION = 0.9


@dataclasses.dataclass(frozen=True)
class TextCorpus:
    """The training and validation byte streams and where they came from."""

    train: np.ndarray  # uint8
    val: np.ndarray  # uint8
    files: tuple[str, ...]
    root: pathlib.Path
    digest: str  # sha256 of the files' bytes, in order (first 12 hex digits)

    def describe(self) -> str:
        """One line: files, sizes and digest."""
        return (
            f"{len(self.files)} standard-library files from {self.root} "
            f"({len(self.train):,} training and {len(self.val):,} validation bytes, sha256 {self.digest})"
        )


def stdlib_root() -> pathlib.Path:
    """The folder of the running interpreter's standard library."""
    return pathlib.Path(sysconfig.get_paths()["stdlib"])


def load_corpus(
    files: tuple[str, ...] = STDLIB_FILES,
    root: str | os.PathLike[str] | None = None,
    train_fraction: float = TRAIN_FRACTION,
) -> TextCorpus:
    """Reads ``files`` under ``root`` (the standard library by default) and splits each by position.

    Args:
      files: file names relative to ``root``, read in this order.
      root: the folder; ``stdlib_root()`` by default.
      train_fraction: the share of each file (from its start) that goes to training.

    Returns:
      A :class:`TextCorpus`.

    Raises:
      FileNotFoundError: naming every missing file and the folder searched.
      ValueError: for no files or a fraction outside (0, 1).
    """
    if not files:
        raise ValueError("`files` is empty: the text race needs at least one source file")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"`train_fraction` must be in (0, 1), got {train_fraction!r}")
    base = stdlib_root() if root is None else pathlib.Path(root)
    missing = [f for f in files if not (base / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"the text race reads Python's standard-library sources, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} missing from {base} (a Python installed without "
            "its .py sources, e.g. a stripped distribution package?)"
        )
    digest = hashlib.sha256()
    train, val = [], []
    for name in files:
        data = (base / name).read_bytes()
        digest.update(data)
        cut = int(len(data) * train_fraction)
        train.append(data[:cut])
        val.append(data[cut:])
    return TextCorpus(
        np.frombuffer(b"".join(train), dtype=np.uint8),
        np.frombuffer(b"".join(val), dtype=np.uint8),
        tuple(files),
        base,
        digest.hexdigest()[:12],
    )


def _check_windows(stream: np.ndarray, context: int, what: str) -> None:
    if context < 1:
        raise ValueError(f"`context` must be >= 1, got {context}")
    if len(stream) < context + 1:
        raise ValueError(f"the {what} stream has {len(stream)} bytes, too few for windows of {context + 1}")


def train_batches(stream: np.ndarray, steps: int, batch_size: int, context: int, seed: int) -> np.ndarray:
    """Random contiguous windows of ``context + 1`` bytes: ``[steps, batch_size, context + 1]`` int32.

    The same ``seed`` gives the same windows; inputs are ``[..., :-1]`` and
    targets ``[..., 1:]``.
    """
    _check_windows(stream, context, "training")
    starts = np.random.default_rng(seed).integers(0, len(stream) - context, size=(steps, batch_size))
    return stream[starts[..., None] + np.arange(context + 1)].astype(np.int32)


def val_windows(stream: np.ndarray, count: int, context: int) -> np.ndarray:
    """``count`` evenly spaced windows of ``context + 1`` bytes covering the stream: ``[count, context + 1]`` int32."""
    _check_windows(stream, context, "validation")
    starts = np.linspace(0, len(stream) - context - 1, count).astype(np.int64)
    return stream[starts[:, None] + np.arange(context + 1)].astype(np.int32)
