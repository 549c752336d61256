"""Test surfaces and optimizer paths (docs/notes.md §11 and 12)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


@pytest.mark.parametrize(
    "surface, point, value",
    [
        (gdt.toolkit.surfaces.elongated_bowl, (-7.0, 2.0), 49 / 20 + 4),
        (gdt.toolkit.surfaces.rosenbrock, (0.0, 0.0), 1.0),
        (gdt.toolkit.surfaces.rosenbrock, (2.0, 1.0), 1.0 + 100 * 9),
        (gdt.toolkit.surfaces.beale, (0.0, 0.0), 1.5**2 + 2.25**2 + 2.625**2),
        (gdt.toolkit.surfaces.himmelblau, (0.0, 0.0), 121.0 + 49.0),
        (gdt.toolkit.surfaces.saddle, (1.0, 2.0), -3.0),
        (gdt.toolkit.surfaces.plateau, (0.0, math.sqrt(2.0)), 1 - math.exp(-1.0)),
    ],
)
def test_hand_computed_values(surface, point, value):
    assert float(surface(jnp.array(point))) == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize("surface", list(gdt.toolkit.surfaces.SURFACES.values()), ids=lambda s: s.name)
def test_minima_are_stationary_zeros_and_grids_evaluate_at_once(surface):
    for m in surface.minima:
        m = jnp.array(m)
        assert float(surface(m)) == pytest.approx(0.0, abs=1e-8)
        assert float(jnp.max(jnp.abs(jax.grad(surface)(m)))) < 1e-3
    xs = jnp.linspace(*surface.x_range, 7)
    ys = jnp.linspace(*surface.y_range, 5)
    grid = jnp.stack(jnp.meshgrid(xs, ys), axis=-1)
    values = surface(grid)
    assert values.shape == (5, 7)
    np.testing.assert_allclose(values[2, 3], surface(grid[2, 3]), rtol=1e-6)
    lo, hi = surface.x_range
    assert lo <= surface.start[0] <= hi


def test_saddle_is_a_stationary_point_but_not_a_minimum():
    origin = jnp.zeros(2)
    np.testing.assert_array_equal(jax.grad(gdt.toolkit.surfaces.saddle)(origin), [0.0, 0.0])
    # Up along x, down along y: f(+-e, 0) = e^2 > 0 = f(0) > -e^2 = f(0, +-e).
    e = 0.1
    steps = jnp.array([[e, 0.0], [-e, 0.0], [0.0, e], [0.0, -e]])
    np.testing.assert_allclose(gdt.toolkit.surfaces.saddle(steps), [e**2, e**2, -(e**2), -(e**2)], rtol=1e-6)
    assert gdt.toolkit.surfaces.saddle.minima == ()


def test_surface_rejects_points_without_an_xy_axis():
    with pytest.raises(ValueError, match="elongated_bowl.*last axis of size 2.*\\(3,\\)"):
        gdt.toolkit.surfaces.elongated_bowl(jnp.zeros(3))


def test_sgd_path_on_the_bowl_is_the_closed_form():
    # x_t = (1 - lr / 10)^t x0 and y_t = (1 - 2 lr)^t y0: with lr = 0.9, y
    # flips sign every step (the zig-zag of the notes).
    lr, steps = 0.9, 30
    path = gdt.toolkit.surfaces.run_path(gdt.sgd(lr), gdt.toolkit.surfaces.elongated_bowl, (-7.0, 2.0), steps)
    t = np.arange(steps + 1)
    np.testing.assert_allclose(path.points[:, 0], -7.0 * (1 - lr / 10) ** t, rtol=1e-5)
    np.testing.assert_allclose(path.points[:, 1], 2.0 * (1 - 2 * lr) ** t, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(path.values, gdt.toolkit.surfaces.elongated_bowl(path.points), rtol=1e-6)
    assert path.points.shape == (31, 2) and path.values.shape == (31,)


def test_momentum_path_follows_the_heavy_ball_recurrence():
    lr, mu = 0.1, 0.9
    path = gdt.toolkit.surfaces.run_path(gdt.sgd(lr, momentum=mu), gdt.toolkit.surfaces.elongated_bowl, (-7.0, 2.0), 20)
    x, v = np.array([-7.0, 2.0]), np.zeros(2)
    for t in range(20):
        np.testing.assert_allclose(path.points[t], x, rtol=1e-5, atol=1e-6)
        v = mu * v + np.array([x[0] / 10, 2 * x[1]])
        x = x - lr * v
    np.testing.assert_allclose(path.points[20], x, rtol=1e-5, atol=1e-6)


def test_adam_crosses_the_plateau_where_sgd_crawls():
    start = gdt.toolkit.surfaces.plateau.start
    sgd = gdt.toolkit.surfaces.run_path(gdt.sgd(0.5), gdt.toolkit.surfaces.plateau, start, 200)
    adam = gdt.toolkit.surfaces.run_path(gdt.adam(0.1), gdt.toolkit.surfaces.plateau, start, 200)
    assert float(sgd.values[-1]) > 0.99 and float(adam.values[-1]) < 0.01


def test_gradient_descent_leaves_the_saddle_along_y():
    lr = 0.1
    path = gdt.toolkit.surfaces.run_path(gdt.sgd(lr), gdt.toolkit.surfaces.saddle, (1.5, 1e-3), 10)
    np.testing.assert_allclose(path.points[:, 1], 1e-3 * (1 + 2 * lr) ** np.arange(11), rtol=1e-5)


def test_run_path_zero_steps_and_errors():
    path = gdt.toolkit.surfaces.run_path(gdt.sgd(0.1), gdt.toolkit.surfaces.rosenbrock, (0.0, 0.0), 0)
    np.testing.assert_array_equal(path.points, [[0.0, 0.0]])
    assert float(path.values[0]) == 1.0
    with pytest.raises(ValueError, match="steps"):
        gdt.toolkit.surfaces.run_path(gdt.sgd(0.1), gdt.toolkit.surfaces.rosenbrock, (0.0, 0.0), -1)
    with pytest.raises(TypeError, match="gradient transformation"):
        gdt.toolkit.surfaces.run_path(lambda g: g, gdt.toolkit.surfaces.rosenbrock, (0.0, 0.0), 3)
