"""optax.contrib's adaptive and parameter-free optimizers against optax, step by step.

One table: each row builds the same optimizer from ``gdtransforms`` or ``optax``
(``m`` is the module). Every row runs 20 steps jitted and 6 eagerly on a nested
tree (float32 matrix and vectors, a bfloat16 leaf, a scalar leaf) and compares
updates, state and params at every step, each leaf to its dtype's tolerance
relative to the magnitudes it has had (tests/_parity.py). Then: bit-identity
under ``inject_hyperparams``, the flat path against the tree path, bad input.

Schedule-free rows run on float32 leaves only and map our state to optax's
(documented differences, docs/DIFFERENCES.md "schedule-free"); its bfloat16
behaviour is tested in tests/contrib/test_schedule_free.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import optax
import pytest

import gdtransforms as gdt
from tests._parity import Case, assert_histories_agree
from tests._trees import assert_trees_close, gradient_sequence, jit_level0, nested_params

STEPS = 20
EAGER_STEPS = 6  # eager runs op by op; the first six steps include the all-zero step 3
PARAMS = nested_params()
F32_PARAMS = jax.tree.map(lambda p: p.astype(jnp.float32), PARAMS)
GRADS = gradient_sequence(PARAMS, STEPS)
F32_GRADS = [jax.tree.map(lambda g: g.astype(jnp.float32), g) for g in GRADS]
LOSSES = [jnp.float32(3.0 / (1.0 + 0.3 * t) + 0.1 * (t % 3)) for t in range(STEPS)]
MATRIX_MASK = jax.tree.map(lambda p: p.ndim > 1, PARAMS)


def decay(count):
    return 0.05 / (1.0 + 0.2 * count)


def slow_warmup(count):
    return jnp.minimum(0.999, 0.9 + 0.01 * count)


def alpha_warmup(count):
    return jnp.minimum(5.0, 0.5 * count)


def shifted(schedule: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """optax reads schedule-free's schedule one step late (optax PR #1744)."""
    return lambda count: schedule(count - 1)


@dataclass(frozen=True)
class Row:
    build: Callable[[Any], Any]  # module -> transformation
    optax_build: Callable[[], Any] | None = None  # when optax needs another build
    loss: bool = False  # update takes value=loss
    float32_only: bool = False
    state_to_optax: Callable[[Any], Any] | None = None
    # Updates computed as new params minus params (schedule-free): compared at
    # the params' scale, as the previous params plus the update.
    updates_at_params_scale: bool = False
    # optax promotes a bfloat16 leaf's updates to float32 (a float32 scalar state); ours keep bfloat16.
    promotes_updates: bool = False


def sf_state(state):
    """Our schedule-free state in optax's convention: its step_count starts at 1."""
    return state._replace(step_count=state.step_count + 1)


SF = dict(float32_only=True, state_to_optax=sf_state, updates_at_params_scale=True)
ROWS: dict[str, Row] = {
    "acprop": Row(lambda m: m.contrib.acprop(0.01)),
    "acprop_wd_mask": Row(lambda m: m.contrib.acprop(decay, b1=0.8, weight_decay=0.1, mask=MATRIX_MASK)),
    "scale_by_acprop": Row(lambda m: m.contrib.scale_by_acprop(b2=0.99, eps=1e-8)),
    "ademamix": Row(lambda m: m.contrib.ademamix(0.01)),
    "ademamix_schedules": Row(
        lambda m: m.contrib.ademamix(0.01, b3=slow_warmup, alpha=alpha_warmup, weight_decay=0.01, eps_root=1e-9)
    ),
    "scale_by_ademamix": Row(lambda m: m.contrib.scale_by_ademamix()),
    "simplified_ademamix": Row(lambda m: m.contrib.simplified_ademamix(0.01, alpha=2.0)),
    "scale_by_simplified_ademamix": Row(lambda m: m.contrib.scale_by_simplified_ademamix(alpha=alpha_warmup)),
    "adopt": Row(lambda m: m.contrib.adopt(0.01)),
    "adopt_nesterov_noclip": Row(lambda m: m.contrib.adopt(decay, b2=0.99, nesterov=True, use_clipping=False)),
    "adopt_mu_f32": Row(lambda m: m.contrib.adopt(0.01, mu_dtype=jnp.float32, clip_value_fn=lambda c: 0.5 + c)),
    "cocob": Row(lambda m: m.contrib.cocob()),
    # float32_only below for DoG, DoWG, D-Adaptation, Prodigy and MoMo: with a bfloat16 leaf optax keeps
    # their scalar state in bfloat16 at init (float32 after a step); ours is float32 throughout
    # (docs/DIFFERENCES.md), so the first step differs by bfloat16 rounding. tests/contrib/test_state_dtypes.py
    # covers the mixed tree.
    "cocob_wd": Row(lambda m: m.contrib.cocob(0.5, alpha=50.0, weight_decay=0.1, mask=MATRIX_MASK)),
    "dadapt_adamw": Row(lambda m: m.contrib.dadapt_adamw(), float32_only=True),
    "dadapt_adamw_wd_schedule": Row(
        lambda m: m.contrib.dadapt_adamw(decay, betas=(0.8, 0.99), weight_decay=0.1), float32_only=True
    ),
    "dog": Row(lambda m: m.contrib.dog(), float32_only=True),
    "dog_learning_rate_init": Row(
        lambda m: m.contrib.dog(0.5, init_step=("learning_rate", 0.1), weight_decay=0.01), promotes_updates=True
    ),
    "dog_distance_init": Row(lambda m: m.contrib.dog(init_step=("distance", 0.5), eps=1e-4), promotes_updates=True),
    "dowg": Row(lambda m: m.contrib.dowg(), float32_only=True),
    "dowg_init_wd": Row(
        lambda m: m.contrib.dowg(decay, init_estim_sq_dist=0.5, weight_decay=0.1, mask=MATRIX_MASK),
        promotes_updates=True,
    ),
    "madgrad": Row(lambda m: m.contrib.madgrad(0.01)),
    "madgrad_schedule_wd": Row(lambda m: m.contrib.madgrad(decay, momentum=0.5, weight_decay=0.1)),
    # optax's mechanize fails on mixed bfloat16/float32 trees (lax.clamp dtypes).
    "mechanize_adam": Row(lambda m: m.contrib.mechanize(m.adam(0.01)), float32_only=True),
    "mechanize_sgd": Row(lambda m: m.contrib.mechanize(m.sgd(0.1), weight_decay=0.0, num_betas=3), float32_only=True),
    "momo": Row(lambda m: m.contrib.momo(), loss=True, float32_only=True),
    # optax's adapt_lower_bound fails on mixed bfloat16/float32 trees (lax.cond dtypes).
    "momo_adapt_wd": Row(
        lambda m: m.contrib.momo(decay, beta=0.8, lower_bound=0.5, weight_decay=0.1, adapt_lower_bound=True),
        loss=True,
        float32_only=True,
    ),
    "momo_adam": Row(lambda m: m.contrib.momo_adam(), loss=True, float32_only=True),
    "momo_adam_adapt_wd": Row(
        lambda m: m.contrib.momo_adam(decay, weight_decay=0.1, lower_bound=0.2, adapt_lower_bound=True),
        loss=True,
        float32_only=True,
    ),
    "prodigy": Row(lambda m: m.contrib.prodigy(), float32_only=True),
    "prodigy_safeguard": Row(
        lambda m: m.contrib.prodigy(decay, beta3=0.99, weight_decay=0.1, estim_lr_coef=2.0, safeguard_warmup=True),
        float32_only=True,
    ),
    "schedule_free_adamw": Row(lambda m: m.contrib.schedule_free_adamw(0.01, weight_decay=0.01), **SF),
    "schedule_free_sgd": Row(lambda m: m.contrib.schedule_free_sgd(0.1, b1=0.8, weight_decay=0.01), **SF),
    "schedule_free_adam_schedule": Row(
        lambda m: m.contrib.schedule_free(m.adam(decay, b1=0.0), decay, b1=0.9, weight_lr_power=1.0),
        optax_build=lambda: optax.contrib.schedule_free(optax.adam(decay, b1=0.0), shifted(decay), weight_lr_power=1.0),
        **SF,
    ),
    "schedule_free_adamw_warmup": Row(
        lambda m: m.contrib.schedule_free_adamw(0.01, warmup_steps=5),
        # The same optimizer in optax, with the averaging schedule shifted back.
        optax_build=lambda: optax.contrib.schedule_free(
            optax.chain(
                optax.scale_by_rms(decay=0.999, eps=1e-8, eps_in_sqrt=False, bias_correction=True),
                optax.add_decayed_weights(0.0),
                optax.scale_by_learning_rate(optax.warmup_constant_schedule(0.0, 0.01, 5)),
            ),
            shifted(optax.warmup_constant_schedule(0.0, 0.01, 5)),
        ),
        **SF,
    ),
}
CASE = Case(strategies={}, build=lambda m, hp, p: None)


def problem(row: Row) -> tuple[Any, list[Any]]:
    return (F32_PARAMS, F32_GRADS) if row.float32_only else (PARAMS, GRADS)


def run(tx, row: Row, *, jit: bool) -> list[tuple[Any, Any, Any]]:
    """STEPS updates jitted (EAGER_STEPS eager); the (updates, state, params) after each."""

    def step(params, state, grads, loss):
        extra = {"value": loss} if row.loss else {}
        updates, state = tx.update(grads, state, params, **extra)
        return updates, state, optax.apply_updates(params, updates)

    step = jit_level0(step) if jit else step  # both libraries alike
    params, grads_seq = problem(row)
    state, history = tx.init(params), []
    for grads, loss in list(zip(grads_seq, LOSSES))[: STEPS if jit else EAGER_STEPS]:
        updates, state, params = step(params, state, grads, loss)
        history.append((updates, state, params))
    return history


def at_params_scale(history, params0):
    out, before = [], params0
    for u, s, p in history:
        out.append((jax.tree.map(lambda a, b: a + b, before, u), s, p))
        before = p
    return out


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(ROWS))
def test_matches_optax(name, jit):
    row = ROWS[name]
    ours = run(row.build(gdt), row, jit=jit)
    theirs = run(row.optax_build() if row.optax_build else row.build(optax), row, jit=jit)
    if row.state_to_optax is not None:
        ours = [(u, row.state_to_optax(s), p) for u, s, p in ours]
    if row.updates_at_params_scale:
        ours, theirs = at_params_scale(ours, problem(row)[0]), at_params_scale(theirs, problem(row)[0])
    case = dataclasses.replace(CASE, promotes_updates=row.promotes_updates)
    assert_histories_agree(f"{name} ({'jit' if jit else 'eager'})", case, ours, theirs, problem(row)[0])


def test_state_classes_match_optax():
    names = [n for n in dir(gdt.contrib) if n.endswith("State")]
    for name in ["ScaleByBeliefState", *names]:
        ours = getattr(gdt.contrib, name, None) or getattr(gdt.contrib._acprop, name)
        theirs = getattr(optax.contrib, name, None) or getattr(optax, name)
        assert ours.__name__ == theirs.__name__ and ours._fields == theirs._fields, name


def test_every_name_and_signature_matches_optax_contrib():
    import inspect

    mine = [n for n in ROWS_NAMES if hasattr(optax.contrib, n)]
    for name in mine:
        ours, theirs = inspect.signature(getattr(gdt.contrib, name)), inspect.signature(getattr(optax.contrib, name))
        assert list(ours.parameters) == list(theirs.parameters), name
        for p in ours.parameters.values():
            q = theirs.parameters[p.name]
            assert p.kind == q.kind, (name, p.name)
            if p.default is not inspect.Parameter.empty and not callable(p.default):
                assert p.default == q.default, (name, p.name, p.default, q.default)


ROWS_NAMES = [
    *("acprop scale_by_acprop ademamix scale_by_ademamix simplified_ademamix scale_by_simplified_ademamix".split()),
    *("adopt scale_by_adopt cocob scale_by_cocob dadapt_adamw dog dowg madgrad scale_by_madgrad mechanize".split()),
    *("momo momo_adam prodigy schedule_free schedule_free_adamw schedule_free_sgd schedule_free_eval_params".split()),
    *("COCOBState DAdaptAdamWState DoGState DoWGState MadgradState MechanicState MomoAdamState MomoState".split()),
    *("ProdigyState ScaleByAdemamixState ScaleBySimplifiedAdEMAMixState ScheduleFreeState".split()),
]


def test_names_resolve_in_gdt_contrib():
    assert all(hasattr(optax.contrib, n) for n in ROWS_NAMES)
    assert [n for n in ROWS_NAMES if not hasattr(gdt.contrib, n)] == []


# -- Bit-identical under inject_hyperparams -----------------------------------

# name -> (factory, kwargs, static_args)
INJECT = {
    "acprop": (gdt.contrib.acprop, dict(learning_rate=0.01, b1=0.8, weight_decay=0.1), ()),
    "ademamix": (gdt.contrib.ademamix, dict(learning_rate=0.01, b3=0.99, alpha=4.0), ()),
    "simplified_ademamix": (gdt.contrib.simplified_ademamix, dict(learning_rate=0.01, alpha=2.0), ()),
    "adopt": (gdt.contrib.adopt, dict(learning_rate=0.01, b2=0.99), ("clip_value_fn",)),
    "cocob": (gdt.contrib.cocob, dict(learning_rate=1.0, alpha=50.0, weight_decay=0.1), ()),
    "dadapt_adamw": (gdt.contrib.dadapt_adamw, dict(learning_rate=1.0, weight_decay=0.1), ()),
    "dog": (gdt.contrib.dog, dict(learning_rate=1.0, eps=1e-6), ()),
    "dowg": (gdt.contrib.dowg, dict(learning_rate=0.5, init_estim_sq_dist=0.5), ()),
    "madgrad": (gdt.contrib.madgrad, dict(learning_rate=0.01, momentum=0.8), ()),
    "mechanize": (gdt.contrib.mechanize, dict(base_optimizer=gdt.sgd(0.1), weight_decay=0.01), ("num_betas",)),
    "momo": (gdt.contrib.momo, dict(learning_rate=1.0, beta=0.8, weight_decay=0.1), ()),
    "momo_adam": (gdt.contrib.momo_adam, dict(learning_rate=0.01, weight_decay=0.1), ()),
    "prodigy": (gdt.contrib.prodigy, dict(learning_rate=1.0, weight_decay=0.1), ()),
    "schedule_free_adamw": (gdt.contrib.schedule_free_adamw, dict(learning_rate=0.01, weight_decay=0.01), ()),
    "schedule_free_sgd": (gdt.contrib.schedule_free_sgd, dict(learning_rate=0.1, weight_decay=0.01), ()),
}
NEEDS_LOSS = {"momo", "momo_adam"}


def _trajectory(opt, name, jit):
    """Updates and params of each step; only ``update`` is jitted (as in tests/schedules/test_inject.py),
    so XLA cannot fuse the params' addition differently around constants and live values."""
    update = jax.jit(opt.update) if jit else opt.update
    extra = (lambda t: {"value": LOSSES[t]}) if name in NEEDS_LOSS else (lambda t: {})
    params, state, out = PARAMS, opt.init(PARAMS), []
    for t, grads in enumerate(GRADS):
        updates, state = update(grads, state, params, **extra(t))
        params = gdt.apply_updates(params, updates)
        out.append((updates, params))
    return out


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(INJECT))
def test_bit_identical_under_inject_hyperparams(name, jit):
    factory, kwargs, static = INJECT[name]
    plain = _trajectory(factory(**kwargs), name, jit)
    injected = _trajectory(gdt.inject_hyperparams(factory, static_args=static)(**kwargs), name, jit)
    for t, (a, b) in enumerate(zip(plain, injected)):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert x.dtype == y.dtype and bool(jnp.array_equal(x, y)), f"{name}, step {t}"


# -- The flat path ------------------------------------------------------------

FLAT = sorted(n for n in ROWS if not ROWS[n].optax_build)


def unflatten_all(tree):
    return jax.tree.map(lambda x: x.unflatten() if gdt.is_flat(x) else x, tree, is_leaf=gdt.is_flat)


@pytest.mark.parametrize("name", FLAT)
def test_flat_path_matches_tree_path(name):
    """Element-wise ones run on the buffers as they are; global sums are over the buffers."""
    row = ROWS[name]
    params, grads = problem(row)
    layout = gdt.flat_layout(params, groups=MATRIX_MASK)
    tx = row.build(gdt)
    extra = (lambda t: {"value": LOSSES[t]}) if row.loss else (lambda t: {})

    @jax.jit
    def both(p_tree, s_tree, p_flat, s_flat, g, loss):
        kw = {"value": loss} if row.loss else {}
        u_tree, s_tree = tx.update(g, s_tree, p_tree, **kw)
        u_flat, s_flat = tx.update(layout.flatten(g), s_flat, p_flat, **kw)
        return (
            (gdt.apply_updates(p_tree, u_tree), s_tree, u_tree),
            (gdt.apply_updates(p_flat, u_flat), s_flat, u_flat),
        )

    del extra
    p_tree, p_flat = params, layout.flatten(params)
    s_tree, s_flat = tx.init(p_tree), tx.init(p_flat)
    for t, g in enumerate(grads[:6]):
        (p_tree, s_tree, u_tree), (p_flat, s_flat, u_flat) = both(p_tree, s_tree, p_flat, s_flat, g, LOSSES[t])
        assert_trees_close(
            unflatten_all((u_flat, p_flat)), (u_tree, p_tree), rtol=1e-5, atol=1e-6, msg=f"{name}, step {t}"
        )
        assert_trees_close(unflatten_all(s_flat), s_tree, rtol=1e-5, atol=1e-6, msg=f"{name} state, step {t}")


# -- Bad input ----------------------------------------------------------------

BAD = {
    "acprop_b1": (lambda: gdt.contrib.acprop(0.1, b1=1.0), ValueError, "b1"),
    "acprop_eps_pair": (lambda: gdt.contrib.scale_by_acprop(eps=0.0, eps_root=0.0), ValueError, "eps"),
    "ademamix_b3": (lambda: gdt.contrib.ademamix(0.1, b3=1.5), ValueError, "b3"),
    "ademamix_alpha": (lambda: gdt.contrib.scale_by_ademamix(alpha=-1.0), ValueError, "alpha"),
    "ademamix_mu_dtype": (lambda: gdt.contrib.ademamix(0.1, mu_dtype=jnp.int32), TypeError, "mu_dtype"),
    "simplified_b2": (lambda: gdt.contrib.simplified_ademamix(0.1, b2=-0.1), ValueError, "b2"),
    "adopt_eps": (lambda: gdt.contrib.adopt(0.1, eps=0.0), ValueError, "eps"),
    "adopt_clip_fn": (lambda: gdt.contrib.adopt(0.1, clip_value_fn=3.0), TypeError, "clip_value_fn"),
    "cocob_alpha": (lambda: gdt.contrib.cocob(alpha=0.0), ValueError, "alpha"),
    "dadapt_betas": (lambda: gdt.contrib.dadapt_adamw(betas=(0.9,)), TypeError, "betas"),
    "dadapt_beta_range": (lambda: gdt.contrib.dadapt_adamw(betas=(0.9, 1.0)), ValueError, r"betas\[1\]"),
    "prodigy_estim_lr0": (lambda: gdt.contrib.prodigy(estim_lr0=0.0), ValueError, "estim_lr0"),
    "prodigy_beta3": (lambda: gdt.contrib.prodigy(beta3=2.0), ValueError, "beta3"),
    "dog_init_kind": (lambda: gdt.contrib.dog(init_step=("nope", 1.0)), ValueError, "init_step"),
    "dog_init_pair": (lambda: gdt.contrib.dog(init_step=1.0), TypeError, "init_step"),
    "dowg_eps": (lambda: gdt.contrib.dowg(eps=0.0), ValueError, "eps"),
    "madgrad_momentum": (lambda: gdt.contrib.madgrad(0.1, momentum=1.0), ValueError, "momentum"),
    "mechanize_num_betas": (lambda: gdt.contrib.mechanize(gdt.sgd(0.1), num_betas=0), ValueError, "num_betas"),
    "mechanize_base": (lambda: gdt.contrib.mechanize("adam"), TypeError, "gradient transformation"),
    "momo_beta": (lambda: gdt.contrib.momo(beta=1.0), ValueError, "beta"),
    "momo_adam_lr": (lambda: gdt.contrib.momo_adam(-1.0), ValueError, "learning_rate"),
    "schedule_free_b1": (lambda: gdt.contrib.schedule_free_sgd(b1=0.0), ValueError, "b1"),
    "schedule_free_state_dtype": (lambda: gdt.contrib.schedule_free_adamw(state_dtype=jnp.int8), TypeError, "state"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_hyperparameters_name_the_argument(name):
    make, error, match = BAD[name]
    with pytest.raises(error, match=match):
        make()


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_missing_loss_is_named(name):
    tx = getattr(gdt.contrib, name)()
    with pytest.raises(ValueError, match="value=loss"):
        tx.update(PARAMS, tx.init(PARAMS), PARAMS)


@pytest.mark.parametrize("name", ["cocob", "dadapt_adamw", "dog", "dowg", "madgrad", "prodigy", "schedule_free_sgd"])
def test_missing_params_and_mismatched_updates_are_named(name):
    tx = getattr(gdt.contrib, name)() if name != "madgrad" else gdt.contrib.madgrad(0.1)
    state = tx.init(PARAMS)
    with pytest.raises(ValueError, match="params"):
        tx.update(PARAMS, state)
    wrong = {**PARAMS, "dense": {"w": PARAMS["dense"]["w"]}}
    with pytest.raises(ValueError, match=r"\['dense'\]"):
        tx.update(wrong, state, PARAMS)


def test_wrong_state_is_named():
    tx = gdt.contrib.prodigy()
    with pytest.raises(TypeError, match="ProdigyState"):
        tx.update(PARAMS, gdt.contrib.dadapt_adamw().init(PARAMS), PARAMS)
