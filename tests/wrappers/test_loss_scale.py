"""Dynamic loss scaling: the scale sequence, skipped steps, float16 safety, composition, and a float16 model."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

F16 = jnp.float16
INF, NAN = float("inf"), float("nan")


def _assert_identical(a, b, msg=""):
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb), msg
    for x, y in zip(la, lb):
        assert x.dtype == y.dtype, msg
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=msg)


# -- The scale sequence, by hand ------------------------------------------------------------

# (gradient value, is it finite, the scale after the step, good_steps after, skipped so far)
# period 3, factor 2, min 2, max 32, starting at 8.
SEQUENCE = [
    (1.0, True, 8.0, 1, 0),
    (2.0, True, 8.0, 2, 0),
    (3.0, True, 16.0, 0, 0),  # the third finite step doubles
    (INF, False, 8.0, 0, 1),  # an overflow halves
    (1.0, True, 8.0, 1, 1),
    (NAN, False, 4.0, 0, 2),  # a NaN too, and resets the count of good steps
    (-INF, False, 2.0, 0, 3),
    (NAN, False, 2.0, 0, 4),  # min_scale bounds it
    (1.0, True, 2.0, 1, 4),
    (1.0, True, 2.0, 2, 4),
    (1.0, True, 4.0, 0, 4),
    *[
        (1.0, True, s, k, 4)
        for before, s in [(4.0, 8.0), (8.0, 16.0), (16.0, 32.0), (32.0, 32.0)]
        for k, s in [(1, before), (2, before), (0, s)]
    ],  # max_scale bounds it
]


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_scale_sequence_by_hand(jit):
    opt = gdt.dynamic_loss_scaling(gdt.sgd(0.5), initial_scale=8.0, period=3, factor=2.0, min_scale=2.0, max_scale=32)
    update = jax.jit(opt.update) if jit else opt.update
    params = jnp.zeros(2)
    state = opt.init(params)
    assert float(gdt.current_loss_scale(state)) == 8.0 and state.loss_scale.dtype == jnp.float32
    for t, (value, finite, scale, good, skipped) in enumerate(SEQUENCE):
        before = float(state.loss_scale)
        updates, state = update(jnp.array([value, 1.0]) * before, state, params)  # gradients of S * loss
        got = (float(state.loss_scale), int(state.good_steps), bool(state.last_finite), int(state.total_skipped))
        assert got == (scale, good, finite, skipped), f"step {t}"
        expected = [-0.5 * value, -0.5] if finite else [0.0, 0.0]  # unscaled, then sgd
        np.testing.assert_array_equal(updates, np.float32(expected), err_msg=f"step {t}")


def test_default_hyperparameters_are_keras_and_jmp():
    opt = gdt.dynamic_loss_scaling(gdt.sgd(0.1))
    state = opt.init(jnp.zeros(1))
    assert float(state.loss_scale) == 2.0**15

    @jax.jit
    def steps(state, grad, n):
        return jax.lax.fori_loop(0, n, lambda _, s: opt.update(grad, s, jnp.zeros(1))[1], state)

    state = steps(state, jnp.ones(1), 1999)
    assert float(state.loss_scale) == 2.0**15 and int(state.good_steps) == 1999
    state = steps(state, jnp.ones(1), 1)
    assert float(state.loss_scale) == 2.0**16  # after 2000 finite steps
    state = steps(state, jnp.full(1, jnp.nan), 20)
    assert float(state.loss_scale) == 1.0  # min_scale = 1


# -- Skipped steps ------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_skipped_steps_leave_params_and_inner_state_bit_identical(jit):
    params = {"w": jnp.array([[0.5, -1.0], [2.0, 0.1]]), "b": jnp.array([0.3, -0.2], F16)}
    opt = gdt.dynamic_loss_scaling(gdt.adamw(0.1, weight_decay=0.1), initial_scale=4.0, period=2)
    update = jax.jit(opt.update) if jit else opt.update
    state = opt.init(params)
    for k in range(3):
        grads = jax.tree.map(lambda p, k=k: (p * (k + 1) * state.loss_scale).astype(p.dtype), params)
        updates, state = update(grads, state, params)
        params = gdt.apply_updates(params, updates)
    for bad in (NAN, INF):
        grads = {"w": jnp.array([[1.0, bad], [0.0, 1.0]]), "b": jnp.array([1.0, 2.0], F16)}
        updates, new_state = update(grads, state, params)
        new_params = gdt.apply_updates(params, updates)
        _assert_identical(new_params, params, f"params after a {bad} step")
        _assert_identical(new_state.inner_state, state.inner_state, f"inner state after a {bad} step")
        assert float(new_state.loss_scale) == float(state.loss_scale) / 2 and not bool(new_state.last_finite)
        state = new_state
    assert int(state.total_skipped) == 2


# -- float16 gradients ---------------------------------------------------------------------------


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_float16_gradients_unscale_without_overflow(jit):
    # 64 values of 60000: a sum of squares in float16 overflows, the element-wise test does not.
    big = jnp.full((8, 8), 60000.0, F16)
    params = {"big": jnp.zeros((8, 8), F16), "small": jnp.zeros(3, F16)}
    grads = {"big": big, "small": jnp.array([3.0, -1.5, 65504.0], F16)}
    opt = gdt.dynamic_loss_scaling(gdt.sgd(1.0), initial_scale=3.0)  # no power of two: divided in float32
    update = jax.jit(opt.update) if jit else opt.update
    updates, state = update(grads, opt.init(params), params)
    assert bool(state.last_finite) and int(state.total_skipped) == 0
    assert updates["big"].dtype == F16 and updates["small"].dtype == F16
    np.testing.assert_array_equal(updates["big"], jnp.full((8, 8), -20000.0, F16))
    np.testing.assert_array_equal(updates["small"], jnp.array([-1.0, 0.5, -65504.0 / 3], F16))


def test_scale_loss_and_current_loss_scale():
    opt = gdt.dynamic_loss_scaling(gdt.adam(0.1), initial_scale=2.0**12)
    state = opt.init({"w": jnp.zeros(2, F16)})
    scaled = gdt.scale_loss(jnp.asarray(40.0, F16), state)
    assert scaled.dtype == jnp.float32 and float(scaled) == 40.0 * 4096  # beyond float16's 65504
    assert float(gdt.scale_loss(2.0, state)) == 8192.0
    assert float(gdt.current_loss_scale(state)) == 4096.0
    with pytest.raises(ValueError, match="DynamicLossScalingState"):
        gdt.current_loss_scale(gdt.adam(0.1).init({"w": jnp.zeros(2)}))
    with pytest.raises(ValueError, match="found 2"):
        gdt.current_loss_scale((state, state))


# -- Composition, jit, inject_hyperparams, the flat path ----------------------------------------

PARAMS = {"w": jnp.array([[0.5, -1.0, 0.25], [2.0, 0.1, -0.3]]), "b": jnp.array([0.3, -0.2])}


def _grads_at(t, scale):
    """Step t's gradient, times the loss scale; steps 2 and 5 overflow."""
    rng = np.random.default_rng(t)
    g = jax.tree.map(lambda p: jnp.asarray(rng.normal(size=p.shape), p.dtype) * scale, PARAMS)
    if t in (2, 5):
        g["w"] = g["w"].at[0, 1].set(jnp.inf)
    return g


def _run(opt, params, steps=8, jit=True):
    update = jax.jit(opt.update) if jit else opt.update
    state, out = opt.init(params), []
    for t in range(steps):
        grads = _grads_at(t, gdt.current_loss_scale(state))
        if gdt.is_flat(params):
            grads = params.layout.flatten(grads)
        updates, state = update(grads, state, params)
        params = gdt.apply_updates(params, updates)
        out.append((updates, state, params))
    return out


def _plain():
    return gdt.dynamic_loss_scaling(gdt.adam(0.05), initial_scale=16.0, period=2)


def test_jit_equals_eager():
    for (u1, s1, p1), (u2, s2, p2) in zip(_run(_plain(), PARAMS, jit=False), _run(_plain(), PARAMS, jit=True)):
        assert float(s1.loss_scale) == float(s2.loss_scale)
        for x, y in zip(jax.tree.leaves((u1, p1)), jax.tree.leaves((u2, p2))):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


def test_inside_a_chain_and_around_one():
    plain = _run(_plain(), PARAMS)
    chained = _run(gdt.chain(_plain(), gdt.scale(1.0)), PARAMS)
    for (u1, s1, _), (u2, s2, _) in zip(plain, chained):
        _assert_identical(u1, u2)
        assert float(gdt.current_loss_scale(s2)) == float(s1.loss_scale)
    # Around a chain: clipping sees the unscaled gradients.
    clipped = gdt.dynamic_loss_scaling(gdt.chain(gdt.clip_by_global_norm(1e-3), gdt.sgd(1.0)), initial_scale=2.0**10)
    updates, _ = clipped.update({"w": jnp.array([3.0, 4.0]) * 2.0**10}, clipped.init({"w": jnp.zeros(2)}))
    np.testing.assert_allclose(updates["w"], [-0.6e-3, -0.8e-3], rtol=1e-6)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_around_and_under_inject_hyperparams(jit):
    plain = _run(_plain(), PARAMS, jit=jit)
    around = _run(gdt.dynamic_loss_scaling(gdt.inject_hyperparams(gdt.adam)(0.05), 16.0, 2), PARAMS, jit=jit)
    under = _run(
        gdt.inject_hyperparams(gdt.dynamic_loss_scaling)(gdt.adam(0.05), initial_scale=16.0, period=2), PARAMS, jit=jit
    )
    for t, ((u, s, p), (u1, s1, p1), (u2, s2, p2)) in enumerate(zip(plain, around, under)):
        _assert_identical((u, p, s.loss_scale), (u1, p1, s1.loss_scale), f"around, step {t}")
        _assert_identical((u, p, s.loss_scale), (u2, p2, gdt.current_loss_scale(s2)), f"under, step {t}")
    assert int(under[-1][1].hyperparams["period"]) == 2 and under[-1][1].hyperparams["period"].dtype == jnp.int32


def test_period_can_change_without_recompiling():
    opt = gdt.inject_hyperparams(gdt.dynamic_loss_scaling)(gdt.sgd(0.1), initial_scale=4.0, period=100)
    step = jax.jit(opt.update)
    state = opt.init(PARAMS)
    state.hyperparams["period"] = 1
    for _ in range(3):
        _, state = step(PARAMS, state, PARAMS)
    assert float(gdt.current_loss_scale(state)) == 32.0 and step._cache_size() == 1


def test_flat_path_equals_tree_path():
    tree = _run(_plain(), PARAMS)
    flat = _run(_plain(), gdt.flatten_params(PARAMS))
    for (u1, s1, p1), (u2, s2, p2) in zip(tree, flat):
        assert float(s1.loss_scale) == float(s2.loss_scale)
        assert int(s1.total_skipped) == int(s2.total_skipped)
        # Adam's arithmetic fuses differently on buffers: the last bit may differ.
        for x, y in zip(jax.tree.leaves((u1, p1)), jax.tree.leaves((u2.unflatten(), p2.unflatten()))):
            np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    assert int(flat[-1][1].total_skipped) == 2


@pytest.mark.parametrize(
    "kwargs, name, error",
    [
        (dict(initial_scale=0.0), "initial_scale", ValueError),
        (dict(period=0), "period", ValueError),
        (dict(period=2.5), "period", TypeError),
        (dict(factor=1.0), "factor", ValueError),
        (dict(min_scale=0.0), "min_scale", ValueError),
        (dict(min_scale=4.0, max_scale=2.0), "max_scale", ValueError),
        (dict(initial_scale="big"), "initial_scale", TypeError),
    ],
)
def test_bad_arguments_are_named(kwargs, name, error):
    with pytest.raises(error, match=f"`{name}`"):
        gdt.dynamic_loss_scaling(gdt.sgd(0.1), **kwargs)


def test_wrong_state_is_named():
    opt = gdt.dynamic_loss_scaling(gdt.sgd(0.1))
    with pytest.raises(TypeError, match="DynamicLossScalingState"):
        opt.update(PARAMS, gdt.sgd(0.1).init(PARAMS), PARAMS)


# -- The showcase: a float16 model that stalls without loss scaling and trains with it ---------------


def test_float16_mlp_stalls_without_loss_scaling_and_trains_with_it():
    """A deep, narrow tanh MLP computing in float16 (float32 master weights, Adam).

    Its small initialisation and small targets put every backpropagated
    gradient below float16's smallest subnormal (6e-8): without loss scaling
    every weight gradient is exactly 0 at the start, the lower layers never
    move and the loss stays where it was. Scaled by 2^15 the gradients are
    representable and the model trains (as far as in float32: 1.92e-5 both).
    """
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 8)).astype(np.float32)
    y = jnp.asarray(0.01 * np.tanh(x @ rng.normal(size=(8, 16)) / np.sqrt(8)), jnp.float32)
    sizes = [8, 32, 32, 32, 32, 32, 32, 16]
    params = [
        {"w": jnp.asarray(0.1 * rng.normal(size=(a, b)) / np.sqrt(a), jnp.float32), "b": jnp.zeros(b, jnp.float32)}
        for a, b in zip(sizes[:-1], sizes[1:])
    ]

    def loss_fn(ps):
        h = jnp.asarray(x, F16)
        for i, layer in enumerate(ps):
            h = h @ layer["w"].astype(F16) + layer["b"].astype(F16)[None, :]
            h = jnp.tanh(h) if i < len(ps) - 1 else h
        return jnp.mean((h.astype(jnp.float32) - y) ** 2)

    def train(opt, scaled, steps=150):
        def grads_of(ps, state):
            if scaled:
                return jax.grad(lambda q: gdt.scale_loss(loss_fn(q), state))(ps)
            return jax.grad(loss_fn)(ps)

        @jax.jit
        def step(ps, state):
            updates, state = opt.update(grads_of(ps, state), state, ps)
            return gdt.apply_updates(ps, updates), state

        ps, state = params, opt.init(params)
        first = grads_of(ps, state)
        for _ in range(steps):
            ps, state = step(ps, state)
        return first, ps, state

    start = float(loss_fn(params))
    first, plain, _ = train(gdt.adam(3e-3), scaled=False)
    first_scaled, scaled, state = train(gdt.dynamic_loss_scaling(gdt.adam(3e-3)), scaled=True)
    # Without: every weight gradient underflowed to 0; the lower layers never moved; no progress.
    assert all(not np.any(layer["w"]) for layer in first)
    for before, after in zip(params[:5], plain[:5]):
        np.testing.assert_array_equal(after["w"], before["w"])
    assert float(loss_fn(plain)) > 0.99 * start
    # With: every layer had a gradient, every layer moved and the loss fell by 40% and more.
    assert all(np.any(layer["w"]) for layer in first_scaled)
    assert all(bool(jnp.any(after["w"] != before["w"])) for before, after in zip(params, scaled))
    assert float(loss_fn(scaled)) < 0.6 * start
    assert float(state.loss_scale) == 2.0**15 and int(state.total_skipped) == 0
