"""experimental.aggregating: hand-derived values, the process pipeline, dtypes, bad input.

The 20-step cross-check with optax is in tests/parity/test_optax_parity_aggregating.py.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from gdtransforms.experimental import aggregating as agg


def _close(actual, expected, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol)


def test_public_paths_are_one_object():
    import gdtransforms.experimental.aggregating as by_import

    assert gdt.experimental.aggregating is by_import
    assert issubclass(agg.Aggregator, gdt.GradientTransformationExtraArgs)
    assert agg.AccumulateAvgUpdatesState._fields == ("micro_step", "ready", "avg_grad")
    assert agg.PerElementMeanAndSumSqDiffGradsState._fields == (
        "micro_step",
        "ready",
        "mean_grads",
        "sum_sq_diff_grads",
    )
    assert agg.PerElementMeanAndVarianceEMAState._fields == (
        "count",
        "ema_decay",
        "mean_grads_ema",
        "variance_grads_ema",
    )


def test_mean_and_sum_sq_diff_of_one_batch_by_hand():
    # Examples 1, 3, 5 (and 2, 2, 8): mean 3 (4), squared deviations 4 + 0 + 4 = 8 (4 + 4 + 16 = 24).
    per_example = {"w": jnp.array([[1.0, 2.0], [3.0, 2.0], [5.0, 8.0]])}
    (mean, aux), state = agg.get_per_element_mean_and_sum_sq_diff_grads().update(per_example, gdt.EmptyState())
    _close(mean["w"], [3.0, 4.0])
    _close(aux["sum_sq_diff_grads"]["w"], [8.0, 24.0])
    assert aux["sample_size"] == 3
    assert state == gdt.EmptyState()


def test_micro_batches_merge_as_one_batch_by_hand():
    # Micro-batches {1, 3} and {5, 9}: means 2 and 7, sums 2 and 8, delta 5; merged
    # mean 2 + 5/2 = 4.5 and sum 2 + 8 + 25 * (1 * 2) / 2 = 35, as for {1, 3, 5, 9} at once.
    aggregator = agg.get_per_element_mean_and_sum_sq_diff_grads(per_elt_axis=0, accumulation_steps=2)
    state = aggregator.init(jnp.zeros(1))
    (mean, aux), state = aggregator.update(jnp.array([[1.0], [3.0]]), state)
    _close(mean, [0.0])  # not ready: zeros
    _close(aux["sum_sq_diff_grads"], [0.0])
    assert int(aux["sample_size"]) == 0
    _close(state.mean_grads, [2.0])
    _close(state.sum_sq_diff_grads, [2.0])
    assert int(state.micro_step) == 1 and not bool(state.ready)
    (mean, aux), state = aggregator.update(jnp.array([[5.0], [9.0]]), state)
    _close(mean, [4.5])
    _close(aux["sum_sq_diff_grads"], [35.0])
    assert int(aux["sample_size"]) == 4
    assert int(state.micro_step) == 0 and bool(state.ready)
    _close(state.mean_grads, [0.0])


def test_accumulate_avg_updates_by_hand():
    acc = agg.accumulate_avg_updates(3)
    state = acc.init({"w": jnp.zeros(2)})
    outs = []
    for g in ([1.0, 0.0], [2.0, 3.0], [6.0, 3.0], [4.0, 4.0]):
        u, state = acc.update({"w": jnp.array(g)}, state)
        outs.append(u["w"])
    _close(outs[0], [0.0, 0.0])
    _close(outs[1], [0.0, 0.0])
    _close(outs[2], [3.0, 2.0])  # the mean of the three
    _close(outs[3], [0.0, 0.0])  # a new round
    _close(state.avg_grad["w"], [4.0, 4.0])
    assert int(state.micro_step) == 1 and state.micro_step.dtype == jnp.int32
    one = agg.accumulate_avg_updates(1)
    assert one.init({"w": jnp.ones(2)}) == gdt.EmptyState()


def test_ema_of_mean_and_variance_and_its_debiasing_by_hand():
    # decay 0.5. Step 1: examples {1, 3}: mean 2, variance 2; step 2: {2, 6}: mean 4, variance 8.
    # m1 = 0.5 * 2 = 1, v1 = 1, unbiased / (1 - 0.5) -> 2 and 2.
    # m2 = 0.5 * 4 + 0.5 * 1 = 2.5, v2 = 0.5 * 8 + 0.5 * 1 = 4.5; unbiased / 0.75 -> 10/3 and 6.
    opt = agg.add_mean_variance_to_opt(gdt.sgd(0.1), ema_decay=0.5)
    params = jnp.zeros(1)
    state = opt.init(params)
    updates, state = opt.update(jnp.array([[1.0], [3.0]]), state, params)
    _close(updates, [-0.2])  # sgd on the mean
    mean, var = agg.get_unbiased_mean_and_variance_ema(state)
    _close(mean, [2.0])
    _close(var, [2.0])
    _, state = opt.update(jnp.array([[2.0], [6.0]]), state, params)
    ema_state = gdt.tree_get(state, "PerElementMeanAndVarianceEMAState")
    _close(ema_state.mean_grads_ema, [2.5])
    _close(ema_state.variance_grads_ema, [4.5])
    assert int(ema_state.count) == 2
    mean, var = agg.get_unbiased_mean_and_variance_ema(state)
    _close(mean, [10.0 / 3.0])
    _close(var, [6.0])


def test_several_per_example_axes():
    per_example = jnp.arange(12.0).reshape(2, 2, 3)
    assert agg.get_batch_size_from_per_elt_updates({"a": per_example}, [0, 1]) == 4
    assert agg.get_batch_size_from_per_elt_updates({"a": per_example}, np.int64(-1)) == 3
    mean, _ = agg.average_per_element_updates((0, 1)).update(per_example, gdt.EmptyState())
    _close(mean, per_example.reshape(4, 3).mean(0))
    (mean, aux), _ = agg.get_per_element_mean_and_sum_sq_diff_grads((0, 1)).update(per_example, gdt.EmptyState())
    flat = np.asarray(per_example).reshape(4, 3)
    _close(aux["sum_sq_diff_grads"], ((flat - flat.mean(0)) ** 2).sum(0))
    assert aux["sample_size"] == 4


def test_process_runs_the_postprocessor_only_when_ready():
    opt = agg.process(gdt.identity(), agg.average_incrementally_updates(0, 2), gdt.adam(0.1))
    assert isinstance(opt, agg.Aggregator)
    params = jnp.zeros(2)
    state = opt.init(params)
    step = jax.jit(opt.update)
    for t in range(4):
        updates, state = step(jnp.full((3, 2), t + 1.0), state, params)
        if t % 2 == 0:
            _close(updates, [0.0, 0.0])
        else:
            assert np.all(np.asarray(updates) < 0)
    assert int(state[2][0].count) == 2  # adam stepped twice in four calls


def test_process_takes_optax_parts():
    opt = agg.process(optax.identity(), optax.experimental.aggregating.average_per_element_updates(), optax.sgd(1.0))
    assert isinstance(opt, agg.Aggregator)
    updates, _ = opt.update(jnp.array([[1.0], [3.0]]), opt.init(jnp.zeros(1)), value=jnp.float32(0.0))
    _close(updates, [-2.0])


def test_process_with_a_plain_transformation_and_aux():
    opt = agg.process(gdt.identity(), agg.average_incrementally_updates(None, 2), gdt.sgd(1.0))
    assert not isinstance(opt, agg.Aggregator)
    assert isinstance(opt, gdt.GradientTransformationExtraArgs)
    seen = {}

    def post_update(updates, state, params=None, **extra_args):
        seen.update(extra_args)
        return updates, state

    with_aux = gdt.GradientTransformation(
        agg.get_per_element_mean_and_sum_sq_diff_grads().init,
        lambda u, s, p=None, **kw: ((u.mean(0), {"extra": u.sum()}), s),
    )
    opt = agg.process(
        gdt.identity(), with_aux, gdt.GradientTransformation(gdt.init_empty_state, post_update), aggregator_has_aux=True
    )
    updates, _ = opt.update(jnp.array([1.0, 2.0]), opt.init(jnp.zeros(())), value=jnp.float32(7.0))
    _close(updates, 1.5)
    assert set(seen) == {"extra", "value"}  # the aux entries and the caller's extra arguments


def test_preprocessor_sees_each_example():
    # Clip each example to [-1, 1] before averaging: {-4, 0.5} -> {-1, 0.5} -> mean -0.25.
    clip = gdt.stateless(lambda g, _: jax.tree.map(lambda x: jnp.clip(x, -1.0, 1.0), g))
    opt = agg.process(clip, agg.average_per_element_updates(), gdt.identity())
    updates, _ = opt.update(jnp.array([[-4.0], [0.5]]), opt.init(jnp.zeros(1)))
    _close(updates, [-0.25])


def test_bfloat16_leaf_with_accumulation_keeps_its_dtype_and_compiles_once():
    # optax widens the bfloat16 sum of squares to float32 here, and its lax.cond then fails.
    params = {"w": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2, jnp.bfloat16)}
    opt = agg.add_mean_variance_to_opt(gdt.sgd(0.1), ema_decay=0.9, accumulation_steps=2)
    traces = []

    @jax.jit
    def step(grads, state):
        traces.append(1)
        return opt.update(grads, state, params)

    state = opt.init(params)
    rng = np.random.default_rng(0)
    for _ in range(4):
        grads = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=(4, *p.shape)), p.dtype), params)
        updates, state = step(grads, state)
    assert len(traces) == 1
    assert jax.tree.map(lambda x: x.dtype, state[1].sum_sq_diff_grads) == {"w": jnp.float32, "b": jnp.bfloat16}
    assert updates["b"].dtype == jnp.bfloat16
    mean, var = agg.get_unbiased_mean_and_variance_ema(state)
    assert mean["b"].dtype == var["b"].dtype == jnp.bfloat16
    assert np.all(np.asarray(var["b"], np.float32) > 0)


def test_extra_arguments_reach_a_chain_without_error():
    # optax's accumulate_avg_updates and identity take no extra arguments; here every update does.
    opt = agg.process(gdt.identity(), agg.average_incrementally_updates(0, 2), gdt.sgd(0.1))
    state = opt.init(jnp.zeros(2))
    updates, _ = opt.update(jnp.ones((2, 2)), state, value=jnp.float32(1.0))
    _close(updates, [0.0, 0.0])


@pytest.mark.parametrize(
    "make, error, name",
    [
        (lambda: agg.accumulate_avg_updates(0), ValueError, "accumulation_steps"),
        (lambda: agg.accumulate_avg_updates(2.0), TypeError, "accumulation_steps"),
        (lambda: agg.average_incrementally_updates(0, 0), ValueError, "accumulation_steps"),
        (lambda: agg.get_per_element_mean_and_sum_sq_diff_grads(0, -1), ValueError, "accumulation_steps"),
        (lambda: agg.average_per_element_updates("0"), TypeError, "per_elt_axis"),
        (lambda: agg.average_per_element_updates(True), TypeError, "per_elt_axis"),
        (lambda: agg.average_per_element_updates([]), ValueError, "per_elt_axis"),
        (lambda: agg.average_per_element_updates([0, 0]), ValueError, "per_elt_axis"),
        (lambda: agg.average_incrementally_updates(1.5, 2), TypeError, "per_elt_axis"),
        (lambda: agg.get_per_element_mean_and_sum_sq_diff_grads([0, "a"]), TypeError, "per_elt_axis"),
        (lambda: agg.track_per_element_mean_and_variance_with_ema(1.0), ValueError, "ema_decay"),
        (lambda: agg.add_mean_variance_to_opt(gdt.sgd(0.1), ema_decay=-0.5), ValueError, "ema_decay"),
        (lambda: agg.add_mean_variance_to_opt(gdt.sgd(0.1), ema_decay="0.9"), TypeError, "ema_decay"),
        (lambda: agg.process(None, agg.average_per_element_updates(), gdt.sgd(0.1)), TypeError, "preprocessor"),
        (lambda: agg.process(gdt.identity(), lambda g: g, gdt.sgd(0.1)), TypeError, "aggregator"),
        (lambda: agg.process(gdt.identity(), agg.average_per_element_updates(), 0.1), TypeError, "postprocessor"),
    ],
)
def test_bad_arguments_name_themselves(make, error, name):
    with pytest.raises(error, match=name):
        make()


def test_bad_trees_and_states():
    with pytest.raises(ValueError, match="same batch size"):
        agg.get_batch_size_from_per_elt_updates({"a": jnp.zeros((2, 3)), "b": jnp.zeros((3, 3))}, 0)
    with pytest.raises(ValueError, match="no leaves"):
        agg.get_batch_size_from_per_elt_updates({}, 0)
    with pytest.raises(ValueError, match=r"per_elt_axis.*\['a'\]"):
        agg.average_per_element_updates(1).update({"a": jnp.zeros(3)}, gdt.EmptyState())
    with pytest.raises(ValueError, match="PerElementMeanAndVarianceEMAState"):
        agg.get_unbiased_mean_and_variance_ema(gdt.adam(0.1).init(jnp.zeros(2)))
    tracker = agg.track_per_element_mean_and_variance_with_ema()
    with pytest.raises(ValueError, match="sum_sq_diff_grads"):
        tracker.update(jnp.zeros(2), tracker.init(jnp.zeros(2)))
    acc = agg.accumulate_avg_updates(2)
    with pytest.raises(TypeError, match="AccumulateAvgUpdatesState"):
        acc.update(jnp.zeros(2), gdt.EmptyState())
    opt = agg.add_mean_variance_to_opt(gdt.sgd(0.1))
    with pytest.raises(ValueError, match="state"):
        opt.update(jnp.zeros((2, 2)), (gdt.EmptyState(),))


def test_unbiased_statistics_from_optax_state_shape_match():
    # The reader finds the EMA state wherever it sits, also in an optax-built state of the same class name.
    opt = optax.experimental.aggregating.add_mean_variance_to_opt(optax.sgd(0.1), 0.5)
    state = opt.init(jnp.zeros(1))
    _, state = opt.update(jnp.array([[1.0], [3.0]]), state)
    mean, var = agg.get_unbiased_mean_and_variance_ema(state)
    _close(mean, [2.0])
    _close(var, [2.0])


def _per_example_grads(params):
    # A loss per example x, a sum over elements (the same on a tree and on its flat buffer): sum (p x)^2 + p x.
    def loss(p, x):
        return sum(jnp.sum(jnp.square(leaf * x) + leaf * x) for leaf in jax.tree.leaves(p))

    return jax.vmap(jax.grad(loss), (None, 0))(params, jnp.array([0.5, 1.0, 1.5, 3.0]))


def test_flat_path_matches_the_tree_path():
    # The aggregators reduce over the per-example axis only, so they run on FlatParams as they are.
    params = {"w": jnp.arange(6.0).reshape(2, 3) / 10, "b": jnp.ones(2)}
    flat = gdt.flatten_params(params)
    opt = agg.add_mean_variance_to_opt(gdt.adam(0.1), 0.9, accumulation_steps=2)
    tree_state, flat_state = opt.init(params), opt.init(flat)
    update = jax.jit(opt.update)
    tree_grads, flat_grads = _per_example_grads(params), _per_example_grads(flat)
    for _ in range(4):
        tree_updates, tree_state = update(tree_grads, tree_state, params)
        flat_updates, flat_state = update(flat_grads, flat_state, flat)
        assert gdt.is_flat(flat_updates)
        jax.tree.map(lambda a, b: _close(a, b, rtol=1e-6), flat_updates.unflatten(), tree_updates)
    tree_stats = agg.get_unbiased_mean_and_variance_ema(tree_state)
    flat_stats = agg.get_unbiased_mean_and_variance_ema(flat_state)
    for ours, ref in zip(flat_stats, tree_stats):
        jax.tree.map(lambda a, b: _close(a, b, rtol=1e-6), ours.unflatten(), ref)


def test_inject_hyperparams_is_bit_identical():
    params = {"w": jnp.arange(6.0).reshape(2, 3) / 10, "b": jnp.ones(2)}
    tracker = gdt.inject_hyperparams(agg.track_per_element_mean_and_variance_with_ema)(ema_decay=0.9)
    injected = agg.process(
        gdt.identity(),
        agg.get_per_element_mean_and_sum_sq_diff_grads(),
        gdt.chain(tracker, gdt.adam(0.1)),
        aggregator_has_aux=True,
    )
    plain = agg.add_mean_variance_to_opt(gdt.adam(0.1), 0.9)
    s_inj, s_plain = injected.init(params), plain.init(params)
    for _ in range(3):
        grads = _per_example_grads(params)
        u_inj, s_inj = injected.update(grads, s_inj, params)
        u_plain, s_plain = plain.update(grads, s_plain, params)
        assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), u_inj, u_plain))
    stats_inj = agg.get_unbiased_mean_and_variance_ema(s_inj)
    stats_plain = agg.get_unbiased_mean_and_variance_ema(s_plain)
    assert jax.tree.all(jax.tree.map(lambda a, b: bool(jnp.array_equal(a, b)), stats_inj, stats_plain))


def test_state_can_be_donated():
    # Every state field is its own buffer: a donated train step (params and state) runs.
    params = {"w": jnp.ones((2, 3)), "b": jnp.ones(2)}
    opt = agg.add_mean_variance_to_opt(gdt.sgd(0.1), 0.9, accumulation_steps=2)

    @functools.partial(jax.jit, donate_argnums=(0, 1))
    def step(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    state = opt.init(jax.tree.map(jnp.copy, params))
    params = jax.tree.map(jnp.copy, params)
    for _ in range(2):
        params, state = step(params, state, _per_example_grads(params))
    assert np.all(np.isfinite(np.asarray(params["w"])))
