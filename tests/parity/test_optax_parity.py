"""Every primitive and alias that optax also has, against optax, for 20 steps.

One table: (id, gdtransforms factory, optax factory). Each case runs eagerly and
jitted on a nested tree (dict/list/tuple, float32 leaves, one bfloat16 leaf, one
scalar leaf); updates, state and params agree leaf by leaf at every step.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, jit_level0, nested_params

STEPS = 20
PARAMS = nested_params()
GRADS = gradient_sequence(PARAMS, STEPS)
MATRIX_MASK = jax.tree.map(lambda p: p.ndim > 1, PARAMS)


def schedule(count):
    return 0.1 / (1.0 + 0.5 * count)


# (id, factory) pairs: each factory takes the library module and returns a transformation.
CASES = {
    # Base.
    "identity": lambda m: m.identity(),
    "set_to_zero": lambda m: m.set_to_zero(),
    # Scaling.
    "scale": lambda m: m.scale(-0.5),
    "scale_by_learning_rate": lambda m: m.scale_by_learning_rate(0.1),
    "scale_by_learning_rate_schedule": lambda m: m.scale_by_learning_rate(schedule),
    "scale_by_learning_rate_no_flip": lambda m: m.scale_by_learning_rate(0.1, flip_sign=False),
    "scale_by_schedule": lambda m: m.scale_by_schedule(schedule),
    # Momentum.
    "trace": lambda m: m.trace(decay=0.9),
    "trace_nesterov": lambda m: m.trace(decay=0.9, nesterov=True),
    "ema": lambda m: m.ema(decay=0.9),
    "ema_no_debias": lambda m: m.ema(decay=0.98, debias=False),
    # Adaptive.
    "scale_by_rss": lambda m: m.scale_by_rss(),
    "scale_by_rms": lambda m: m.scale_by_rms(),
    "scale_by_rms_corrected": lambda m: m.scale_by_rms(
        decay=0.99, initial_scale=0.1, eps_in_sqrt=False, bias_correction=True
    ),
    "scale_by_stddev": lambda m: m.scale_by_stddev(),
    "scale_by_stddev_corrected": lambda m: m.scale_by_stddev(eps=0.1, bias_correction=True),
    "scale_by_adam": lambda m: m.scale_by_adam(),
    "scale_by_adam_nesterov": lambda m: m.scale_by_adam(b1=0.8, eps_root=1e-8, nesterov=True),
    "scale_by_amsgrad": lambda m: m.scale_by_amsgrad(),
    "scale_by_amsgrad_paper": lambda m: m.scale_by_amsgrad(bias_correction_mu=False, bias_correction_nu=False),
    "scale_by_adamax": lambda m: m.scale_by_adamax(),
    "scale_by_lion": lambda m: m.scale_by_lion(),
    "scale_by_trust_ratio": lambda m: m.scale_by_trust_ratio(min_norm=0.01, eps=1e-6),
    # Regularisation and clipping.
    "add_decayed_weights": lambda m: m.add_decayed_weights(0.1),
    "add_decayed_weights_masked": lambda m: m.add_decayed_weights(0.1, MATRIX_MASK),
    "add_decayed_weights_mask_fn": lambda m: m.add_decayed_weights(
        0.1, lambda p: jax.tree.map(lambda x: x.ndim > 1, p)
    ),
    "add_decayed_weights_schedule": lambda m: m.add_decayed_weights(schedule),
    "clip": lambda m: m.clip(0.5),
    "clip_by_global_norm": lambda m: m.clip_by_global_norm(1.0),
    # Aliases.
    "sgd": lambda m: m.sgd(0.05),
    "sgd_momentum": lambda m: m.sgd(0.05, momentum=0.9),
    "sgd_nesterov": lambda m: m.sgd(0.05, momentum=0.9, nesterov=True),
    "sgd_schedule": lambda m: m.sgd(schedule, momentum=0.5),
    "adagrad": lambda m: m.adagrad(0.1),
    "rmsprop": lambda m: m.rmsprop(0.01),
    "rmsprop_centered_nesterov": lambda m: m.rmsprop(0.01, centered=True, momentum=0.9, nesterov=True),
    "rmsprop_corrected": lambda m: m.rmsprop(0.01, bias_correction=True, eps_in_sqrt=False),
    "adam": lambda m: m.adam(0.01),
    "adam_schedule": lambda m: m.adam(schedule, b2=0.99, eps_root=1e-8),
    "adamw": lambda m: m.adamw(0.01, weight_decay=0.1),
    "adamw_masked": lambda m: m.adamw(0.01, weight_decay=0.1, mask=MATRIX_MASK),
    "nadam": lambda m: m.nadam(0.01),
    "nadamw": lambda m: m.nadamw(0.01, weight_decay=0.05),
    "amsgrad": lambda m: m.amsgrad(0.01),
    "adamax": lambda m: m.adamax(0.01),
    "adamaxw": lambda m: m.adamaxw(0.01, weight_decay=0.1),
    "lion": lambda m: m.lion(0.001),
    "lamb": lambda m: m.lamb(0.01, weight_decay=0.01),
}


def run(tx, *, jit: bool):
    """Runs ``STEPS`` updates; returns the (updates, state, params) of every step."""

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return gdt.apply_updates(params, updates), state, updates

    step = jit_level0(step) if jit else step  # both libraries alike
    params, state = PARAMS, tx.init(PARAMS)
    history = []
    for grads in GRADS:
        params, state, updates = step(params, state, grads)
        history.append((updates, state, params))
    return history


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_optax(case, jit):
    ours = run(CASES[case](gdt), jit=jit)
    theirs = run(CASES[case](optax), jit=jit)
    for t, (a, e) in enumerate(zip(ours, theirs)):
        assert_trees_close(a, e, msg=f"{case}, step {t}")


def test_state_field_names_match_optax():
    pairs = [
        (gdt.ScaleByAdamState, optax.ScaleByAdamState),
        (gdt.ScaleByAmsgradState, optax.ScaleByAmsgradState),
        (gdt.ScaleByRmsState, optax.ScaleByRmsState),
        (gdt.ScaleByRssState, optax.ScaleByRssState),
        (gdt.ScaleByRStdDevState, optax.ScaleByRStdDevState),
        (gdt.ScaleByLionState, optax.ScaleByLionState),
        (gdt.ScaleByScheduleState, optax.ScaleByScheduleState),
        (gdt.TraceState, optax.TraceState),
        (gdt.EmaState, optax.EmaState),
        (gdt.MaskedState, optax.MaskedState),
    ]
    for ours, theirs in pairs:
        assert ours.__name__ == theirs.__name__
        assert ours._fields == theirs._fields


PROMOTING = {
    "adam_f32_mu": lambda m: m.adam(0.1, mu_dtype=jnp.float32),
    "trace_f32_accumulator": lambda m: m.trace(decay=0.5, accumulator_dtype=jnp.float32),
    "lion_f32_mu": lambda m: m.lion(0.01, mu_dtype=jnp.float32),
}


@pytest.mark.parametrize("case", sorted(PROMOTING))
def test_wider_state_keeps_update_dtype_while_optax_promotes(case):
    """Deliberate difference: updates keep the gradients' dtype; optax promotes
    bfloat16 updates to the state's float32. Values and state still agree."""
    ours, theirs = run(PROMOTING[case](gdt), jit=True), run(PROMOTING[case](optax), jit=True)
    for (u_ours, s_ours, p_ours), (u_theirs, s_theirs, p_theirs) in zip(ours, theirs):
        assert jax.tree.map(lambda u: u.dtype, u_ours) == jax.tree.map(lambda g: g.dtype, GRADS[0])
        assert_trees_close(u_ours, u_theirs, check_dtypes=False)
        assert_trees_close((s_ours, p_ours), (s_theirs, p_theirs))


# case: (a chain mixing both libraries, the same chain in optax alone)
MIXED = {
    "optax_chain_gdt_first": (
        lambda: optax.chain(gdt.scale_by_adam(), optax.scale_by_learning_rate(0.01)),
        lambda: optax.chain(optax.scale_by_adam(), optax.scale_by_learning_rate(0.01)),
    ),
    "optax_chain_gdt_last": (
        lambda: optax.chain(optax.clip_by_global_norm(1.0), gdt.sgd(0.05, 0.9)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.05, 0.9)),
    ),
    "gdt_chain_optax_first": (
        lambda: gdt.chain(optax.scale_by_adam(), gdt.scale_by_learning_rate(0.01)),
        lambda: optax.chain(optax.scale_by_adam(), optax.scale_by_learning_rate(0.01)),
    ),
    "gdt_chain_optax_last": (
        lambda: gdt.chain(gdt.clip_by_global_norm(1.0), optax.sgd(0.05, 0.9)),
        lambda: optax.chain(optax.clip_by_global_norm(1.0), optax.sgd(0.05, 0.9)),
    ),
    "gdt_chain_optax_needs_params": (
        lambda: gdt.chain(gdt.scale_by_adam(), optax.add_decayed_weights(0.1), gdt.scale_by_learning_rate(0.01)),
        lambda: optax.chain(optax.scale_by_adam(), optax.add_decayed_weights(0.1), optax.scale_by_learning_rate(0.01)),
    ),
}


@pytest.mark.parametrize("case", sorted(MIXED))
def test_mixed_chains_match_all_optax(case):
    mixed, all_optax = MIXED[case]
    ours, theirs = run(mixed(), jit=True), run(all_optax(), jit=True)
    for a, e in zip(ours, theirs):
        assert_trees_close(a, e)


def test_extra_args_reach_optax_extra_args_transforms_inside_gdt_chain():
    seen = []

    def update(updates, state, params=None, **extra_args):
        seen.append(extra_args)
        return updates, state

    tx = gdt.chain(optax.GradientTransformationExtraArgs(optax.init_empty_state, update), optax.scale(2.0))
    updates, _ = tx.update({"w": jnp.ones(1)}, tx.init({"w": jnp.ones(1)}), value=1.5)
    assert seen == [{"value": 1.5}]
    assert float(updates["w"][0]) == 2.0
