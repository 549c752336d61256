"""experimental.aggregating against optax: per-example gradients, 20 steps jitted, 2 eager.

Each case feeds per-example gradients (a leading batch axis of 4 on every leaf of
the nested tree: float32 leaves, a bfloat16 leaf and a scalar leaf) to the same
pipeline built from either library; updates, state, params and the unbiased
mean/variance EMAs agree at every step.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, nested_params

STEPS = {"eager": 2, "jit": 20}
BATCH = 4
PARAMS = nested_params()
PER_EXAMPLE = gradient_sequence(jax.tree.map(lambda p: jnp.zeros((BATCH, *p.shape), p.dtype), PARAMS), 20)
# Per-micro-batch means, for the accumulator that takes already averaged gradients.
MEANS = [jax.tree.map(lambda g: jnp.mean(g, axis=0), g) for g in PER_EXAMPLE]
# optax widens a bfloat16 leaf's accumulated sum of squares to float32 and then fails; these cases
# run on the float32 leaves only (the bfloat16 leaf with accumulation is tested in tests/experimental).
FLOAT32_ONLY = {k: v for k, v in PARAMS.items() if k == "dense"}
FLOAT32_PER_EXAMPLE = [{"dense": g["dense"]} for g in PER_EXAMPLE]


def _clip_each(m):
    return m.stateless(lambda g, _: jax.tree.map(lambda x: jnp.clip(x, -1.0, 1.0), g))


# id: (factory of the library module, params, gradient sequence)
CASES = {
    "average_then_sgd": (
        lambda m: m.experimental.aggregating.process(
            m.identity(), m.experimental.aggregating.average_per_element_updates(), m.sgd(0.05, momentum=0.9)
        ),
        PARAMS,
        PER_EXAMPLE,
    ),
    "clip_each_average_adam": (
        lambda m: m.experimental.aggregating.process(
            _clip_each(m), m.experimental.aggregating.average_incrementally_updates(0, 1), m.adam(0.01)
        ),
        PARAMS,
        PER_EXAMPLE,
    ),
    "average_and_accumulate_3_sgd": (
        lambda m: m.experimental.aggregating.process(
            m.identity(), m.experimental.aggregating.average_incrementally_updates(0, 3), m.sgd(0.05, momentum=0.9)
        ),
        PARAMS,
        PER_EXAMPLE,
    ),
    "accumulate_means_2_sgd": (
        lambda m: m.experimental.aggregating.process(
            m.identity(), m.experimental.aggregating.average_incrementally_updates(None, 2), m.sgd(0.1)
        ),
        PARAMS,
        MEANS,
    ),
    "mean_variance_sgd": (
        lambda m: m.experimental.aggregating.add_mean_variance_to_opt(m.sgd(0.05), 0.9),
        PARAMS,
        PER_EXAMPLE,
    ),
    "mean_variance_no_decay_rmsprop": (
        lambda m: m.experimental.aggregating.add_mean_variance_to_opt(m.rmsprop(0.01), ema_decay=0.0),
        PARAMS,
        PER_EXAMPLE,
    ),
    "mean_variance_accumulate_2": (
        lambda m: m.experimental.aggregating.add_mean_variance_to_opt(m.adam(0.01), 0.8, accumulation_steps=2),
        FLOAT32_ONLY,
        FLOAT32_PER_EXAMPLE,
    ),
}


# Eagerly, every op of process's lax.cond is dispatched one by one (slow): a few steps of one case
# (tests/experimental/test_aggregating.py runs the rest eagerly on hand-derived values).
EAGER_CASES = ["mean_variance_sgd"]


@functools.cache
def optax_run(case: str, jit: bool) -> list:
    make, params, grads = CASES[case]
    stats = optax.experimental.aggregating if "mean_variance" in case else None
    return run(make(optax), stats, params, grads, jit=jit)


def run(tx, stats, params, grads, *, jit: bool):
    """Each step's (updates, state, params, unbiased EMAs if ``stats`` else ())."""

    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        extra = stats.get_unbiased_mean_and_variance_ema(state) if stats is not None else ()
        return gdt.apply_updates(params, updates), state, updates, extra

    step = jax.jit(step) if jit else step
    state, history = tx.init(params), []
    for g in grads[: STEPS["jit" if jit else "eager"]]:
        params, state, updates, extra = step(params, state, g)
        history.append((updates, state, params, extra))
    return history


def check(case, ours, theirs):
    for t, ((*a, a_stats), (*e, e_stats)) in enumerate(zip(ours, theirs)):
        assert_trees_close(a, e, msg=f"{case}, step {t}")
        # Under jit optax returns a bfloat16 leaf's debiased EMA as float32 (eagerly as bfloat16);
        # gdtransforms keeps the leaf's dtype. The values agree.
        assert_trees_close(a_stats, e_stats, check_dtypes=False, msg=f"{case}, unbiased EMAs, step {t}")


@pytest.mark.parametrize(
    "case, jit", [(c, True) for c in sorted(CASES)] + [(c, False) for c in EAGER_CASES], ids=lambda x: str(x)
)
def test_matches_optax(case, jit):
    make, params, grads = CASES[case]
    stats = "mean_variance" in case
    ours = run(make(gdt), gdt.experimental.aggregating if stats else None, params, grads, jit=jit)
    theirs = optax_run(case, jit)
    assert len(ours) == STEPS["jit" if jit else "eager"]
    check(case, ours, theirs)


def test_the_cross_check_can_fail():
    """A 1% change of the EMA decay is caught (the case "mean_variance_sgd" with decay 0.909)."""

    def make(m, decay):
        return m.experimental.aggregating.add_mean_variance_to_opt(m.sgd(0.05), decay)

    ours = run(make(gdt, 0.9 * 1.01), gdt.experimental.aggregating, PARAMS, PER_EXAMPLE, jit=True)
    theirs = optax_run("mean_variance_sgd", True)
    with pytest.raises(AssertionError):
        check("decay off by 1%", ours, theirs)


FUNCTIONS = [
    "accumulate_avg_updates",
    "add_mean_variance_to_opt",
    "average_incrementally_updates",
    "average_per_element_updates",
    "get_batch_size_from_per_elt_updates",
    "get_per_element_mean_and_sum_sq_diff_grads",
    "get_unbiased_mean_and_variance_ema",
    "process",
    "track_per_element_mean_and_variance_with_ema",
]
STATES = ["AccumulateAvgUpdatesState", "PerElementMeanAndSumSqDiffGradsState", "PerElementMeanAndVarianceEMAState"]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_signature_matches_optax(name):
    ours = inspect.signature(getattr(gdt.experimental.aggregating, name))
    theirs = inspect.signature(getattr(optax.experimental.aggregating, name))
    assert list(ours.parameters) == list(theirs.parameters)
    for p in ours.parameters.values():
        q = theirs.parameters[p.name]
        assert (p.kind, p.default) == (q.kind, q.default), p.name


def test_state_classes_match_optax():
    """The state classes have optax's names and fields, and the lists above are all of optax's."""
    theirs_module = optax.experimental.aggregating
    for name in STATES:
        ours, theirs = getattr(gdt.experimental.aggregating, name), getattr(theirs_module, name)
        assert (ours.__name__, ours._fields) == (theirs.__name__, theirs._fields)
    public = {n: getattr(theirs_module, n) for n in dir(theirs_module) if not n.startswith("_")}
    assert {n for n in public if n.endswith("State")} == set(STATES)
    functions = {n for n, v in public.items() if inspect.isfunction(v) and v.__module__ == theirs_module.__name__}
    assert functions == set(FUNCTIONS)
