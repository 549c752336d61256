"""Property-based parity with optax on random trees, gradients and hyperparameters.

For every primitive and alias that optax also has, hypothesis draws a pytree
(dicts/lists/tuples, ``None``, scalar, zero-size and odd-shaped leaves of
float32, bfloat16 and float16), a gradient sequence (with zero, 1e-30, 1e30
and mixed-magnitude steps) and hyperparameters in their valid ranges. Both
libraries run the same steps eagerly; updates, state and params must agree
leaf by leaf at every step, to a tolerance set by each leaf's dtype.

Non-finite values must match exactly (same NaN/inf pattern), with the
deliberate, documented exceptions below, where gdtransforms is finite (or
inf, the true value overflowing) and optax is not (see docs/DIFFERENCES.md):

- ``F16_EPS_UNDERFLOW``: in float16, optax adds ``eps`` (1e-8 by default,
  below float16's smallest subnormal) in float16, so a zero second moment
  gives ``0 / 0 = NaN`` (optax issues #1754 for the Adam family and #1784 for
  RMS/centered RMS; #1768 is the open fix for Adamax). gdtransforms computes
  these denominators in at least float32.
- Centered RMSprop: ``E[g^2] - E[g]^2`` can round below zero (with bias
  correction the true value is exactly 0 at the first step); optax takes the
  root of the rounding error (NaN, or a value off by any factor when ``eps``
  is small), gdtransforms clamps the variance at 0. For ``scale_by_stddev``
  and ``rmsprop(centered=True)`` the optax side is optax's own update with
  that one clamp added (:func:`optax_stddev_clamped`).

And one dtype difference: bfloat16 updates stay bfloat16 where optax
promotes them to a wider ``mu_dtype``/``accumulator_dtype``
(``PROMOTES_UPDATES``); the values still agree to bfloat16's tolerance.
(float16 updates are promoted as in optax: float16's range cannot hold them.)

``GDT_HYPOTHESIS_PROFILE=long`` runs 250 examples per case (more than 10,000
in all); the default ``ci`` profile runs a few, derandomized.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from optax._src import transform as optax_transform  # WithCount state is not exported.

import gdtransforms as gdt
from tests import strategies as gst
from tests._parity import F16, Case, assert_trees_agree, check_case

# 1e30 cast to float16/bfloat16 is inf, on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")

lr = gst.learning_rates
dec = gst.decays
eps = gst.epsilons
nonneg = gst.non_negative
sdt = gst.state_dtypes
flag = st.booleans
momentum = st.one_of(st.none(), gst.decays(0.999))
weight_decay = st.one_of(gst.non_negative(0.5), st.sampled_from(gst.SCHEDULES))
mask_seed = st.one_of(st.none(), st.integers(0, 2**16))


def _mask(hp: dict, params: Any) -> Any:
    seed = hp.get("mask")
    return None if seed is None else gst.masks_for(params, seed)


def _kw(hp: dict, *names: str) -> dict:
    return {k: hp[k] for k in names if k in hp}


STDDEV_ARGS = ("decay", "eps", "initial_scale", "eps_in_sqrt", "bias_correction")


def optax_stddev_clamped(**kwargs: Any) -> optax.GradientTransformation:
    """optax 0.2.8's ``scale_by_stddev``, line for line, with the variance clamped at 0.

    The reference for gdtransforms' deliberate difference: only ``jnp.maximum(.., 0)``
    is new, and the bias correction runs leaf by leaf. (optax's is one jitted
    call over the whole tree, where XLA may divide by a shared reciprocal: an
    ulp off, which ``E[g^2] - E[g]^2 ~ 0`` turns into any factor at all.) The
    moments, bias correction and state are optax's own code.
    """
    decay, eps, bias_correction = kwargs["decay"], kwargs["eps"], kwargs["bias_correction"]
    tu = optax.tree_utils

    def update_fn(updates, state, params=None):
        del params
        mu = tu.tree_update_moment(updates, state.mu, decay, 1)
        nu = tu.tree_update_moment_per_elem_norm(updates, state.nu, decay, 2)
        mu_hat, nu_hat = mu, nu
        if bias_correction:
            count = optax.safe_increment(state.count)
            mu_hat = jax.tree.map(lambda m: tu.tree_bias_correction(m, decay, count), mu)
            nu_hat = jax.tree.map(lambda n: tu.tree_bias_correction(n, decay, count), nu)
        variance = jax.tree.map(lambda m, n: jnp.maximum(n - (m.conj() * m).real, 0), mu_hat, nu_hat)
        if kwargs["eps_in_sqrt"]:
            scaling = jax.tree.map(lambda v: jax.lax.rsqrt(v + eps), variance)
        else:
            scaling = jax.tree.map(lambda v: 1 / (jnp.sqrt(v) + eps), variance)
        updates = jax.tree.map(lambda s, g: s * g, scaling, updates)
        if bias_correction:
            return updates, optax_transform.ScaleByRStdDevWithCountState(count=count, mu=mu, nu=nu)
        return updates, optax_transform.ScaleByRStdDevState(mu=mu, nu=nu)

    return optax.GradientTransformation(optax.scale_by_stddev(**kwargs).init, update_fn)


def stddev(m: Any) -> Callable[..., Any]:
    return m.scale_by_stddev if m is gdt else optax_stddev_clamped


# name -> (hyperparameter strategies, build(module, hp, params) -> transformation).
TABLE: dict[str, tuple[dict[str, st.SearchStrategy], Callable[[Any, dict, Any], Any]]] = {
    # Base and scaling.
    "identity": ({}, lambda m, hp, p: m.identity()),
    "set_to_zero": ({}, lambda m, hp, p: m.set_to_zero()),
    "scale": ({"s": st.floats(-2.0, 2.0)}, lambda m, hp, p: m.scale(hp["s"])),
    "scale_by_learning_rate": (
        {"lr": lr(), "flip": flag()},
        lambda m, hp, p: m.scale_by_learning_rate(hp["lr"], flip_sign=hp["flip"]),
    ),
    "scale_by_schedule": ({"fn": st.sampled_from(gst.SCHEDULES)}, lambda m, hp, p: m.scale_by_schedule(hp["fn"])),
    # Momentum.
    "trace": (
        {"decay": dec(), "nesterov": flag(), "accumulator_dtype": sdt()},
        lambda m, hp, p: m.trace(**hp),
    ),
    "ema": (
        {"decay": dec(), "debias": flag(), "accumulator_dtype": sdt()},
        lambda m, hp, p: m.ema(**hp),
    ),
    # Adaptive.
    "scale_by_rss": (
        {"initial_accumulator_value": nonneg(), "eps": st.one_of(st.just(0.0), eps())},
        lambda m, hp, p: m.scale_by_rss(**hp),
    ),
    "scale_by_rms": (
        {"decay": dec(), "eps": eps(), "initial_scale": nonneg(), "eps_in_sqrt": flag(), "bias_correction": flag()},
        lambda m, hp, p: m.scale_by_rms(**hp),
    ),
    "scale_by_stddev": (
        {"decay": dec(), "eps": eps(), "initial_scale": nonneg(), "eps_in_sqrt": flag(), "bias_correction": flag()},
        lambda m, hp, p: stddev(m)(**hp),
    ),
    "scale_by_adam": (
        {
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "eps_root": st.one_of(st.just(0.0), eps()),
            "mu_dtype": sdt(),
            "nesterov": flag(),
        },
        lambda m, hp, p: m.scale_by_adam(**hp),
    ),
    "scale_by_amsgrad": (
        {
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "eps_root": st.one_of(st.just(0.0), eps()),
            "mu_dtype": sdt(),
            "bias_correction_mu": flag(),
            "bias_correction_nu": flag(),
        },
        lambda m, hp, p: m.scale_by_amsgrad(**hp),
    ),
    "scale_by_adamax": ({"b1": dec(), "b2": dec(), "eps": eps()}, lambda m, hp, p: m.scale_by_adamax(**hp)),
    "scale_by_lion": (
        {
            "b1": dec(),
            "b2": dec(),
            "mu_dtype": sdt(),
            "mode": st.sampled_from(["hard", "smooth", "refined"]),
            "smooth_beta": st.floats(0.1, 10.0),
        },
        lambda m, hp, p: m.scale_by_lion(**hp),
    ),
    "scale_by_trust_ratio": (
        {"min_norm": nonneg(), "trust_coefficient": nonneg(2.0), "eps": st.one_of(st.just(0.0), eps())},
        lambda m, hp, p: m.scale_by_trust_ratio(**hp),
    ),
    # Regularisation, clipping, masking.
    "add_decayed_weights": (
        {"weight_decay": weight_decay, "mask": mask_seed},
        lambda m, hp, p: m.add_decayed_weights(hp["weight_decay"], _mask(hp, p)),
    ),
    "clip": ({"max_delta": nonneg(2.0)}, lambda m, hp, p: m.clip(hp["max_delta"])),
    "clip_by_global_norm": (
        {"max_norm": st.floats(1e-3, 10.0)},
        lambda m, hp, p: m.clip_by_global_norm(hp["max_norm"]),
    ),
    "masked_adam": (
        {"mask": st.integers(0, 2**16), "b1": dec()},
        lambda m, hp, p: m.masked(m.scale_by_adam(b1=hp["b1"]), _mask(hp, p)),
    ),
    "chain_clip_adam_decay_lr": (
        {"max_norm": st.floats(1e-3, 10.0), "weight_decay": nonneg(0.5), "lr": lr()},
        lambda m, hp, p: m.chain(
            m.clip_by_global_norm(hp["max_norm"]),
            m.scale_by_adam(),
            m.add_decayed_weights(hp["weight_decay"]),
            m.scale_by_learning_rate(hp["lr"]),
        ),
    ),
    "named_chain_clip_trace_lr": (
        {"max_norm": st.floats(1e-3, 10.0), "decay": dec(), "lr": lr()},
        lambda m, hp, p: m.named_chain(
            ("clip", m.clip_by_global_norm(hp["max_norm"])),
            ("momentum", m.trace(hp["decay"])),
            ("lr", m.scale_by_learning_rate(hp["lr"])),
        ),
    ),
    "stateless": (
        {"s": st.floats(-2.0, 2.0)},
        lambda m, hp, p: m.stateless(lambda u, p: jax.tree.map(lambda x: hp["s"] * x, u)),
    ),
    "stateless_with_tree_map": (
        {"s": st.floats(-2.0, 2.0)},
        lambda m, hp, p: m.stateless_with_tree_map(lambda u, p: u + hp["s"] * p),
    ),
    # Aliases.
    "sgd": (
        {"learning_rate": lr(), "momentum": momentum, "nesterov": flag(), "accumulator_dtype": sdt()},
        lambda m, hp, p: m.sgd(**hp),
    ),
    "adagrad": (
        {"learning_rate": lr(), "initial_accumulator_value": nonneg(), "eps": st.one_of(st.just(0.0), eps())},
        lambda m, hp, p: m.adagrad(**hp),
    ),
    "rmsprop": (
        {
            "learning_rate": lr(),
            "decay": dec(),
            "eps": eps(),
            "initial_scale": nonneg(),
            "eps_in_sqrt": flag(),
            "centered": flag(),
            "momentum": momentum,
            "nesterov": flag(),
            "bias_correction": flag(),
        },
        lambda m, hp, p: (
            m.rmsprop(**hp)
            if m is gdt or not hp["centered"]
            else optax.chain(
                optax_stddev_clamped(**{k: hp[k] for k in STDDEV_ARGS}),
                optax.scale_by_learning_rate(hp["learning_rate"]),
                optax.identity() if hp["momentum"] is None else optax.trace(hp["momentum"], hp["nesterov"]),
            )
        ),
    ),
    "adam": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "eps_root": st.one_of(st.just(0.0), eps()),
            "mu_dtype": sdt(),
            "nesterov": flag(),
        },
        lambda m, hp, p: m.adam(**hp),
    ),
    "adamw": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "mu_dtype": sdt(),
            "weight_decay": weight_decay,
            "mask": mask_seed,
            "nesterov": flag(),
        },
        lambda m, hp, p: m.adamw(**{**hp, "mask": _mask(hp, p)}),
    ),
    "nadam": (
        {"learning_rate": lr(), "b1": dec(), "b2": dec(), "eps": eps(), "mu_dtype": sdt()},
        lambda m, hp, p: m.nadam(**hp),
    ),
    "nadamw": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "weight_decay": weight_decay,
            "mask": mask_seed,
        },
        lambda m, hp, p: m.nadamw(**{**hp, "mask": _mask(hp, p)}),
    ),
    "amsgrad": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "mu_dtype": sdt(),
            "bias_correction_mu": flag(),
            "bias_correction_nu": flag(),
        },
        lambda m, hp, p: m.amsgrad(**hp),
    ),
    "adamax": (
        {"learning_rate": lr(), "b1": dec(), "b2": dec(), "eps": eps()},
        lambda m, hp, p: m.adamax(**hp),
    ),
    "adamaxw": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "weight_decay": weight_decay,
            "mask": mask_seed,
        },
        lambda m, hp, p: m.adamaxw(**{**hp, "mask": _mask(hp, p)}),
    ),
    "lion": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "mu_dtype": sdt(),
            "weight_decay": weight_decay,
            "mask": mask_seed,
        },
        lambda m, hp, p: m.lion(**{**hp, "mask": _mask(hp, p)}),
    ),
    "lamb": (
        {
            "learning_rate": lr(),
            "b1": dec(),
            "b2": dec(),
            "eps": eps(),
            "eps_root": st.one_of(st.just(0.0), eps()),
            "weight_decay": weight_decay,
            "mask": mask_seed,
        },
        lambda m, hp, p: m.lamb(**{**hp, "mask": _mask(hp, p)}),
    ),
}

# Deliberate differences (module docstring): which cases may be finite where
# optax is not, for which leaf dtypes, and which promote bfloat16 updates.
F16_EPS_UNDERFLOW = {
    "scale_by_rms",
    "scale_by_stddev",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_adamax",
    "masked_adam",
    "chain_clip_adam_decay_lr",
    "rmsprop",
    "adam",
    "adamw",
    "nadam",
    "nadamw",
    "amsgrad",
    "adamax",
    "adamaxw",
    "lamb",
}
PROMOTES_UPDATES = {
    "trace",
    "ema",
    "scale_by_adam",
    "scale_by_amsgrad",
    "scale_by_lion",
    "sgd",
    "adam",
    "adamw",
    "nadam",
    "amsgrad",
    "lion",
}


def _allowed(name: str) -> frozenset:
    return frozenset({F16}) if name in F16_EPS_UNDERFLOW else frozenset()


CASES = {
    name: Case(strategies, build, _allowed(name), name in PROMOTES_UPDATES)
    for name, (strategies, build) in TABLE.items()
}


@pytest.mark.parametrize("case", sorted(CASES))
@given(data=st.data(), problem=gst.problems())
def test_matches_optax_on_random_problems(case, data, problem):
    hp = data.draw(st.fixed_dictionaries(CASES[case].strategies), label="hyperparameters")
    check_case(case, CASES[case], hp, problem.params, problem.grads)


# -- Tree helpers -----------------------------------------------------------------


@given(problem=gst.problems(max_steps=2), step_size=st.floats(0.0, 1.0))
def test_tree_helpers_match_optax(problem, step_size):
    new, old = problem.grads[0], problem.params
    pairs = [
        (gdt.apply_updates(old, new), optax.apply_updates(old, new)),
        (gdt.incremental_update(new, old, step_size), optax.incremental_update(new, old, step_size)),
        (gdt.global_norm(new), optax.global_norm(new)),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        assert_trees_agree(ours, theirs, where=f"tree helper {i}")


@given(problem=gst.problems(max_steps=2), decay=gst.decays(), count=st.integers(1, 10_000))
def test_moment_helpers_match_optax(problem, decay, count):
    g, moments = problem.grads[0], problem.params
    tu = optax.tree_utils
    pairs = [
        (gdt.update_moment(g, moments, decay, 2), tu.tree_update_moment(g, moments, decay, 2)),
        (
            gdt.update_moment_per_elem_norm(g, moments, decay, 2),
            tu.tree_update_moment_per_elem_norm(g, moments, decay, 2),
        ),
        (
            gdt.update_infinity_moment(g, moments, decay, 1e-3),
            tu.tree_update_infinity_moment(g, moments, decay, 1e-3),
        ),
        (gdt.bias_correction(moments, decay, count), tu.tree_bias_correction(moments, decay, count)),
    ]
    for i, (ours, theirs) in enumerate(pairs):
        assert_trees_agree(ours, theirs, where=f"moment helper {i}")


@given(count=st.integers(0, 2**31 - 1))
def test_safe_increment_matches_optax(count):
    c = jnp.asarray(count, jnp.int32)
    assert int(gdt.safe_increment(c)) == int(optax.safe_increment(c))
