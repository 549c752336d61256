"""lbfgs_minimize: the minimum of scipy's L-BFGS-B (with and without bounds), under jit and vmap."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize
from jax import flatten_util

import gdtransforms as gdt
from tests._lbfgs_problems import PROBLEMS


def _scipy_minimum(loss, x0, bounds=None):
    flat0, unravel = flatten_util.ravel_pytree(x0)
    fun = jax.jit(jax.value_and_grad(lambda f: loss(unravel(f))))

    def value_and_grad(f):
        value, grad = fun(jnp.asarray(f))
        return float(value), np.asarray(grad, np.float64)

    res = scipy.optimize.minimize(
        value_and_grad, np.asarray(flat0), jac=True, method="L-BFGS-B", bounds=bounds,
        options=dict(ftol=1e-15, gtol=1e-11, maxiter=2000),
    )  # fmt: skip
    return res


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_same_minimum_as_scipy_lbfgsb(problem):
    with jax.enable_x64(True):
        loss, x0 = PROBLEMS[problem]()
        ours = jax.jit(lambda x: gdt.lbfgs_minimize(loss, x, tol=1e-9, max_iterations=300))(x0)
        ref = _scipy_minimum(loss, x0)
        assert bool(ours.converged), ours
        np.testing.assert_allclose(float(ours.value), ref.fun, rtol=1e-6, atol=1e-12)
        flat = flatten_util.ravel_pytree(ours.params)[0]
        np.testing.assert_allclose(flat, ref.x, rtol=1e-6, atol=1e-6)
        assert 0 < int(ours.num_iterations) <= 300 and int(ours.num_fun_evals) > int(ours.num_iterations)


def test_box_bounds_match_scipy_lbfgsb():
    """Least squares in [-0.1, 0.05]^6: several bounds are active at the solution."""
    with jax.enable_x64(True):
        loss, x0 = PROBLEMS["least_squares"]()
        lower, upper = -0.1, jnp.full(6, 0.05)
        ours = gdt.lbfgs_minimize(loss, x0, lower=lower, upper=upper, tol=1e-8)
        ref = _scipy_minimum(loss, x0, bounds=[(-0.1, 0.05)] * 6)
        assert bool(ours.converged)
        np.testing.assert_allclose(ours.params, ref.x, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(float(ours.value), ref.fun, rtol=1e-6)
        active = np.isclose(ref.x, -0.1) | np.isclose(ref.x, 0.05)
        assert 0 < active.sum() < 6  # bounds matter, and not all of them
        assert bool(jnp.all(ours.params >= -0.1)) and bool(jnp.all(ours.params <= 0.05))


def test_bounds_on_a_tree_and_one_sided():
    loss = lambda p: jnp.sum((p["a"] - 2.0) ** 2) + jnp.sum((p["b"] + 1.0) ** 2)
    params = {"a": jnp.zeros(2), "b": jnp.zeros(3)}
    out = gdt.lbfgs_minimize(loss, params, upper={"a": jnp.array([1.0, 5.0]), "b": jnp.zeros(3)})
    np.testing.assert_allclose(out.params["a"], [1.0, 2.0], atol=1e-5)
    np.testing.assert_allclose(out.params["b"], [-1.0, -1.0, -1.0], atol=1e-5)
    assert bool(out.converged)


def test_jit_and_vmap_solve_many_problems_at_once():
    """A batch of least-squares problems (data vmapped) and of starting points, in one compiled call."""
    rng = np.random.default_rng(1)
    a = jnp.asarray(rng.normal(size=(4, 10, 3)), jnp.float32)
    b = jnp.asarray(rng.normal(size=(4, 10)), jnp.float32)

    def solve(a_i, b_i, x0):
        return gdt.lbfgs_minimize(lambda x: 0.5 * jnp.sum((a_i @ x - b_i) ** 2), x0, tol=1e-4)

    x0 = jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)
    out = jax.jit(jax.vmap(solve))(a, b, x0)
    assert out.params.shape == (4, 3) and out.converged.shape == (4,)
    assert bool(jnp.all(out.converged))
    alone = jax.jit(solve)  # one problem at a time: one compile for the four (eagerly, the loop compiles per call)
    for i in range(4):
        exact = np.linalg.lstsq(np.asarray(a[i], np.float64), np.asarray(b[i], np.float64), rcond=None)[0]
        np.testing.assert_allclose(out.params[i], exact, rtol=1e-3, atol=1e-4)
        single = alone(a[i], b[i], x0[i])
        np.testing.assert_allclose(out.params[i], single.params, rtol=1e-4, atol=1e-5)
    # Bounded problems batch too.
    boxed = jax.jit(jax.vmap(lambda a_i, b_i: gdt.lbfgs_minimize(lambda x: jnp.sum((a_i @ x - b_i) ** 2),
                                                                   jnp.zeros(3), lower=0.0)))(a, b)  # fmt: skip
    assert bool(jnp.all(boxed.params >= 0.0)) and bool(jnp.all(boxed.converged))


def test_max_iterations_and_the_convergence_flag():
    loss, x0 = PROBLEMS["rosenbrock"]()
    out = gdt.lbfgs_minimize(loss, x0, max_iterations=3)
    assert int(out.num_iterations) == 3 and not bool(out.converged)
    assert float(out.grad_norm) > 1e-5
    none = gdt.lbfgs_minimize(loss, x0, max_iterations=0)
    assert int(none.num_iterations) == 0 and int(none.num_fun_evals) == 1


def test_a_non_finite_region_is_avoided():
    """NaN beyond x = 1.5; the unconstrained minimum at 2 is out of reach: it stops, finite, at the wall."""
    loss = lambda x: jnp.sum((x - 2.0) ** 2) + jnp.where(jnp.any(x > 1.5), jnp.nan, 0.0)
    out = gdt.lbfgs_minimize(loss, jnp.zeros(1), max_iterations=50)
    assert bool(jnp.isfinite(out.value)) and float(out.params[0]) <= 1.5 and float(out.params[0]) > 1.0
    assert not bool(out.converged) and int(out.num_iterations) < 50  # stopped: the search could not move


def test_bad_arguments_are_named():
    loss = lambda x: jnp.sum(x**2)
    x0 = jnp.ones(2)
    with pytest.raises(TypeError, match="`fun`"):
        gdt.lbfgs_minimize("loss", x0)
    with pytest.raises(ValueError, match="max_iterations"):
        gdt.lbfgs_minimize(loss, x0, max_iterations=-1)
    with pytest.raises(ValueError, match="memory_size"):
        gdt.lbfgs_minimize(loss, x0, memory_size=0)
    with pytest.raises(ValueError, match="tol"):
        gdt.lbfgs_minimize(loss, x0, tol=-1.0)
    with pytest.raises(ValueError, match="`lower`"):
        gdt.lbfgs_minimize(lambda p: jnp.sum(p["a"] ** 2), {"a": x0}, lower={"b": 0.0})
    with pytest.raises(TypeError, match="params"):
        gdt.lbfgs_minimize(loss, jnp.ones(2, jnp.int32))
