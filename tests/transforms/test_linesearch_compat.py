"""The line searches where optax's own test suite (``_src/linesearch_test``) found differences.

Each test reproduces one of optax's tests (named in its docstring) with the
value optax gives, or states the documented difference (docs/DIFFERENCES.md,
"optax's own test suite"): the increase factor's range and meaning, a state
leaf set to a Python number, dtype stability under ``lax.cond``, the wording
of an unexpected keyword argument, and the verbose diagnosis.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from gdtransforms._transforms import _linesearch_zoom_report as report

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _square(x):
    return jnp.dot(x, x)


def _search(lib, factory, x, u, *, learning_rate=None, **kwargs):
    """One line search along ``u`` from ``x``; ``learning_rate`` overrides the state's (as a Python number)."""
    opt = getattr(lib, factory)(**kwargs)
    state = opt.init(x)
    if learning_rate is not None:
        state = lib.tree.set(state, learning_rate=learning_rate)
    value, grad = jax.value_and_grad(_square)(x)
    return opt.update(u, state, x, value=value, grad=grad, value_fn=_square)


ZOOM = "scale_by_zoom_linesearch"
BACKTRACKING = "scale_by_backtracking_linesearch"


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (ZOOM, dict(max_linesearch_steps=30, curv_rtol=0.5)),
        (BACKTRACKING, dict(max_backtracking_steps=30)),
    ],
)
def test_a_state_learning_rate_set_to_a_python_number_is_accepted(factory, kwargs):
    """optax's ``ZoomLinesearchTest::test_failure_*`` set ``learning_rate=1.0`` with ``tree.set`` first."""
    x, u = jnp.array([-60.0, 0.0]), jnp.array([1.0, 0.0])
    ours_updates, ours = _search(gdt, factory, x, u, learning_rate=1.0, **kwargs)
    theirs_updates, theirs = _search(optax, factory, x, u, learning_rate=1.0, **kwargs)
    np.testing.assert_allclose(ours_updates, theirs_updates, rtol=1e-6)
    np.testing.assert_allclose(ours.learning_rate, theirs.learning_rate, rtol=1e-6)
    np.testing.assert_allclose(ours.value, theirs.value, rtol=1e-6)
    # Zoom: the exact minimiser along u is 60, and the curvature condition holds from 30 on.
    if factory == ZOOM:
        assert 30.0 <= float(ours.learning_rate) <= 90.0


def _run(lib, factory, steps, **kwargs):
    """``steps`` jitted steps of SGD(1) and a line search on a quadratic; the stepsizes and values."""
    opt = lib.chain(lib.sgd(1.0), getattr(lib, factory)(**kwargs))
    loss = lambda x: jnp.sum(jnp.array([1.0, 10.0]) * (x - 1.0) ** 2)

    @jax.jit
    def step(x, state):
        value, grad = jax.value_and_grad(loss)(x)
        updates, state = opt.update(grad, state, x, value=value, grad=grad, value_fn=loss)
        return lib.apply_updates(x, updates), state

    x, state, out = jnp.array([3.0, -2.0]), opt.init(jnp.zeros(2)), []
    for _ in range(steps):
        x, state = step(x, state)
        out.append((x, state[-1].learning_rate, state[-1].value))
    return out


@pytest.mark.parametrize(
    "factory, kwargs",
    [
        (BACKTRACKING, dict(max_backtracking_steps=20, increase_factor=1.0)),
        (BACKTRACKING, dict(max_backtracking_steps=20, increase_factor=math.inf, max_learning_rate=0.5)),
        (BACKTRACKING, dict(max_backtracking_steps=20, increase_factor=jnp.asarray(1.5, jnp.bfloat16))),
        (ZOOM, dict(max_linesearch_steps=15, increase_factor=1.0)),
        (
            ZOOM,
            dict(max_linesearch_steps=15, increase_factor=jnp.asarray(math.inf, jnp.bfloat16), max_learning_rate=0.5),
        ),
    ],
    ids=["bt-1", "bt-inf", "bt-bf16-array", "zoom-1", "zoom-inf-bf16-array"],
)
def test_accepted_increase_factors_compute_what_optax_computes(factory, kwargs):
    """1 keeps the last stepsize as the first guess, inf jumps to max_learning_rate; arrays of any dtype."""
    ours, theirs = _run(gdt, factory, 6, **kwargs), _run(optax, factory, 6, **kwargs)
    for t, (a, e) in enumerate(zip(ours, theirs)):
        for x, y in zip(a, e):
            assert jnp.asarray(x).dtype == jnp.asarray(y).dtype, f"step {t}"
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6, err_msg=f"step {t}")
    if "max_learning_rate" in kwargs:
        assert all(float(lr) <= 0.5 for _, lr, _ in ours)
    values = [float(v) for _, _, v in ours]
    assert all(b < a for a, b in zip(values, values[1:])), values


@pytest.mark.parametrize("factory", [ZOOM, BACKTRACKING])
def test_an_infinite_increase_factor_restarts_from_the_maximum_after_a_failed_search(factory):
    """After a failed search the state's stepsize is 0, and optax's ``inf * 0`` is NaN: it stays at 0 for good.

    Here the first guess is ``max_learning_rate`` (docs/DIFFERENCES.md).
    """
    steps = {"max_linesearch_steps": 10} if factory == ZOOM else {"max_backtracking_steps": 10}
    kwargs = dict(increase_factor=math.inf, max_learning_rate=0.25, **steps)
    if factory == ZOOM:
        kwargs["initial_guess_strategy"] = "keep"
    x, u = jnp.array([2.0, 0.0]), jnp.array([-8.0, 0.0])
    ours_updates, ours = _search(gdt, factory, x, u, learning_rate=0.0, **kwargs)
    theirs_updates, theirs = _search(optax, factory, x, u, learning_rate=0.0, **kwargs)
    # Along u from 2, the stepsize 0.25 hits the minimiser 0 exactly: both conditions hold.
    np.testing.assert_allclose(ours.learning_rate, 0.25)
    np.testing.assert_allclose(ours_updates, [-1.0 * 2.0, 0.0])
    assert float(theirs.learning_rate) == 0.0 and float(jnp.abs(theirs_updates).sum()) == 0.0


@pytest.mark.parametrize(
    "factory, kwargs, match",
    [
        (ZOOM, dict(max_linesearch_steps=5, increase_factor=0.5), r"increase_factor.*\[1.0, inf\]"),
        (ZOOM, dict(max_linesearch_steps=5, increase_factor=jnp.asarray(1e-5)), "increase_factor"),
        (ZOOM, dict(max_linesearch_steps=5, increase_factor=math.nan), "NaN"),
        (ZOOM, dict(max_linesearch_steps=5, increase_factor=math.inf), "max_learning_rate"),
        (BACKTRACKING, dict(max_backtracking_steps=5, increase_factor=0.9), r"increase_factor.*\[1.0, inf\]"),
        (BACKTRACKING, dict(max_backtracking_steps=5, increase_factor=math.nan), "NaN"),
    ],
)
def test_increase_factors_that_can_only_be_a_mistake_are_refused(factory, kwargs, match):
    """Below 1 the first guess shrinks at every step (zoom's bracketing would search downwards); NaN is
    never meant; zoom's inf without a maximum would try an infinite stepsize. optax accepts them all."""
    with pytest.raises(ValueError, match=match):
        getattr(gdt, factory)(**kwargs)


@pytest.mark.parametrize("factory", [ZOOM, BACKTRACKING])
def test_a_traced_increase_factor_is_accepted(factory):
    steps = {"max_linesearch_steps": 10} if factory == ZOOM else {"max_backtracking_steps": 10}
    x, u = jnp.array([2.0, 0.0]), jnp.array([-4.0, 0.0])

    @jax.jit
    def stepsize(factor):
        _, state = _search(gdt, factory, x, u, increase_factor=factor, max_learning_rate=0.25, **steps)
        return state.learning_rate

    np.testing.assert_allclose(stepsize(jnp.asarray(2.0)), 0.25)


# optax's test_dtype_stability, with an increase factor in range: hyperparameters and the value in one
# dtype, params in another, and the update inside lax.cond (whose branches must agree on dtypes).
DTYPE_PAIRS = [(jnp.bfloat16, jnp.float16), (jnp.float16, jnp.bfloat16), (jnp.float32, jnp.bfloat16)]
HYPER = {
    ZOOM: ("tol", "slope_rtol", "curv_rtol", "approx_dec_rtol", "stepsize_precision"),
    BACKTRACKING: ("slope_rtol", "decrease_factor", "max_learning_rate", "atol", "rtol"),
}


@pytest.mark.parametrize("dtype, confuse", DTYPE_PAIRS, ids=lambda d: jnp.dtype(d).name)
@pytest.mark.parametrize("factory", [ZOOM, BACKTRACKING])
def test_state_dtypes_are_stable_inside_cond(factory, dtype, confuse):
    kwargs = {k: jnp.asarray(1e-5, confuse) for k in HYPER[factory]}
    kwargs["increase_factor"] = jnp.asarray(1.5, confuse)
    steps = {"max_linesearch_steps": 5} if factory == ZOOM else {"max_backtracking_steps": 5}
    opt = getattr(gdt, factory)(**steps, **kwargs)
    x = jnp.array([1.0, 2.0], dtype)
    state = opt.init(x)
    value_fn = lambda p: jnp.sum(p**2).astype(confuse)

    @jax.jit
    def step(take):
        return jax.lax.cond(
            take, lambda: opt.update(x, state, x, value=1.0, grad=x, value_fn=value_fn)[1], lambda: state
        )

    new = step(jnp.asarray(True))
    assert [a.dtype for a in jax.tree.leaves(new)] == [a.dtype for a in jax.tree.leaves(state)]


@pytest.mark.parametrize("factory", [ZOOM, BACKTRACKING])
def test_an_unexpected_keyword_argument_has_optax_wording_and_is_named(factory):
    """optax's ``test_linesearch_raises_on_unused_extra_args``, ``test_zoom_linesearch_raises_on_unused_extra_args``."""
    opt = getattr(gdt, factory)(5)
    params = jnp.array([1.0, 2.0])
    value_fn = lambda p, batch: jnp.sum(p * batch)
    with pytest.raises(TypeError, match=r"Unexpected keyword arguments \['unused_arg'\].*value_fn"):
        opt.update(
            -params, opt.init(params), params, value=3.0, grad=params, value_fn=value_fn, batch=params, unused_arg=42
        )


def _verbose_zoom(capsys, x, u, **kwargs):
    _, state = _search(gdt, ZOOM, x, u, learning_rate=1.0, verbose=True, **kwargs)
    jax.effects_barrier()
    return state, capsys.readouterr().out


def test_verbose_zoom_names_a_direction_that_does_not_descend(capsys):
    """optax's ``test_failure_descent_direction``: no step, and the two FLAG sentences."""
    state, out = _verbose_zoom(
        capsys, jnp.array([60.0, 0.0]), jnp.array([1.0, 0.0]), max_linesearch_steps=18, curv_rtol=0.5
    )
    assert float(state.learning_rate) < 1e-5
    assert report.FLAG_NOT_A_DESCENT_DIRECTION in out and report.FLAG_NO_STEPSIZE_FOUND in out
    assert "slope at 0: 120.0" in out


def test_verbose_zoom_names_a_too_small_max_learning_rate(capsys):
    """optax's ``test_failure_too_small_max_stepsize``: the step is the maximum, 10 (the first acceptable is 30)."""
    state, out = _verbose_zoom(
        capsys,
        jnp.array([-60.0, 0.0]),
        jnp.array([1.0, 0.0]),
        max_linesearch_steps=10,
        curv_rtol=0.5,
        max_learning_rate=10.0,
    )
    assert float(state.learning_rate) == 10.0
    assert report.FLAG_INTERVAL_NOT_FOUND in out and report.FLAG_CURVATURE_COND_NOT_SATISFIED in out
    assert report.FLAG_NOT_A_DESCENT_DIRECTION not in out


def test_verbose_zoom_names_an_interval_that_vanished(capsys):
    """optax's ``test_failure_flat_fun``: ``exp(-1/x^2)`` is flat to float32 near 0."""
    fun_flat = lambda x: jnp.exp(-1 / x**2)
    w = jnp.asarray(-0.2)
    u = -jax.grad(fun_flat)(w)
    opt = gdt.scale_by_zoom_linesearch(max_linesearch_steps=30, verbose=True)
    state = gdt.tree.set(opt.init(w), learning_rate=1.0)
    value, grad = jax.value_and_grad(fun_flat)(w)
    opt.update(u, state, w, value=value, grad=grad, value_fn=fun_flat)
    jax.effects_barrier()
    assert report.FLAG_INTERVAL_TOO_SMALL in capsys.readouterr().out


def test_flag_sentences_are_optax_s():
    from optax._src import linesearch as optax_linesearch

    for name in report.__all__:
        if name.startswith("FLAG_"):
            assert getattr(report, name) == getattr(optax_linesearch, name), name
