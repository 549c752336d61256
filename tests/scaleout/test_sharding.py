"""Single-device tests of the state sharding helpers, transfers and bad input.

The multi-device behaviour (FSDP, ZeRO, pmap, shard_map) is in
``tests/multidevice/``, run by ``tests/scaleout/test_multidevice.py``.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

import gdtransforms as gdt

MESH = Mesh(np.array(jax.devices()[:1]), ("x",))
SPLIT, REPLICATED = NamedSharding(MESH, P("x")), NamedSharding(MESH, P())


def params():
    return {
        "w": jax.device_put(jnp.ones((4, 2)), SPLIT),
        "inner": {"w": jax.device_put(jnp.ones(3), REPLICATED)},
        "frozen": jax.device_put(jnp.ones(5), SPLIT),
    }


def test_state_leaves_follow_their_params():
    opt = gdt.chain(
        gdt.clip_by_global_norm(1.0),
        gdt.masked(
            gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1),
            {"w": True, "inner": {"w": True}, "frozen": False},
        ),
        gdt.sgd(0.1, momentum=0.9),
    )
    p = params()
    shardings = gdt.state_shardings(jax.eval_shape(opt.init, p), p)
    injected = shardings[1].inner_state
    assert injected.hyperparams["learning_rate"] == REPLICATED and injected.count == REPLICATED
    adam = injected.inner_state[0]
    # ['inner']['w'] ends with ['w'] too: the longest matching path wins.
    assert adam.mu["w"] == SPLIT and adam.mu["inner"]["w"] == REPLICATED
    assert adam.nu["w"] == SPLIT and adam.count == REPLICATED
    assert isinstance(adam.mu["frozen"], gdt.MaskedNode)
    assert shardings[2][0].trace["frozen"] == SPLIT
    # The shardings place a state directly.
    state = jax.jit(opt.init, out_shardings=shardings)(p)
    assert state[1].inner_state.inner_state[0].mu["w"].sharding == SPLIT


def test_a_leaf_with_a_param_path_but_another_shape_is_not_a_mirror():
    p = {"w": jax.device_put(jnp.ones((4, 2)), SPLIT)}
    state = {"factored": {"w": jnp.zeros(4)}, "full": {"w": jnp.zeros((4, 2))}}
    shardings = gdt.state_shardings(state, p)
    assert shardings == {"factored": {"w": REPLICATED}, "full": {"w": SPLIT}}


def test_param_shardings_argument_and_default():
    abstract = {"w": jax.ShapeDtypeStruct((4, 2), jnp.float32), "b": jax.ShapeDtypeStruct((2,), jnp.float32)}
    state = jax.eval_shape(gdt.adam(0.1).init, abstract)
    shardings = gdt.state_shardings(state, abstract, param_shardings={"w": SPLIT, "b": REPLICATED}, default=SPLIT)
    assert shardings[0].mu == {"w": SPLIT, "b": REPLICATED}
    assert shardings[0].count == SPLIT  # the given default
    with pytest.raises(ValueError, match="`param_shardings` must have the tree structure of `params`"):
        gdt.state_shardings(state, abstract, param_shardings={"w": SPLIT})


def test_params_without_sharding_are_refused_with_their_path():
    abstract = {"layer": [jax.ShapeDtypeStruct((4,), jnp.float32)]}
    with pytest.raises(TypeError, match=re.escape("the param at ['layer'][0] has no sharding")):
        gdt.state_shardings(jax.eval_shape(gdt.adam(0.1).init, abstract), abstract)
    with pytest.raises(ValueError, match="has no leaves; pass `default`"):
        gdt.state_shardings((), {})


def test_zero_state_shardings_specs_and_errors():
    state = gdt.adam(0.1).init({"w": jnp.ones((3, 8)), "b": jnp.ones(2)})
    specs = gdt.zero_state_shardings(state, MESH, "x")
    assert specs[0].mu["w"].spec == P(None, "x")  # the largest axis
    assert specs[0].mu["b"].spec == P("x")
    assert specs[0].count.spec == P()
    assert gdt.zero_state_shardings({"m": jnp.ones((4, 4))}, MESH, ("x",))["m"].spec == P(("x",), None)
    with pytest.raises(
        ValueError, match=re.escape("`axis_name` 'data' is not an axis of the mesh; its axes are ('x',)")
    ):
        gdt.zero_state_shardings(state, MESH, "data")
    with pytest.raises(TypeError, match="`mesh` must be a jax.sharding.Mesh"):
        gdt.zero_state_shardings(state, "x", "x")


def test_jitted_step_makes_no_host_transfer():
    """No silent host transfer: jitted steps with device inputs (schedules and
    injected hyperparameters included) run under transfer_guard("disallow").
    (Eager updates send Python scalar constants to the device, as all eager
    jax code does; on CPU the device-to-host guard cannot fire.)"""
    opt = gdt.chain(gdt.clip_by_global_norm(1.0), gdt.adam(lambda n: 0.1 / (1.0 + n)))
    injected = gdt.inject_hyperparams(gdt.adam)(learning_rate=gdt.cosine_decay_schedule(0.1, 100), b1=0.9)
    p = {"w": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array([0.5, 0.25], jnp.bfloat16)}
    grads = jax.tree.map(lambda x: x * 2, p)

    @jax.jit
    def step(p, states, grads):
        out = []
        for tx, state in zip((opt, injected), states):
            updates, state = tx.update(grads, state, p)
            out.append((gdt.apply_updates(p, updates), state))
        return out

    states = (opt.init(p), injected.init(p))
    with jax.transfer_guard("disallow"):
        for _ in range(2):
            (_, s1), (_, s2) = step(p, states, grads)
            states = (s1, s2)
    assert int(states[0][1][0].count) == 2 and int(states[1].count) == 2


def test_update_with_a_mismatched_tree_names_the_path():
    opt = gdt.adam(0.1)
    state = opt.init({"w": jnp.ones(3), "b": [jnp.ones(2)]})
    with pytest.raises(ValueError, match=re.escape("['b'][0]")):
        jax.jit(opt.update)({"w": jnp.ones(3), "b": [jnp.ones(4)]}, state)
    with pytest.raises(ValueError, match=re.escape("['b']")):
        jax.jit(opt.update)({"w": jnp.ones(3)}, state)
