"""The adaptive, sign-based and step-size optimizers of issue 14, against optax.

One table, one row per optimizer and per transform (several rows where a
hyperparameter changes the code path). Each row runs 20 steps jitted and 6 eagerly, in
both libraries, on a nested tree with a 128x128 float32 matrix, a
bfloat16 leaf and a scalar leaf; updates, state and params agree leaf by leaf
at every step, to tolerances relative to each step's values
(tests/_parity.py). Then: bad hyperparameters raise errors naming them, every
optimizer is bit-identical under ``inject_hyperparams``, and every optimizer
gives the same numbers on flat buffers as on the tree.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from optax._src import transform as optax_transform

import gdtransforms as gdt
from tests._parity import Case, assert_histories_agree
from tests._trees import gradient_sequence, jit_level0

STEPS = 20
EAGER_STEPS = 6  # eager runs op by op; the first six steps include the all-zero step 3


def big_params() -> dict:
    """dict/list/tuple nesting; a 128x128 float32 matrix, a bfloat16 leaf, a scalar leaf."""
    rng = np.random.default_rng(0)
    f32 = lambda *shape: jnp.asarray(rng.normal(size=shape), jnp.float32)  # noqa: E731
    return {
        "dense": {"w": f32(128, 128), "b": f32(4)},
        "layers": [f32(2, 3), (jnp.asarray(rng.normal(size=3), jnp.bfloat16), jnp.float32(0.7))],
    }


PARAMS = big_params()
GRADS = gradient_sequence(PARAMS, STEPS)  # varied scales and signs; step 3 is all zeros
LOSSES = [jnp.float32(2.0 + np.sin(t)) for t in range(STEPS)]  # `value` for Polyak's step
MATRIX_MASK = jax.tree.map(lambda p: p.ndim > 1, PARAMS)
KEY = 42


def schedule(count):
    return 0.05 / (1.0 + 0.1 * count)


def fixed_rprop(m, *args, **kwargs):
    """optax's scale_by_rprop, emitting the update of this step (optax PR #1725).

    optax computes the current update into ``prev_updates`` but returns the
    previous one; this returns what it computed, so it is the reference for
    the corrected gdtransforms version (docs/DIFFERENCES.md).
    """
    tx = m.scale_by_rprop(*args, **kwargs)
    if m is gdt:
        return tx

    def update(updates, state, params=None):
        _, state = tx.update(updates, state, params)
        return state.prev_updates, state

    return optax.GradientTransformation(tx.init, update)


def fixed_rprop_alias(m, learning_rate, **kwargs):
    if m is gdt:
        return gdt.rprop(learning_rate, **kwargs)
    return optax.chain(fixed_rprop(m, learning_rate, **kwargs), optax.scale(-1.0))


@dataclass(frozen=True)
class Row:
    """One transformation: ``build(module)`` in either library, and how to compare."""

    build: Any
    promotes_updates: bool = False  # optax promotes the bfloat16 updates to float32
    wider_state: bool = False  # some state leaves are float32 where optax's are bfloat16
    needs_value: bool = False  # update takes value=loss
    rank_promotion: bool = False  # optax broadcasts a (1,) array against each leaf


ROWS: dict[str, Row] = {
    # -- Primitives.
    "scale_by_belief": Row(lambda m: m.scale_by_belief()),
    "scale_by_belief_nesterov": Row(
        lambda m: m.scale_by_belief(b1=0.8, b2=0.99, eps=1e-8, eps_root=0.0, nesterov=True)
    ),
    "scale_by_adadelta": Row(lambda m: m.scale_by_adadelta()),
    "scale_by_adan": Row(lambda m: m.scale_by_adan()),
    "scale_by_novograd_decay": Row(lambda m: m.scale_by_novograd(b1=0.5, b2=0.9, eps=1e-6, weight_decay=0.01)),
    # b2 = 0.9: rho_inf = 19, so the adaptive branch starts at step 5 of 20.
    "scale_by_radam_rectified": Row(lambda m: m.scale_by_radam(b2=0.9, threshold=4.5)),
    "scale_by_radam_nesterov": Row(lambda m: m.scale_by_radam(b2=0.9, eps_root=1e-8, nesterov=True)),
    "scale_by_yogi": Row(lambda m: m.scale_by_yogi()),
    "scale_by_yogi_zero_init": Row(lambda m: m.scale_by_yogi(b2=0.9, eps=1e-4, initial_accumulator_value=0.0)),
    "scale_by_optimistic_gradient_ab": Row(lambda m: m.scale_by_optimistic_gradient(alpha=0.5, beta=2.0)),
    "scale_by_rprop": Row(lambda m: fixed_rprop(m, 0.1)),
    "scale_by_rprop_bounds": Row(
        lambda m: fixed_rprop(m, 0.5, eta_minus=0.3, eta_plus=1.5, min_step_size=0.1, max_step_size=1.0)
    ),
    "scale_by_sign": Row(lambda m: m.scale_by_sign()),
    "scale_by_polyak": Row(lambda m: m.scale_by_polyak(), promotes_updates=True, needs_value=True),
    "scale_by_polyak_plus": Row(
        lambda m: m.scale_by_polyak(f_min=2.5, max_learning_rate=0.3, eps=1e-3, variant="sps+"),
        promotes_updates=True,
        needs_value=True,
    ),
    "scale_by_distance_over_gradients": Row(
        lambda m: m.scale_by_distance_over_gradients(),
        promotes_updates=True,
        wider_state=True,
        rank_promotion=True,
    ),
    "add_noise": Row(lambda m: m.add_noise(0.01, 0.55, key=KEY)),
    # -- Optimizers.
    "adabelief": Row(lambda m: m.adabelief(0.01)),
    "adabelief_nesterov_schedule": Row(lambda m: m.adabelief(schedule, eps=1e-8, eps_root=0.0, nesterov=True)),
    "adadelta_no_rate": Row(lambda m: m.adadelta()),
    "adadelta_decay": Row(lambda m: m.adadelta(0.5, rho=0.95, weight_decay=0.1, weight_decay_mask=MATRIX_MASK)),
    "adan_decay": Row(lambda m: m.adan(schedule, weight_decay=0.1, mask=MATRIX_MASK)),
    "novograd": Row(lambda m: m.novograd(0.01)),
    "radam_rectified": Row(lambda m: m.radam(0.01, b2=0.9, nesterov=True)),
    "yogi_schedule": Row(lambda m: m.yogi(schedule, b1=0.5, eps=1e-2)),
    "optimistic_gradient_descent_ab": Row(lambda m: m.optimistic_gradient_descent(schedule, alpha=0.3, beta=0.7)),
    "optimistic_adam": Row(lambda m: m.optimistic_adam(0.01)),
    "optimistic_adam_v2_ab": Row(lambda m: m.optimistic_adam_v2(schedule, alpha=0.5, beta=2.0, nesterov=False)),
    "rprop": Row(lambda m: fixed_rprop_alias(m, 0.01)),
    "sign_sgd_schedule": Row(lambda m: m.sign_sgd(schedule)),
    "signum": Row(lambda m: m.signum(0.01)),
    "signum_f32": Row(lambda m: m.signum(0.01, beta=0.5, accumulator_dtype=jnp.float32), promotes_updates=True),
    "polyak_sgd_plus": Row(
        lambda m: m.polyak_sgd(max_learning_rate=0.5, scaling=schedule, f_min=1.5, variant="sps+"),
        promotes_updates=True,
        needs_value=True,
    ),
    "noisy_sgd": Row(lambda m: m.noisy_sgd(0.01, key=KEY)),
    "noisy_sgd_typed_key": Row(lambda m: m.noisy_sgd(schedule, eta=0.1, gamma=1.0, key=jax.random.key(3))),
    "fromage": Row(lambda m: m.fromage(0.01)),
    "fromage_schedule": Row(lambda m: m.fromage(schedule, min_norm=1e-3)),
    "lars": Row(lambda m: m.lars(0.1)),
    "lars_masked": Row(
        lambda m: m.lars(
            0.1, weight_decay=0.01, weight_decay_mask=MATRIX_MASK, trust_ratio_mask=MATRIX_MASK, nesterov=True
        )
    ),
    "nadam_no_nesterov": Row(lambda m: m.nadam(0.01, nesterov=False)),
}


def _key_data(tree: Any) -> Any:
    """Typed PRNG keys as their raw uint32 data, so they compare as arrays."""

    def convert(x):
        if isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.key_data(x)
        return x

    return jax.tree.map(convert, tree)


def run(row: Row, module: Any, *, jit: bool) -> list[tuple]:
    """``STEPS`` updates jitted (``EAGER_STEPS`` eager); the (updates, state, params) after each."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        tx = row.build(module)

    def step(params, state, grads, loss):
        extra = {"value": loss} if row.needs_value else {}
        updates, state = tx.update(grads, state, params, **extra)
        return module.apply_updates(params, updates), state, updates

    step = jit_level0(step) if jit else step  # both libraries alike
    allow = module is optax and row.rank_promotion
    with jax.numpy_rank_promotion("allow") if allow else contextlib.nullcontext():
        params, state = PARAMS, tx.init(PARAMS)
        history = []
        for grads, loss in list(zip(GRADS, LOSSES))[: STEPS if jit else EAGER_STEPS]:
            params, state, updates = step(params, state, grads, loss)
            history.append((updates, _key_data(state), params))
    if allow:
        # optax's DoG broadcasts the scalar leaf's update, and so the param, to
        # shape (1,); ours keep the leaf's shape (docs/DIFFERENCES.md).
        shapes = lambda tree: jax.tree.map(lambda x, p: jnp.reshape(x, jnp.shape(p)), tree, PARAMS)  # noqa: E731
        history = [(shapes(u), s, shapes(p)) for u, s, p in history]
    return history


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(ROWS))
def test_matches_optax(name, jit):
    row = ROWS[name]
    ours, theirs = run(row, gdt, jit=jit), run(row, optax, jit=jit)
    case = Case(strategies={}, build=row.build, promotes_updates=row.promotes_updates, wider_state=row.wider_state)
    assert_histories_agree(name, case, ours, theirs, PARAMS)


STATE_CLASSES = [
    "AddNoiseState",
    "ScaleByAdaDeltaState",
    "ScaleByAdanState",
    "ScaleByBeliefState",
    "ScaleByDistanceOverGradientsState",
    "ScaleByNovogradState",
    "ScaleByOptimisticGradientState",
    "ScaleByRpropState",
]


@pytest.mark.parametrize("name", STATE_CLASSES)
def test_state_classes_have_optax_names_and_fields(name):
    # optax keeps two of them out of its top level; gdtransforms exports all.
    theirs = getattr(optax, name, None) or getattr(optax_transform, name)
    assert getattr(gdt, name)._fields == theirs._fields


def test_names_resolve_where_optax_has_them():
    assert gdt.transforms.add_noise is gdt.add_noise
    assert gdt.transforms.AddNoiseState is gdt.AddNoiseState
    assert gdt.safe_int32_increment is gdt.safe_increment
    for name in ("safe_norm", "safe_root_mean_squares", "scale_by_yogi", "scale_by_radam", "scale_by_sign"):
        assert callable(getattr(gdt, name))


# -- Bad input: an error naming the argument ----------------------------------------

BAD = [
    (lambda: gdt.adabelief(0.1, b1=1.0), ValueError, "b1"),
    (lambda: gdt.adabelief(0.1, eps=0.0, eps_root=0.0), ValueError, "eps"),
    (lambda: gdt.adadelta(0.1, rho=-0.1), ValueError, "rho"),
    (lambda: gdt.adadelta(0.1, eps=0.0), ValueError, "eps"),
    (lambda: gdt.adadelta(-1.0), ValueError, "learning_rate"),
    (lambda: gdt.adan(0.1, b3=1.5), ValueError, "b3"),
    (lambda: gdt.adan(0.1, weight_decay=-0.1), ValueError, "weight_decay"),
    (lambda: gdt.novograd(0.1, b2=1.0), ValueError, "b2"),
    (lambda: gdt.novograd(0.1, weight_decay=-1.0), ValueError, "weight_decay"),
    (lambda: gdt.scale_by_novograd(mu_dtype=jnp.int32), TypeError, "mu_dtype"),
    (lambda: gdt.radam(0.1, threshold=float("nan")), ValueError, "threshold"),
    (lambda: gdt.radam(float("inf")), ValueError, "learning_rate"),
    (lambda: gdt.yogi(0.1, eps=-1.0), ValueError, "eps"),
    (lambda: gdt.scale_by_yogi(initial_accumulator_value=-1.0), ValueError, "initial_accumulator_value"),
    (lambda: gdt.optimistic_gradient_descent(0.1, alpha=-1.0), ValueError, "alpha"),
    (lambda: gdt.optimistic_adam_v2(0.1, beta="x"), TypeError, "beta"),
    (lambda: gdt.optimistic_adam(lambda c: 0.1), ValueError, "learning_rate"),
    (lambda: gdt.rprop(-0.1), ValueError, "learning_rate"),
    (lambda: gdt.rprop(0.1, eta_minus=0.0), ValueError, "eta_minus"),
    (lambda: gdt.rprop(0.1, eta_plus=0.9), ValueError, "eta_plus"),
    (lambda: gdt.rprop(0.1, min_step_size=1.0, max_step_size=0.5), ValueError, "max_step_size"),
    (lambda: gdt.sign_sgd(-0.1), ValueError, "learning_rate"),
    (lambda: gdt.signum(0.1, beta=1.0), ValueError, "beta"),
    (lambda: gdt.signum(0.1, accumulator_dtype=jnp.int8), TypeError, "accumulator_dtype"),
    (lambda: gdt.polyak_sgd(max_learning_rate=-1.0), ValueError, "max_learning_rate"),
    (lambda: gdt.polyak_sgd(variant="sps++"), ValueError, "variant"),
    (lambda: gdt.polyak_sgd(eps=-1.0), ValueError, "eps"),
    (lambda: gdt.noisy_sgd(0.1, eta=-0.1, key=0), ValueError, "eta"),
    (lambda: gdt.noisy_sgd(0.1, gamma=float("nan"), key=0), ValueError, "gamma"),
    (lambda: gdt.add_noise(0.1, 0.5, key=1.5), TypeError, "key"),
    (lambda: gdt.fromage(-0.1), ValueError, "learning_rate"),
    (lambda: gdt.fromage(0.1, min_norm=-1.0), ValueError, "min_norm"),
    (lambda: gdt.lars(0.1, momentum=1.0), ValueError, "momentum"),
    (lambda: gdt.lars(0.1, trust_coefficient=-1.0), ValueError, "trust_coefficient"),
    (lambda: gdt.scale_by_distance_over_gradients(reps_rel=0.0), ValueError, "reps_rel"),
    (lambda: gdt.scale_by_distance_over_gradients(param_dtype=jnp.int32), TypeError, "param_dtype"),
    (lambda: gdt.nadam(0.1, b2=1.0, nesterov=False), ValueError, "b2"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_hyperparameter_is_named(i):
    factory, error, name = BAD[i]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with pytest.raises(error, match=rf"`?{name}`?"):
            factory()


def test_polyak_without_value_says_so():
    tx = gdt.polyak_sgd()
    with pytest.raises(TypeError, match="value"):
        tx.update(GRADS[0], tx.init(PARAMS), PARAMS)


def test_mismatched_updates_name_the_path():
    tx = gdt.adabelief(0.1)
    state = tx.init(PARAMS)
    bad = {**GRADS[0], "dense": {"w": jnp.ones((128, 127)), "b": GRADS[0]["dense"]["b"]}}
    with pytest.raises(ValueError, match=r"\['dense'\]\['w'\]"):
        tx.update(bad, state, PARAMS)


# -- Bit-identical under inject_hyperparams --------------------------------------------

OPTIMIZERS = {
    "adabelief": (gdt.adabelief, dict(learning_rate=0.01, b1=0.8, nesterov=True)),
    "adadelta": (gdt.adadelta, dict(learning_rate=0.5, rho=0.95, weight_decay=0.1)),
    "adan": (gdt.adan, dict(learning_rate=0.01, b2=0.9, weight_decay=0.05)),
    "novograd": (gdt.novograd, dict(learning_rate=0.01, b1=0.8, weight_decay=0.01)),
    "radam": (gdt.radam, dict(learning_rate=0.01, b2=0.9, threshold=4.5)),
    "yogi": (gdt.yogi, dict(learning_rate=0.01, b1=0.7)),
    "optimistic_gradient_descent": (gdt.optimistic_gradient_descent, dict(learning_rate=0.01, alpha=0.3)),
    "optimistic_adam": (gdt.optimistic_adam, dict(learning_rate=0.01, optimism=0.05)),
    "optimistic_adam_v2": (gdt.optimistic_adam_v2, dict(learning_rate=0.01, beta=0.7)),
    "rprop": (gdt.rprop, dict(learning_rate=0.1, eta_minus=0.3, max_step_size=0.7)),
    "sign_sgd": (gdt.sign_sgd, dict(learning_rate=0.01)),
    "signum": (gdt.signum, dict(learning_rate=0.01, beta=0.7)),
    "polyak_sgd": (gdt.polyak_sgd, dict(max_learning_rate=0.3, scaling=0.9, f_min=0.5)),
    "noisy_sgd": (gdt.noisy_sgd, dict(learning_rate=0.01, eta=0.3, key=KEY)),
    "fromage": (gdt.fromage, dict(learning_rate=0.01)),
    "lars": (gdt.lars, dict(learning_rate=0.1, weight_decay=0.01, trust_coefficient=0.01)),
    "nadam": (gdt.nadam, dict(learning_rate=0.01, nesterov=False)),
    "nadamw": (gdt.nadamw, dict(learning_rate=0.01, weight_decay=0.1, nesterov=False)),
}


def trajectory(tx: Any, params: Any, *, polyak: bool, jit: bool = True) -> list:
    """Eight jitted updates, applied outside ``jit`` (as tests/schedules/test_inject.py)."""
    update = lambda g, s, p, loss: tx.update(g, s, p, **({"value": loss} if polyak else {}))  # noqa: E731
    update = jax.jit(update) if jit else update
    state, out = tx.init(params), []
    for grads, loss in zip(GRADS[:8], LOSSES):
        grads = params.layout.flatten(grads) if gdt.is_flat(params) else grads
        updates, state = update(grads, state, params, loss)
        params = gdt.apply_updates(params, updates)
        out.append((updates, params))
    return out


def _unflatten(tree: Any) -> Any:
    return jax.tree.map(lambda x: x.unflatten() if gdt.is_flat(x) else x, tree, is_leaf=gdt.is_flat)


@functools.cache
def plain_trajectory(name: str) -> list:
    """The plain optimizer on the tree, shared by the two tests below."""
    factory, kwargs = OPTIMIZERS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return trajectory(factory(**kwargs), PARAMS, polyak=name == "polyak_sgd")


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_bit_identical_under_inject_hyperparams(name):
    factory, kwargs = OPTIMIZERS[name]
    plain = plain_trajectory(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        injected = trajectory(gdt.inject_hyperparams(factory)(**kwargs), PARAMS, polyak=name == "polyak_sgd")
    if name == "polyak_sgd":
        # Jitted, XLA folds sgd's constant rate into Polyak's step, (c g) s ->
        # (c s) g, only in the plain program (an injected rate is no constant):
        # the last bit differs. Eagerly nothing is folded, and the two are equal.
        assert_last_bits_close(plain, injected, name)
        plain = trajectory(factory(**kwargs), PARAMS, polyak=True, jit=False)
        injected = trajectory(gdt.inject_hyperparams(factory)(**kwargs), PARAMS, polyak=True, jit=False)
    for t, (a, b) in enumerate(zip(plain, injected)):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert x.dtype == y.dtype, f"{name}, step {t}"
            np.testing.assert_array_equal(np.asarray(x), np.asarray(y), err_msg=f"{name}, step {t}")


def assert_last_bits_close(plain: list, injected: list, name: str) -> None:
    for t, (a, b) in enumerate(zip(plain, injected)):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert x.dtype == y.dtype, f"{name}, step {t}"
            np.testing.assert_allclose(np.asarray(x, np.float64), np.asarray(y, np.float64), rtol=2e-6, atol=1e-9)


# -- The flat path -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_flat_path_equals_tree_path(name):
    factory, kwargs = OPTIMIZERS[name]
    tree = plain_trajectory(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        flat = trajectory(factory(**kwargs), gdt.flatten_params(PARAMS), polyak=name == "polyak_sgd")
    case = Case(strategies={}, build=None)
    assert_histories_agree(name, case, [(u, (), p) for u, p in _unflatten(flat)], [(u, (), p) for u, p in tree], PARAMS)
