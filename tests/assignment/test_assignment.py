"""The two Hungarian algorithms against scipy.optimize.linear_sum_assignment and by hand."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import gdtransforms as gdt

A = gdt.assignment
ALGORITHMS = {"hungarian": A.hungarian_algorithm, "base": A.base_hungarian_algorithm}
SHAPES = [(1, 1), (3, 3), (3, 4), (4, 3)]  # few shapes: one compile each


@functools.cache
def _jitted(name):
    return jax.jit(ALGORITHMS[name])


def _matrices(shape, count=6):
    """Random costs: half continuous (one optimum), half small integers (many ties)."""
    rng = np.random.default_rng(sum(shape))
    out = [rng.normal(size=shape).astype(np.float32) for _ in range(count // 2)]
    out += [rng.integers(0, 3, size=shape).astype(np.float32) for _ in range(count - count // 2)]
    return out


def _check_valid(i, j, shape):
    i, j = np.asarray(i), np.asarray(j)
    k = min(shape)
    assert i.shape == j.shape == (k,)
    assert len(set(i.tolist())) == k and len(set(j.tolist())) == k
    assert i.min() >= 0 and i.max() < shape[0] and j.min() >= 0 and j.max() < shape[1]


@pytest.mark.parametrize("name", ALGORITHMS)
@pytest.mark.parametrize("shape", SHAPES)
def test_optimal_cost_matches_scipy(name, shape):
    for cost in _matrices(shape):
        i, j = _jitted(name)(jnp.asarray(cost))
        _check_valid(i, j, shape)
        rows, cols = linear_sum_assignment(cost)
        np.testing.assert_allclose(cost[np.asarray(i), np.asarray(j)].sum(), cost[rows, cols].sum(), rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_base_algorithm_returns_scipys_pairs(shape):
    """Same shortest-augmenting-path algorithm and tie-breaking as scipy: the very same pairs, ties included."""
    for cost in _matrices(shape):
        i, j = _jitted("base")(jnp.asarray(cost))
        rows, cols = linear_sum_assignment(cost)
        np.testing.assert_array_equal(i, rows)
        np.testing.assert_array_equal(j, cols)


def test_by_hand():
    # Row 0 -> column 1 (1), row 1 -> column 0 (2), row 2 -> column 2 (2): total 5; every other matching costs more.
    cost = jnp.array([[4, 1, 3], [2, 0, 5], [3, 2, 2]], jnp.float32)
    i, j = _jitted("base")(cost)
    np.testing.assert_array_equal(i, [0, 1, 2])
    np.testing.assert_array_equal(j, [1, 0, 2])
    # The potentials version lists, for a square matrix, the row of each column.
    i, j = _jitted("hungarian")(cost)
    np.testing.assert_array_equal(i, [1, 0, 2])
    np.testing.assert_array_equal(j, [0, 1, 2])


def test_rectangular_by_hand():
    # 4 rows, 3 columns: rows 0, 1, 3 are matched (cost 8 + 3 + 4 = 15), row 2 is left out.
    cost = jnp.array([[8, 4, 7], [5, 2, 3], [9, 6, 7], [9, 4, 8]], jnp.float32)
    for name in ALGORITHMS:
        i, j = _jitted(name)(cost)
        assert int(cost[i, j].sum()) == 15
        assert sorted(zip(np.asarray(i).tolist(), np.asarray(j).tolist())) == [(0, 0), (1, 2), (3, 1)]


@pytest.mark.parametrize("name", ALGORITHMS)
@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (0, 0)])
def test_empty(name, shape):
    i, j = ALGORITHMS[name](jnp.zeros(shape))
    assert i.shape == j.shape == (0,)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_vmap_over_a_batch(name):
    costs = np.stack(_matrices((3, 3), count=4))
    i, j = jax.jit(jax.vmap(ALGORITHMS[name]))(jnp.asarray(costs))
    for c, ii, jj in zip(costs, np.asarray(i), np.asarray(j)):
        rows, cols = linear_sum_assignment(c)
        np.testing.assert_allclose(c[ii, jj].sum(), c[rows, cols].sum(), rtol=1e-5)
