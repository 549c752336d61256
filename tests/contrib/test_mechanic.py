"""Mechanic: the first step by hand; works on trees mixing bfloat16 and float32."""

import jax
import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt
from tests._trees import gradient_sequence, nested_params
from tests.contrib._helpers import G1, close


def test_first_step_is_s_init_times_the_base_step_from_zero():
    opt = gdt.contrib.mechanize(gdt.sgd(1.0), s_init=1e-4)
    params = jnp.zeros(3)
    u, state = opt.update(G1, opt.init(params), params)
    close(u, -1e-4 * G1, rtol=1e-5)
    close(state.s, jnp.full(6, 1e-4 / 6), rtol=1e-6)  # h = 0: m = eps, v = 0


def test_value_reaches_the_base_optimizer():
    seen = []

    def update(u, s, p=None, **extra):
        seen.append(extra)
        return u, s

    opt = gdt.contrib.mechanize(gdt.GradientTransformation(lambda p: (), update))
    opt.update(G1, opt.init(G1), G1, value=1.5)
    assert seen == [{"value": 1.5}]


def test_mixed_precision_tree_runs_where_optax_fails():
    params = nested_params()
    grads = gradient_sequence(params, 3)
    opt = gdt.contrib.mechanize(gdt.adam(0.01))
    state = opt.init(params)
    step = jax.jit(opt.update)
    for g in grads:
        u, state = step(g, state, params)
        params = gdt.apply_updates(params, u)
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves(params))
    assert state.s.dtype == jnp.float32
    theirs = optax.contrib.mechanize(optax.adam(0.01))
    with pytest.raises(TypeError, match="clamp"):
        theirs.update(grads[0], theirs.init(nested_params()), nested_params())
