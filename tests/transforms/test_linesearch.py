"""The zoom and backtracking line searches: hand-derived steps, NaN/inf safety, errors."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def _one_step(opt, loss, x):
    value, grad = jax.value_and_grad(loss)(x)
    updates, state = opt.update(grad, opt.init(x), x, value=value, grad=grad, value_fn=loss)
    return updates, state


def test_backtracking_first_step_by_hand():
    """f = x^2 from 1 along -f' = -2: eta = 1 gives f = 1 > 1 - 1e-4 * 4; eta = 0.8 gives 0.36."""
    opt = gdt.chain(gdt.sgd(1.0), gdt.scale_by_backtracking_linesearch(max_backtracking_steps=5))
    updates, state = _one_step(opt, lambda x: jnp.sum(x**2), jnp.array([1.0]))
    ls = state[-1]
    np.testing.assert_allclose(updates, [-1.6], rtol=1e-6)
    np.testing.assert_allclose(ls.learning_rate, 0.8, rtol=1e-6)
    np.testing.assert_allclose(ls.value, 0.36, rtol=1e-6)
    assert int(ls.info.num_linesearch_steps) == 2 and float(ls.info.decrease_error) == 0.0
    assert ls.grad is None


def test_zoom_meets_both_wolfe_conditions_on_a_quadratic():
    """f = 2 x^2 from 1 along -f' = -4: the exact minimiser is eta = 1/4, which interpolation finds."""
    opt = gdt.chain(gdt.sgd(1.0), gdt.scale_by_zoom_linesearch(max_linesearch_steps=10, initial_guess_strategy="one"))
    loss = lambda x: jnp.sum(2.0 * x**2)
    updates, state = _one_step(opt, loss, jnp.array([1.0]))
    ls = state[-1]
    eta = float(ls.learning_rate)
    phi = lambda t: 2.0 * (1.0 - 4.0 * t) ** 2
    dphi = lambda t: -16.0 * (1.0 - 4.0 * t)
    assert phi(eta) <= phi(0) + 1e-4 * eta * dphi(0)
    assert abs(dphi(eta)) <= 0.9 * abs(dphi(0))
    np.testing.assert_allclose(eta, 0.25, rtol=1e-5)
    np.testing.assert_allclose(ls.value, loss(1.0 + updates), atol=1e-6)
    np.testing.assert_allclose(ls.grad, jax.grad(loss)(1.0 + updates), atol=1e-5)
    assert float(ls.info.decrease_error) == 0.0 and float(ls.info.curvature_error) == 0.0


def _poisoned(bad):
    """A quadratic with its minimum at 2 that is ``bad`` (NaN or inf) beyond 1.5."""

    def loss(x):
        return jnp.sum((x - 2.0) ** 2) + jnp.where(jnp.any(x > 1.5), bad, 0.0)

    return loss


def _all_finite(tree):
    """Every float leaf finite, except the line searches' diagnostic errors (inf means "not met")."""
    return all(
        bool(jnp.all(jnp.isfinite(leaf)))
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
        if jnp.issubdtype(leaf.dtype, jnp.inexact) and ".info." not in jax.tree_util.keystr(path)
    )


SEARCHES = {
    "zoom": lambda: gdt.chain(gdt.sgd(1.0), gdt.scale_by_zoom_linesearch(max_linesearch_steps=20)),
    "backtracking": lambda: gdt.chain(gdt.sgd(1.0), gdt.scale_by_backtracking_linesearch(30, store_grad=True)),
    "backtracking_no_grad": lambda: gdt.chain(gdt.sgd(1.0), gdt.scale_by_backtracking_linesearch(30)),
    "lbfgs": lambda: gdt.lbfgs(),
}


@pytest.mark.parametrize("bad", [jnp.nan, jnp.inf], ids=["nan", "inf"])
@pytest.mark.parametrize("name", sorted(SEARCHES))
def test_a_non_finite_trial_shrinks_the_step_and_never_poisons_the_state(name, bad):
    loss = _poisoned(bad)
    opt = SEARCHES[name]()
    x = jnp.array([0.0])  # the first trial, x = 4 (or 1 for lbfgs), ...
    state = opt.init(x)
    step = jax.jit(lambda x, s: _update(opt, loss, x, s))
    for _ in range(4):
        x, state = step(x, state)
        assert _all_finite(state), state
        assert float(x[0]) <= 1.5 and bool(jnp.isfinite(loss(x)))
    assert float(x[0]) > 0.5  # it made progress towards the wall at 1.5


def _update(opt, loss, x, state):
    value, grad = jax.value_and_grad(loss)(x)
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
    return gdt.apply_updates(x, updates), state


@pytest.mark.parametrize("name", ["zoom", "backtracking"])
def test_no_finite_trial_gives_a_zero_step_and_a_finite_state(name):
    x0 = jnp.array([1.0])
    loss = lambda x: jnp.where(jnp.all(x == 1.0), jnp.sum(x**2), jnp.nan)  # finite only where we stand
    opt = SEARCHES[name]()
    updates, state = _one_step(opt, loss, x0)
    assert float(updates[0]) == 0.0
    assert _all_finite(state[-1].value) and float(state[-1].value) == 1.0
    assert _all_finite(state[-1].grad)


def test_value_and_grad_from_state_reuses_and_recomputes():
    loss = lambda x: jnp.sum(x**2)
    opt = gdt.lbfgs()
    x = jnp.array([1.0, 2.0])
    state = opt.init(x)
    vg = gdt.value_and_grad_from_state(loss)
    value, grad = vg(x, state=state)  # the state holds inf: computed
    np.testing.assert_allclose(value, 5.0)
    np.testing.assert_allclose(grad, [2.0, 4.0])
    updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
    x = gdt.apply_updates(x, updates)
    value, grad = vg(jnp.array([9.0, 9.0]), state=state)  # read back, whatever the params
    np.testing.assert_allclose(value, loss(x), rtol=1e-6)
    no_grad = gdt.chain(gdt.sgd(1.0), gdt.scale_by_backtracking_linesearch(3))
    with pytest.raises(ValueError, match="store_grad"):
        vg(x, state=no_grad.init(x))


@pytest.mark.parametrize("factory", [gdt.scale_by_zoom_linesearch, gdt.scale_by_backtracking_linesearch])
def test_missing_or_unexpected_extra_arguments_are_named(factory):
    ls = factory(5)
    x = jnp.ones(2)
    state = ls.init(x)
    loss = lambda p: jnp.sum(p**2)
    full = dict(value=loss(x), grad=2 * x, value_fn=loss)
    for missing in ("value", "grad", "value_fn"):
        kwargs = {k: v for k, v in full.items() if k != missing}
        with pytest.raises(TypeError, match=f"`{missing}`"):
            ls.update(-x, state, x, **kwargs)
    with pytest.raises(TypeError, match="batch"):
        ls.update(-x, state, x, batch=3, **full)
    with pytest.raises(ValueError, match="params"):
        ls.update(-x, state, **full)


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=0), "max_linesearch_steps"),
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=5, slope_rtol=1.5), "slope_rtol"),
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=5, increase_factor=0.5), "increase_factor"),
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=5, initial_guess_strategy="two"), "initial_guess"),
        (gdt.scale_by_zoom_linesearch, dict(max_linesearch_steps=5, max_learning_rate=-1.0), "max_learning_rate"),
        (gdt.scale_by_backtracking_linesearch, dict(max_backtracking_steps=-1), "max_backtracking_steps"),
        (gdt.scale_by_backtracking_linesearch, dict(max_backtracking_steps=5, decrease_factor=1.0), "decrease_factor"),
        (gdt.scale_by_backtracking_linesearch, dict(max_backtracking_steps=5, atol=-1.0), "atol"),
    ],
)
def test_bad_hyperparameters_name_the_argument(factory, kwargs, match):
    with pytest.raises(ValueError, match=match):
        factory(**kwargs)
    with pytest.raises(TypeError, match="max_"):
        factory(2.5)
