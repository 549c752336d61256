"""The bad-input matrix: one table across the public API.

Each row is a bad input, the exception it must raise and a fragment of the
message that names the argument or the tree path. Rows that run an ``init``
or ``update`` run eagerly and under ``jax.jit``: checks happen at trace time,
so a jitted step fails the same way, never with a bare JAX tracer error or an
``AttributeError`` from deep inside. (tests/core/test_checks.py sweeps the tree
checks over every stateful optimizer; this table is the cross-API matrix.)
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import pytest

import gdtransforms as gdt

NAN, INF = float("nan"), float("inf")
PARAMS = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "out": [jnp.ones(3)]}
OTHER_MODEL = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(4)}, "out": [jnp.ones(3)]}
MISSING_LEAF = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "out": []}
RENAMED = {"dense": {"w": jnp.ones((2, 3)), "bias": jnp.ones(3)}, "out": [jnp.ones(3)]}
AS_TUPLE = {"dense": {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}, "out": (jnp.ones(3),)}
INT_LEAF = {"w": jnp.ones(3), "step": jnp.zeros((), jnp.int32)}
ALL_A = {"dense": {"w": "a", "b": "a"}, "out": ["a"]}
SYNCED = gdt.LookaheadParams.init_synced(PARAMS)

Run = Callable[..., Any]


class Bad(NamedTuple):
    """A bad input: ``call(run)`` must raise ``error`` matching ``fragment``.

    ``call`` gets ``run(f, *args)``, which calls ``f`` eagerly or jitted; a row
    with ``traced=False`` is a factory call, checked once, eagerly.
    """

    id: str
    call: Callable[[Run], Any]
    error: type[Exception]
    fragment: str
    traced: bool = True


def build(make: Callable[[], Any]) -> Callable[[Run], Any]:
    return lambda run: make()


def init(tx: Callable[[], Any], params: Any) -> Callable[[Run], Any]:
    return lambda run: run(tx().init, params)


def update(tx: Callable[[], Any], grads: Any, state_of: Any = None, params: Any = PARAMS):
    """``tx().update(grads, state, params)`` with the state built by ``state_of`` (or tx)."""

    def call(run):
        t = tx()
        state = (state_of or tx)().init(PARAMS)
        return run(t.update, grads, state, params)

    return call


def restored(tx, from_tx):
    """A state built by ``from_tx`` passed to ``tx``'s update."""
    return update(tx, PARAMS, state_of=from_tx)


def no_params(tx):
    return update(tx, PARAMS, params=None)


def checkpoint(state: Any) -> io.BytesIO:
    file = io.BytesIO()
    gdt.save_state(file, state)
    file.seek(0)
    return file


def factory(id_, make, error, fragment):
    return Bad(id_, build(make), error, fragment, traced=False)


ROWS: list[Bad] = [
    # -- Rates: negative, NaN, infinite, not a number.
    factory("sgd_negative_lr", lambda: gdt.sgd(-0.1), ValueError, "learning_rate"),
    factory("sgd_nan_lr", lambda: gdt.sgd(NAN), ValueError, "learning_rate"),
    factory("adam_inf_lr", lambda: gdt.adam(INF), ValueError, "learning_rate"),
    factory("lion_minus_inf_lr", lambda: gdt.lion(-INF), ValueError, "learning_rate"),
    factory("adam_negative_array_lr", lambda: gdt.adam(jnp.array(-1e-3)), ValueError, "learning_rate"),
    factory("adam_string_lr", lambda: gdt.adam("0.1"), TypeError, "learning_rate"),
    factory("scale_by_learning_rate_negative", lambda: gdt.scale_by_learning_rate(-1.0), ValueError, "learning_rate"),
    factory("scale_nan", lambda: gdt.scale(NAN), ValueError, "step_size"),
    factory("adamw_negative_weight_decay", lambda: gdt.adamw(0.1, weight_decay=-1e-4), ValueError, "weight_decay"),
    factory("adamw_nan_weight_decay", lambda: gdt.adamw(0.1, weight_decay=NAN), ValueError, "weight_decay"),
    factory("l1_negative_strength", lambda: gdt.add_l1_penalty(-0.1), ValueError, "l1_strength"),
    # -- Decays of 1.0 and -0.1 (and beyond), named as the caller passed them.
    factory("sgd_momentum_1", lambda: gdt.sgd(0.1, momentum=1.0), ValueError, "`momentum`"),
    factory("sgd_momentum_negative", lambda: gdt.sgd(0.1, momentum=-0.1), ValueError, "`momentum`"),
    factory("rmsprop_momentum_1", lambda: gdt.rmsprop(0.1, momentum=1.0), ValueError, "`momentum`"),
    factory("rmsprop_decay_1", lambda: gdt.rmsprop(0.1, decay=1.0), ValueError, "`decay`"),
    factory("adam_b1_1", lambda: gdt.adam(0.1, b1=1.0), ValueError, "`b1`"),
    factory("adam_b2_negative", lambda: gdt.adam(0.1, b2=-0.1), ValueError, "`b2`"),
    factory("amsgrad_b2_1", lambda: gdt.amsgrad(0.1, b2=1.0), ValueError, "`b2`"),
    factory("lion_b1_2", lambda: gdt.lion(0.1, b1=2.0), ValueError, "`b1`"),
    factory("ema_decay_1", lambda: gdt.ema(1.0), ValueError, "`decay`"),
    factory("ema_momentum_beta", lambda: gdt.ema_momentum(0.1, beta=1.5), ValueError, "`beta`"),
    factory("trace_nan_decay", lambda: gdt.trace(NAN), ValueError, "`decay`"),
    factory("trace_decay_above_1", lambda: gdt.trace(1.5), ValueError, "`decay`"),  # 1.0 itself is a running sum
    factory("stddev_decay_negative", lambda: gdt.scale_by_stddev(decay=-0.1), ValueError, "`decay`"),
    factory("adam_b1_string", lambda: gdt.adam(0.1, b1="x"), TypeError, "`b1`"),
    # -- Scalar hyperparameters (issue 13, item 8): shapes would leak into the params.
    factory("adam_lr_shape_1", lambda: gdt.adam(jnp.array([0.1])), ValueError, "`learning_rate` must be a scalar"),
    factory("adam_b1_vector", lambda: gdt.adam(0.1, b1=jnp.array([0.9] * 3)), ValueError, "`b1` must be a scalar"),
    factory("adam_lr_bool", lambda: gdt.adam(True), TypeError, "`learning_rate` must be a number"),
    factory("adam_lr_list", lambda: gdt.adam([0.1]), TypeError, "`learning_rate` must be a number"),
    factory("ema_decay_schedule", lambda: gdt.ema(lambda count: 0.9), TypeError, "`decay` must be a number"),
    Bad(
        "sgd_schedule_returns_a_vector",
        update(lambda: gdt.sgd(lambda count: jnp.full((3,), 0.1)), PARAMS),
        ValueError,
        r"`learning_rate` must be a scalar, got an array of shape \(3,\)",
    ),
    Bad(
        "apply_updates_broadcasting_shape",
        lambda run: run(gdt.apply_updates, {"a": jnp.ones(())}, {"a": jnp.ones(3)}),
        ValueError,
        r"apply_updates: updates do not match params at \['a'\]: expected shape \(\), got \(3,\)",
    ),
    # -- eps of 0 (where it guards a division), negative or NaN.
    factory("adam_eps_0", lambda: gdt.adam(0.1, eps=0.0), ValueError, "`eps`"),
    factory("adam_eps_negative", lambda: gdt.adam(0.1, eps=-1e-8), ValueError, "`eps`"),
    factory("adam_eps_root_negative", lambda: gdt.adam(0.1, eps_root=-1.0), ValueError, "eps_root"),
    factory("rmsprop_eps_0", lambda: gdt.rmsprop(0.1, eps=0.0), ValueError, "`eps`"),
    factory("adamax_eps_0", lambda: gdt.adamax(0.1, eps=0.0), ValueError, "`eps`"),
    factory("adagrad_eps_negative", lambda: gdt.adagrad(0.1, eps=-1.0), ValueError, "`eps`"),
    factory("lamb_eps_root_nan", lambda: gdt.lamb(0.1, eps_root=NAN), ValueError, "eps_root"),
    factory("rss_eps_inf", lambda: gdt.scale_by_rss(eps=INF), ValueError, "`eps`"),
    # -- Other hyperparameters.
    factory("rmsprop_initial_scale", lambda: gdt.rmsprop(0.1, initial_scale=-1.0), ValueError, "initial_scale"),
    factory(
        "adagrad_initial_accumulator",
        lambda: gdt.adagrad(0.1, initial_accumulator_value=-0.1),
        ValueError,
        "initial_accumulator_value",
    ),
    factory("clip_negative", lambda: gdt.clip(-1.0), ValueError, "max_delta"),
    factory("clip_by_global_norm_0", lambda: gdt.clip_by_global_norm(0.0), ValueError, "max_norm"),
    factory("trust_ratio_min_norm", lambda: gdt.scale_by_trust_ratio(min_norm=-1.0), ValueError, "min_norm"),
    # An unknown lion mode raises at update, as in optax.
    Bad("lion_mode", update(lambda: gdt.scale_by_lion(mode="soft"), PARAMS), ValueError, "`mode`"),
    factory("scale_by_schedule_number", lambda: gdt.scale_by_schedule(0.1), TypeError, "step_size_fn"),
    # -- State dtypes.
    factory("adam_int_mu_dtype", lambda: gdt.adam(0.1, mu_dtype=jnp.int32), TypeError, "mu_dtype"),
    factory("adam_bool_nu_dtype", lambda: gdt.adam(0.1, nu_dtype="bool"), TypeError, "nu_dtype"),
    factory(
        "trace_int_accumulator", lambda: gdt.trace(0.9, accumulator_dtype=jnp.int8), TypeError, "accumulator_dtype"
    ),
    factory(
        "sgd_unknown_dtype", lambda: gdt.sgd(0.1, 0.9, accumulator_dtype="float33"), TypeError, "accumulator_dtype"
    ),
    # -- Composition.
    factory("chain_of_a_string", lambda: gdt.chain(gdt.sgd(0.1), "adam"), TypeError, "got str"),
    factory("masked_non_transformation", lambda: gdt.masked(3, {"w": True}), TypeError, "got int"),
    factory(
        "named_chain_duplicate_names",
        lambda: gdt.named_chain(("opt", gdt.sgd(0.1)), ("opt", gdt.adam(0.1))),
        ValueError,
        "unique",
    ),
    # -- Schedules and live hyperparameters.
    factory("linear_schedule_0_steps", lambda: gdt.linear_schedule(1.0, 0.0, 0), ValueError, "transition_steps"),
    factory("cosine_decay_0_steps", lambda: gdt.cosine_decay_schedule(1.0, 0), ValueError, "decay_steps"),
    factory("exponential_decay_negative_rate", lambda: gdt.exponential_decay(1.0, 10, -0.5), ValueError, "decay_rate"),
    factory(
        "warmup_longer_than_schedule",
        lambda: gdt.warmup_cosine_decay_schedule(0.0, 1.0, 10, 5),
        ValueError,
        "warmup_steps",
    ),
    factory(
        "piecewise_negative_scale",
        lambda: gdt.piecewise_constant_schedule(1.0, {10: -1.0}),
        ValueError,
        r"boundaries_and_scales\[10\]",
    ),
    factory(
        "interpolate_type",
        lambda: gdt.piecewise_interpolate_schedule("quadratic", 1.0, {}),
        ValueError,
        "interpolate_type",
    ),
    factory(
        "join_boundaries_decrease",
        lambda: gdt.join_schedules([gdt.constant_schedule(1.0)] * 3, [10, 5]),
        ValueError,
        "`boundaries` must increase",
    ),
    factory(
        "join_boundaries_count",
        lambda: gdt.join_schedules([gdt.constant_schedule(1.0)] * 3, [10]),
        ValueError,
        "`boundaries` must have one entry fewer",
    ),
    factory(
        "sgdr_without_decay_steps", lambda: gdt.sgdr_schedule([{"init_value": 1.0}]), ValueError, r"cosine_kwargs\[0\]"
    ),
    factory(
        "onecycle_phases_overlap",
        lambda: gdt.linear_onecycle_schedule(100, 1.0, pct_start=0.9, pct_final=0.5),
        ValueError,
        "pct_start",
    ),
    factory(
        "inject_negative_lr", lambda: gdt.inject_hyperparams(gdt.adam)(learning_rate=-1.0), ValueError, "learning_rate"
    ),
    factory(
        "inject_string_lr", lambda: gdt.inject_hyperparams(gdt.sgd)(learning_rate="0.1"), TypeError, "learning_rate"
    ),
    factory("plateau_factor_above_1", lambda: gdt.reduce_on_plateau(factor=1.5), ValueError, "`factor`"),
    factory("plateau_patience_0", lambda: gdt.reduce_on_plateau(patience=0), ValueError, "`patience`"),
    Bad("plateau_without_value", update(lambda: gdt.reduce_on_plateau(), PARAMS), ValueError, "value=loss"),
    # -- Wrappers: MultiSteps k = 0, masks and labels that do not match params.
    factory("multisteps_k_0", lambda: gdt.MultiSteps(gdt.adam(0.1), 0), ValueError, "every_k_schedule"),
    Bad(
        "multisteps_k_schedule_gives_0",  # A traced k cannot be checked: eager only.
        update(lambda: gdt.MultiSteps(gdt.adam(0.1), lambda step: 0).gradient_transformation(), PARAMS),
        ValueError,
        "every_k_schedule",
        traced=False,
    ),
    factory("lookahead_sync_period_0", lambda: gdt.lookahead(gdt.sgd(0.1), 0, 0.5), ValueError, "sync_period"),
    factory("lookahead_slow_step_size_neg", lambda: gdt.lookahead(gdt.sgd(0.1), 2, -0.5), ValueError, "slow_step_size"),
    factory(
        "apply_if_finite_negative", lambda: gdt.apply_if_finite(gdt.sgd(0.1), -1), ValueError, "max_consecutive_errors"
    ),
    factory(
        "conditionally_mask_not_callable",
        lambda: gdt.conditionally_mask(gdt.sgd(0.1), 3),
        TypeError,
        "should_transform_fn",
    ),
    factory("ema_params_decay", lambda: gdt.ema_params(1.5), ValueError, "`decay`"),
    Bad(
        "masked_mask_missing_a_subtree",
        init(lambda: gdt.masked(gdt.adam(0.1), {"dense": True}), PARAMS),
        ValueError,
        r"masked: mask does not match params: \['out'\]",
    ),
    Bad(
        "masked_mask_not_bool",
        init(lambda: gdt.masked(gdt.adam(0.1), {"dense": {"w": 1.0, "b": True}, "out": [True]}), PARAMS),
        TypeError,
        r"mask leaf at \['dense'\]\['w'\] must be a bool",
    ),
    Bad(
        "adamw_mask_mismatch",
        init(lambda: gdt.adamw(0.1, mask={"dense": {"w": True}, "out": [True]}), PARAMS),
        ValueError,
        r"mask does not match params: \['dense'\]\['b'\]",
    ),
    Bad(
        "partition_unknown_label",
        init(lambda: gdt.partition({"a": gdt.sgd(0.1)}, {**ALL_A, "dense": {"w": "a", "b": "b"}}), PARAMS),
        ValueError,
        r"label at \['dense'\]\['b'\] is 'b', which has no transformation",
    ),
    Bad(
        "partition_labels_mismatch",
        init(lambda: gdt.partition({"a": gdt.sgd(0.1)}, {"dense": "a", "out": ["a", "a"]}), PARAMS),
        ValueError,
        r"label tree does not match params: \['out'\]\[1\]",
    ),
    Bad(
        "freeze_mask_mismatch",
        init(lambda: gdt.freeze({"dense": True, "outs": [True]}), PARAMS),
        ValueError,
        r"freeze: mask does not match params: \['outs'\]",
    ),
    Bad(
        "lookahead_plain_params",
        lambda run: (lambda tx: run(tx.update, PARAMS, tx.init(SYNCED), PARAMS))(gdt.lookahead(gdt.sgd(0.1), 2, 0.5)),
        TypeError,
        "LookaheadParams",
    ),
    Bad(
        "lookahead_without_params",
        lambda run: (lambda tx: run(tx.update, PARAMS, tx.init(SYNCED)))(gdt.lookahead(gdt.sgd(0.1), 2, 0.5)),
        ValueError,
        "params",
    ),
    # -- Checkpoints restored into the wrong optimizer, or not checkpoints.
    factory(
        "checkpoint_of_adam_into_sgd",
        lambda: gdt.restore_state(checkpoint(gdt.adam(0.1).init(PARAMS)), gdt.sgd(0.1, 0.9).init(PARAMS)),
        ValueError,
        r"restore_state: the checkpoint .* does not match the target state.*\[0\]",
    ),
    factory(
        "checkpoint_of_adam_into_amsgrad",
        lambda: gdt.restore_state(checkpoint(gdt.adam(0.1).init(PARAMS)), gdt.amsgrad(0.1).init(PARAMS)),
        ValueError,
        "ScaleByAmsgradState",
    ),
    factory(
        "checkpoint_of_another_model",
        lambda: gdt.restore_state(checkpoint(gdt.adam(0.1).init(PARAMS)), gdt.adam(0.1).init(OTHER_MODEL)),
        ValueError,
        r"\[0\].mu\['dense'\]\['b'\]",
    ),
    factory(
        "restore_from_a_file_that_is_not_a_checkpoint",
        lambda: gdt.restore_state(io.BytesIO(b"not a checkpoint"), gdt.adam(0.1).init(PARAMS)),
        ValueError,
        "not a gdtransforms state file",
    ),
    factory(
        "save_a_state_with_an_object_leaf",
        lambda: gdt.save_state(io.BytesIO(), {"count": jnp.zeros([]), "note": object()}),
        TypeError,
        r"save_state: the leaf at \['note'\]",
    ),
    # -- Integer and boolean params.
    Bad("adam_int_params", init(lambda: gdt.adam(0.1), INT_LEAF), TypeError, r"\['step'\].*int32"),
    Bad("sgd_int_params", init(lambda: gdt.sgd(0.1), INT_LEAF), TypeError, r"\['step'\].*int32"),
    Bad("adagrad_bool_params", init(lambda: gdt.adagrad(0.1), [jnp.ones(2, bool)]), TypeError, r"\[0\].*bool"),
    Bad(
        "adam_int_grads",
        update(lambda: gdt.adam(0.1), {**PARAMS, "out": [jnp.ones(3, jnp.int32)]}),
        TypeError,
        r"updates leaf at \['out'\]\[0\]",
    ),
    # -- Grads that do not match the state.
    Bad(
        "adamax_grads_of_another_shape",
        update(lambda: gdt.adamax(0.1), OTHER_MODEL),
        ValueError,
        r"\['dense'\]\['b'\].*expected shape \(3,\), got \(4,\)",
    ),
    Bad(
        "sgd_momentum_grads_missing_a_leaf",
        update(lambda: gdt.sgd(0.1, 0.9), MISSING_LEAF),
        ValueError,
        r"missing the leaf at \['out'\]\[0\]",
    ),
    Bad("lion_grads_renamed_leaf", update(lambda: gdt.lion(0.1), RENAMED), ValueError, r"\['dense'\]\['b'\]"),
    Bad("rmsprop_grads_tuple_not_list", update(lambda: gdt.rmsprop(0.1), AS_TUPLE), ValueError, "different containers"),
    Bad(
        "adam_state_of_another_model",
        update(lambda: gdt.adam(0.1), OTHER_MODEL, state_of=lambda: gdt.adam(0.1), params=OTHER_MODEL),
        ValueError,
        r"params the state was built from at \['dense'\]\['b'\]",
    ),
    # -- Params that do not match the updates.
    Bad(
        "decayed_weights_params_mismatch",
        update(lambda: gdt.add_decayed_weights(0.1), PARAMS, params=MISSING_LEAF),
        ValueError,
        r"add_decayed_weights.update: updates do not match params.*\['out'\]\[0\]",
    ),
    Bad(
        "trust_ratio_params_mismatch",
        update(lambda: gdt.scale_by_trust_ratio(), PARAMS, params=RENAMED),
        ValueError,
        r"scale_by_trust_ratio.update: updates do not match params.*\['dense'\]\['b",
    ),
    Bad(
        "apply_updates_mismatch",
        lambda run: run(gdt.apply_updates, PARAMS, MISSING_LEAF),
        ValueError,
        r"apply_updates: updates do not match params: missing the leaf at \['out'\]\[0\]",
    ),
    Bad(
        "incremental_update_mismatch",
        lambda run: run(gdt.incremental_update, PARAMS, RENAMED, 0.5),
        ValueError,
        r"incremental_update: old_tensors do not match new_tensors.*\['dense'\]",
    ),
    # -- update without params where they are needed.
    Bad("adamw_without_params", no_params(lambda: gdt.adamw(0.1)), ValueError, "params"),
    Bad("lamb_without_params", no_params(lambda: gdt.lamb(0.1)), ValueError, "params"),
    Bad("lion_without_params", no_params(lambda: gdt.lion(0.1)), ValueError, "params"),
    Bad("l1_without_params", no_params(lambda: gdt.add_l1_penalty(0.1)), ValueError, "params"),
    Bad("trust_ratio_without_params", no_params(lambda: gdt.scale_by_trust_ratio()), ValueError, "params"),
    # -- A state restored into the wrong optimizer.
    Bad(
        "adam_state_into_sgd_momentum",
        restored(lambda: gdt.sgd(0.1, 0.9), lambda: gdt.adam(0.1)),
        TypeError,
        r"trace.update: expected state [\w.]*TraceState\(trace\).*got [\w.]*ScaleByAdamState\(count, mu, nu\)",
    ),
    Bad(
        "adam_state_into_amsgrad",
        restored(lambda: gdt.amsgrad(0.1), lambda: gdt.adam(0.1)),
        TypeError,
        r"expected state [\w.]*ScaleByAmsgradState.*got [\w.]*ScaleByAdamState",
    ),
    Bad(
        "adam_state_into_adamw",
        restored(lambda: gdt.adamw(0.1), lambda: gdt.adam(0.1)),
        ValueError,
        "chain: expected a state tuple of 3 entries",
    ),
    Bad(
        "sgd_state_into_ema_momentum",
        restored(lambda: gdt.ema_momentum(0.1), lambda: gdt.sgd(0.1, 0.9)),
        TypeError,
        r"ema.update: expected state [\w.]*EmaState\(count, ema\).*got [\w.]*TraceState",
    ),
    Bad(
        "rmsprop_state_into_corrected_rmsprop",
        restored(lambda: gdt.rmsprop(0.1, bias_correction=True), lambda: gdt.rmsprop(0.1)),
        TypeError,
        r"expected state [\w.]*ScaleByRmsWithCountState\(count, nu\).*got [\w.]*ScaleByRmsState\(nu\)",
    ),
    Bad(
        "constant_decay_state_into_scheduled_decay",
        restored(lambda: gdt.adamw(0.1, weight_decay=lambda c: 1e-4), lambda: gdt.adamw(0.1)),
        TypeError,
        r"add_decayed_weights.update: expected state [\w.]*WeightDecaySchedule\(count\).*got [\w.]*EmptyState",
    ),
    Bad(
        "schedule_state_missing",
        restored(lambda: gdt.scale_by_schedule(lambda c: 0.1), lambda: gdt.scale(0.1)),
        TypeError,
        r"expected state [\w.]*ScaleByScheduleState\(count\).*got [\w.]*EmptyState",
    ),
    Bad(
        "adam_state_into_multisteps",
        restored(lambda: gdt.MultiSteps(gdt.adam(0.1), 2).gradient_transformation(), lambda: gdt.adam(0.1)),
        TypeError,
        r"MultiSteps.update: expected state [\w.]*MultiStepsState\(mini_step, gradient_step",
    ),
    Bad(
        "multisteps_state_into_adam",
        restored(lambda: gdt.adam(0.1), lambda: gdt.MultiSteps(gdt.adam(0.1), 2).gradient_transformation()),
        ValueError,
        "chain: expected a state tuple of 2 entries",
    ),
    Bad(
        "adam_state_into_masked",
        restored(lambda: gdt.masked(gdt.adam(0.1), True), lambda: gdt.adam(0.1)),
        TypeError,
        r"masked.update: expected state [\w.]*MaskedState\(inner_state\)",
    ),
    Bad(
        "sgd_state_into_apply_if_finite",
        restored(lambda: gdt.apply_if_finite(gdt.sgd(0.1), 3), lambda: gdt.sgd(0.1)),
        TypeError,
        r"apply_if_finite.update: expected state [\w.]*ApplyIfFiniteState",
    ),
    Bad(
        "adam_state_into_inject_hyperparams",
        restored(lambda: gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1), lambda: gdt.adam(0.1)),
        TypeError,
        "inject_hyperparams.update: expected state gdtransforms._schedules._inject.InjectStatefulHyperparamsState",
    ),
    Bad(
        "adam_state_into_partition",
        restored(lambda: gdt.partition({"a": gdt.adam(0.1)}, ALL_A), lambda: gdt.adam(0.1)),
        TypeError,
        r"partition.update: expected state [\w.]*PartitionState\(inner_states\)",
    ),
    Bad(
        "adam_state_into_lookahead",
        lambda run: run(gdt.lookahead(gdt.sgd(0.1), 2, 0.5).update, PARAMS, gdt.adam(0.1).init(PARAMS), SYNCED),
        TypeError,
        r"lookahead.update: expected state [\w.]*LookaheadState",
    ),
    Bad(
        "adam_state_into_conditionally_mask",
        restored(lambda: gdt.conditionally_mask(gdt.sgd(0.1), lambda step: step > 0), lambda: gdt.adam(0.1)),
        TypeError,
        r"conditionally_mask.update: expected state [\w.]*ConditionallyMaskState",
    ),
    Bad(
        "adam_state_into_ema_params",
        restored(lambda: gdt.ema_params(0.9), lambda: gdt.adam(0.1)),
        TypeError,
        r"ema_params.update: expected state [\w.]*EmaParamsState",
    ),
    Bad(
        "adam_state_into_monitor",
        restored(lambda: gdt.monitor({"norm": gdt.global_norm}), lambda: gdt.adam(0.1)),
        TypeError,
        r"monitor.update: expected state [\w.]*MonitorState",
    ),
    Bad(
        "tuple_state_into_named_chain",
        restored(lambda: gdt.named_chain(("opt", gdt.sgd(0.1))), lambda: gdt.sgd(0.1)),
        TypeError,
        r"named_chain: expected a dict of states by name \['opt'\]",
    ),
    Bad(
        "named_chain_state_of_another_chain",
        restored(
            lambda: gdt.named_chain(("clip", gdt.clip(1.0)), ("opt", gdt.sgd(0.1))),
            lambda: gdt.named_chain(("opt", gdt.sgd(0.1))),
        ),
        ValueError,
        r"named_chain: state has no entry for \['clip'\]",
    ),
]


def eager(f, *args):
    return f(*args)


def jitted(f, *args):
    return jax.jit(f)(*args)


def test_the_matrix_is_big_and_ids_are_unique():
    assert len(ROWS) >= 40
    assert len({row.id for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_bad_input_raises_a_clear_error(row: Bad):
    for run in (eager, jitted) if row.traced else (eager,):
        with pytest.raises(Exception) as info:
            row.call(run)
        err = info.value
        how = f"{row.id} ({run.__name__})"
        # The exact type, not a JAX tracer error (some subclass TypeError) and
        # not an AttributeError or KeyError from deep inside.
        assert type(err) is row.error, f"{how}: {type(err).__name__}: {err}"
        assert not type(err).__module__.startswith("jax"), f"{how}: {err}"
        assert row.error in (ValueError, TypeError)
        assert info.match(row.fragment), f"{how}: {err}"
