"""Property-based parity with optax: schedules, live hyperparameters, wrappers.

As tests/parity/test_properties.py (same problems, same comparison, tests/_parity.py)
for what optax also has: every schedule at random step counts, and
``inject_hyperparams``, ``reduce_on_plateau``, ``apply_if_finite``,
``zero_nans``, ``MultiSteps`` (with its skip functions), ``lookahead``,
``partition``/``multi_transform``, ``freeze``, ``selective_transform``,
``conditionally_mask``/``conditionally_transform`` and the monitors.

Documented differences (docs/DIFFERENCES.md) that these tests work around,
each covered by its own test:

- ``apply_if_finite`` resets ``notfinite_count`` when it gives up (optax
  #1746): steps are compared up to the first give-up (tests/wrappers/test_finite.py).
- ``reduce_on_plateau`` uses ``|best|`` in its relative threshold (optax
  #1767), which differs only for negative losses: the losses drawn here are
  non-negative (tests/transforms/test_plateau.py).
- ``MultiSteps`` resets its accumulator to exact zeros, where optax multiplies
  it by 0 and keeps a NaN forever: gdtransforms may be finite where optax is
  not (tests/wrappers/test_multistep.py). ``lookahead(reset_state=True)`` likewise.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gdtransforms as gdt
from tests import strategies as gst
from tests._parity import F16, Case, assert_trees_agree, check_case

# 1e30 cast to float16/bfloat16 is inf, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


lr = gst.learning_rates
dec = gst.decays
flag = st.booleans


def plateau(m: Any) -> Any:
    return gdt.reduce_on_plateau if m is gdt else optax.contrib.reduce_on_plateau


def labels_for(params: Any, seed: int) -> Any:
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda p: ["adam", "sgd", "frozen"][rng.integers(3)], params)


def every_other_step(step):
    return step % 2 == 0


def after_two_steps(step):
    return step >= 2


def skip_fn(m: Any, hp: dict) -> Any:
    if hp["skip"] is None:
        return None
    if hp["skip"] == "not_finite":
        return m.skip_not_finite
    return functools.partial(m.skip_large_updates, max_squared_norm=hp["skip"])


def first_give_up(hp: dict, optax_history: list) -> int:
    """Steps before apply_if_finite first gives up (optax #1746 differs after)."""
    for t, (_, state, _) in enumerate(optax_history):
        if int(state.notfinite_count) > hp["max_consecutive_errors"]:
            return t
    return len(optax_history)


CASES: dict[str, Case] = {
    # float32 params only: optax casts injected hyperparameters to the params'
    # dtype (optax #1414: b2 = 0.999 is 1.0 in bfloat16, and Adam gives NaN)
    # and fails on bfloat16 and float16 params together; gdtransforms keeps
    # them float32 (tests/schedules/test_inject.py).
    "inject_hyperparams_adam": Case(
        {"learning_rate": lr(), "b1": dec(), "b2": dec(), "eps": gst.epsilons()},
        lambda m, hp, p: m.inject_hyperparams(m.adam)(**hp),
        dtypes=[jnp.float32],
    ),
    "inject_hyperparams_sgd_static_nesterov": Case(
        {"learning_rate": lr(), "momentum": dec(0.999), "nesterov": flag()},
        lambda m, hp, p: m.inject_hyperparams(m.sgd, static_args=("nesterov",))(**hp),
        dtypes=[jnp.float32],
    ),
    "reduce_on_plateau": Case(
        {
            "lr": lr(schedules=False),
            "factor": st.floats(0.05, 0.95),
            "patience": st.integers(1, 3),
            "rtol": st.sampled_from([1e-4, 0.1]),
            "atol": st.sampled_from([0.0, 1e-3]),
            "cooldown": st.integers(0, 2),
            "accumulation_size": st.integers(1, 2),
            "min_scale": st.sampled_from([0.0, 0.01]),
            "losses": st.lists(st.floats(0.0, 10.0), min_size=gst.MAX_STEPS, max_size=gst.MAX_STEPS),
        },
        lambda m, hp, p: m.chain(
            m.sgd(hp["lr"]),
            plateau(m)(**{k: v for k, v in hp.items() if k not in ("lr", "losses")}),
        ),
        extra_args=lambda hp, t: {"value": hp["losses"][t]},
        wider_state=True,  # best_value and avg_value in at least float32.
        # optax fails on bfloat16 and float16 params together, and keeps the
        # scale in the params' dtype: its float32 updates get a bfloat16 scale.
        dtypes=[jnp.float32, jnp.bfloat16],
        lowest_tolerance=True,
    ),
    "apply_if_finite": Case(
        {"learning_rate": lr(), "max_consecutive_errors": st.integers(0, 3)},
        lambda m, hp, p: m.apply_if_finite(m.sgd(hp["learning_rate"], 0.9), hp["max_consecutive_errors"]),
        comparable_steps=first_give_up,
    ),
    "zero_nans": Case(
        {"learning_rate": lr()},
        lambda m, hp, p: m.chain(m.zero_nans(), m.sgd(hp["learning_rate"], 0.9)),
    ),
    "multi_steps": Case(
        {
            "learning_rate": lr(),
            "k": st.one_of(st.integers(1, 4), st.just(lambda step: 1 + step % 3)),
            "use_grad_mean": flag(),
            "skip": st.sampled_from([None, "not_finite", 1.0, 1e6]),
        },
        lambda m, hp, p: m.MultiSteps(
            m.adam(hp["learning_rate"]),
            every_k_schedule=hp["k"],
            use_grad_mean=hp["use_grad_mean"],
            should_skip_update_fn=skip_fn(m, hp),
        ).gradient_transformation(),
        finite_where_optax_is_not=None,
        wider_state=True,  # skip_large_updates sums the squared norm in float32.
    ),
    "lookahead": Case(
        {
            "learning_rate": lr(),
            "sync_period": st.integers(1, 4),
            "slow_step_size": st.floats(0.01, 1.0),
            "reset_state": flag(),
        },
        lambda m, hp, p: m.lookahead(
            m.sgd(hp["learning_rate"], 0.9),
            hp["sync_period"],
            hp["slow_step_size"],
            hp["reset_state"],
        ),
        wrap_params=lambda m, p: m.LookaheadParams.init_synced(p),
        # reset_state: optax resets by (1 - sync) * state + sync * init, which
        # keeps a NaN; gdtransforms selects, so the reset state is clean.
        finite_where_optax_is_not=None,
    ),
    "partition": Case(
        {"learning_rate": lr(), "labels": st.integers(0, 2**16)},
        lambda m, hp, p: m.partition(
            {
                "adam": m.adam(hp["learning_rate"]),
                "sgd": m.sgd(hp["learning_rate"], 0.5),
                "frozen": m.set_to_zero(),
            },
            labels_for(p, hp["labels"]),
        ),
        finite_where_optax_is_not=frozenset({F16}),
    ),
    "multi_transform_labels_fn": Case(
        {"learning_rate": lr(), "labels": st.integers(0, 2**16)},
        lambda m, hp, p: m.multi_transform(
            {"adam": m.adam(hp["learning_rate"]), "sgd": m.sgd(0.1), "frozen": m.set_to_zero()},
            functools.partial(labels_for, seed=hp["labels"]),
        ),
        finite_where_optax_is_not=frozenset({F16}),
    ),
    "freeze": Case(
        {"mask": st.integers(0, 2**16)},
        lambda m, hp, p: m.chain(m.freeze(gst.masks_for(p, hp["mask"])), m.sgd(0.1, 0.9)),
    ),
    "selective_transform": Case(
        {"learning_rate": lr(), "mask": st.integers(0, 2**16)},
        lambda m, hp, p: m.selective_transform(m.adam(hp["learning_rate"]), freeze_mask=gst.masks_for(p, hp["mask"])),
        finite_where_optax_is_not=frozenset({F16}),
    ),
    "conditionally_mask": Case(
        {"learning_rate": lr(), "fn": st.sampled_from([every_other_step, after_two_steps])},
        lambda m, hp, p: m.conditionally_mask(m.sgd(hp["learning_rate"], 0.9), hp["fn"]),
    ),
    "conditionally_transform": Case(
        {"learning_rate": lr(), "fn": st.sampled_from([every_other_step, after_two_steps])},
        lambda m, hp, p: m.conditionally_transform(m.sgd(hp["learning_rate"], 0.9), hp["fn"]),
    ),
    "monitors": Case(
        {"learning_rate": lr(), "decay": dec(), "debias": flag()},
        lambda m, hp, p: m.chain(
            m.snapshot("grad_norm", m.global_norm),
            m.clip_by_global_norm(1.0),
            m.monitor(
                {
                    "clipped_norm": m.global_norm,
                    "ema_norm": m.measure_with_ema(m.global_norm, hp["decay"], hp["debias"]),
                }
            ),
            m.sgd(hp["learning_rate"]),
        ),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data())
def test_wrapper_matches_optax_on_random_problems(case, data):
    problem = data.draw(gst.problems(CASES[case].dtypes), label="problem")
    hp = data.draw(st.fixed_dictionaries(CASES[case].strategies), label="hyperparameters")
    check_case(case, CASES[case], hp, problem.params, problem.grads)


# -- Schedules ------------------------------------------------------------------------

values = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(-2.0, 2.0))
positive = st.floats(1e-3, 2.0)
steps = st.integers(1, 200)
begins = st.integers(0, 100)


@st.composite
def boundaries_and_scales(draw) -> dict[int, float]:
    bounds = draw(st.lists(st.integers(1, 300), min_size=0, max_size=4, unique=True))
    return {b: draw(st.floats(0.0, 3.0)) for b in sorted(bounds)}


@st.composite
def warmup_decay(draw) -> dict[str, Any]:
    decay_steps = draw(st.integers(2, 200))
    return {
        "init_value": draw(values),
        "peak_value": draw(values),
        "warmup_steps": draw(st.integers(0, decay_steps - 1)),
        "decay_steps": decay_steps,
        "end_value": draw(values),
        "exponent": draw(st.floats(0.5, 3.0)),
    }


@st.composite
def linear_onecycle(draw) -> dict[str, Any]:
    n = draw(st.integers(10, 300))
    start = draw(st.integers(1, n - 2))
    final = draw(st.integers(start + 1, n - 1))
    # Fractions whose int(pct * n) is exactly the chosen step.
    return {
        "transition_steps": n,
        "peak_value": draw(positive),
        "pct_start": (start + 0.5) / n,
        "pct_final": (final + 0.5) / n,
        "div_factor": draw(st.floats(1.0, 100.0)),
        "final_div_factor": draw(st.floats(1.0, 1e4)),
    }


@st.composite
def cosine_onecycle(draw) -> dict[str, Any]:
    n = draw(st.integers(10, 300))
    start = draw(st.integers(1, n - 1))
    return {
        "transition_steps": n,
        "peak_value": draw(positive),
        "pct_start": (start + 0.5) / n,
        "div_factor": draw(st.floats(1.0, 100.0)),
        "final_div_factor": draw(st.floats(1.0, 1e4)),
    }


@st.composite
def joined(draw) -> dict[str, Any]:
    n = draw(st.integers(1, 3))
    boundaries = sorted(draw(st.lists(st.integers(1, 300), min_size=n, max_size=n, unique=True)))
    parts = [("constant", draw(values)) for _ in range(n)] + [("linear", draw(values), draw(steps))]
    return {"parts": parts, "boundaries": boundaries}


def _join(m, parts, boundaries):
    schedules = [m.constant_schedule(p[1]) if p[0] == "constant" else m.linear_schedule(p[1], 0.0, p[2]) for p in parts]
    return m.join_schedules(schedules, boundaries)


SCHEDULES = {
    "constant": (st.fixed_dictionaries({"value": values}), lambda m, a: m.constant_schedule(**a)),
    "linear": (
        st.fixed_dictionaries(
            {"init_value": values, "end_value": values, "transition_steps": steps, "transition_begin": begins}
        ),
        lambda m, a: m.linear_schedule(**a),
    ),
    "polynomial": (
        st.fixed_dictionaries(
            {
                "init_value": values,
                "end_value": values,
                "power": st.floats(0.5, 4.0),
                "transition_steps": steps,
                "transition_begin": begins,
            }
        ),
        lambda m, a: m.polynomial_schedule(**a),
    ),
    "exponential_decay": (
        st.fixed_dictionaries(
            {
                "init_value": positive,
                "transition_steps": steps,
                "decay_rate": st.floats(0.05, 1.5),
                "transition_begin": begins,
                "staircase": flag(),
                "end_value": st.none() | positive,
            }
        ),
        lambda m, a: m.exponential_decay(**a),
    ),
    "cosine_decay": (
        st.fixed_dictionaries(
            {"init_value": values, "decay_steps": steps, "alpha": st.floats(0.0, 1.0), "exponent": st.floats(0.5, 3.0)}
        ),
        lambda m, a: m.cosine_decay_schedule(**a),
    ),
    "piecewise_constant": (
        st.fixed_dictionaries({"init_value": values, "boundaries_and_scales": boundaries_and_scales()}),
        lambda m, a: m.piecewise_constant_schedule(**a),
    ),
    "piecewise_interpolate": (
        st.fixed_dictionaries(
            {
                "interpolate_type": st.sampled_from(["linear", "cosine"]),
                "init_value": values,
                "boundaries_and_scales": boundaries_and_scales(),
            }
        ),
        lambda m, a: m.piecewise_interpolate_schedule(**a),
    ),
    "warmup_constant": (
        st.fixed_dictionaries({"init_value": values, "peak_value": values, "warmup_steps": steps}),
        lambda m, a: m.warmup_constant_schedule(**a),
    ),
    "warmup_cosine_decay": (warmup_decay(), lambda m, a: m.warmup_cosine_decay_schedule(**a)),
    "warmup_exponential_decay": (
        st.fixed_dictionaries(
            {
                "init_value": values,
                "peak_value": positive,
                "warmup_steps": steps,
                "transition_steps": steps,
                "decay_rate": st.floats(0.05, 1.5),
                "transition_begin": begins,
                "staircase": flag(),
                "end_value": st.none() | positive,
            }
        ),
        lambda m, a: m.warmup_exponential_decay_schedule(**a),
    ),
    "sgdr": (
        st.lists(warmup_decay(), min_size=1, max_size=3).map(lambda c: {"cosine_kwargs": c}),
        lambda m, a: m.sgdr_schedule(**a),
    ),
    "linear_onecycle": (linear_onecycle(), lambda m, a: m.linear_onecycle_schedule(**a)),
    "cosine_onecycle": (cosine_onecycle(), lambda m, a: m.cosine_onecycle_schedule(**a)),
    "join_schedules": (joined(), lambda m, a: _join(m, **a)),
}

counts = st.lists(st.one_of(st.integers(0, 400), st.integers(0, 2**31 - 1)), min_size=1, max_size=16)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
@given(data=st.data(), steps_at=counts)
def test_schedule_matches_optax(name, data, steps_at):
    strategy, build = SCHEDULES[name]
    args = data.draw(strategy, label="arguments")
    ours, theirs = build(gdt, args), build(optax, args)
    # Boundaries and their neighbours are where schedules go wrong. Padded to 16
    # counts with the last one, so every example has the same shape and the
    # eager vmapped ops compile once, not once per length.
    distinct = sorted(set(steps_at))
    at = jnp.asarray(distinct + distinct[-1:] * (16 - len(distinct)), jnp.int32)
    assert_trees_agree(jax.vmap(ours)(at), jax.vmap(theirs)(at), where=f"{name} at {at}")
    assert_trees_agree(ours(at[-1]), theirs(at[-1]), where=f"{name} at {at[-1]}")
