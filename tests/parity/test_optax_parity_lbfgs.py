"""L-BFGS, the line searches and the linear-algebra helpers against optax.

The optimizers run 50 iterations (eager and jitted) on three problems
(Rosenbrock, a logistic regression on a dict of params, a least-squares
problem); params, value and the whole state (memory, line-search state and
its info counters) agree with optax's at every step. The cheaper variants
(other memory sizes, backtracking, SGD with a line search) run 15 steps.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._lbfgs_problems import PROBLEMS, least_squares, run_optimizer
from tests._parity import assert_leaf_agrees
from tests._trees import assert_trees_close, gradient_sequence, nested_params

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _assert_histories(ours, theirs, name):
    scales = {}
    for t, (a, e) in enumerate(zip(ours, theirs, strict=True)):
        a_leaves, e_leaves = jax.tree.leaves(a), jax.tree.leaves(e)
        assert len(a_leaves) == len(e_leaves), f"{name}, step {t}: {len(a_leaves)} vs {len(e_leaves)} leaves"
        for i, (x, y) in enumerate(zip(a_leaves, e_leaves)):
            # Tolerances relative to each leaf's largest magnitude so far: a gradient that
            # has shrunk by cancellation keeps the absolute rounding of its larger past.
            magnitude = assert_leaf_agrees(x, y, where=f"{name}, step {t}, leaf {i}", scale=scales.get(i, 0.0))
            scales[i] = max(scales.get(i, 0.0), magnitude)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_lbfgs_iterates_match_optax_for_50_iterations(problem):
    loss, x0 = PROBLEMS[problem]()
    ours = run_optimizer(gdt, gdt.lbfgs(), loss, x0, 50, jit=True, level0=True)
    theirs = run_optimizer(optax, optax.lbfgs(), loss, x0, 50, jit=True, level0=True)
    _assert_histories(ours, theirs, f"lbfgs on {problem}")
    # Not trivially equal: the value fell.
    assert float(ours[-1][1]) < 0.5 * float(ours[0][1])


def test_eager_iterates_are_the_jitted_ones_for_50_iterations():
    """Eagerly (no jit around the step) the 50 iterates are the jitted ones, hence optax's.

    optax's own eager step retraces its loops at every call (seconds per step), so it is
    compared eagerly over 3 steps below. Compiled alone or inside the jitted step, XLA fuses
    differently: the last bits of a line-search stepsize differ, so params and values are
    compared to 1e-4.
    """
    loss, x0 = least_squares()
    eager = run_optimizer(gdt, gdt.lbfgs(), loss, x0, 50, jit=False)
    jitted = run_optimizer(gdt, gdt.lbfgs(), loss, x0, 50, jit=True)
    for t, (a, e) in enumerate(zip(eager, jitted)):
        assert_trees_close(a[:2], e[:2], rtol=1e-4, atol=1e-5, msg=f"eager lbfgs, step {t}")


def test_eager_steps_match_optax_eager_steps():
    loss, x0 = PROBLEMS["rosenbrock"]()
    ours = run_optimizer(gdt, gdt.lbfgs(), loss, x0, 3, jit=False)
    theirs = run_optimizer(optax, optax.lbfgs(), loss, x0, 3, jit=False)
    _assert_histories(ours, theirs, "eager lbfgs on rosenbrock")


VARIANTS = {
    "memory_3_unscaled": lambda m: m.lbfgs(memory_size=3, scale_init_precond=False),
    "backtracking": lambda m: m.lbfgs(
        linesearch=m.scale_by_backtracking_linesearch(max_backtracking_steps=20, store_grad=True)
    ),
    "zoom_options": lambda m: m.lbfgs(
        linesearch=m.scale_by_zoom_linesearch(
            max_linesearch_steps=8, max_learning_rate=0.5, curv_rtol=0.5, approx_dec_rtol=None
        )
    ),
    "sgd_zoom_keep": lambda m: m.chain(m.sgd(1.0), m.scale_by_zoom_linesearch(max_linesearch_steps=15)),
    "sgd_backtracking": lambda m: m.chain(
        m.sgd(1.0), m.scale_by_backtracking_linesearch(max_backtracking_steps=15, store_grad=True)
    ),
}
# Without a stored gradient: the loop computes value and gradient itself.
PLAIN_VARIANTS = {
    "fixed_rate_no_linesearch": lambda m: m.lbfgs(learning_rate=0.02, linesearch=None),
    "sgd_backtracking_no_grad": lambda m: m.chain(m.sgd(1.0), m.scale_by_backtracking_linesearch(15)),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variants_match_optax(variant, jit=True):
    loss, x0 = least_squares()
    ours = run_optimizer(gdt, VARIANTS[variant](gdt), loss, x0, 15, jit=jit, level0=True)
    theirs = run_optimizer(optax, VARIANTS[variant](optax), loss, x0, 15, jit=jit, level0=True)
    _assert_histories(ours, theirs, variant)


@pytest.mark.parametrize("variant", sorted(PLAIN_VARIANTS))
def test_variants_without_stored_values_match_optax(variant):
    loss, x0 = least_squares()
    histories = {}
    for m in (gdt, optax):
        opt = PLAIN_VARIANTS[variant](m)
        step = jax.jit(lambda x, s, opt=opt, m=m: _plain_step(m, opt, loss, x, s))
        x, state, hist = x0, opt.init(x0), []
        for _ in range(15):
            x, state = step(x, state)
            hist.append((x, state))
        histories[m] = hist
    _assert_histories(histories[gdt], histories[optax], variant)


def _plain_step(module, opt, loss, x, state):
    value, grad = jax.value_and_grad(loss)(x)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
    return module.apply_updates(x, updates), state


def test_scale_by_lbfgs_on_the_nested_tree_matches_optax():
    """The transformation alone, fed the same params and gradients (dict/list/tuple, a bfloat16 leaf)."""
    params0 = nested_params()
    grads = gradient_sequence(params0, 20)
    params = [
        jax.tree.map(lambda p, d: (p + 0.1 * d).astype(p.dtype), params0, g)
        for g in gradient_sequence(params0, 20, seed=2)
    ]
    histories = {}
    for m in (gdt, optax):
        tx = m.scale_by_lbfgs(memory_size=4)
        update = jax.jit(tx.update)
        s, hist = tx.init(params0), []
        for p, g in zip(params, grads):
            u, s = update(g, s, p)
            hist.append((u, s))
        histories[m] = hist
    for t, (a, e) in enumerate(zip(histories[gdt], histories[optax])):
        # optax promotes the bfloat16 leaf's update to float32; ours stays bfloat16.
        assert_trees_close(a, e, check_dtypes=False, rtol=2e-5, atol=1e-5, msg=f"scale_by_lbfgs step {t}")


def test_state_classes_have_optax_fields():
    pairs = [
        (gdt.ScaleByLBFGSState, optax.ScaleByLBFGSState),
        (gdt.ScaleByZoomLinesearchState, optax.ScaleByZoomLinesearchState),
        (gdt.ZoomLinesearchInfo, optax.ZoomLinesearchInfo),
        (gdt.ScaleByBacktrackingLinesearchState, optax.ScaleByBacktrackingLinesearchState),
    ]
    for ours, theirs in pairs:
        assert ours._fields == theirs._fields, ours.__name__


# -- Linear algebra ----------------------------------------------------------------

SPD = np.asarray(np.random.default_rng(3).normal(size=(5, 5)), np.float32)
SPD = SPD @ SPD.T + 0.5 * np.eye(5, dtype=np.float32)


def test_power_iteration_matches_optax_and_numpy():
    eig, vec = gdt.power_iteration(jnp.asarray(SPD), num_iters=500)
    eig_o, vec_o = optax.power_iteration(jnp.asarray(SPD), num_iters=500)
    np.testing.assert_allclose(eig, eig_o, rtol=1e-6)
    np.testing.assert_allclose(vec, vec_o, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eig, np.linalg.eigvalsh(SPD.astype(np.float64))[-1], rtol=1e-5)
    # A matrix-free product on a tree.
    v0 = {"a": jnp.ones(2), "b": jnp.ones(3)}
    mvp = lambda t: {"a": 2.0 * t["a"], "b": jnp.array([1.0, 5.0, 3.0]) * t["b"]}
    eig_t, vec_t = gdt.power_iteration(mvp, v0=v0, num_iters=200)
    np.testing.assert_allclose(eig_t, 5.0, rtol=1e-5)
    np.testing.assert_allclose(jnp.abs(vec_t["b"][1]), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="v0"):
        gdt.power_iteration(mvp)


@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_matrix_inverse_pth_root_matches_optax(p):
    ours, err = gdt.matrix_inverse_pth_root(jnp.asarray(SPD), p)
    theirs, err_o = optax.matrix_inverse_pth_root(jnp.asarray(SPD), p)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(err, err_o, rtol=1e-4, atol=1e-7)
    w, q = np.linalg.eigh(SPD.astype(np.float64))
    exact = (q * w ** (-1.0 / p)) @ q.T
    np.testing.assert_allclose(ours, exact, rtol=2e-3, atol=2e-4)


def test_nnls_matches_optax_and_the_active_set_solution():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=(12, 2)).astype(np.float32)
    ours = gdt.nnls(jnp.asarray(a), jnp.asarray(b), 500)
    np.testing.assert_allclose(ours, optax.nnls(jnp.asarray(a), jnp.asarray(b), 500), rtol=1e-5, atol=1e-6)
    import scipy.optimize

    for k in range(2):
        np.testing.assert_allclose(ours[:, k], scipy.optimize.nnls(a, b[:, k])[0], atol=1e-4)
    with pytest.raises(ValueError, match="`b`"):
        gdt.nnls(jnp.asarray(a), jnp.ones(3), 10)


def test_multi_normal_matches_optax():
    loc, log_scale = jnp.array([0.5, -1.0]), jnp.array([0.1, -0.3])
    ours, theirs = gdt.multi_normal(loc, log_scale), optax.multi_normal(loc, log_scale)
    key = jax.random.PRNGKey(1)
    with jax.numpy_rank_promotion("allow"):  # optax broadcasts (4, 2) against (2,)
        expected = theirs.sample((4,), key)
    np.testing.assert_array_equal(ours.sample((4,), key), expected)
    for x in (jnp.array([0.0, 0.0]), jnp.array([1.0, -2.0])):
        np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(x), rtol=1e-6)
    assert [p.tolist() for p in ours.params] == [p.tolist() for p in theirs.params]
