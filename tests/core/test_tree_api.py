"""Tests for tree_get, tree_set, tree_get_all_with_path and tree_map_params."""

import collections

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import make_params


def _optax_state():
    opt = optax.chain(
        optax.inject_hyperparams(optax.sgd)(learning_rate=lambda c: 1.0 / (c + 1)),
        optax.named_chain(("adam", optax.scale_by_adam()), ("clip", optax.clip(1.0))),
        optax.masked(optax.trace(0.9), {"w": True, "b": False}),
    )
    return opt.init({"w": jnp.ones(2), "b": jnp.zeros(1)})


@pytest.mark.parametrize(
    "key", ["learning_rate", "count", "mu", "trace", "ScaleByAdamState", "adam", "inner_state", "missing"]
)
def test_get_all_with_path_agrees_with_optax(key):
    state = _optax_state()
    ours = gdt.tree_get_all_with_path(state, key)
    ref = optax.tree.get_all_with_path(state, key)
    assert sorted(jax.tree_util.keystr(p) for p, _ in ours) == sorted(jax.tree_util.keystr(p) for p, _ in ref)
    ours_values = dict((jax.tree_util.keystr(p), v) for p, v in ours)
    for path, value in ref:
        got = ours_values[jax.tree_util.keystr(path)]
        assert jax.tree.structure(got) == jax.tree.structure(value)


def test_get_with_filtering_and_default():
    state = _optax_state()
    lr = gdt.tree_get(state, "learning_rate", filtering=lambda path, value: isinstance(value, jax.Array))
    assert float(lr) == 1.0
    assert gdt.tree_get(state, "nope", default=7) == 7
    with pytest.raises(KeyError, match="2 values match 'count'"):
        gdt.tree_get(gdt.chain(gdt.adam(1.0), gdt.ema_params(0.9)).init(jnp.zeros(1)), "count")
    paths = gdt.tree_get_all_with_path(gdt.adam(1.0).init(jnp.zeros(1)), "count")
    assert paths[0][0][-1] == gdt.NamedTupleKey("ScaleByAdamState", "count")


def test_set_replaces_only_the_named_values():
    opt = gdt.adam(1.0)
    state = opt.init({"w": jnp.ones(2)})
    new = gdt.tree_set(state, count=jnp.asarray(5, jnp.int32))
    assert int(new[0].count) == 5 and int(state[0].count) == 0
    assert jax.tree.structure(new) == jax.tree.structure(state)
    # The same call on optax's state gives the same result.
    ref = optax.tree.set(optax.adam(1.0).init({"w": jnp.ones(2)}), count=jnp.asarray(5))
    assert int(ref[0].count) == 5


def test_set_whole_named_tuple_with_filtering_and_missing_keys():
    state = _optax_state()
    zero_mu = gdt.tree_set(state, mu={"w": jnp.full(2, 3.0), "b": jnp.full(1, 3.0)})
    np.testing.assert_array_equal(gdt.tree_get(zero_mu, "mu")["w"], [3.0, 3.0])
    lr = jnp.asarray(0.1)
    new = gdt.tree_set(state, lambda path, value: isinstance(value, jax.Array), learning_rate=lr)
    is_array = lambda path, value: isinstance(value, jax.Array)  # noqa: E731
    assert float(gdt.tree_get(new, "learning_rate", filtering=is_array)) == pytest.approx(0.1)
    # named_chain's OrderedDict keeps its type.
    assert isinstance(new[1], collections.OrderedDict)
    with pytest.raises(KeyError, match="no value named 'nope'"):
        gdt.tree_set(state, nope=1)
    replaced = gdt.tree_set(state, ScaleByAdamState="x")
    assert replaced[1]["adam"] == "x"


def test_tree_map_params_matches_optax():
    params = make_params()
    specs = jax.tree.map(lambda x: jnp.asarray(x.shape[0] if x.ndim else 0), params)
    opt, ref = gdt.adam(1.0), optax.adam(1.0)
    ours = gdt.tree_map_params(opt, lambda _, s: s, opt.init(params), specs, transform_non_params=lambda _: None)
    theirs = optax.tree_map_params(ref, lambda _, s: s, ref.init(params), specs, transform_non_params=lambda _: None)
    assert ours[0]._fields == theirs[0]._fields
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs)):
        np.testing.assert_array_equal(a, b)
    assert ours[0].count is None
    np.testing.assert_array_equal(ours[0].mu["dense"]["w"], 3)


def test_tree_map_params_through_wrappers():
    params = make_params()
    opt = gdt.apply_if_finite(
        gdt.partition(
            {"a": gdt.adam(1.0), "s": gdt.sgd(1.0, momentum=0.9)},
            lambda p: jax.tree.map(lambda x: "a" if x.ndim == 2 else "s", p),
        ),
        3,
    )
    state = opt.init(params)
    mapped = gdt.tree_map_params(opt, lambda x: x.dtype, state)
    mu = mapped.inner_state.inner_states["a"].inner_state[0].mu
    assert mu["dense"]["w"] == jnp.float32
    assert isinstance(mu["dense"]["b"], gdt.MaskedNode)
    trace = gdt.tree_get(mapped, "trace")
    assert trace["blocks"][0][1] == jnp.bfloat16


def test_tree_map_params_through_multisteps_lookahead_and_monitor():
    params = make_params()
    opt = gdt.chain(
        gdt.monitor({"norm": gdt.global_norm}),
        gdt.MultiSteps(gdt.lookahead(gdt.adam(1.0), 2, 0.5), 2).gradient_transformation(),
        gdt.ema_params(0.9),
    )
    state = opt.init(params)
    mapped = gdt.tree_map_params(opt, lambda x: x.shape, state, transform_non_params=lambda x: "other")
    assert mapped[1].acc_grads["dense"]["w"] == (3, 2)
    assert gdt.tree_get(mapped, "mu")["blocks"][0][1] == (3,)
    assert mapped[2].ema["dense"]["b"] == (2,)
    assert mapped[1].mini_step == "other" and mapped[0].measurements["norm"] == "other"
