"""inject_hyperparams: exact, settable without recompiling, sweepable with vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from gdtransforms._schedules._hyper import HyperScalar
from tests._trees import gradient_sequence, nested_params

STEPS = 20
PARAMS = nested_params()  # float32 leaves, one bfloat16 leaf, one scalar leaf
GRADS = gradient_sequence(PARAMS, STEPS)


def _trajectory(opt, jit):
    """Params and updates after each of STEPS updates along GRADS."""
    update = jax.jit(opt.update) if jit else opt.update
    params, state, out = PARAMS, opt.init(PARAMS), []
    for grads in GRADS:
        updates, state = update(grads, state, params)
        params = gdt.apply_updates(params, updates)
        out.append((updates, params))
    return out


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype
        assert jnp.array_equal(x, y), (x, y)


# -- Bit-identical to the plain optimizer (optax #1532, #583) ---------------------

OPTIMIZERS = {
    "adam": (gdt.adam, dict(learning_rate=0.05, b1=0.9, b2=0.999)),
    "sgd_momentum": (gdt.sgd, dict(learning_rate=0.05, momentum=0.9)),
    "rmsprop": (gdt.rmsprop, dict(learning_rate=0.01, decay=0.9)),
}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bit_identical_to_the_plain_optimizer(name, jit):
    factory, kwargs = OPTIMIZERS[name]
    plain = _trajectory(factory(**kwargs), jit)
    injected = _trajectory(gdt.inject_hyperparams(factory)(**kwargs), jit)
    _assert_identical(plain, injected)


def test_bit_identical_with_an_optax_factory_too():
    plain = _trajectory(optax.adam(0.05), jit=True)
    _assert_identical(plain, _trajectory(gdt.inject_hyperparams(optax.adam)(learning_rate=0.05), jit=True))


def test_scheduled_rate_is_identical_to_the_plain_schedule():
    sched = gdt.piecewise_constant_schedule(0.1, {5: 0.5, 12: 0.1})
    plain = _trajectory(gdt.sgd(sched, momentum=0.9), jit=True)
    injected = _trajectory(gdt.inject_hyperparams(gdt.sgd)(learning_rate=sched, momentum=0.9), jit=True)
    _assert_identical(plain, injected)


def test_changed_values_are_used():
    opt = gdt.inject_hyperparams(gdt.adam)(learning_rate=0.05)
    state = opt.init(PARAMS)
    state.hyperparams["b1"] = 0.5
    state.hyperparams["learning_rate"] = 0.2
    updates, _ = opt.update(GRADS[0], state, PARAMS)
    expected, _ = gdt.adam(0.2, b1=0.5).update(GRADS[0], gdt.adam(0.2, b1=0.5).init(PARAMS), PARAMS)
    for x, y in zip(jax.tree.leaves(updates), jax.tree.leaves(expected)):
        np.testing.assert_allclose(np.float32(x), np.float32(y), rtol=1e-6)


# -- State, dtypes and schedules --------------------------------------------------


def test_hyperparams_readable_by_name_with_their_own_dtype():
    bf16_params = {"w": jnp.ones(3, jnp.bfloat16)}
    opt = gdt.inject_hyperparams(gdt.adam)(learning_rate=1e-3, b2=jnp.asarray(0.99, jnp.bfloat16))
    state = opt.init(bf16_params)
    # optax #1414: 1e-3 is float32 even though every param is bfloat16.
    assert state.hyperparams["learning_rate"].dtype == jnp.float32
    assert float(state.hyperparams["learning_rate"]) == np.float32(1e-3)
    assert state.hyperparams["b2"].dtype == jnp.bfloat16  # an array keeps its dtype
    assert set(state.hyperparams) == {"learning_rate", "b1", "b2", "eps", "eps_root"}
    updates, state = jax.jit(opt.update)(bf16_params, state)
    assert updates["w"].dtype == jnp.bfloat16
    assert state.hyperparams["learning_rate"].dtype == jnp.float32
    assert int(state.count) == 1


def test_hyperparam_dtype_casts_every_float():
    opt = gdt.inject_hyperparams(gdt.adam, hyperparam_dtype=jnp.bfloat16)(learning_rate=0.1)
    state = opt.init(PARAMS)
    assert {v.dtype for v in state.hyperparams.values()} == {jnp.dtype(jnp.bfloat16)}
    _, state = opt.update(GRADS[0], state, PARAMS)
    assert state.hyperparams["b1"].dtype == jnp.bfloat16
    with pytest.raises(TypeError, match="hyperparam_dtype"):
        gdt.inject_hyperparams(gdt.adam, hyperparam_dtype=jnp.int32)


def test_schedule_values_are_in_the_state():
    opt = gdt.inject_hyperparams(gdt.trace)(decay=gdt.piecewise_constant_schedule(0.8, {3: 0.5}))
    state = opt.init(PARAMS)
    seen = []
    for _ in range(5):
        _, state = opt.update(GRADS[0], state)
        seen.append(float(state.hyperparams["decay"]))
    assert seen == pytest.approx([0.8, 0.8, 0.8, 0.4, 0.4])
    assert int(state.hyperparams_states["decay"].count) == 5


def test_stateful_schedule_reads_extra_args():
    class Accumulated:  # a stateful schedule: init, update and __call__
        def init(self):
            return jnp.zeros([], jnp.float32)

        def update(self, state, **extra_args):
            return state + extra_args["addendum"]

        def __call__(self, state, **extra_args):
            return state

    opt = gdt.inject_hyperparams(gdt.scale)(step_size=Accumulated())
    state = opt.init(PARAMS)
    step = jax.jit(opt.update)
    for _ in range(3):
        updates, state = step(PARAMS, state, addendum=jnp.float32(0.5))
    assert float(state.hyperparams["step_size"]) == 1.0  # the value used by the third step
    np.testing.assert_allclose(updates["dense"]["b"], PARAMS["dense"]["b"] * 1.0)


def test_wrapped_schedule_counts_steps():
    ws = gdt.WrappedSchedule(gdt.linear_schedule(1.0, 0.0, 4))
    state = ws.init()
    values = []
    for _ in range(3):
        values.append(float(ws(state)))
        state = ws.update(state, loss=1.0)
    assert values == [1.0, 0.75, 0.5] and isinstance(state, gdt.WrappedScheduleState)


def test_static_args_and_setting_an_int():
    @functools.partial(gdt.inject_hyperparams, static_args="mask")
    def masked_scale(step_size, mask):
        return gdt.masked(gdt.scale(step_size), mask)

    opt = masked_scale(0.5, {"w": True, "v": False})
    params = {"w": jnp.ones(2), "v": jnp.ones(2)}
    state = opt.init(params)
    assert set(state.hyperparams) == {"step_size"}
    state.hyperparams["step_size"] = 3  # an int is cast to the hyperparameter's float32
    updates, state = opt.update(params, state)
    np.testing.assert_array_equal(updates["w"], 3.0 * jnp.ones(2))
    np.testing.assert_array_equal(updates["v"], jnp.ones(2))
    assert state.hyperparams["step_size"].dtype == jnp.float32


# -- Manual decay without recompiling (docs/notes.md §8) -------------------------


def test_manual_decay_compiles_once():
    compiles = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, *a, **k: compiles.append(name) if name.endswith("backend_compile_duration") else None
    )
    opt = gdt.inject_hyperparams(gdt.sgd)(learning_rate=0.1, momentum=0.0)
    traces = []

    @jax.jit
    def train_step(params, state, grads):
        traces.append(1)  # runs only when jax traces, i.e. compiles, the step
        updates, state = opt.update(grads, state, params)
        return gdt.apply_updates(params, updates), state, updates

    params, state = PARAMS, opt.init(PARAMS)
    grads = jax.tree.map(jnp.ones_like, PARAMS)
    step_compiles, rates = 0, []
    new_rates = [None, None, 0.05, None, "half", None, "array", None]  # a person lowering the rate
    for change in new_rates:
        if change == "half":
            state.hyperparams["learning_rate"] = state.hyperparams["learning_rate"] * 0.5
        elif change == "array":
            state.hyperparams["learning_rate"] = jnp.asarray(0.01)
        elif change is not None:
            state.hyperparams["learning_rate"] = change  # a Python float
        before = len(compiles)
        params, state, updates = train_step(params, state, grads)
        step_compiles += len(compiles) - before
        rates.append(-float(updates["dense"]["b"][0]))
    assert len(traces) == 1 and step_compiles == 1
    assert rates == pytest.approx([0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.01, 0.01], rel=1e-6)


# -- Sweeps with vmap ----------------------------------------------------------------


def _loss(params):
    return sum(jnp.sum(jnp.square(p.astype(jnp.float32))) for p in jax.tree.leaves(params))


def _train(learning_rate, b1):
    """Ten Adam steps on a quadratic, in one scan; returns the params and losses."""
    opt = gdt.inject_hyperparams(gdt.adam)(learning_rate=learning_rate, b1=b1)

    def step(carry, _):
        params, state = carry
        loss, grads = jax.value_and_grad(_loss)(params)
        updates, state = opt.update(grads, state, params)
        return (gdt.apply_updates(params, updates), state), loss

    params = {"w": jnp.linspace(-1.0, 1.0, 5), "b": jnp.asarray(0.5)}
    (params, _), losses = jax.lax.scan(step, (params, opt.init(params)), length=10)
    return params, losses


def test_vmap_sweep_equals_separate_runs_in_one_compiled_call():
    traces = []

    def counted(lr, b1):
        traces.append(1)
        return _train(lr, b1)

    lrs = jnp.array([1e-3, 1e-2, 3e-2, 1e-1], jnp.float32)
    b1s = jnp.array([0.9, 0.8, 0.9, 0.5], jnp.float32)
    swept_params, swept_losses = jax.jit(jax.vmap(counted))(lrs, b1s)
    assert len(traces) == 1 and swept_losses.shape == (4, 10)
    single = jax.jit(_train)
    for i, (lr, b1) in enumerate(zip(lrs, b1s)):
        params, losses = single(lr, b1)
        # Equal to an ulp: XLA's CPU code for a batched loop may round differently
        # from the unbatched one (plain gdt.adam with an array rate does the same).
        for x, y in zip(jax.tree.leaves(swept_params), jax.tree.leaves(params)):
            np.testing.assert_allclose(x[i], y, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(swept_losses[i], losses, rtol=1e-6)
    assert float(swept_losses[3, -1]) < float(swept_losses[0, -1])  # the sweep tells the rates apart


def test_vmap_over_a_batch_of_hyperparams_in_the_state():
    # The other way to sweep: build once with Python floats, batch the state.
    opt = gdt.inject_hyperparams(gdt.sgd)(learning_rate=0.1, momentum=0.9)
    params = {"w": jnp.linspace(-1.0, 1.0, 8)}
    lrs = jnp.array([0.1, 0.01, 0.5])  # the first is the built value (exact path)
    batched = jax.tree.map(lambda x: jnp.broadcast_to(x, (3, *jnp.shape(x))), opt.init(params))
    batched.hyperparams["learning_rate"] = lrs
    step = jax.jit(jax.vmap(opt.update, in_axes=(None, 0)))
    for _ in range(2):
        updates, batched = step(params, batched)
    for i, lr in enumerate(lrs):
        plain = gdt.sgd(float(lr), momentum=0.9)
        state = plain.init(params)
        for _ in range(2):
            expected, state = plain.update(params, state)
        np.testing.assert_allclose(updates["w"][i], expected["w"], rtol=1e-6)


def test_injected_plateau_hyperparams_inside_cond():
    # reduce_on_plateau uses factor and patience inside lax.cond branches.
    opt = gdt.inject_hyperparams(gdt.reduce_on_plateau)(factor=0.5, patience=1)
    params = {"w": jnp.ones(2)}
    state, step = opt.init(params), jax.jit(opt.update)
    scales = []
    for t in range(4):
        if t == 3:
            state.hyperparams["factor"] = 0.1
        _, state = step(params, state, params, value=1.0)
        scales.append(float(state.inner_state.scale))
    assert scales == pytest.approx([1.0, 0.5, 0.25, 0.025])


def test_derivative_with_respect_to_a_hyperparameter():
    # One SGD step on L(p) = |p|^2 / 2: L(p - lr p) = (1 - lr)^2 |p|^2 / 2, so dL/dlr = -(1 - lr) |p|^2.
    opt = gdt.inject_hyperparams(gdt.sgd)(learning_rate=0.1)
    params = {"w": jnp.array([1.0, 2.0])}
    state = opt.init(params)

    def loss_after_step(lr):
        s = state._replace(hyperparams={**state.hyperparams, "learning_rate": lr})
        updates, _ = opt.update(params, s, params)
        new = gdt.apply_updates(params, updates)
        return 0.5 * jnp.sum(new["w"] ** 2)

    for lr in (0.1, 0.3):  # the built value (exact path) and a changed one
        assert float(jax.grad(loss_after_step)(jnp.asarray(lr))) == pytest.approx(-(1 - lr) * 5.0, rel=1e-6)


# -- Factories that do more with their hyperparameters --------------------------------


def test_factory_that_calls_jnp_on_a_hyperparameter():
    def sqrt_scale(step_size):
        return gdt.scale(jnp.sqrt(step_size))

    opt = gdt.inject_hyperparams(sqrt_scale)(step_size=4.0)
    state = opt.init(PARAMS)
    updates, state = jax.jit(opt.update)(PARAMS, state)
    np.testing.assert_array_equal(updates["dense"]["w"], 2.0 * PARAMS["dense"]["w"])
    state.hyperparams["step_size"] = 9.0
    updates, _ = jax.jit(opt.update)(PARAMS, state)
    np.testing.assert_array_equal(updates["dense"]["w"], 3.0 * PARAMS["dense"]["w"])
    scheduled = gdt.inject_hyperparams(sqrt_scale)(step_size=lambda count: 4.0 * (count + 1))
    state = scheduled.init(PARAMS)
    for factor in (2.0, np.sqrt(8.0)):
        updates, state = scheduled.update(PARAMS, state)
        np.testing.assert_allclose(updates["dense"]["w"], factor * PARAMS["dense"]["w"], rtol=1e-6)


def test_factory_that_keeps_a_hyperparameter_in_its_state():
    def remember(scale):
        return gdt.GradientTransformation(lambda params: (scale,), lambda u, s, params=None, **kw: (u, (1 - scale,)))

    opt = gdt.inject_hyperparams(remember)(scale=0.9)
    _, state = jax.jit(opt.update)(PARAMS, opt.init(PARAMS))
    kept = state.inner_state[0]
    assert isinstance(kept, jax.Array) and float(kept) == np.float32(1 - 0.9)


def test_hyper_scalar_arithmetic_is_python_while_unchanged():
    built = HyperScalar(0.9, jnp.asarray(0.9), jnp.asarray(True))
    changed = HyperScalar(0.9, jnp.asarray(0.5), jnp.asarray(False))
    x = jnp.ones(2)
    np.testing.assert_array_equal((1 - built) * x, np.float32(1 - 0.9) * np.ones(2))
    assert float(((1 - built) * x)[0]) != float((1 - jnp.float32(0.9)) * 1.0)  # what optax computes
    np.testing.assert_array_equal((1 - changed) * x, 0.5 * np.ones(2))
    np.testing.assert_array_equal(x / (2 * built), x / np.float32(1.8))
    assert (built ** jnp.arange(3)).dtype == jnp.float32
    assert (built * jnp.ones(2, jnp.bfloat16)).dtype == jnp.bfloat16
    assert bool(built > 0.5) and not bool(changed > 0.6)
    with pytest.raises(TypeError, match="static_args"):
        bool(built)
    with pytest.raises(TypeError):
        float(built)


EXPRESSIONS = [
    lambda h: 1 - h,
    lambda h: (1 - h) * (1 - h),
    lambda h: 1 / (1 - h),
    lambda h: -h * 3.0,
    lambda h: h**0.5,
    lambda h: abs(h - 2),
    lambda h: 2.0**h,
]
VALUES = (0.9, 0.999, 3e-4)


def test_hyper_scalar_traced_path_matches_python_constants():
    x = jnp.linspace(0.5, 2.0, 8)
    for dtype in (jnp.float32, jnp.bfloat16):

        @jax.jit
        def evaluate(lives, xx):
            out = []
            for v, live in zip(VALUES, lives):
                h = HyperScalar(v, live, live == v)
                out.append([expr(h) * xx for expr in EXPRESSIONS])
            return out

        lives = [jnp.asarray(v) for v in VALUES]
        got = evaluate(lives, x.astype(dtype))
        for v, row in zip(VALUES, got):
            for expr, value in zip(EXPRESSIONS, row):
                expected = expr(v) * x.astype(dtype)  # what the plain optimizer computes
                assert value.dtype == expected.dtype
                np.testing.assert_array_equal(value, expected)
        changed = evaluate([jnp.asarray(0.5)] * len(VALUES), x)
        for row in changed:
            for expr, value in zip(EXPRESSIONS, row):
                np.testing.assert_allclose(value, expr(np.float32(0.5)) * np.asarray(x), rtol=1e-6)


# -- Bad input -----------------------------------------------------------------------


def test_bad_input():
    with pytest.raises(ValueError, match="static_args"):
        gdt.inject_hyperparams(gdt.scale, static_args="lr")
    with pytest.raises(ValueError, match="b1"):
        gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1, b1=1.0)  # checked when built
    opt = gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1)
    state = opt.init(PARAMS)
    del state.hyperparams["b2"]
    with pytest.raises(ValueError, match="missing"):
        opt.update(GRADS[0], state, PARAMS)
    with pytest.raises(TypeError, match="InjectStatefulHyperparamsState"):
        opt.update(GRADS[0], (), PARAMS)
    assert gdt.InjectHyperparamsState._fields == ("count", "hyperparams", "inner_state")


def test_a_real_error_in_the_inner_update_is_raised_once_not_retried():
    calls = []

    def broken(step_size):
        def update(u, s, params=None):
            calls.append(1)
            return jax.tree.map(lambda x: x @ jnp.ones((7, 7)), u), s  # a shape error

        return gdt.GradientTransformation(lambda p: (), update)

    opt = gdt.inject_hyperparams(broken)(step_size=0.5)
    with pytest.raises(TypeError, match="dot_general"):
        opt.update({"w": jnp.ones(3)}, opt.init({"w": jnp.ones(3)}))
    assert len(calls) == 1  # before: any error re-ran the inner update with plain arrays


def test_a_factory_that_needs_an_array_is_rebuilt_with_arrays():
    def needs_float(step_size):
        return gdt.scale(jnp.maximum(step_size, 0.0) ** 0.5)  # jnp refuses a HyperScalar

    opt = gdt.inject_hyperparams(needs_float)(step_size=4.0)
    updates, _ = jax.jit(opt.update)({"w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}))
    np.testing.assert_array_equal(updates["w"], [2.0, 2.0])


def test_random_key_argument_is_not_a_hyperparameter():
    """A typed key (jax.random.key) is passed to the factory as it is, as in optax."""

    def noisy(key, scale):
        def update_fn(updates, state, params=None):
            del params
            noise = jax.random.normal(state, jnp.shape(updates))
            return updates + scale * noise, jax.random.split(state)[0]

        return gdt.GradientTransformation(lambda params: key, update_fn)

    tx = gdt.inject_hyperparams(noisy)(key=jax.random.key(3), scale=0.5)
    state = jax.jit(tx.init)(jnp.zeros(2))
    assert sorted(state.hyperparams) == ["scale"]
    updates, _ = jax.jit(tx.update)(jnp.zeros(2), state)
    expected = 0.5 * jax.random.normal(jax.random.key(3), (2,))
    np.testing.assert_allclose(updates, expected, rtol=1e-6)
