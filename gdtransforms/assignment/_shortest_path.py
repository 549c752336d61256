"""The linear assignment problem by shortest augmenting paths (Jonker-Volgenant style, as in Crouse 2016).

Rows are added one at a time. For each new row a Dijkstra search over reduced
costs :math:`c_{ij} - u_i - v_j` finds the cheapest path to a free column;
the dual potentials :math:`u, v` are then updated so every reduced cost stays
non-negative, and the path is flipped to grow the matching by one.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["base_hungarian_algorithm"]


def _pick_position(costs_at: jax.Array, free_at: jax.Array, valid: jax.Array) -> jax.Array:
    """The position of the next column the search settles, among the ``valid`` positions.

    The cheapest one; among equally cheap ones a free column wins (the last
    free one in position order), otherwise the first. This is the order a
    scan over the remaining columns in position order would choose.
    """
    n = costs_at.shape[0]
    positions = jnp.arange(n)
    masked = jnp.where(valid, costs_at, jnp.inf)
    lowest = jnp.min(masked)
    tied = valid & (masked == lowest)
    free_tied = tied & free_at
    last_free = jnp.max(jnp.where(free_tied, positions, -1))
    first = jnp.argmax(tied)
    return jnp.where(last_free >= 0, last_free, first)


def _search(cost: jax.Array, u: jax.Array, v: jax.Array, path: jax.Array, row4col: jax.Array, start: Any) -> tuple:
    """Dijkstra from row ``start``: the free column reached first, and the search's bookkeeping."""
    n_rows, n_cols = cost.shape
    # Columns not yet settled, kept compact at the front; removal swaps the last one in.
    remaining = jnp.arange(n_cols)[::-1]
    dist = jnp.full(n_cols, jnp.inf, cost.dtype)
    carry = (
        jnp.asarray(-1),  # sink: the free column found
        jnp.asarray(start),  # row being expanded
        jnp.zeros((), cost.dtype),  # min_value: distance of the last settled column
        jnp.asarray(n_cols),  # number of remaining columns
        remaining,
        jnp.zeros(n_rows, bool),  # rows reached
        jnp.zeros(n_cols, bool),  # columns settled
        dist,
        path,
    )

    def keep_going(c: tuple) -> jax.Array:
        sink, _, _, n_left, *_ = c
        return (sink == -1) & (n_left > 0)

    def expand(c: tuple) -> tuple:
        sink, i, min_value, n_left, remaining, rows_seen, cols_done, dist, path = c
        rows_seen = rows_seen.at[i].set(True)
        valid = jnp.arange(n_cols) < n_left
        cols = remaining
        reduced = min_value + cost[i, cols] - u[i] - v[cols]
        closer = valid & (reduced < dist[cols])
        # Positions past n_left hold stale (repeated) columns: their writes are dropped.
        target = jnp.where(closer, cols, n_cols)
        path = path.at[target].set(i, mode="drop")
        dist = dist.at[target].set(reduced, mode="drop")
        pos = _pick_position(dist[cols], row4col[cols] == -1, valid)
        j = remaining[pos]
        min_value = dist[j]
        is_free = row4col[j] == -1
        sink = jnp.where(is_free, j, sink)
        i = jnp.where(is_free, i, row4col[j])
        cols_done = cols_done.at[j].set(True)
        n_left = n_left - 1
        remaining = remaining.at[pos].set(remaining[n_left])
        return sink, i, min_value, n_left, remaining, rows_seen, cols_done, dist, path

    sink, _, min_value, _, _, rows_seen, cols_done, dist, path = jax.lax.while_loop(keep_going, expand, carry)
    return sink, min_value, rows_seen, cols_done, dist, path


def _add_row(start: jax.Array, carry: tuple) -> tuple:
    cost, u, v, path, row4col, col4row = carry
    n_rows, n_cols = cost.shape
    sink, min_value, rows_seen, cols_done, dist, path = _search(cost, u, v, path, row4col, start)
    # Dual update: keeps reduced costs non-negative and zero along the matching.
    u = u.at[start].add(min_value)
    others = rows_seen & (jnp.arange(n_rows) != start)
    u = jnp.where(others, u + min_value - dist[col4row], u)
    v = jnp.where(cols_done, v + dist - min_value, v)

    def flip(c: tuple) -> tuple:
        j, row4col, col4row, _, steps = c
        i = path[j]
        row4col = row4col.at[j].set(i)
        j_next = col4row[i]
        col4row = col4row.at[i].set(j)
        return j_next, row4col, col4row, i == start, steps + 1

    def flipping(c: tuple) -> jax.Array:
        _, _, _, done, steps = c
        return ~done & (steps < n_cols)

    flip_carry = (sink, row4col, col4row, jnp.asarray(False), jnp.asarray(0))
    _, row4col, col4row, _, _ = jax.lax.while_loop(flipping, flip, flip_carry)
    return cost, u, v, path, row4col, col4row


def base_hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""A minimum-cost assignment of rows to columns, by shortest augmenting paths.

    For :math:`C \in \mathbb{R}^{n \times m}`, finds :math:`\min(n, m)` pairs
    :math:`(i_k, j_k)`, no row or column used twice, minimising
    :math:`\sum_k C_{i_k j_k}` (the linear assignment problem). Rows are
    matched one by one along the shortest augmenting path in reduced costs,
    :math:`O(n^2 m)` in all. Works under ``jit``; costs must be finite.

    Args:
      cost_matrix: the ``(n, m)`` costs.

    Returns:
      ``(i, j)``, integer arrays of length :math:`\min(n, m)`, ``i`` in
      increasing order; the cost is ``cost_matrix[i, j].sum()``.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> cost = jnp.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
      >>> i, j = gdt.assignment.base_hungarian_algorithm(cost)
      >>> print(i, j, cost[i, j].sum())
      [0 1 2] [1 0 2] 5

    References:
      Crouse, `On implementing 2D rectangular assignment algorithms
      <https://doi.org/10.1109/TAES.2016.140952>`_, 2016.
    """
    cost = jnp.asarray(cost_matrix)
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        return jnp.zeros(0, int), jnp.zeros(0, int)
    transposed = cost.shape[1] < cost.shape[0]
    if transposed:
        cost = cost.T
    cost = cost.astype(float)
    n_rows, n_cols = cost.shape
    carry = (
        cost,
        jnp.zeros(n_rows, cost.dtype),
        jnp.zeros(n_cols, cost.dtype),
        jnp.full(n_cols, -1),  # path: the row each column was reached from
        jnp.full(n_cols, -1),  # row4col
        jnp.full(n_rows, -1),  # col4row
    )
    *_, col4row = jax.lax.fori_loop(0, n_rows, _add_row, carry)
    if transposed:
        order = jnp.argsort(col4row)
        return col4row[order], order
    return jnp.arange(n_rows), col4row
