"""Numerical edge cases: long runs of zero gradients, float16, denormals.

Each is a place where a plain implementation (optax 0.2.8 included) turns
finite inputs into NaN or inf; docs/DIFFERENCES.md lists why gdtransforms
differs.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

F32, BF16, F16 = jnp.float32, jnp.bfloat16, jnp.float16


def mixed_params() -> dict:
    """One leaf per float dtype, with a scalar; all run in one compiled scan."""
    return {
        "f32": jnp.array([0.5, -1.0, 2.0], F32),
        "bf16": jnp.array([0.5, -1.0, 2.0], BF16),
        "f16": jnp.array([0.5, -1.0, 2.0], F16),
        "scalar": jnp.array(0.25, F32),
    }


def all_finite(tree) -> bool:
    return all(bool(jnp.all(jnp.isfinite(x.astype(F32)))) for x in jax.tree.leaves(tree))


# -- Zero gradients for 1,000 steps ---------------------------------------------------

ZERO_GRAD = {
    "adagrad": lambda: gdt.adagrad(0.1),
    "adagrad_zero_accumulator_no_eps": lambda: gdt.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0),
    "rmsprop": lambda: gdt.rmsprop(0.01),
    "rmsprop_centered_momentum": lambda: gdt.rmsprop(0.01, centered=True, momentum=0.9),
    "rmsprop_eps_outside_corrected": lambda: gdt.rmsprop(0.01, eps_in_sqrt=False, bias_correction=True),
    "adam": lambda: gdt.adam(0.01),
    "adam_eps_root_only": lambda: gdt.adam(0.01, eps=0.0, eps_root=1e-8),
    "adam_f32_state": lambda: gdt.adam(0.01, mu_dtype=F32, nu_dtype=F32),
    "amsgrad": lambda: gdt.amsgrad(0.01),
    "adamax": lambda: gdt.adamax(0.01),
}


@functools.partial(jax.jit, static_argnames=("tx", "steps", "burst"))
def run_scan(tx, params, steps: int, burst: int):
    """``burst`` steps of unit-scale gradients, then zero gradients, in one scan."""
    key = jax.random.PRNGKey(0)

    def step(carry, t):
        params, state = carry
        noise = jax.tree.map(lambda p: jax.random.normal(jax.random.fold_in(key, t), p.shape).astype(p.dtype), params)
        grads = jax.tree.map(lambda n: jnp.where(t < burst, n, jnp.zeros_like(n)), noise)
        updates, state = tx.update(grads, state, params)
        return (gdt.apply_updates(params, updates), state), updates

    (params, state), updates = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(steps))
    return params, state, updates


@pytest.mark.parametrize("name", sorted(ZERO_GRAD))
def test_zero_gradients_for_1000_steps_stay_finite_and_still(name):
    params = mixed_params()
    final, state, updates = run_scan(ZERO_GRAD[name](), params, steps=1000, burst=0)
    assert all_finite(final) and all_finite(state) and all_finite(updates)
    # A zero gradient moves nothing: every update is exactly 0, in every dtype
    # (optax gives NaN for float16 here: issues #1754 and #1784).
    for u in jax.tree.leaves(updates):
        assert not np.any(np.asarray(u, np.float32)), name
    for p, p0 in zip(jax.tree.leaves(final), jax.tree.leaves(params)):
        assert p.dtype == p0.dtype
        np.testing.assert_array_equal(np.asarray(p, np.float32), np.asarray(p0, np.float32))


@pytest.mark.parametrize("name", ["adagrad", "rmsprop_centered_momentum", "adam", "adamax"])
def test_zero_gradients_after_a_burst_stay_finite(name):
    """The moments decay towards (and below) the smallest normal: still finite."""
    final, state, updates = run_scan(ZERO_GRAD[name](), mixed_params(), steps=1000, burst=5)
    assert all_finite(final) and all_finite(state) and all_finite(updates)
    # The last updates have decayed with the moments.
    assert all(float(jnp.max(jnp.abs(u[-1].astype(F32)))) < 1e-3 for u in jax.tree.leaves(updates))


# -- float16 ---------------------------------------------------------------------------

F16_ZERO_DENOMINATOR = {
    "scale_by_adam": lambda m: m.scale_by_adam(),
    "scale_by_amsgrad": lambda m: m.scale_by_amsgrad(),
    "scale_by_adamax": lambda m: m.scale_by_adamax(),
    "scale_by_rms": lambda m: m.scale_by_rms(),
    "scale_by_rms_eps_outside": lambda m: m.scale_by_rms(eps_in_sqrt=False),
    "scale_by_stddev": lambda m: m.scale_by_stddev(bias_correction=True),
}


@pytest.mark.parametrize("name", sorted(F16_ZERO_DENOMINATOR))
def test_float16_zero_gradient_gives_zero_not_nan(name):
    """Regression: eps = 1e-8 is 0 in float16, so sqrt(0) + eps = 0 and 0 / 0.

    optax 0.2.8 returns NaN here (issues #1754, #1784; Adamax: PR #1768);
    gdtransforms computes these denominators in float32.
    """
    grads = jnp.zeros(4, F16)
    ours = F16_ZERO_DENOMINATOR[name](gdt)
    updates, _ = ours.update(grads, ours.init(grads), grads)
    assert updates.dtype == F16
    np.testing.assert_array_equal(np.asarray(updates, np.float32), 0.0)


def run_eager(tx, params, grads_seq, module):
    state = tx.init(params)
    for g in grads_seq:
        updates, state = tx.update(g, state, params)
        params = module.apply_updates(params, updates)
    return params, updates


F16_WIDE_STATE = {
    # (factory of module, gradient of every step). Momentum sums g / (1 - decay)
    # = 3e5, past float16's 65504, while the float32 accumulator holds it.
    "sgd_momentum_f32_accumulator": (lambda m: m.sgd(1e-4, momentum=0.99, accumulator_dtype=F32), 3000.0),
    "sgd_nesterov_f32_accumulator": (
        lambda m: m.sgd(1e-4, momentum=0.99, nesterov=True, accumulator_dtype=F32),
        3000.0,
    ),
    "ema_momentum_f32": (lambda m: m.chain(m.ema(0.99, accumulator_dtype=F32), m.scale(-1e-3)), 6e4),
    # (1 - b2) g^2 = 1e-8 is 0 in float16, so Adam's update is mu / eps =
    # 8.4e4 (eps = 2**-23, a float16 subnormal, so both libraries use the same
    # eps): fine in optax's float32, inf if cast to float16 before the rate.
    "adam_f32_mu": (lambda m: m.adam(1e-4, b2=0.9999, eps=2.0**-23, mu_dtype=F32), 1e-2),
    "nadam_f32_mu": (lambda m: m.nadam(1e-4, b2=0.9999, eps=2.0**-23, mu_dtype=F32), 1e-2),
    "amsgrad_f32_mu": (lambda m: m.amsgrad(1e-4, b2=0.9999, eps=2.0**-23, mu_dtype=F32), 1e-2),
    "lion_f32_mu": (lambda m: m.lion(1e-3, mu_dtype=F32), 6e4),
}


@pytest.mark.parametrize("name", sorted(F16_WIDE_STATE))
def test_float16_params_with_float32_state_do_not_overflow_where_optax_does_not(name):
    make, g = F16_WIDE_STATE[name]
    params = {"w": jnp.array([1.0, -1.0, 0.5], F16)}
    grads_seq = [{"w": jnp.full(3, g, F16)}] * 30
    theirs, theirs_u = run_eager(make(optax), params, grads_seq, optax)
    ours, ours_u = run_eager(make(gdt), params, grads_seq, gdt)
    assert all_finite(theirs), "the scenario must be one optax survives"
    assert all_finite(ours) and all_finite(ours_u)
    assert ours["w"].dtype == F16
    # float16 updates come back in the state's dtype, as optax's do.
    assert ours_u["w"].dtype == theirs_u["w"].dtype
    np.testing.assert_allclose(np.asarray(ours["w"], np.float32), np.asarray(theirs["w"], np.float32), rtol=1e-2)


def test_float32_nu_keeps_adam_sane_where_float16_nu_underflows():
    """gdtransforms' nu_dtype squares in float32: the step is about lr, not lr * mu / eps."""
    params = {"w": jnp.ones(3, F16)}
    grads_seq = [{"w": jnp.full(3, 2e-4, F16)}] * 5
    tx = gdt.adam(1e-2, mu_dtype=F32, nu_dtype=F32)
    final, updates = run_eager(tx, params, grads_seq, gdt)
    np.testing.assert_allclose(np.asarray(updates["w"], np.float32), -1e-2, rtol=2e-2)
    np.testing.assert_allclose(np.asarray(final["w"], np.float32), 1 - 5e-2, rtol=1e-2)


# -- Denormals ---------------------------------------------------------------------------

DENORMAL_TXS = {
    "sgd_momentum": lambda: gdt.sgd(0.1, momentum=0.9, nesterov=True),
    "ema_momentum": lambda: gdt.ema_momentum(0.1, debias=True),
    "adagrad": lambda: gdt.adagrad(0.1, initial_accumulator_value=0.0, eps=0.0),
    "rmsprop": lambda: gdt.rmsprop(0.1),
    "rmsprop_centered": lambda: gdt.rmsprop(0.1, centered=True, eps_in_sqrt=False),
    "adam": lambda: gdt.adam(0.1),
    "adamw": lambda: gdt.adamw(0.1, weight_decay=0.1),
    "nadam": lambda: gdt.nadam(0.1),
    "amsgrad": lambda: gdt.amsgrad(0.1),
    "adamax": lambda: gdt.adamax(0.1),
    "lion": lambda: gdt.lion(0.1),
    "lamb": lambda: gdt.lamb(0.1, weight_decay=0.1),
    "clip_by_global_norm": lambda: gdt.chain(gdt.clip_by_global_norm(1e-30), gdt.sgd(0.1)),
    "trust_ratio": lambda: gdt.chain(gdt.scale_by_trust_ratio(), gdt.sgd(0.1)),
}


def denormals(dtype) -> jax.Array:
    tiny = jnp.finfo(dtype).smallest_subnormal
    return jnp.array([tiny, -tiny, 4 * tiny, 0.0, -0.0], dtype)


@pytest.mark.parametrize("name", sorted(DENORMAL_TXS))
def test_denormal_gradients_and_params_do_not_produce_nan(name):
    params = {str(jnp.dtype(d)): denormals(d) for d in (F32, BF16, F16)}
    tx = DENORMAL_TXS[name]()
    state = tx.init(params)
    for sign in (1, -1, 1):
        grads = jax.tree.map(lambda p: sign * p, params)
        updates, state = tx.update(grads, state, params)
        params = gdt.apply_updates(params, updates)
        assert all_finite(updates) and all_finite(state) and all_finite(params), name
