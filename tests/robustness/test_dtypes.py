"""Dtypes: update dtypes follow gradient dtypes, and state dtypes never drift.

float64 and complex128 run under ``jax.enable_x64(True)``, a context manager:
the rest of the suite stays in 32-bit mode.
"""

import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import nested_params

F32 = jnp.float32

OPTIMIZERS = {
    "adam": lambda: gdt.adam(0.1),
    "adamw": lambda: gdt.adamw(0.1, weight_decay=0.01),
    "nadam": lambda: gdt.nadam(0.1),
    "amsgrad": lambda: gdt.amsgrad(0.1),
    "adamax": lambda: gdt.adamax(0.1),
    "sgd": lambda: gdt.sgd(0.1),
    "sgd_momentum": lambda: gdt.sgd(0.1, momentum=0.9),
    "sgd_nesterov": lambda: gdt.sgd(0.1, momentum=0.9, nesterov=True),
    "ema_momentum": lambda: gdt.ema_momentum(0.1, 0.9, debias=True),
    "rmsprop": lambda: gdt.rmsprop(0.1, centered=True, momentum=0.9),
    "adagrad": lambda: gdt.adagrad(0.1),
    "lion": lambda: gdt.lion(0.01),
    "lamb": lambda: gdt.lamb(0.1),
    "clip_adam_schedule": lambda: gdt.chain(gdt.clip_by_global_norm(1.0), gdt.adam(lambda n: 0.1 / (1.0 + n))),
    "inject_adam": lambda: gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1, b1=0.9),
    # accumulator_dtype=None: accumulate in the params' dtype (the float32
    # default would drop the imaginary part of complex gradients).
    "multisteps_adam": lambda: gdt.MultiSteps(gdt.adam(0.1), 2, accumulator_dtype=None).gradient_transformation(),
    "apply_if_finite_sgd": lambda: gdt.apply_if_finite(gdt.sgd(0.1, momentum=0.9), max_consecutive_errors=2),
}


def avals(tree):
    return [(np.shape(x), jnp.dtype(x.dtype), bool(getattr(x, "weak_type", False))) for x in jax.tree.leaves(tree)]


def check_stability(dtype):
    """optax alias_test's check, for every optimizer: two steps through
    lax.cond (both branches must have the same types) in a fori_loop (the
    carry must keep its types). Types are fixed when tracing, so tracing with
    jax.eval_shape checks them without compiling anything."""
    params = {
        "w": jnp.array([-1.0, 10.0, 1.0], dtype),
        "nested": [(jnp.array([[0.5, -2.0]], dtype),)],
    }

    def objective(params):
        return sum(jnp.sum(jnp.abs(p - 1) ** 2) for p in jax.tree.leaves(params))

    def grads_of(params):
        # Complex gradients are conjugated before being added to params (optax).
        return jax.tree.map(jnp.conj, jax.grad(objective)(params))

    def run(params, make):
        opt = make()
        state0 = opt.init(params)
        updates, _ = opt.update(grads_of(params), state0, params)

        def body(i, carry):
            p, s = carry
            grads = grads_of(p)
            cond = jax.random.randint(jax.random.fold_in(jax.random.key(0), i), (), 0, 2) == 0
            u, s = jax.lax.cond(cond, lambda: opt.update(grads, s, p), lambda: (p, s))
            return gdt.apply_updates(p, u), s

        p, s = jax.lax.fori_loop(0, 2, body, (params, state0))
        s = jax.lax.cond(p["w"][0].real > 0, lambda: s, lambda: state0)
        return updates, p, s, state0

    for name, make in OPTIMIZERS.items():
        updates, p, s, state0 = jax.eval_shape(lambda params: run(params, make), params)
        assert avals(updates) == avals(params), name  # update dtypes == grad dtypes
        assert avals(p) == avals(params), name
        assert avals(s) == avals(state0), name
        assert avals(make().init(params)) == avals(state0), name
        ints = [leaf.dtype for leaf in jax.tree.leaves(s) if jnp.issubdtype(leaf.dtype, jnp.integer)]
        assert all(d == jnp.int32 for d in ints), (name, ints)


@pytest.mark.parametrize(
    "dtype, x64",
    [
        (jnp.float16, False),
        (jnp.bfloat16, False),
        (jnp.float32, False),
        (jnp.complex64, False),
        (jnp.float64, True),
        (jnp.complex128, True),
    ],
    ids=["float16", "bfloat16", "float32", "complex64", "float64", "complex128"],
)
def test_update_dtypes_follow_grads_and_state_dtypes_are_stable(dtype, x64):
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        check_stability(dtype)
    assert jnp.zeros(1).dtype == jnp.float32  # the rest of the suite stays 32-bit


# optax returns float32 updates for bfloat16 gradients when the state is
# float32; gdtransforms casts the updates back to the gradients' dtype right
# where the float32 state is used. The optax references cast at the same place.
cast_to_grad_dtype = optax.stateless(lambda u, p: jax.tree.map(lambda x, q: x.astype(q.dtype), u, p))


@pytest.mark.parametrize(
    "make_gdt, make_optax, moments",
    [
        (
            lambda: gdt.adam(0.1, mu_dtype=F32),
            lambda: optax.chain(optax.scale_by_adam(mu_dtype=F32), cast_to_grad_dtype, optax.scale(-0.1)),
            ["mu"],
        ),
        (lambda: gdt.adam(0.1, mu_dtype=F32, nu_dtype=F32), None, ["mu", "nu"]),
        (
            lambda: gdt.sgd(0.1, momentum=0.9, accumulator_dtype=F32),
            lambda: optax.chain(optax.trace(0.9, accumulator_dtype=F32), cast_to_grad_dtype, optax.scale(-0.1)),
            ["trace"],
        ),
        (
            lambda: gdt.lion(0.01, mu_dtype=F32),
            lambda: optax.chain(
                optax.scale_by_lion(mu_dtype=F32),
                cast_to_grad_dtype,
                optax.add_decayed_weights(1e-3),
                optax.scale(-0.01),
            ),
            ["mu"],
        ),
    ],
    ids=["adam", "adam_nu_dtype", "sgd_momentum", "lion"],
)
def test_bfloat16_params_with_float32_state(make_gdt, make_optax, moments):
    """float32 moments of bfloat16 params, bfloat16 updates, optax's numbers."""
    params = nested_params()  # float32 leaves, a bfloat16 leaf and a scalar leaf
    opt = make_gdt()
    ref = make_optax() if make_optax else None

    @jax.jit
    def run(params):
        state = opt.init(params)
        ref_params, ref_state = params, ref.init(params) if ref else None
        for t in range(3):
            grads = jax.tree.map(lambda p: (jnp.sin(p * (t + 1.0)) + 0.5).astype(p.dtype), params)
            updates, state = opt.update(grads, state, params)
            params = gdt.apply_updates(params, updates)
            if ref:
                ref_updates, ref_state = ref.update(grads, ref_state, ref_params)
                ref_params = optax.apply_updates(ref_params, ref_updates)
        return updates, params, state, ref_params

    updates, params_out, state, ref_params = run(params)
    assert avals(updates) == avals(params) and avals(params_out) == avals(params)
    assert updates["layers"][1][0].dtype == jnp.bfloat16
    for field in moments:
        tree = getattr(state[0], field)
        assert all(leaf.dtype == F32 for leaf in jax.tree.leaves(tree)), field
    if ref:
        for a, b in zip(jax.tree.leaves(params_out), jax.tree.leaves(ref_params)):
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(np.asarray(a, F32), np.asarray(b, F32))


@pytest.mark.parametrize(
    "name, args",
    [("adam", (0.1,)), ("sgd", (0.1, 0.9)), ("rmsprop", (0.1,)), ("adagrad", (0.1,))],
)
def test_complex_params_are_handled_as_optax_does(name, args):
    params = {"z": jnp.array([1 + 2j, -0.5 + 0.1j, 3 - 1j], jnp.complex64)}
    grads = {"z": jnp.array([0.3 - 0.2j, 1 + 1j, -2 + 0.5j], jnp.complex64)}

    @jax.jit
    def run(params):
        out = []
        for lib in (gdt, optax):
            opt, p = getattr(lib, name)(*args), params
            state = opt.init(p)
            for _ in range(3):
                updates, state = opt.update(grads, state, p)
                p = lib.apply_updates(p, updates)
            out.append((p, state))
        return out

    (p, state), (ref_p, ref_state) = run(params)
    assert p["z"].dtype == jnp.complex64
    np.testing.assert_allclose(np.asarray(p["z"]), np.asarray(ref_p["z"]), rtol=1e-6, atol=2e-6)
    assert avals(state) == avals(ref_state)
