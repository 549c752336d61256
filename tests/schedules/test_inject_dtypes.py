"""inject_hyperparams keeps every hyperparameter in one fixed dtype, for every optimizer.

For each row of ``INJECTABLE`` (the lead extends it as optimizers are added):
the injected optimizer is bit-identical to the plain one (eager and jitted);
a rate built as an int and set to 0.5 is not truncated; assigning a Python
float, a NumPy float64 scalar, a strong float32 array or a float16 array
never retraces the jitted step; and ``save_state`` then writes the same dtypes
as ``init``, so ``restore_state`` into ``jax.eval_shape(opt.init, params)``
accepts the file.
"""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests._trees import gradient_sequence, nested_params

PARAMS = nested_params()  # float32 leaves, one bfloat16 leaf, one scalar leaf
GRADS = gradient_sequence(PARAMS, 3)

# name -> (factory, keyword arguments[, static_args]). Extend this table with every new optimizer.
INJECTABLE = {
    "sgd": (gdt.sgd, dict(learning_rate=0.05)),
    "sgd_momentum": (gdt.sgd, dict(learning_rate=0.05, momentum=0.9)),
    "ema_momentum": (gdt.ema_momentum, dict(learning_rate=0.05, beta=0.9)),
    "adagrad": (gdt.adagrad, dict(learning_rate=0.05)),
    "rmsprop": (gdt.rmsprop, dict(learning_rate=0.01, decay=0.9)),
    "adam": (gdt.adam, dict(learning_rate=0.05)),
    "adamw": (gdt.adamw, dict(learning_rate=0.05, weight_decay=1e-2)),
    "nadam": (gdt.nadam, dict(learning_rate=0.05)),
    "nadamw": (gdt.nadamw, dict(learning_rate=0.05, weight_decay=1e-2)),
    "amsgrad": (gdt.amsgrad, dict(learning_rate=0.05)),
    "adamax": (gdt.adamax, dict(learning_rate=0.05)),
    "adamaxw": (gdt.adamaxw, dict(learning_rate=0.05, weight_decay=1e-2)),
    "lion": (gdt.lion, dict(learning_rate=0.05)),
    "lamb": (gdt.lamb, dict(learning_rate=0.05)),
    "adabelief": (gdt.adabelief, dict(learning_rate=0.05)),
    "adadelta": (gdt.adadelta, dict(learning_rate=0.5)),
    "adafactor": (gdt.adafactor, dict(learning_rate=0.05)),
    "adan": (gdt.adan, dict(learning_rate=0.05)),
    "fromage": (gdt.fromage, dict(learning_rate=0.05)),
    "lars": (gdt.lars, dict(learning_rate=0.05)),
    "novograd": (gdt.novograd, dict(learning_rate=0.05)),
    "optimistic_adam": (gdt.optimistic_adam, dict(learning_rate=0.05)),
    "optimistic_gradient_descent": (gdt.optimistic_gradient_descent, dict(learning_rate=0.05)),
    "radam": (gdt.radam, dict(learning_rate=0.05)),
    "rprop": (gdt.rprop, dict(learning_rate=0.05)),
    "sign_sgd": (gdt.sign_sgd, dict(learning_rate=0.05)),
    "signum": (gdt.signum, dict(learning_rate=0.05)),
    "sm3": (gdt.sm3, dict(learning_rate=0.05)),
    "yogi": (gdt.yogi, dict(learning_rate=0.05)),
    "acprop": (gdt.contrib.acprop, dict(learning_rate=0.05)),
    "ademamix": (gdt.contrib.ademamix, dict(learning_rate=0.05)),
    # A function argument (not a schedule) is passed as a static argument, as in optax.
    "adopt": (gdt.contrib.adopt, dict(learning_rate=0.05), ("clip_value_fn",)),
    "cocob": (gdt.contrib.cocob, dict(learning_rate=1.0)),
    "dadapt_adamw": (gdt.contrib.dadapt_adamw, dict(learning_rate=1.0)),
    "dog": (gdt.contrib.dog, dict(learning_rate=1.0)),
    "dowg": (gdt.contrib.dowg, dict(learning_rate=1.0)),
    "madgrad": (gdt.contrib.madgrad, dict(learning_rate=0.05)),
    "muon": (gdt.contrib.muon, dict(learning_rate=0.05)),
    "prodigy": (gdt.contrib.prodigy, dict(learning_rate=1.0)),
    "schedule_free_adamw": (gdt.contrib.schedule_free_adamw, dict(learning_rate=0.05)),
    "schedule_free_sgd": (gdt.contrib.schedule_free_sgd, dict(learning_rate=0.05)),
    "simplified_ademamix": (gdt.contrib.simplified_ademamix, dict(learning_rate=0.05)),
    "soap": (gdt.soap, dict(learning_rate=0.05, precondition_frequency=2)),
    "shampoo": (gdt.shampoo, dict(learning_rate=0.05, block_size=2, preconditioning_compute_steps=2)),
    "kron": (gdt.kron, dict(learning_rate=0.05)),
    "ftrl": (gdt.ftrl, dict(learning_rate=0.05, l1_regularization_strength=0.01)),
}
# Jitted, these are one or two float32 ulps short of bit-identity (docs/DIFFERENCES.md, "Known limits");
# eager they are exact.
JIT_ULPS = {"muon": 2, "soap": 2}


def _run(opt, step):
    params, state, out = PARAMS, opt.init(PARAMS), []
    for grads in GRADS:
        updates, state = step(grads, state, params)
        params = gdt.apply_updates(params, updates)
        out.append((updates, params))
    return out


def _assert_identical(a, b, ulps: int = 0):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert x.dtype == y.dtype
        if ulps:
            np.testing.assert_array_max_ulp(np.asarray(x, np.float32), np.asarray(y, np.float32), maxulp=ulps)
        else:
            np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))


def _row(name):
    factory, kwargs, *rest = INJECTABLE[name]
    static_args = rest[0] if rest else ()
    return factory, kwargs, gdt.inject_hyperparams(factory, static_args=static_args)(**kwargs)


@pytest.mark.parametrize("name", sorted(INJECTABLE))
def test_injected_is_bit_identical_and_keeps_its_dtypes(name):
    factory, kwargs, injected = _row(name)
    plain = factory(**kwargs)
    traces = []

    def counted(grads, state, params):
        traces.append(1)
        return injected.update(grads, state, params)

    step = jax.jit(counted)  # two compilations per row: the plain step and this one
    _assert_identical(_run(plain, jax.jit(plain.update)), _run(injected, step), JIT_ULPS.get(name, 0))
    if name in JIT_ULPS:
        _assert_identical(_run(plain, plain.update), _run(injected, injected.update))

    state = injected.init(PARAMS)
    # Rates and decays are float32 (never truncated); counts given as ints (a step offset, a
    # dimension) stay int32; neither is weakly typed, so assigning a value never retraces.
    dtypes = {k: (v.dtype, v.weak_type) for k, v in state.hyperparams.items()}
    assert all(v in ((jnp.dtype(jnp.float32), False), (jnp.dtype(jnp.int32), False)) for v in dtypes.values()), dtypes
    assert dtypes["learning_rate"] == (jnp.dtype(jnp.float32), False)
    for value in (3e-4, np.float64(2e-4), jnp.asarray(1e-4, jnp.float32), jnp.asarray(5e-5, jnp.float16), 1):
        state.hyperparams["learning_rate"] = value
        stored = state.hyperparams["learning_rate"]
        assert (stored.dtype, stored.weak_type) == (jnp.float32, False)
        _, state = step(GRADS[0], state, PARAMS)
    assert len(traces) == 1, "assigning a hyperparameter retraced the step"

    state.hyperparams["learning_rate"] = 3e-4  # the README's recipe
    file = io.BytesIO()
    gdt.save_state(file, state)
    file.seek(0)
    restored = gdt.restore_state(file, jax.eval_shape(injected.init, PARAMS))
    assert restored.hyperparams["learning_rate"].dtype == jnp.float32
    assert float(restored.hyperparams["learning_rate"]) == np.float32(3e-4)


@pytest.mark.parametrize("name", ["sgd", "adam"])
def test_an_int_rate_is_a_float_and_is_never_truncated(name):
    factory = INJECTABLE[name][0]
    opt = gdt.inject_hyperparams(factory)(learning_rate=1)
    state = opt.init({"w": jnp.ones(2)})
    assert state.hyperparams["learning_rate"].dtype == jnp.float32
    state.hyperparams["learning_rate"] = 0.5
    updates, _ = opt.update({"w": jnp.ones(2)}, state, {"w": jnp.ones(2)})
    expected, _ = factory(0.5).update({"w": jnp.ones(2)}, factory(0.5).init({"w": jnp.ones(2)}), {"w": jnp.ones(2)})
    np.testing.assert_allclose(updates["w"], expected["w"], rtol=1e-6)  # before: exactly 0
    assert float(updates["w"][0]) != 0.0


def test_an_int_rate_is_bit_identical_while_unchanged():
    plain, injected = gdt.sgd(1), gdt.inject_hyperparams(gdt.sgd)(learning_rate=1)
    _assert_identical(_run(plain, jax.jit(plain.update)), _run(injected, jax.jit(injected.update)))


def test_declared_integers_stay_integers():
    opt = gdt.inject_hyperparams(gdt.reduce_on_plateau)(patience=3, factor=0.5)
    state = opt.init({"w": jnp.ones(2)})
    assert state.hyperparams["patience"].dtype == jnp.int32
    assert state.hyperparams["factor"].dtype == jnp.float32


def test_requested_dtype_is_kept_when_assigning():
    opt = gdt.inject_hyperparams(gdt.adam, hyperparam_dtype=jnp.bfloat16)(learning_rate=0.1)
    state = opt.init(PARAMS)
    state.hyperparams["learning_rate"] = 0.3
    assert state.hyperparams["learning_rate"].dtype == jnp.bfloat16
    _, state = jax.jit(opt.update)(GRADS[0], state, PARAMS)
    assert state.hyperparams["learning_rate"].dtype == jnp.bfloat16


def test_non_scalar_hyperparameters_fail_at_trace_time_naming_them():
    opt = gdt.inject_hyperparams(gdt.adam)(learning_rate=0.1)
    state = opt.init({"w": jnp.ones(())})
    state.hyperparams["b1"] = jnp.array([0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match=r"state.hyperparams\['b1'\].*must be a scalar.*\(3,\)"):
        jax.jit(opt.update)({"w": jnp.ones(())}, state, {"w": jnp.ones(())})
    with pytest.raises(ValueError, match=r"`learning_rate` must be a scalar.*\(3,\)"):
        gdt.inject_hyperparams(gdt.adam)(learning_rate=lambda count: jnp.full((3,), 0.1))
