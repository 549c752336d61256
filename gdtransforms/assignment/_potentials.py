"""The linear assignment problem by the Hungarian method with row and column potentials.

The classic :math:`O(n^2 m)` form (Kuhn 1955, Munkres 1957; the compact
potentials version popularised by the Scenic library): rows enter one at a
time; from the new row, columns are visited in order of reduced cost
:math:`c_{ij} - u_i - v_j` until a free column is reached, the potentials
shift by each step's smallest slack, and the alternating path is flipped.
Columns are numbered from 1, with column 0 a virtual start column.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["hungarian_algorithm"]


def _add_row(cost: jax.Array, carry: tuple, row: jax.Array) -> tuple:
    u, v, owner = carry  # owner[j]: the 1-based row matched to column j, 0 if free
    n_rows, n_cols = cost.shape
    owner = owner.at[0].set(row + 1)

    def visit(c: tuple) -> tuple:
        u, v, visited, slack, came_from, col = c
        visited = visited.at[col].set(True)
        open_cols = ~visited[1:]
        i = owner[col]
        reduced = jnp.where(open_cols, cost[i - 1, :] - u[i] - v[1:], jnp.inf)
        better = reduced < slack
        came_from = jnp.where(better, col, came_from)
        slack = jnp.where(better, reduced, slack)
        open_slack = jnp.where(open_cols, slack, jnp.inf)
        nxt = jnp.argmin(open_slack) + 1
        delta = jnp.min(open_slack)
        # Rows on the tree gain delta, visited columns lose it: reduced costs on the tree stay 0.
        u = u.at[jnp.where(visited, owner, n_rows + 1)].add(delta, mode="drop")
        v = jnp.where(visited, v - delta, v)
        slack = jnp.where(open_cols, slack - delta, slack)
        return u, v, visited, slack, came_from, nxt

    def not_free(c: tuple) -> jax.Array:
        return owner[c[-1]] != 0

    start = (
        u,
        v,
        jnp.zeros(n_cols + 1, bool),
        jnp.full(n_cols, jnp.inf),
        jnp.zeros(n_cols, int),
        jnp.asarray(0),
    )
    u, v, _, _, came_from, col = jax.lax.while_loop(not_free, visit, start)

    def flip(c: tuple) -> tuple:
        owner, col = c
        prev = came_from[col - 1]
        return owner.at[col].set(owner[prev]), prev

    owner, _ = jax.lax.while_loop(lambda c: c[1] != 0, flip, (owner, col))
    return (u, v, owner), None


def hungarian_algorithm(cost_matrix: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""A minimum-cost assignment of rows to columns, by the Hungarian method.

    For :math:`C \in \mathbb{R}^{n \times m}`, finds :math:`\min(n, m)` pairs
    :math:`(i_k, j_k)`, no row or column used twice, minimising
    :math:`\sum_k C_{i_k j_k}`. Solves the same problem as
    :func:`base_hungarian_algorithm` with a simpler loop (one ``lax.scan``
    over rows), usually faster. Works under ``jit``; costs must be finite.

    Args:
      cost_matrix: the ``(n, m)`` costs.

    Returns:
      ``(i, j)``, integer arrays of length :math:`\min(n, m)`; the cost is
      ``cost_matrix[i, j].sum()``. For a square matrix ``j`` is
      ``0, ..., n - 1`` and ``i[k]`` the row of column ``k``; otherwise the
      pairs are listed by decreasing index on the shorter side.

    Example:
      >>> import jax.numpy as jnp
      >>> import gdtransforms as gdt
      >>> cost = jnp.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]])
      >>> i, j = gdt.assignment.hungarian_algorithm(cost)
      >>> print(i, j, cost[i, j].sum())
      [1 0 2] [0 1 2] 5

    References:
      Kuhn, `The Hungarian method for the assignment problem
      <https://doi.org/10.1002/nav.3800020109>`_, 1955;
      Dehghani et al., `Scenic: A JAX Library for Computer Vision Research and
      Beyond <https://arxiv.org/abs/2110.11403>`_, 2022.
    """
    cost = jnp.asarray(cost_matrix)
    if cost.shape[0] == 0 or cost.shape[1] == 0:
        return jnp.zeros(0, int), jnp.zeros(0, int)
    transposed = cost.shape[0] > cost.shape[1]
    if transposed:
        cost = cost.T
    n_rows, n_cols = cost.shape
    init = (jnp.zeros(n_rows + 1), jnp.zeros(n_cols + 1), jnp.zeros(n_cols + 1, int))
    (_, _, owner), _ = jax.lax.scan(lambda c, r: _add_row(cost, c, r), init, jnp.arange(n_rows))
    if n_rows == n_cols:
        rows, cols = owner[1:], jnp.arange(n_rows)
    else:
        rows, cols = jax.lax.top_k(owner[1:], n_rows)
    rows = rows - 1
    if transposed:
        return cols, rows
    return rows, cols
