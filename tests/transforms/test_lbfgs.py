"""scale_by_lbfgs and lbfgs: hand-derived first steps, the two-loop recursion, errors, flat path, inject."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms._transforms._lbfgs import lbfgs_two_loop
from tests._lbfgs_problems import least_squares, run_optimizer


def test_first_direction_is_the_gradient_scaled_to_norm_at_most_one():
    tx = gdt.scale_by_lbfgs()
    params = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(-1.0)}
    grad = {"a": jnp.array([3.0, 0.0]), "b": jnp.array(4.0)}  # norm 5
    direction, state = tx.update(grad, tx.init(params), params)
    np.testing.assert_allclose(direction["a"], [0.6, 0.0], rtol=1e-6)
    np.testing.assert_allclose(direction["b"], 0.8, rtol=1e-6)
    assert int(state.count) == 1 and float(jnp.sum(state.weights_memory)) == 0.0
    # A small gradient is not blown up: the scale is capped at 1.
    small = jax.tree.map(lambda g: g / 50.0, grad)
    direction, _ = tx.update(small, tx.init(params), params)
    np.testing.assert_allclose(direction["a"], [0.06, 0.0], rtol=1e-6)
    # Without the initial scaling, the first direction is the gradient itself.
    direction, _ = gdt.scale_by_lbfgs(scale_init_precond=False).update(grad, tx.init(params), params)
    np.testing.assert_allclose(direction["a"], [3.0, 0.0])


def test_second_step_on_a_quadratic_by_hand():
    """f = x^2/2 + 2 y^2: the first pair gives gamma = <s, y>/<y, y> and one BFGS update."""
    a = np.array([1.0, 4.0])
    tx = gdt.scale_by_lbfgs(memory_size=5)
    x0, x1 = np.array([1.0, 1.0]), np.array([0.5, 0.0])
    g0, g1 = a * x0, a * x1
    state = tx.init(jnp.asarray(x0))
    _, state = tx.update(jnp.asarray(g0), state, jnp.asarray(x0))
    direction, state = tx.update(jnp.asarray(g1), state, jnp.asarray(x1))
    s, y = x1 - x0, g1 - g0
    rho, gamma = 1.0 / (y @ s), (s @ y) / (y @ y)
    v = np.eye(2) - rho * np.outer(y, s)
    h = v.T @ (gamma * np.eye(2)) @ v + rho * np.outer(s, s)
    np.testing.assert_allclose(direction, h @ g1, rtol=1e-6)
    np.testing.assert_allclose(state.weights_memory[0], rho, rtol=1e-6)


def test_two_loop_equals_the_dense_bfgs_recursion_and_the_secant_equation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 4))
    a = a @ a.T + np.eye(4)
    m, gamma = 3, 0.7
    s = rng.normal(size=(5, 4))  # five pairs into a memory of three: the ring buffer wraps
    y = s @ a
    s_mem, y_mem, rho_mem = np.zeros((m, 4)), np.zeros((m, 4)), np.zeros(m)
    for k in range(5):
        s_mem[k % m], y_mem[k % m], rho_mem[k % m] = s[k], y[k], 1.0 / (s[k] @ y[k])
    u = rng.normal(size=4)
    args = [jnp.asarray(v, jnp.float32) for v in (s_mem, y_mem, rho_mem)]
    got = lbfgs_two_loop(jnp.asarray(u, jnp.float32), *args, gamma, 5 % m)
    h = gamma * np.eye(4)
    for k in (2, 3, 4):  # oldest to newest of the kept pairs
        rho = 1.0 / (s[k] @ y[k])
        v = np.eye(4) - rho * np.outer(y[k], s[k])
        h = v.T @ h @ v + rho * np.outer(s[k], s[k])
    np.testing.assert_allclose(got, h @ u, rtol=2e-4, atol=1e-5)
    secant = lbfgs_two_loop(jnp.asarray(y[4], jnp.float32), *args, gamma, 5 % m)
    np.testing.assert_allclose(secant, s[4], rtol=2e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(memory_size=0), ValueError, "memory_size"),
        (dict(memory_size=2.5), TypeError, "memory_size"),
        (dict(scale_init_precond=1), TypeError, "scale_init_precond"),
    ],
)
def test_bad_hyperparameters_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        gdt.scale_by_lbfgs(**kwargs)
    if "scale_init_precond" not in kwargs:
        with pytest.raises(error, match=match):
            gdt.lbfgs(**kwargs)


def test_bad_calls_are_explained():
    tx = gdt.scale_by_lbfgs()
    params = {"w": jnp.ones(3)}
    state = tx.init(params)
    with pytest.raises(ValueError, match="params"):
        tx.update(params, state)
    with pytest.raises(ValueError, match=r"\['w'\]"):
        tx.update({"w": jnp.ones(4)}, state, params)
    with pytest.raises(TypeError, match="ScaleByLBFGSState"):
        tx.update(params, gdt.adam(0.1).init(params), params)
    with pytest.raises(TypeError, match="params"):
        tx.init({"w": jnp.ones(3, jnp.int32)})
    opt = gdt.lbfgs()
    with pytest.raises(TypeError, match="`value_fn`"):
        opt.update(params, opt.init(params), params, value=1.0, grad=params)


def test_flat_path_gives_the_same_directions():
    params = {"a": jnp.arange(3.0), "b": jnp.ones((2, 2))}
    grads = [jax.tree.map(lambda p, k=k: jnp.sin(p + k), params) for k in range(4)]
    flat = gdt.flatten_params(params)
    tx = gdt.scale_by_lbfgs(memory_size=2)
    p_tree, s_tree, p_flat, s_flat = params, tx.init(params), flat, tx.init(flat)
    for g in grads:
        u_tree, s_tree = tx.update(g, s_tree, p_tree)
        g_flat = flat.layout.pack(jax.tree.leaves(g))
        u_flat, s_flat = tx.update(g_flat, s_flat, p_flat)
        p_tree = gdt.apply_updates(p_tree, jax.tree.map(lambda u: -0.1 * u, u_tree))
        p_flat = gdt.apply_updates(p_flat, jax.tree.map(lambda u: -0.1 * u, u_flat))
        for x, y in zip(jax.tree.leaves(u_flat.unflatten()), jax.tree.leaves(u_tree)):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and bool(jnp.array_equal(x, y)), (x, y)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_lbfgs_bit_identical_under_inject_hyperparams(jit):
    loss, x0 = least_squares()
    steps = 6 if jit else 3
    plain = run_optimizer(gdt, gdt.lbfgs(memory_size=4), loss, x0, steps, jit=jit)
    injected = run_optimizer(gdt, gdt.inject_hyperparams(gdt.lbfgs)(memory_size=4), loss, x0, steps, jit=jit)
    _identical([h[:2] for h in plain], [h[:2] for h in injected])
    _identical([h[2] for h in plain], [h[2].inner_state for h in injected])


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=10, curv_rtol=0.5)),
        (gdt.scale_by_backtracking_linesearch, dict(max_backtracking_steps=10, decrease_factor=0.5, store_grad=True)),
    ],
    ids=["zoom", "backtracking"],
)
def test_line_searches_bit_identical_under_inject_hyperparams(factory, kwargs):
    loss, x0 = least_squares()
    plain = run_optimizer(gdt, gdt.chain(gdt.sgd(1.0), factory(**kwargs)), loss, x0, 3, jit=True)
    chain = gdt.chain(gdt.sgd(1.0), gdt.inject_hyperparams(factory)(**kwargs))
    injected = run_optimizer(gdt, chain, loss, x0, 3, jit=True)
    _identical([h[:2] for h in plain], [h[:2] for h in injected])
