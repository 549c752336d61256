"""Mini-batches: one pass over all of them is one epoch (docs/notes.md §1).

A training set ``(X, Y, ...)`` of ``m`` examples is split into mini-batches of
``B`` examples, reshuffled every epoch. ``B = m`` is batch gradient descent,
``B = 1`` is stochastic gradient descent, anything between is mini-batch
gradient descent. :func:`minibatches` is the Python iterator;
:func:`epoch_indices`, :func:`gather_batches` and :func:`scan_epoch` are the
form ``jit`` likes: a permutation reshaped to ``[num_batches, B]`` so that
``lax.scan`` runs a whole epoch in one compiled call.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gdtransforms import PyTree

__all__ = [
    "BatchSizeAdvice",
    "EpochIndices",
    "batch_size_advice",
    "epoch_indices",
    "gather_batches",
    "minibatches",
    "num_examples",
    "scan_epoch",
]


def num_examples(data: PyTree) -> int:
    """The common leading dimension ``m`` of every array in ``data``.

    Args:
      data: a tuple ``(X, Y, ...)`` or any tree of arrays, one example per
        row of each leaf.

    Returns:
      ``m``.

    Raises:
      ValueError: ``data`` has no arrays, a leaf is a scalar, or two leaves
        disagree on the number of examples (the message names both paths).
    """
    leaves = jax.tree_util.tree_flatten_with_path(data)[0]
    if not leaves:
        raise ValueError("`data` holds no arrays: pass a tuple (X, Y, ...) of arrays")
    first_path, first = leaves[0]
    for path, leaf in leaves:
        if np.ndim(leaf) == 0:
            raise ValueError(
                f"`data` leaf at {jax.tree_util.keystr(path)} is a scalar; every array needs a "
                "leading dimension of examples"
            )
    m = np.shape(first)[0]
    for path, leaf in leaves[1:]:
        if np.shape(leaf)[0] != m:
            raise ValueError(
                "every array in `data` needs the same number of examples (leading "
                f"dimension): {jax.tree_util.keystr(first_path)} has {m}, "
                f"{jax.tree_util.keystr(path)} has {np.shape(leaf)[0]}"
            )
    return int(m)


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`{name}` must be an int, got {type(value).__name__}: {value!r}")
    return operator.index(value)


def _check_count(name: str, value: Any) -> int:
    value = _check_int(name, value)
    if value < 1:
        raise ValueError(f"`{name}` must be >= 1, got {value}")
    return value


def _check_batch_size(batch_size: Any, m: int) -> int:
    batch_size = _check_int("batch_size", batch_size)
    if not 1 <= batch_size <= m:
        raise ValueError(
            f"`batch_size` must be in [1, m] = [1, {m}] (1 is SGD, {m} is batch gradient descent), got {batch_size}"
        )
    return batch_size


def minibatches(
    data: PyTree,
    batch_size: int,
    *,
    key: jax.Array | None,
    num_epochs: int = 1,
    drop_last: bool = False,
) -> Iterator[PyTree]:
    """Yields mini-batches of ``data``, reshuffled every epoch.

    Epoch ``e`` (from 0) uses the permutation drawn from
    ``jax.random.fold_in(key, e)``, so a run is reproducible from ``key``.

    Args:
      data: a tuple ``(X, Y, ...)`` or any tree of arrays with a common leading
        dimension ``m``.
      batch_size: ``B`` in ``[1, m]``; ``B = m`` is batch gradient descent and
        ``B = 1`` stochastic gradient descent.
      key: a PRNG key; ``None`` keeps the data's order every epoch (no shuffle:
        expect a bump in the loss curve at every epoch boundary).
      num_epochs: how many passes over the data.
      drop_last: drop the last batch when it is smaller than ``B`` (``m`` not
        a multiple of ``B``); by default it is kept.

    Yields:
      Trees shaped like ``data`` whose leaves hold ``B`` examples (fewer for a
      kept last batch).

    Raises:
      ValueError: mismatched leading dimensions, ``B`` outside ``[1, m]`` or
        ``num_epochs < 0``.
      TypeError: ``batch_size`` is not an int.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> X, Y = jnp.arange(10.0).reshape(5, 2), jnp.arange(5)
      >>> [b[1].shape for b in gdt.toolkit.minibatches((X, Y), 2, key=jax.random.key(0))]
      [(2,), (2,), (1,)]
    """
    m = num_examples(data)
    batch_size = _check_batch_size(batch_size, m)
    if _check_int("num_epochs", num_epochs) < 0:
        raise ValueError(f"`num_epochs` must be >= 0, got {num_epochs}")
    leaves, treedef = jax.tree.flatten(data)
    host = [np.asarray(leaf) if not isinstance(leaf, jax.Array) else leaf for leaf in leaves]
    stop = m - m % batch_size if drop_last else m
    for epoch in range(num_epochs):
        if key is None:
            order = np.arange(m)
        else:
            order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch), m))
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield treedef.unflatten([leaf[idx] for leaf in host])  # type: ignore[attr-defined,operator]


class EpochIndices(NamedTuple):
    """The example indices of one epoch, one row per mini-batch.

    Attributes:
      indices: int32 ``[num_batches, B]``.
      mask: bool ``[num_batches, B]``; ``False`` marks the padding of a kept
        last partial batch (those entries repeat index 0 and must be left out
        of the loss, e.g. ``sum(mask * loss) / sum(mask)``).
    """

    indices: jax.Array
    mask: jax.Array


def epoch_indices(
    key: jax.Array | None,
    num_examples: int,
    batch_size: int,
    *,
    drop_last: bool = True,
) -> EpochIndices:
    """The permutation of one epoch reshaped to ``[num_batches, B]``.

    Works under ``jit`` (``key`` may be traced; ``num_examples`` and
    ``batch_size`` are static). There are ``m // B`` batches when
    ``drop_last`` and ``ceil(m / B)`` otherwise, the last one padded and
    masked.

    Args:
      key: a PRNG key (fold in the epoch number for a new order each epoch),
        or ``None`` for the data's own order.
      num_examples: ``m``.
      batch_size: ``B`` in ``[1, m]``.
      drop_last: drop the ``m % B`` examples left over instead of padding.

    Returns:
      An :class:`EpochIndices`.
    """
    m = _check_count("num_examples", num_examples)
    batch_size = _check_batch_size(batch_size, m)
    order = jnp.arange(m, dtype=jnp.int32) if key is None else jax.random.permutation(key, m).astype(jnp.int32)
    if drop_last:
        num_batches = m // batch_size
        indices = order[: num_batches * batch_size].reshape(num_batches, batch_size)
        return EpochIndices(indices, jnp.ones(indices.shape, bool))
    num_batches = math.ceil(m / batch_size)
    pad = num_batches * batch_size - m
    indices = jnp.concatenate([order, jnp.zeros(pad, jnp.int32)]).reshape(num_batches, batch_size)
    mask = (jnp.arange(num_batches * batch_size) < m).reshape(num_batches, batch_size)
    return EpochIndices(indices, mask)


def gather_batches(data: PyTree, indices: jax.Array) -> PyTree:
    """Gathers ``data`` into batches: each leaf ``[m, ...]`` becomes ``[*indices.shape, ...]``."""
    return jax.tree.map(lambda leaf: jnp.asarray(leaf)[indices], data)


def scan_epoch(
    step: Callable[[Any, PyTree, jax.Array], tuple[Any, Any]],
    carry: Any,
    data: PyTree,
    batch_size: int,
    *,
    key: jax.Array | None,
    drop_last: bool = True,
) -> tuple[Any, Any]:
    """Runs one epoch of ``step`` over shuffled mini-batches with ``lax.scan``.

    Call it inside ``jit`` to compile a whole epoch into one call.

    Args:
      step: ``step(carry, batch, mask) -> (carry, output)``; ``batch`` is
        shaped like ``data`` with ``B`` examples per leaf and ``mask`` is the
        bool ``[B]`` row of :class:`EpochIndices` (all ``True`` unless a
        padded last batch is kept).
      carry: the initial carry, e.g. ``(params, opt_state)``.
      data: a tuple ``(X, Y, ...)`` or any tree of arrays with a common
        leading dimension.
      batch_size: ``B`` in ``[1, m]``.
      key: the PRNG key of this epoch, or ``None`` for no shuffle.
      drop_last: as in :func:`epoch_indices`.

    Returns:
      ``(carry, outputs)`` with outputs stacked over the batches.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> X = jnp.arange(6.0)
      >>> step = lambda c, b, mask: (c + jnp.sum(b * mask), jnp.sum(mask))
      >>> total, sizes = gdt.toolkit.scan_epoch(step, 0.0, X, 4, key=None, drop_last=False)
      >>> float(total), sizes.tolist()
      (15.0, [4, 2])
    """
    m = num_examples(data)
    plan = epoch_indices(key, m, batch_size, drop_last=drop_last)
    batches = gather_batches(data, plan.indices)

    def body(c, xs):
        batch, mask = xs
        return step(c, batch, mask)

    return jax.lax.scan(body, carry, (batches, plan.mask))


@dataclasses.dataclass(frozen=True)
class BatchSizeAdvice:
    """What :func:`batch_size_advice` recommends, and why.

    Attributes:
      batch_size: the recommended ``B``.
      kind: ``"batch"`` (``B = m``), ``"mini-batch"`` or ``"stochastic"``.
      reason: one sentence of explanation.
    """

    batch_size: int
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"B = {self.batch_size} ({self.kind} gradient descent): {self.reason}"


def batch_size_advice(
    num_examples: int,
    *,
    bytes_per_example: int | None = None,
    memory_bytes: int | None = None,
) -> BatchSizeAdvice:
    """The batch-size rule of thumb of docs/notes.md §1.

    ``m <= 2000``: batch gradient descent (``B = m``). Otherwise a power of two
    among 64, 128, 256 and 512: the largest whose batch fits in memory when
    ``bytes_per_example`` and ``memory_bytes`` are given (a smaller power of two
    when not even 64 fits), else 64.

    Args:
      num_examples: ``m``, the number of training examples.
      bytes_per_example: memory one example needs during a step (inputs,
        activations and their gradients).
      memory_bytes: memory available for one batch on the CPU/GPU.

    Returns:
      A :class:`BatchSizeAdvice`.
    """
    m = _check_count("num_examples", num_examples)
    fits = None
    if (bytes_per_example is None) != (memory_bytes is None):
        raise ValueError("pass both `bytes_per_example` and `memory_bytes`, or neither")
    if bytes_per_example is not None and memory_bytes is not None:
        if bytes_per_example <= 0 or memory_bytes <= 0:
            raise ValueError(
                f"`bytes_per_example` and `memory_bytes` must be > 0, got {bytes_per_example} and {memory_bytes}"
            )
        fits = memory_bytes // bytes_per_example
        if fits < 1:
            raise ValueError(f"one example ({bytes_per_example} bytes) does not fit in `memory_bytes` = {memory_bytes}")
    if m <= 2000 and (fits is None or fits >= m):
        return BatchSizeAdvice(m, "batch", f"m = {m} <= 2000: use the whole training set")
    if fits is None:
        return BatchSizeAdvice(
            64,
            "mini-batch",
            f"m = {m} > 2000: use a power of two in 64..512; 64 without memory figures "
            "(try 128, 256, 512 while a batch fits in memory)",
        )
    for b in (512, 256, 128, 64):
        if b <= fits and b <= m:
            return BatchSizeAdvice(
                b, "mini-batch", f"the largest of 64..512 whose batch fits in memory ({fits} examples fit)"
            )
    b = 1 << (int(min(fits, m)).bit_length() - 1)
    kind = "stochastic" if b == 1 else "mini-batch"
    return BatchSizeAdvice(b, kind, f"only {fits} examples fit in memory: the largest power of two that fits")
