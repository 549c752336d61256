"""make_perturbed_fun, Normal and Gumbel: values and gradients rebuilt by hand from the same random draws."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

PT = gdt.perturbations
KEY = jax.random.key(0)
N, SIGMA = 64, 0.3
C = {"a": np.array([1.0, -2.0, 0.5]), "b": np.array(3.0)}


def linear(tree):
    return jnp.sum(tree["a"] * jnp.asarray(C["a"], jnp.float32)) + tree["b"] * jnp.float32(C["b"])


X = {"a": jnp.array([0.2, -0.1, 0.4]), "b": jnp.float32(-0.3)}


@functools.cache
def _draws_of(name):
    """The noise of each sample: sample k uses key k of split(key, N), one sub-key per leaf of X."""
    noise = getattr(PT, name)()
    stacked = jax.vmap(lambda k: gdt.tree.random_like(k, X, sampler=noise.sample))(jax.random.split(KEY, N))
    stacked = jax.tree.map(lambda v: np.asarray(v, np.float64), stacked)
    return [jax.tree.map(lambda v, k=k: v[k], stacked) for k in range(N)]


def _lin_np(tree):
    return float(np.sum(np.asarray(tree["a"], np.float64) * C["a"]) + np.asarray(tree["b"], np.float64) * C["b"])


def test_noise_log_probs_by_hand():
    z = jnp.array([0.0, 1.0, -2.0])
    np.testing.assert_allclose(PT.Normal().log_prob(z), [0.0, -0.5, -2.0])
    np.testing.assert_allclose(PT.Gumbel().log_prob(z), [-1.0, -1.0 - np.exp(-1.0), 2.0 - np.exp(2.0)], rtol=1e-6)


def test_noise_samples_are_jax_random_draws():
    k = jax.random.key(3)
    np.testing.assert_array_equal(PT.Normal().sample(k, (4,)), jax.random.normal(k, (4,)))
    np.testing.assert_array_equal(PT.Gumbel().sample(k, (2, 2)), jax.random.gumbel(k, (2, 2)))
    assert PT.Normal().sample(k).shape == () and PT.Gumbel().sample(k).dtype == jnp.float32
    assert PT.Normal().sample(k, (2,), jnp.bfloat16).dtype == jnp.bfloat16


CASES = [(name, baseline) for name in ("Normal", "Gumbel") for baseline in (True, False)]


def _step(x):
    return (x > 0).astype(jnp.float32)


@functools.cache
def _results():
    """Every estimate the tests check, in one compiled program (one compile for the file)."""
    vg = {
        case: jax.value_and_grad(PT.make_perturbed_fun(linear, N, SIGMA, getattr(PT, case[0])(), case[1]), 1)
        for case in CASES
    }
    slope = jax.grad(PT.make_perturbed_fun(linear, 4000, 0.5, PT.Normal()), 1)
    step = jax.grad(PT.make_perturbed_fun(_step, 2000, 0.5, PT.Normal()), 1)

    def run(key, x):
        return {case: f(key, x) for case, f in vg.items()}, slope(key, x), step(key, 0.0), step(key, 3.0)

    return jax.jit(run)(KEY, X)


@pytest.mark.parametrize("name, baseline", CASES)
def test_value_and_gradient_are_the_monte_carlo_estimates(name, baseline):
    """Value: the mean of f(x + sigma z_k). Gradient: the score-function estimate
    mean_k w_k * (-score(z_k)) / sigma, w_k = f(y_k) - f(x) with the baseline, else f(y_k);
    Normal: score(z) = -z, Gumbel: score(z) = -1 + exp(-z) (d/dz log mu)."""
    score = {"Normal": lambda z: -z, "Gumbel": lambda z: -1.0 + np.exp(-z)}[name]
    value, grad = _results()[0][(name, baseline)]
    draws = _draws_of(name)
    f_y = [_lin_np(jax.tree.map(lambda x, z: np.asarray(x, np.float64) + SIGMA * z, X, zk)) for zk in draws]
    np.testing.assert_allclose(value, np.mean(f_y), rtol=1e-5)
    weights = np.asarray(f_y) - (_lin_np(X) if baseline else 0.0)
    for leaf in ("a", "b"):
        terms = [w * -score(zk[leaf]) / SIGMA for w, zk in zip(weights, draws)]
        np.testing.assert_allclose(grad[leaf], np.mean(terms, axis=0), rtol=2e-4, atol=1e-4)


def test_gradient_of_a_linear_function_approaches_its_slope():
    grad = _results()[1]
    np.testing.assert_allclose(grad["a"], C["a"], atol=0.2)
    np.testing.assert_allclose(grad["b"], C["b"], atol=0.2)


def test_smoothed_step_has_a_gradient_where_the_step_has_none():
    # d/dx P(x + 0.5 z > 0) = phi(x / 0.5) / 0.5; at 0: 0.798, at 3: ~0.
    _, _, at_zero, at_three = _results()
    np.testing.assert_allclose(at_zero, 0.798, atol=0.1)
    assert abs(float(at_three)) < 0.05


def test_tree_output_and_default_noise():
    fn = PT.make_perturbed_fun(lambda t: {"s": jnp.sum(t["a"]), "m": t["a"] * 2}, num_samples=8)
    out = fn(KEY, X)
    assert out["s"].shape == () and out["m"].shape == (3,)
    # num_samples=8: the key is split into 8 keys; sigma defaults to 0.1, the noise to Gumbel.
    z = jax.vmap(lambda k: gdt.tree.random_like(k, X, sampler=PT.Gumbel().sample))(jax.random.split(KEY, 8))
    expected = np.mean(2 * (np.asarray(X["a"], np.float64) + 0.1 * np.asarray(z["a"], np.float64)), axis=0)
    np.testing.assert_allclose(out["m"], expected, rtol=1e-5)
    np.testing.assert_allclose(out["s"], expected.sum() / 2, rtol=1e-5)
