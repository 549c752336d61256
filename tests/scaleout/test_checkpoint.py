"""Tests for save_state / restore_state (and orbax-checkpoint, when installed)."""

import os
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests._trees import nested_params


def make_params():
    # dense: {w: (3, 4), b: (4,)}; layers: [(2, 2), (bfloat16 (3,), float32 scalar)]
    return nested_params()


MASK = {"dense": {"w": True, "b": True}, "layers": [True, (False, True)]}
NOT_MASK = jax.tree.map(lambda m: not m, MASK)


def make_opt(lr=1e-2):
    """A state with every container kind: OrderedDict, NamedTuples, tuples,
    dicts, lists, empty states; wrapper states (MultiSteps, apply_if_finite
    with its bool flag, masked with MaskedNode); injected (weakly typed)
    hyperparameters; int32 counts; float32 moments of a bfloat16 leaf."""
    adam = gdt.inject_hyperparams(gdt.adam, static_args="mu_dtype")(learning_rate=lr, mu_dtype=jnp.float32)
    chain = gdt.named_chain(
        ("clip", gdt.clip_by_global_norm(1.0)),
        ("adam", gdt.masked(adam, MASK)),
        ("momentum", gdt.masked(gdt.sgd(lr, momentum=0.9), NOT_MASK)),
    )
    return gdt.MultiSteps(
        gdt.apply_if_finite(chain, max_consecutive_errors=3), every_k_schedule=2
    ).gradient_transformation()


def chain_state(state):
    """The named_chain's OrderedDict inside the wrappers."""
    return state.inner_opt_state.inner_state


def loss(params, t):
    leaves = jax.tree.leaves(params)
    return sum(jnp.sum(jnp.sin(p.astype(jnp.float32) * (1.0 + t)) + p.astype(jnp.float32) ** 2) for p in leaves)


def make_step(opt):
    @jax.jit
    def step(params, state, t):
        grads = jax.grad(loss)(params, t)
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state

    return step


def run(step, params, state, start, n):
    for t in range(start, start + n):
        params, state = step(params, state, jnp.float32(t))
    return params, state


def assert_bit_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        x, y = np.asarray(x), np.asarray(y)
        assert x.dtype == y.dtype and x.shape == y.shape
        assert x.tobytes() == y.tobytes()


@pytest.fixture(scope="module")
def trained():
    """10 steps, a manual learning-rate decay, then 20 more steps, in one
    uninterrupted run."""
    opt = make_opt()
    step = make_step(opt)
    params = make_params()
    p10, s10 = run(step, params, opt.init(params), 0, 10)
    hyperparams = chain_state(s10)["adam"].inner_state.hyperparams
    hyperparams["learning_rate"] = hyperparams["learning_rate"] * 0.5
    p30, s30 = run(step, p10, s10, 10, 20)
    return opt, step, (p10, s10), (p30, s30)


def test_round_trip_is_bit_exact_with_dtypes(trained, tmp_path):
    opt, _, (_, state), _ = trained
    path = tmp_path / "state.npz"
    gdt.save_state(path, state)
    restored = gdt.restore_state(path, opt.init(make_params()))
    assert_bit_equal(restored, state)
    assert int(restored.gradient_step) == 5 and restored.gradient_step.dtype == jnp.int32
    assert restored.inner_opt_state.last_finite.dtype == jnp.bool_
    assert restored.acc_grads["layers"][1][0].dtype == jnp.float32
    chain = chain_state(restored)
    injected = chain["adam"].inner_state
    # A hyperparameter is kept strongly typed, so that assigning any float never retraces.
    assert injected.hyperparams["learning_rate"].dtype == jnp.float32
    assert not injected.hyperparams["learning_rate"].weak_type
    np.testing.assert_allclose(injected.hyperparams["learning_rate"], 5e-3, rtol=1e-6)
    adam_state = injected.inner_state[0]
    assert adam_state.count.dtype == jnp.int32 and int(adam_state.count) == 5
    assert adam_state.mu["dense"]["w"].dtype == jnp.float32
    assert isinstance(adam_state.mu["layers"][1][0], gdt.MaskedNode)
    trace = chain["momentum"].inner_state[0].trace
    assert trace["layers"][1][0].dtype == jnp.bfloat16
    assert list(chain) == ["clip", "adam", "momentum"]


def test_resume_mid_run_then_20_steps_is_bit_identical(trained, tmp_path):
    opt, step, (p10, s10), (p30, s30) = trained
    path = os.fspath(tmp_path / "ckpt")  # no suffix: written exactly as named
    gdt.save_state(path, (p10, s10))
    assert os.listdir(tmp_path) == ["ckpt"]
    params = make_params()
    target = jax.eval_shape(lambda p: (p, opt.init(p)), params)  # allocates nothing
    params, state = gdt.restore_state(path, target)
    compiled = step._cache_size()
    params, state = run(step, params, state, 10, 20)
    assert step._cache_size() == compiled  # same avals (dtypes, weak types): no retrace
    assert_bit_equal(params, p30)
    assert_bit_equal(state, s30)


def test_file_is_plain_numpy_keyed_by_tree_paths(trained, tmp_path):
    _, _, (_, state), _ = trained
    gdt.save_state(tmp_path / "s.npz", state)
    with np.load(tmp_path / "s.npz") as npz:
        files = set(npz.files)
        chain = ".inner_opt_state.inner_state"
        np.testing.assert_array_equal(npz[f"{chain}['adam'].inner_state.inner_state[0].count"], 5)
        np.testing.assert_allclose(npz[f"{chain}['adam'].inner_state.hyperparams['learning_rate']"], 5e-3, rtol=1e-6)
        # bfloat16 is stored as its raw bits (numpy has no such dtype).
        bits = npz[f"{chain}['momentum'].inner_state[0].trace['layers'][1][0]"]
        assert bits.dtype == np.uint16
        expected = np.asarray(chain_state(state)["momentum"].inner_state[0].trace["layers"][1][0]).view(np.uint16)
        np.testing.assert_array_equal(bits, expected)
        assert npz[".inner_opt_state.last_finite"].dtype == np.bool_
    # Masked-out leaves hold nothing.
    assert f"{chain}['adam'].inner_state.inner_state[0].mu['layers'][1][0]" not in files


class _OtherState(NamedTuple):
    count: jax.Array
    mu: dict
    nu: dict


def _other_adam():
    """A transformation whose state has Adam's field names but another type."""
    adam = gdt.scale_by_adam()

    def init(params):
        return _OtherState(*adam.init(params))

    return gdt.GradientTransformation(init, adam.update)


@pytest.mark.parametrize(
    "target_opt, target_params, message",
    [
        # Another optimizer: momentum's trace where Adam's count was.
        (lambda: gdt.sgd(0.1, momentum=0.9), None, "[0].trace['dense']['b']"),
        # Another params tree: a missing leaf.
        (
            lambda: gdt.adam(0.1),
            lambda p: {**p, "layers": [p["layers"][0], p["layers"][1][:1]]},
            "[0].mu['layers'][1][1]",
        ),
        # Another shape.
        (lambda: gdt.adam(0.1), lambda p: {**p, "dense": {**p["dense"], "b": jnp.ones(5)}}, "[0].mu['dense']['b']"),
        # Another dtype.
        (lambda: gdt.adam(0.1, mu_dtype=jnp.bfloat16), None, "[0].mu['dense']['b']"),
        # Same fields, another state type.
        (lambda: gdt.chain(_other_adam(), gdt.scale(-0.1)), None, "[0].count"),
        # An extra transformation in the chain.
        (lambda: gdt.chain(gdt.scale_by_adam(), gdt.scale(-0.1), gdt.trace(0.9)), None, "[2].trace['dense']['b']"),
    ],
    ids=["other-optimizer", "missing-leaf", "shape", "dtype", "state-type", "extra-transform"],
)
def test_restore_into_mismatched_optimizer_names_the_path(tmp_path, target_opt, target_params, message):
    params = make_params()
    gdt.save_state(tmp_path / "adam.npz", gdt.adam(0.1).init(params))
    target = target_opt().init(params if target_params is None else target_params(params))
    with pytest.raises(ValueError, match=re.escape(message)):
        gdt.restore_state(tmp_path / "adam.npz", target)


def test_mismatch_message_says_what_differs(tmp_path):
    params = make_params()
    gdt.save_state(tmp_path / "adam.npz", gdt.adam(0.1).init(params))
    with pytest.raises(ValueError) as info:
        gdt.restore_state(
            tmp_path / "adam.npz", gdt.adam(0.1).init({**params, "dense": {"w": jnp.ones((3, 4)), "b": jnp.ones(5)}})
        )
    assert str(info.value) == (
        f"restore_state: the checkpoint {str(tmp_path / 'adam.npz')!r} does not match the target state: at "
        "[0].mu['dense']['b'] the target has a float32[5] leaf, the checkpoint a "
        "float32[4] leaf. Build the target with the optimizer and params the "
        "checkpoint was saved with."
    )


def test_not_a_state_file_is_refused(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(2))
    with pytest.raises(ValueError, match="not a gdtransforms state file"):
        gdt.restore_state(tmp_path / "other.npz", gdt.adam(0.1).init(make_params()))


def test_abstract_state_cannot_be_saved(tmp_path):
    abstract = jax.eval_shape(gdt.adam(0.1).init, make_params())
    with pytest.raises(TypeError, match=re.escape("leaf at [0].count is an abstract")):
        gdt.save_state(tmp_path / "x.npz", abstract)


def test_weak_types_and_placement_round_trip(tmp_path):
    device = jax.devices()[0]
    sharding = jax.sharding.SingleDeviceSharding(device)
    state = {
        "lr": jnp.asarray(0.1),  # weakly typed, as from a Python float
        "ws": jax.lax.full((3,), 2.0),  # weakly typed array
        "strong": jnp.ones(2),
        "none": None,
    }
    gdt.save_state(tmp_path / "w.npz", state)
    restored = gdt.restore_state(tmp_path / "w.npz", state)
    assert restored["lr"].weak_type and restored["ws"].weak_type
    assert not restored["strong"].weak_type and restored["none"] is None
    assert restored["strong"].sharding == sharding
    # A weak float32 keeps bfloat16 updates bfloat16 after the restore.
    assert (restored["lr"] * jnp.ones(2, jnp.bfloat16)).dtype == jnp.bfloat16
    assert_bit_equal(restored, state)


def test_save_and_restore_do_no_implicit_transfer(trained, tmp_path):
    opt, _, (_, state), _ = trained
    target = opt.init(make_params())
    with jax.transfer_guard("disallow"):
        gdt.save_state(tmp_path / "g.npz", state)
        restored = gdt.restore_state(tmp_path / "g.npz", target)
    assert_bit_equal(restored, state)


def test_file_objects(trained):
    import io

    opt, _, (_, state), _ = trained
    buffer = io.BytesIO()
    gdt.save_state(buffer, state)
    buffer.seek(0)
    assert_bit_equal(gdt.restore_state(buffer, opt.init(make_params())), state)


def test_orbax_checkpoint_round_trip_and_resume(trained, tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    opt, step, (p10, s10), (p30, s30) = trained
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save(tmp_path / "orbax", {"params": p10, "opt_state": s10})
    checkpointer.wait_until_finished()
    target = jax.eval_shape(lambda p: {"params": p, "opt_state": opt.init(p)}, make_params())
    restored = checkpointer.restore(tmp_path / "orbax", target)
    assert_bit_equal(restored["opt_state"], s10)
    params, state = run(step, restored["params"], restored["opt_state"], 10, 20)
    assert_bit_equal(params, p30)
    assert_bit_equal(state, s30)


def test_haiku_style_keys_with_slashes_and_quotes(tmp_path):
    state = gdt.sgd(0.1, momentum=0.9).init({"mlp/~/linear_0": {"w": jnp.ones(2)}, "it's": jnp.zeros(3)})
    state = jax.tree.map(lambda x: x + 0.5, state)
    gdt.save_state(tmp_path / "h.npz", state)
    assert_bit_equal(gdt.restore_state(tmp_path / "h.npz", state), state)


def test_zero_size_leaves_round_trip(tmp_path):
    # SOAP keeps (0, 0) placeholders for axes it does not precondition; the checksum once refused them.
    params = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
    opt = gdt.soap(0.1)
    state = opt.init(params)
    assert any(x.size == 0 for x in jax.tree.leaves(state))
    gdt.save_state(tmp_path / "soap.npz", state)
    restored = gdt.restore_state(tmp_path / "soap.npz", jax.eval_shape(opt.init, params))
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(state)):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
