"""Euclidean projections against closed forms and algorithms written here, in float64 numpy.

For a convex set C, p = proj_C(x) is the only point of C with <x - p, z - p> <= 0 for every z in C;
each projection is also checked that way on random feasible points.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

P = gdt.projections
RNG = np.random.default_rng(0)


def simplex_by_sorting(x: np.ndarray, s: float = 1.0) -> np.ndarray:
    """Held-Wolfe-Crowder / Duchi et al. (2008), figure 1: sort, find rho, shift by theta."""
    u = np.sort(x)[::-1]
    css = np.cumsum(u)
    k = np.arange(1, x.size + 1)
    rho = np.nonzero(u * k > css - s)[0][-1]
    theta = (css[rho] - s) / (rho + 1.0)
    return np.maximum(x - theta, 0.0)


def simplex_by_bisection(x: np.ndarray, s: float = 1.0) -> np.ndarray:
    """The threshold tau with sum(max(x - tau, 0)) = s, by bisection (no sorting)."""
    lo, hi = x.min() - s, x.max()
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if np.maximum(x - mid, 0.0).sum() > s else (lo, mid)
    return np.maximum(x - 0.5 * (lo + hi), 0.0)


def _flat(tree) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(leaf, np.float64)) for leaf in jax.tree.leaves(tree)])


def _variational_inequality(x, p, feasible_points):
    """max over z of <x - p, z - p>: <= 0 (up to rounding) iff p is the projection of x."""
    x, p = _flat(x), _flat(p)
    return max(float(np.dot(x - p, z - p)) for z in feasible_points)


@pytest.mark.parametrize("n, scale", [(1, 1.0), (5, 1.0), (8, 2.5), (8, 0.3)])
def test_simplex_matches_sorting_and_bisection(n, scale):
    x = RNG.normal(size=n) * 2.0
    out = np.asarray(P.projection_simplex(jnp.asarray(x, jnp.float32), scale), np.float64)
    np.testing.assert_allclose(out, simplex_by_sorting(x, scale), atol=1e-5)
    np.testing.assert_allclose(out, simplex_by_bisection(x, scale), atol=1e-5)
    assert out.min() >= 0 and abs(out.sum() - scale) < 1e-5


def test_simplex_by_hand():
    # [1, 0.5, -1]: theta = (1 + 0.5 - 1) / 2 = 0.25 -> [0.75, 0.25, 0]
    np.testing.assert_allclose(P.projection_simplex(jnp.array([1.0, 0.5, -1.0])), [0.75, 0.25, 0.0])
    # Already on the simplex: unchanged.
    np.testing.assert_allclose(P.projection_simplex(jnp.array([0.2, 0.3, 0.5])), [0.2, 0.3, 0.5], rtol=1e-6)
    # Ties: all equal -> uniform.
    np.testing.assert_allclose(P.projection_simplex(jnp.full(4, 7.0)), np.full(4, 0.25))


def test_simplex_of_a_tree_flattens_all_leaves_together():
    tree = {"w": jnp.array([2.5, 3.2]), "b": jnp.float32(0.5), "m": jnp.array([[0.1, -4.0]])}
    out = P.projection_simplex(tree)
    assert jax.tree.structure(out) == jax.tree.structure(tree) and out["m"].shape == (1, 2)
    np.testing.assert_allclose(_flat(out), simplex_by_sorting(_flat(tree)), atol=1e-6)


def test_simplex_variational_inequality():
    x = RNG.normal(size=8)
    p = P.projection_simplex(jnp.asarray(x, jnp.float32), 2.0)
    zs = 2.0 * RNG.dirichlet(np.ones(8), size=200)
    assert _variational_inequality(x, p, zs) < 1e-5


def test_simplex_jacobian_matches_finite_differences():
    x = jnp.array([0.9, 0.4, -0.7, 0.3, -2.0])
    jac = np.asarray(jax.jacobian(P.projection_simplex)(x), np.float64)
    eps = 1e-2  # the projection is piecewise linear: exact while the support does not change
    base = np.asarray(P.projection_simplex(x), np.float64)
    fd = np.stack([(np.asarray(P.projection_simplex(x.at[i].add(eps)), np.float64) - base) / eps for i in range(5)], 1)
    np.testing.assert_allclose(jac, fd, atol=1e-4)
    # Support {0, 1, 3}: I - 11^T/3 there, zero elsewhere.
    support = np.array([1.0, 1.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(jac, np.diag(support) - np.outer(support, support) / 3, atol=1e-6)


def test_l1_ball_and_sphere():
    x = RNG.normal(size=8) * 3
    ref = np.sign(x) * simplex_by_sorting(np.abs(x), 1.5)
    ball = np.asarray(P.projection_l1_ball(jnp.asarray(x, jnp.float32), 1.5), np.float64)
    sphere = np.asarray(P.projection_l1_sphere(jnp.asarray(x, jnp.float32), 1.5), np.float64)
    np.testing.assert_allclose(ball, ref, atol=1e-5)
    np.testing.assert_allclose(sphere, ref, atol=1e-5)
    # Inside the ball: unchanged; the sphere still pushes it out to norm 1.5.
    inner = jnp.array([0.2, -0.3])
    np.testing.assert_allclose(P.projection_l1_ball(inner, 1.5), inner)
    np.testing.assert_allclose(np.abs(np.asarray(P.projection_l1_sphere(inner, 1.5))).sum(), 1.5, rtol=1e-6)
    # By hand: [2, -1] onto the unit l1 ball -> [1, 0].
    np.testing.assert_allclose(P.projection_l1_ball(jnp.array([2.0, -1.0])), [1.0, 0.0])
    # Feasible points: random points of the l1 ball of radius 1.5.
    signs = RNG.choice([-1.0, 1.0], size=(200, 8))
    zs = signs * 1.5 * RNG.dirichlet(np.ones(8), size=200) * RNG.uniform(size=(200, 1))
    assert _variational_inequality(x, ball, zs) < 1e-4


def test_l2_ball_and_sphere_closed_forms():
    x = {"a": jnp.array([3.0, 0.0]), "b": jnp.float32(4.0)}  # norm 5
    _close(P.projection_l2_ball(x, 2.0), {"a": [1.2, 0.0], "b": 1.6})
    _close(P.projection_l2_sphere(x, 2.0), {"a": [1.2, 0.0], "b": 1.6})
    _close(P.projection_l2_ball(x, 10.0), x)  # inside: unchanged
    _close(P.projection_l2_sphere(x, 10.0), {"a": [6.0, 0.0], "b": 8.0})
    v = RNG.normal(size=(200, 3))
    zs = 2.0 * v / np.linalg.norm(v, axis=1, keepdims=True) * RNG.uniform(size=(200, 1))
    assert _variational_inequality(x, P.projection_l2_ball(x, 2.0), zs) < 1e-5


def test_linf_ball_box_hypercube_non_negative():
    x = {"a": jnp.array([-3.0, 0.25, 2.0]), "b": jnp.float32(-0.5)}
    _close(P.projection_linf_ball(x, 1.0), {"a": [-1.0, 0.25, 1.0], "b": -0.5})
    _close(P.projection_non_negative(x), {"a": [0.0, 0.25, 2.0], "b": 0.0})
    _close(P.projection_hypercube(x["a"]), [0.0, 0.25, 1.0])
    _close(P.projection_hypercube(x["a"], 0.1), [0.0, 0.1, 0.1])
    lower = {"a": jnp.array([-1.0, 0.5, 0.0]), "b": -1.0}
    upper = {"a": jnp.array([0.0, 1.0, 1.5]), "b": 0.0}
    _close(P.projection_box(x, lower, upper), {"a": [-1.0, 0.5, 1.5], "b": -0.5})


def test_box_and_hypercube_take_scalar_bounds_for_a_tree():
    """optax raises a tree-structure error here (docs/DIFFERENCES.md); a scalar bound is used for every leaf."""
    x = {"a": jnp.array([-3.0, 0.25, 2.0]), "b": jnp.float32(-0.5)}
    _close(P.projection_box(x, -1.0, 1.0), {"a": [-1.0, 0.25, 1.0], "b": -0.5})
    _close(P.projection_hypercube(x), {"a": [0.0, 0.25, 1.0], "b": 0.0})
    _close(P.projection_hypercube(x, 0.2), {"a": [0.0, 0.2, 0.2], "b": 0.0})


def test_vector_hyperplane_halfspace():
    x = {"u": jnp.array([1.0, 2.0]), "v": jnp.float32(3.0)}
    a = {"u": jnp.array([1.0, 0.0]), "v": jnp.float32(1.0)}  # <x, a> = 4, <a, a> = 2
    _close(P.projection_vector(x, a), {"u": [2.0, 0.0], "v": 2.0})
    # Hyperplane <a, y> = 1: y = x + (1 - 4) / 2 a.
    hyper = P.projection_hyperplane(x, a, 1.0)
    _close(hyper, {"u": [-0.5, 2.0], "v": 1.5})
    assert abs(float(gdt.tree.vdot(a, hyper)) - 1.0) < 1e-6
    _close(P.projection_halfspace(x, a, 1.0), hyper)  # outside: onto the boundary
    _close(P.projection_halfspace(x, a, 10.0), x)  # inside: unchanged


def test_projections_under_jit_and_vmap():
    batch = jnp.asarray(RNG.normal(size=(4, 5)), jnp.float32)
    out = jax.jit(jax.vmap(P.projection_simplex))(batch)
    for row, x in zip(np.asarray(out), np.asarray(batch, np.float64)):
        np.testing.assert_allclose(row, simplex_by_sorting(x), atol=1e-5)
    l1 = jax.jit(jax.vmap(P.projection_l1_ball))(batch)
    assert np.all(np.abs(np.asarray(l1)).sum(1) <= 1 + 1e-5)


def test_bfloat16_leaves():
    x = {"h": jnp.array([1.0, 2.0, 3.0], jnp.bfloat16), "f": jnp.float32(0.3)}
    unit_box = lambda t: P.projection_box(t, 0.0, 1.0)
    for fn in (P.projection_simplex, P.projection_l1_ball, P.projection_linf_ball, unit_box):
        out = fn(x)
        assert out["h"].dtype == jnp.bfloat16 and out["f"].dtype == jnp.float32, fn.__name__
    # The l2 projections scale by a factor computed over the whole tree (float32 here), as optax does.
    out = P.projection_l2_ball(x)
    assert out["h"].dtype == jnp.float32
    np.testing.assert_allclose(out["h"], np.array([1.0, 2.0, 3.0]) / np.sqrt(14.09), rtol=1e-2)
    pure = P.projection_l2_ball(jnp.array([3.0, 4.0], jnp.bfloat16))
    assert pure.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(pure, np.float32), [0.6, 0.8], rtol=1e-2)


def _close(actual, expected):
    expected = jax.tree.map(np.asarray, expected, is_leaf=lambda x: isinstance(x, list))
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for a, e in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(e, np.float64), rtol=1e-6, atol=1e-6)


def test_bfloat16_trees_keep_their_dtype_and_are_differentiable():
    """Fixes of optax behaviour (docs/DIFFERENCES.md): on a tree of bfloat16 leaves only, optax's simplex and
    l1 sphere return float32 leaves, its l1 ball raises, and the simplex Jacobian raises."""
    x = {"u": jnp.array([3.0, -1.0], jnp.bfloat16), "v": jnp.array([0.5], jnp.bfloat16)}
    for fn in (P.projection_simplex, P.projection_l1_sphere, P.projection_l1_ball):
        out = fn(x)
        assert all(leaf.dtype == jnp.bfloat16 for leaf in jax.tree.leaves(out)), fn.__name__
    # ||x||_1 = 4.5 > 1: onto the sphere. |x| = [3, 1, 0.5]: rho = 1, theta = 3 - 1 = 2, so [1, 0], [0].
    _close(P.projection_l1_ball(x), {"u": [1.0, 0.0], "v": [0.0]})
    _close(P.projection_l1_ball(x, 10.0), x)
    v = jnp.array([0.9, 0.4, -0.7], jnp.bfloat16)
    jac = jax.jacobian(P.projection_simplex)(v)
    support = np.array([1.0, 1.0, 0.0])
    np.testing.assert_allclose(np.asarray(jac, np.float32), np.diag(support) - np.outer(support, support) / 2)
