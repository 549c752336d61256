"""Shampoo's view of one parameter: merged dimensions, blocks and their statistics.

A parameter of shape ``(d_1, ..., d_k)`` is first reshaped so that runs of
small dimensions merge (``(3, 3, 64, 128)`` becomes ``(576, 128)`` when the
merge limit allows), then each dimension larger than ``block_size`` is cut
into blocks of ``block_size`` (the last one shorter). Every block :math:`G_b`
keeps one statistic per dimension :math:`i`, the Gram matrix of its
mode-:math:`i` unfolding, and is preconditioned by one inverse root per
dimension (Anil et al., 2020, §3.3; Gupta et al., 2018, Algorithm 2).
"""

from __future__ import annotations

import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["BlockLayout", "merge_small_dims"]


def merge_small_dims(shape: tuple[int, ...], limit: int) -> tuple[int, ...]:
    """Merges neighbouring dimensions while their product stays within ``limit``.

    Dimensions of size 1 vanish; an all-ones shape becomes ``(1,)`` and a
    scalar ``()``.
    """
    if shape and all(d == 1 for d in shape):
        return (1,)
    merged: list[int] = []
    run = 1
    for d in shape:
        if run * d <= limit:
            run *= d
        else:
            if run > 1:
                merged.append(run)
            run = d
    if run > 1:
        merged.append(run)
    return tuple(merged)


class BlockLayout:
    """The static blocking of one parameter (shapes only, no arrays).

    Attributes:
      shape: the parameter's shape.
      merged: the shape after merging small dimensions.
      sizes: per merged dimension, the sizes of its blocks.
    """

    def __init__(self, shape: tuple[int, ...], block_size: int, merge_limit: int | None) -> None:
        self.shape = tuple(shape)
        self.merged = self.shape if merge_limit is None else merge_small_dims(self.shape, merge_limit)
        self.sizes = [self._cut(d, block_size) for d in self.merged]

    @staticmethod
    def _cut(d: int, block_size: int) -> tuple[int, ...]:
        if 0 < block_size < d:
            full, rest = divmod(d, block_size)
            return (block_size,) * full + ((rest,) if rest else ())
        return (d,)

    @property
    def rank(self) -> int:
        return len(self.merged)

    def statistic_sizes(self) -> list[int]:
        """The side of every statistic, block by block (row-major over blocks), dimension by dimension."""
        return [d for block in itertools.product(*self.sizes) for d in block]

    def split(self, x: jax.Array) -> list[jax.Array]:
        """The blocks of ``x`` (of the parameter's shape), row-major over the block grid."""
        blocks = [jnp.reshape(x, self.merged)]
        for axis, sizes in enumerate(self.sizes):
            if len(sizes) == 1:
                continue
            cuts = np.cumsum(sizes)[:-1].tolist()
            blocks = [piece for b in blocks for piece in jnp.split(b, cuts, axis=axis)]
        return blocks

    def join(self, blocks: list[jax.Array]) -> jax.Array:
        """Inverse of :meth:`split`: the blocks put back into the parameter's shape."""
        for axis in reversed(range(self.rank)):
            n = len(self.sizes[axis])
            if n == 1:
                continue
            blocks = [jnp.concatenate(blocks[i : i + n], axis=axis) for i in range(0, len(blocks), n)]
        assert len(blocks) == 1
        return jnp.reshape(blocks[0], self.shape)

    def gram_matrices(self, g: jax.Array, precision: Any) -> list[jax.Array]:
        """Per block and dimension: :math:`G_{(i)} G_{(i)}^T`, the block contracted with itself on all other axes."""
        out = []
        for block in self.split(g):
            for axis in range(self.rank):
                others = [a for a in range(self.rank) if a != axis]
                out.append(jnp.tensordot(block, block, axes=(others, others), precision=precision))
        return out

    def precondition(self, g: jax.Array, roots: list[jax.Array]) -> jax.Array:
        """Every block multiplied by its roots along each dimension: :math:`G \\times_1 P_1 \\cdots \\times_k P_k`."""
        out = []
        for b, block in enumerate(self.split(g)):
            for i in range(self.rank):
                # Contracting axis 0 each time moves the new axis last: after
                # k contractions the axes are back in their order.
                block = jnp.tensordot(block, roots[b * self.rank + i], axes=[[0], [0]])
            out.append(block)
        return self.join(out)
