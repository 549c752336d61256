"""Structural transforms and optimizers against optax, for 20 steps jitted and 6 eager.

One table: id -> (factory of the library module, flags). Each row runs on a
nested tree holding a 130x128 float32 matrix (so Adafactor factors it), small
float32 leaves, a bfloat16 leaf and a scalar leaf (SM3: no scalar, optax's
update fails on one). Updates, state and params agree leaf by leaf at every
step, relative to each dtype (tests/_parity.py). Randomised rows (DP) draw the
same numbers as optax for the same seed, so they match exactly.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._parity import Case, assert_histories_agree
from tests._trees import jit_level0

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

STEPS = 20
EAGER_STEPS = 6  # eager runs op by op; the first six steps include the all-zero step 3
BATCH = 3


def _params(scalar: bool = True) -> dict:
    rng = np.random.default_rng(0)
    f32 = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    tree = {
        "dense": {"w": f32(130, 128), "b": f32(4)},
        "layers": [f32(2, 3), (jnp.asarray(rng.normal(size=3), jnp.bfloat16),)],
    }
    if scalar:
        tree["layers"][1] += (jnp.float32(0.7),)
    return tree


def _grads(params: dict, per_example: bool = False, seed: int = 1) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for t in range(STEPS):
        scale = 0.0 if t == 3 else 10.0 ** rng.uniform(-2, 1)
        lead = (BATCH,) if per_example else ()
        out.append(jax.tree.map(lambda p: jnp.asarray(scale * rng.normal(size=lead + np.shape(p)), p.dtype), params))
    return out


PARAMS, PARAMS_NO_SCALAR = _params(), _params(scalar=False)
PARAMS_F32 = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS)
# DP rows need no matrix to factor: the small leaves (bfloat16 and scalar included).
PARAMS_DP = {"dense": {"b": PARAMS["dense"]["b"]}, "layers": PARAMS["layers"]}
POSITIVE = jax.tree.map(lambda p: jnp.abs(p) + 0.1, PARAMS)


def schedule(count):
    return 0.05 / (1.0 + 0.5 * count)


# id -> (factory(module), params, per-example gradients, optax promotes bfloat16 updates)
ROWS = {
    "scale_by_factored_rms": (lambda m: m.scale_by_factored_rms(), PARAMS, False, False),
    "scale_by_factored_rms_unfactored": (lambda m: m.scale_by_factored_rms(factored=False), PARAMS, False, False),
    "scale_by_factored_rms_small_dims": (
        lambda m: m.scale_by_factored_rms(min_dim_size_to_factor=2, decay_rate=0.5),
        PARAMS,
        False,
        False,
    ),
    "clip_by_block_rms": (lambda m: m.clip_by_block_rms(0.5), PARAMS, False, False),
    "adafactor": (lambda m: m.adafactor(0.01), PARAMS, False, False),
    "adafactor_no_lr": (lambda m: m.adafactor(), PARAMS, False, False),
    "adafactor_schedule_wd_masked": (
        lambda m: m.adafactor(
            schedule, weight_decay_rate=0.01, weight_decay_mask=jax.tree.map(lambda p: p.ndim > 1, PARAMS)
        ),
        PARAMS,
        False,
        False,
    ),
    # A float32 momentum of a bfloat16 leaf stores the bfloat16 update's rounding (the rate
    # and the parameter scale multiply in the other order, docs/DIFFERENCES.md): that row
    # keeps the bfloat16 momentum; the float32 one runs on the float32 leaves.
    "adafactor_momentum": (
        lambda m: m.adafactor(0.01, momentum=0.9, dtype_momentum=None, clipping_threshold=None),
        PARAMS,
        False,
        False,
    ),
    "adafactor_momentum_f32": (lambda m: m.adafactor(0.01, momentum=0.9), PARAMS_F32, False, False),
    "scale_by_sm3": (lambda m: m.scale_by_sm3(), PARAMS_NO_SCALAR, False, False),
    "scale_by_sm3_b2": (lambda m: m.scale_by_sm3(b1=0.5, b2=0.9, eps=1e-6), PARAMS_NO_SCALAR, False, False),
    "sm3": (lambda m: m.sm3(0.1), PARAMS_NO_SCALAR, False, False),
    "adaptive_grad_clip": (lambda m: m.adaptive_grad_clip(0.1), PARAMS, False, False),
    "adaptive_grad_clip_axis": (
        lambda m: m.adaptive_grad_clip(0.05, eps=1e-2, axis=-1),
        PARAMS_NO_SCALAR,
        False,
        False,
    ),
    "centralize": (lambda m: m.centralize(), PARAMS, False, False),
    "keep_params_nonnegative": (
        lambda m: m.chain(m.sgd(0.3), m.keep_params_nonnegative()),
        POSITIVE,
        False,
        False,
    ),
    "normalize_by_update_norm": (lambda m: m.normalize_by_update_norm(scale_factor=-0.1), PARAMS, False, False),
    "scale_by_param_block_norm": (lambda m: m.scale_by_param_block_norm(), PARAMS, False, False),
    "scale_by_param_block_rms": (lambda m: m.scale_by_param_block_rms(min_scale=0.5), PARAMS, False, False),
    "apply_every": (lambda m: m.apply_every(3), PARAMS, False, False),
    "flatten_adam": (lambda m: m.flatten(m.adam(0.01)), PARAMS, False, False),
    "differentially_private_aggregate": (
        lambda m: m.contrib.differentially_private_aggregate(1.0, 0.7, jax.random.key(5)),
        PARAMS_DP,
        True,
        False,
    ),
    "dpsgd": (lambda m: m.contrib.dpsgd(0.1, l2_norm_clip=1.0, noise_multiplier=1.1, seed=3), PARAMS_DP, True, False),
    "dpsgd_nesterov": (
        lambda m: m.contrib.dpsgd(0.1, 0.5, 0.3, seed=4, momentum=0.9, nesterov=True),
        PARAMS_DP,
        True,
        False,
    ),
}
GRADS = {
    key: _grads(p, per_example)
    for key, (p, per_example) in {
        "plain": (PARAMS, False),
        "no_scalar": (PARAMS_NO_SCALAR, False),
        "per_example": (PARAMS_DP, True),
        "positive": (POSITIVE, False),
        "f32": (PARAMS_F32, False),
    }.items()
}


def _grads_for(params, per_example):
    if per_example:
        return GRADS["per_example"]
    names = {id(PARAMS_NO_SCALAR): "no_scalar", id(POSITIVE): "positive", id(PARAMS_F32): "f32"}
    return GRADS[names.get(id(params), "plain")]


def run(tx, params, grads, *, jit: bool) -> list:
    """(updates, state, params) after each step; random keys as their data."""

    def step(p, s, g):
        u, s = tx.update(g, s, p)
        return optax.apply_updates(p, u), s, u

    step = jit_level0(step) if jit else step  # both libraries alike
    state, out = tx.init(params), []
    for g in grads[: STEPS if jit else EAGER_STEPS]:
        params, state, updates = step(params, state, g)
        keys_as_data = jax.tree.map(
            lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x, state
        )
        out.append((updates, keys_as_data, params))
    return out


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("row", sorted(ROWS))
def test_matches_optax_every_step(row, jit):
    factory, params, per_example, promotes = ROWS[row]
    grads = _grads_for(params, per_example)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, theirs = run(factory(gdt), params, grads, jit=jit), run(factory(optax), params, grads, jit=jit)
    case = Case(strategies={}, build=lambda m, hp, p: None, promotes_updates=promotes)
    assert_histories_agree(f"{row} ({'jit' if jit else 'eager'})", case, ours, theirs, params)


def test_a_one_percent_error_fails():
    """The comparison is tight enough to catch a 1% error in the factored statistics."""
    ours = run(gdt.scale_by_factored_rms(), PARAMS, GRADS["plain"][:3], jit=True)
    theirs = run(optax.scale_by_factored_rms(), PARAMS, GRADS["plain"][:3], jit=True)
    u, s, p = ours[1]
    ours[1] = (u, s._replace(v_row=jax.tree.map(lambda x: x * 1.01, s.v_row)), p)
    with pytest.raises(AssertionError):
        assert_histories_agree("perturbed", Case(strategies={}, build=lambda *a: None), ours, theirs, PARAMS)


def test_dp_draws_optax_noise_exactly():
    tx_ours = gdt.contrib.differentially_private_aggregate(1.0, 2.0, 11)
    tx_theirs = optax.contrib.differentially_private_aggregate(1.0, 2.0, 11)
    g = GRADS["per_example"][0]
    a, sa = tx_ours.update(g, tx_ours.init(PARAMS_DP))
    b, sb = tx_theirs.update(g, tx_theirs.init(PARAMS_DP))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_array_equal(np.asarray(x, np.float32), np.asarray(y, np.float32))
    np.testing.assert_array_equal(jax.random.key_data(sa.rng_key), jax.random.key_data(sb.rng_key))


@pytest.mark.parametrize("clip", [0.0, 0.8, jnp.inf])
def test_per_example_clipping_functions_match_optax(clip):
    g = jax.tree.leaves(GRADS["per_example"][1])
    for ours, theirs in [
        (gdt.per_example_global_norm_clip(g, clip), optax.per_example_global_norm_clip(g, clip)),
        (gdt.per_example_layer_norm_clip(g, clip), optax.per_example_layer_norm_clip(g, clip)),
        (gdt.per_example_layer_norm_clip(g, clip, False), optax.per_example_layer_norm_clip(g, clip, False)),
    ]:
        for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
            assert x.dtype == y.dtype and x.shape == y.shape
            np.testing.assert_allclose(np.asarray(x, np.float32), np.asarray(y, np.float32), rtol=1e-5, atol=1e-6)


def test_unitwise_functions_match_optax():
    rng = np.random.default_rng(3)
    for shape, axis in [
        ((5,), None),
        ((4, 3), None),
        ((2, 3, 4), None),
        ((2, 2, 3, 4), None),
        ((2, 2, 2, 3, 2), None),
        ((4, 3), -1),
        ((4, 3), (0, 1)),
    ]:
        x = jnp.asarray(rng.normal(size=shape), jnp.float32)
        np.testing.assert_allclose(
            gdt.transforms.unitwise_norm(x, axis), optax.transforms.unitwise_norm(x, axis), rtol=1e-6
        )
        n = gdt.transforms.unitwise_norm(x, axis)
        np.testing.assert_allclose(
            gdt.transforms.unitwise_clip(n, jnp.full(shape, 0.5), x),
            optax.transforms.unitwise_clip(n, jnp.full(shape, 0.5), x),
            rtol=1e-6,
        )


def test_safe_norms_match_optax():
    x = jnp.asarray(np.random.default_rng(4).normal(size=(3, 4)), jnp.float32)
    for min_norm in (0.0, 1.0, 100.0):
        np.testing.assert_allclose(gdt.safe_norm(x, min_norm), optax.safe_norm(x, min_norm), rtol=1e-6)
        np.testing.assert_allclose(
            gdt.safe_norm(x, min_norm, axis=1, keepdims=True), optax.safe_norm(x, min_norm, axis=1, keepdims=True)
        )
        np.testing.assert_allclose(gdt.safe_root_mean_squares(x, min_norm), optax.safe_root_mean_squares(x, min_norm))
    grad = jax.grad(lambda v: gdt.safe_norm(v, 0.1))(jnp.zeros(3))
    np.testing.assert_array_equal(grad, jax.grad(lambda v: optax.safe_norm(v, 0.1))(jnp.zeros(3)))


def test_microbatching_matches_optax():
    mb_g, mb_o = gdt.microbatching, optax.microbatching
    f = lambda x: (x + 1, jnp.sum(3 * x))  # noqa: E731
    data = jnp.arange(8.0)
    for kind in ("SUM", "MEAN", "RUNNING_MEAN"):
        ours = gdt.microbatch(f, 0, 2, (mb_g.AccumulationType.CONCAT, mb_g.AccumulationType[kind]))(data)
        theirs = optax.microbatch(f, 0, 2, (mb_o.AccumulationType.CONCAT, mb_o.AccumulationType[kind]))(data)
        for x, y in zip(ours, theirs):
            np.testing.assert_array_equal(x, y)

    def loss(p, x, y):
        return 0.5 * jnp.mean((x @ p - y) ** 2)

    feats = jnp.asarray(np.random.default_rng(5).normal(size=(8, 3)), jnp.float32)
    kw = dict(
        argnums=0, batch_argnums=(1, 2), microbatch_size=4, transform_fn=lambda g: (g, g**2), metrics_fn=jnp.linalg.norm
    )
    ours = mb_g.micro_grad(loss, accumulator=mb_g.AccumulationType.MEAN, **kw)(jnp.ones(3), feats, jnp.arange(8.0))
    theirs = mb_o.micro_grad(loss, accumulator=mb_o.AccumulationType.MEAN, **kw)(jnp.ones(3), feats, jnp.arange(8.0))
    for x, y in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6)
    np.testing.assert_array_equal(
        mb_g.micro_vmap(lambda x: x**2, microbatch_size=2)(jnp.arange(8)),
        mb_o.micro_vmap(lambda x: x**2, microbatch_size=2)(jnp.arange(8)),
    )


def test_state_classes_and_fields_match_optax():
    pairs = [
        (gdt.FactoredState, optax.FactoredState),
        (gdt.ScaleBySM3State, optax.ScaleBySM3State),
        (gdt.ApplyEvery, optax.ApplyEvery),
        (gdt.contrib.DifferentiallyPrivateAggregateState, optax.contrib.DifferentiallyPrivateAggregateState),
    ]
    for ours, theirs in pairs:
        assert ours.__name__ == theirs.__name__ and ours._fields == theirs._fields
    # optax's aliases of its empty state.
    for name in [
        "AdaptiveGradClipState",
        "AddDecayedWeightsState",
        "ClipByGlobalNormState",
        "ClipState",
        "NonNegativeParamsState",
        "ScaleByTrustRatioState",
        "ScaleState",
    ]:
        assert getattr(optax, name) is optax.EmptyState
        assert getattr(gdt, name) is gdt.EmptyState
    assert gdt.transforms.NonNegativeParamsState is gdt.EmptyState


def test_every_optax_state_name_that_gdtransforms_has_is_the_right_kind():
    """Each *State of optax's top level that gdtransforms exports has optax's fields."""
    for name in dir(optax):
        if not name.endswith("State") or name.startswith("_") or not hasattr(gdt, name):
            continue
        ours, theirs = getattr(gdt, name), getattr(optax, name)
        assert getattr(ours, "_fields", None) == getattr(theirs, "_fields", None), name


def test_dp_names_at_every_optax_path():
    assert gdt.dpsgd is gdt.contrib.dpsgd
    assert gdt.differentially_private_aggregate is gdt.contrib.differentially_private_aggregate
    assert gdt.DifferentiallyPrivateAggregateState is gdt.contrib.DifferentiallyPrivateAggregateState
    assert gdt.microbatch is gdt.microbatching.microbatch
    assert gdt.flatten is gdt.transforms.flatten
