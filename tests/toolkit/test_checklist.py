"""The training checklist (docs/notes.md §10, steps 3 and 4)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests import faulty_runs as fr


def test_initial_loss_near_log_n_passes():
    r = gdt.toolkit.check_initial_loss(2.31, 10)
    assert r.passed and r.verdict == "ok" and r.name == "initial_loss"
    assert r.numbers["expected"] == pytest.approx(math.log(10))
    assert r.numbers["difference"] == pytest.approx(2.31 - math.log(10))
    assert "log(10) = 2.3026" in r.evidence and str(r).startswith("[PASS] initial_loss: ok")


def test_initial_loss_too_high_names_the_logit_scale_it_implies():
    # Logits of std s add about s^2 (n - 1) / (2n): s = 2 with n = 10 adds 1.8.
    r = gdt.toolkit.check_initial_loss(math.log(10) + 1.8, 10)
    assert not r.passed and r.verdict == "too high"
    assert r.numbers["implied_logit_std"] == pytest.approx(2.0)
    assert "smaller" in r.advice


def test_initial_loss_of_small_random_logits_matches_the_formula():
    z = 0.3 * np.random.default_rng(0).normal(size=(20000, 10))
    loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[:, 0]))
    r = gdt.toolkit.check_initial_loss(loss, 10)
    assert r.passed and r.numbers["difference"] == pytest.approx(0.09 * 0.45, abs=0.01)


def test_initial_loss_too_low_and_not_finite():
    low = gdt.toolkit.check_initial_loss(0.4, 10)
    assert (low.passed, low.verdict) == (False, "too low") and "leaking" in low.advice
    bad = gdt.toolkit.check_initial_loss(float("nan"), 10)
    assert (bad.passed, bad.verdict) == (False, "not finite")
    assert gdt.toolkit.check_initial_loss(jnp.array([0.75]), 2).passed  # a one-element array is fine


@pytest.mark.parametrize(
    "args, error, match",
    [
        ((2.3, 1), ValueError, "num_classes"),
        ((2.3, True), ValueError, "num_classes"),
        ((np.ones(3), 10), ValueError, "loss.*one number"),
        (("x", 10), TypeError, "loss"),
    ],
)
def test_initial_loss_bad_input(args, error, match):
    with pytest.raises(error, match=match):
        gdt.toolkit.check_initial_loss(*args)


def test_regularization_must_raise_the_loss():
    ok = gdt.toolkit.check_regularization(1.0, 1.25, strength=0.1)
    assert ok.passed and ok.verdict == "ok" and ok.numbers["increase"] == pytest.approx(0.25)
    assert "strength 0.1" in ok.evidence
    same = gdt.toolkit.check_regularization(1.0, 1.0)
    assert (same.passed, same.verdict) == (False, "unchanged") and "not added" in same.advice
    lower = gdt.toolkit.check_regularization(1.0, 0.9)
    assert (lower.passed, lower.verdict) == (False, "lowered") and "sign" in lower.advice
    assert gdt.toolkit.check_regularization(1.0, float("inf")).verdict == "not finite"


def _mlp():
    def init(key, hidden):
        k1, k2 = jax.random.split(key)
        return {
            "w1": jax.random.normal(k1, (64, hidden)) / 8.0,
            "b1": jnp.zeros(hidden),
            "w2": 0.1 * jax.random.normal(k2, (hidden, 10)) / np.sqrt(hidden),
            "b2": jnp.zeros(10),
        }

    def apply(p, x):
        h = jnp.tanh(x @ p["w1"] + p["b1"][None])
        return h @ p["w2"] + p["b2"][None]

    return init, apply


def test_mlp_on_digits_memorizes_64_examples_and_starts_at_log_n():
    init, apply = _mlp()
    x, y, _, _ = fr.digits()
    params = init(jax.random.key(0), 32)
    logits = apply(params, x[:256])
    loss = jnp.mean(jax.nn.logsumexp(logits, axis=1) - logits[jnp.arange(256), y[:256]])
    assert gdt.toolkit.check_initial_loss(loss, 10).passed
    r = gdt.toolkit.overfit_tiny_subset(apply, params, gdt.adam(1e-2), x, y, key=jax.random.key(1))
    assert r.passed and r.verdict == "memorized", str(r)
    assert r.history["accuracy"][r.numbers["epochs"] - 1] == 1.0
    assert r.numbers["steps"] == 4 * r.numbers["epochs"]  # 64 examples, batch 16
    assert r.numbers["final_loss"] < r.numbers["initial_loss"]
    assert len(r.history["loss"]) % 10 == 0 and len(r.history["loss"]) < 300


def test_a_frozen_network_cannot_memorize_and_the_advice_says_why():
    init, apply = _mlp()
    x, y, _, _ = fr.digits()
    one_hot = jax.nn.one_hot(y, 10)
    r = gdt.toolkit.overfit_tiny_subset(
        apply,
        init(jax.random.key(0), 32),
        gdt.sgd(0.0),
        x,
        one_hot,
        key=jax.random.key(1),
        max_epochs=20,
    )
    assert not r.passed and r.verdict == "could not memorize"
    assert r.numbers["epochs"] == 20 and len(r.history["accuracy"]) == 20
    assert r.numbers["final_loss"] == pytest.approx(r.numbers["initial_loss"], rel=1e-5)
    assert "does not reach the weights" in r.advice


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_examples=5000), "num_examples.*<= the 512"),
        (dict(batch_size=100), "batch_size.*<= num_examples = 64"),
        (dict(batch_size=0), "batch_size.*>= 1"),
        (dict(max_epochs=0), "max_epochs"),
    ],
)
def test_overfit_tiny_subset_bad_arguments(kwargs, match):
    init, apply = _mlp()
    x, y, _, _ = fr.digits()
    with pytest.raises(ValueError, match=match):
        gdt.toolkit.overfit_tiny_subset(
            apply, init(jax.random.key(0), 4), gdt.sgd(0.1), x, y, key=jax.random.key(0), **kwargs
        )
    with pytest.raises(ValueError, match="same number of examples"):
        gdt.toolkit.overfit_tiny_subset(apply, None, gdt.sgd(0.1), x, y[:10], key=jax.random.key(0))
