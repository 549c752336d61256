"""Adafactor, SM3 and DP-SGD: inject_hyperparams bit-identity, the flat path, bad input."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import trajectory

rng = np.random.default_rng(0)
PARAMS = {
    "w": jnp.asarray(rng.normal(size=(130, 128)), jnp.float32),
    "b": jnp.asarray(rng.normal(size=4), jnp.float32),
    "h": jnp.asarray(rng.normal(size=3), jnp.bfloat16),
}
PARAMS_SCALAR = {**PARAMS, "s": jnp.float32(0.7)}
STEPS = 4


def _grads(params, per_example=False):
    r = np.random.default_rng(1)
    lead = (2,) if per_example else ()
    return [jax.tree.map(lambda p: jnp.asarray(r.normal(size=lead + p.shape), p.dtype), params) for _ in range(STEPS)]


def _trajectory(opt, params, grads, jit):
    return trajectory(opt, params, grads, jit=jit)[0]


def _assert_identical(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype
        assert bool(jnp.array_equal(x, y))


INJECTED = {
    "adafactor": (gdt.adafactor, dict(learning_rate=0.05), PARAMS_SCALAR, False),
    "adafactor_wd": (gdt.adafactor, dict(learning_rate=0.05, weight_decay_rate=1e-3, decay_rate=0.7), PARAMS, False),
    "sm3": (gdt.sm3, dict(learning_rate=0.05, momentum=0.8), PARAMS, False),
    "dpsgd": (gdt.dpsgd, dict(learning_rate=0.05, l2_norm_clip=1.0, noise_multiplier=0.3, seed=2), PARAMS_SCALAR, True),
}


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(INJECTED))
def test_bit_identical_under_inject_hyperparams(name, jit):
    factory, kwargs, params, per_example = INJECTED[name]
    grads = _grads(params, per_example)
    plain = _trajectory(factory(**kwargs), params, grads, jit)
    injected = _trajectory(gdt.inject_hyperparams(factory)(**kwargs), params, grads, jit)
    if name == "dpsgd" and jit:
        # XLA compiles the scalar leaf's normal draw (erf_inv) of the two programs with different
        # fusions: at most one ulp apart, in that one leaf. Every other leaf is bit-identical.
        for x, y in zip(jax.tree.leaves(plain), jax.tree.leaves(injected), strict=True):
            assert x.dtype == y.dtype
            np.testing.assert_array_max_ulp(np.asarray(x, np.float32), np.asarray(y, np.float32), maxulp=1)
        return
    _assert_identical(plain, injected)


def test_injected_adafactor_dtype_momentum_stays_a_dtype():
    opt = gdt.inject_hyperparams(gdt.adafactor)(learning_rate=0.1, momentum=0.9)
    state = opt.init(PARAMS)
    assert "dtype_momentum" not in state.hyperparams
    (ema,) = [s for s in state.inner_state if hasattr(s, "ema")]
    assert ema.ema["h"].dtype == jnp.float32


FLAT = {
    "adafactor": lambda: gdt.adafactor(0.05, min_dim_size_to_factor=2, momentum=0.9),
    "sm3": lambda: gdt.sm3(0.05),
    "clip_by_block_rms": lambda: gdt.clip_by_block_rms(0.1),
    "adaptive_grad_clip": lambda: gdt.adaptive_grad_clip(0.01),
    "centralize": gdt.centralize,
    "scale_by_param_block_norm": gdt.scale_by_param_block_norm,
    "scale_by_param_block_rms": gdt.scale_by_param_block_rms,
    "normalize_by_update_norm": gdt.normalize_by_update_norm,
    "keep_params_nonnegative": gdt.keep_params_nonnegative,
    "apply_every": lambda: gdt.apply_every(2),
}
SMALL = {"w": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32), "b": jnp.asarray(rng.normal(size=4), jnp.float32)}


@pytest.mark.parametrize("name", sorted(FLAT))
def test_flat_path_equals_the_tree_run(name):
    grads = _grads(SMALL)[:3]
    tree = _trajectory(FLAT[name](), SMALL, grads, jit=True)
    layout = gdt.flat_layout(SMALL)
    flat = _trajectory(FLAT[name](), layout.flatten(SMALL), [layout.flatten(g) for g in grads], jit=True)
    for (u_tree, p_tree), (u_flat, p_flat) in zip(tree, flat):
        for x, y in zip(jax.tree.leaves((u_tree, p_tree)), jax.tree.leaves((u_flat.unflatten(), p_flat.unflatten()))):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)


def test_state_bytes_equal_optax():
    params = {"w": jnp.zeros((1024, 512)), "b": jnp.zeros(512), "conv": jnp.zeros((3, 3, 128, 256))}

    def nbytes(state):
        return sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(state))

    full = sum(p.size for p in jax.tree.leaves(params)) * 4
    for ours, theirs in [(gdt.adafactor(0.1), optax.adafactor(0.1)), (gdt.sm3(0.1), optax.sm3(0.1))]:
        assert nbytes(ours.init(params)) == nbytes(theirs.init(params))
    # Adafactor: rows plus columns (and the bias' full v), far below one copy of the params.
    # w (1024, 512): 512 + 1024; b: its full 512; conv: 3 * 3 * (128 + 256); 4 placeholders; the count.
    rows_cols = (512 + 1024 + 512 + 3 * 3 * (128 + 256) + 4) * 4 + 4
    assert nbytes(gdt.adafactor(0.1).init(params)) == rows_cols < full // 100


BAD = {
    "adafactor_min_dim": (lambda: gdt.adafactor(min_dim_size_to_factor=-2), ValueError, "min_dim_size_to_factor"),
    "adafactor_clip": (lambda: gdt.adafactor(clipping_threshold=0.0), ValueError, "threshold"),
    "adafactor_momentum": (lambda: gdt.adafactor(momentum=1.5), ValueError, "decay"),
    "adafactor_dtype": (lambda: gdt.adafactor(momentum=0.9, dtype_momentum=jnp.int32), TypeError, "accumulator_dtype"),
    "adafactor_lr": (lambda: gdt.adafactor(learning_rate=-1.0), ValueError, "learning_rate"),
    "sm3_lr": (lambda: gdt.sm3(float("nan")), ValueError, "step_size"),
    "sm3_momentum": (lambda: gdt.sm3(0.1, momentum=-0.1), ValueError, "b1"),
    "dpsgd_clip": (lambda: gdt.dpsgd(0.1, -1.0, 1.0, seed=0), ValueError, "l2_norm_clip"),
    "dpsgd_noise": (lambda: gdt.dpsgd(0.1, 1.0, -1.0, seed=0), ValueError, "noise_multiplier"),
    "dpsgd_momentum": (lambda: gdt.dpsgd(0.1, 1.0, 1.0, seed=0, momentum=1.0), ValueError, "momentum"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_arguments(name):
    build, error, match = BAD[name]
    with pytest.raises(error, match=match), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build()


def test_adafactor_names_the_mismatched_path():
    opt = gdt.adafactor(0.1)
    state = opt.init(SMALL)
    with pytest.raises(ValueError, match=r"\['w'\]"):
        opt.update({"w": jnp.ones((4, 3)), "b": jnp.ones(4)}, state, SMALL)
    with pytest.raises(TypeError, match="FactoredState"):
        opt.update(SMALL, (gdt.EmptyState(),) * len(state), SMALL)


def test_dpsgd_needs_per_example_gradients():
    opt = gdt.dpsgd(0.1, 1.0, 1.0, seed=0)
    with pytest.raises(ValueError, match="batch"):
        opt.update({"a": jnp.ones((2, 3)), "b": jnp.ones((3,))}, opt.init(None))
