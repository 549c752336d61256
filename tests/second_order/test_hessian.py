"""second_order: hvp, hessian_diag and fisher_diag against dense derivatives and optax."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax import flatten_util

import gdtransforms as gdt

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RNG = np.random.default_rng(0)
PARAMS = {"w": jnp.asarray(RNG.normal(size=(3, 2)), jnp.float32), "b": jnp.asarray(RNG.normal(size=2), jnp.float32)}
INPUTS = jnp.asarray(RNG.normal(size=(5, 3)), jnp.float32)
TARGETS = jnp.asarray(RNG.integers(0, 2, size=5))


def nll(params, inputs, targets):
    logits = jnp.tanh(inputs @ params["w"]) + params["b"][None, :]
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), targets[:, None], axis=1))


def _dense_hessian():
    flat, unravel = flatten_util.ravel_pytree(PARAMS)
    return jax.hessian(lambda f: nll(unravel(f), INPUTS, TARGETS))(flat)


def test_hvp_is_the_dense_hessian_times_v():
    v = jnp.asarray(RNG.normal(size=8), jnp.float32)
    out = gdt.second_order.hvp(nll, v, PARAMS, INPUTS, TARGETS)
    assert jax.tree.structure(out) == jax.tree.structure(PARAMS)
    np.testing.assert_allclose(flatten_util.ravel_pytree(out)[0], _dense_hessian() @ v, rtol=1e-4, atol=1e-6)
    theirs = optax.second_order.hvp(nll, v, PARAMS, INPUTS, TARGETS)
    np.testing.assert_allclose(flatten_util.ravel_pytree(out)[0], flatten_util.ravel_pytree(theirs)[0], rtol=1e-6)


def test_hessian_diag_is_the_dense_diagonal():
    diag = gdt.second_order.hessian_diag(nll, PARAMS, INPUTS, TARGETS)
    np.testing.assert_allclose(diag, jnp.diag(_dense_hessian()), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(diag, optax.second_order.hessian_diag(nll, PARAMS, INPUTS, TARGETS), rtol=1e-6)


def test_fisher_diag_is_the_squared_gradient():
    fisher = gdt.second_order.fisher_diag(nll, PARAMS, INPUTS, TARGETS)
    grad = flatten_util.ravel_pytree(jax.grad(nll)(PARAMS, INPUTS, TARGETS))[0]
    np.testing.assert_allclose(fisher, grad**2, rtol=1e-6)
    np.testing.assert_allclose(fisher, optax.second_order.fisher_diag(nll, PARAMS, INPUTS, TARGETS), rtol=1e-6)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="`v`"):
        gdt.second_order.hvp(nll, jnp.ones(3), PARAMS, INPUTS, TARGETS)
    with pytest.raises(TypeError, match="`loss`"):
        gdt.second_order.hessian_diag("nll", PARAMS, INPUTS, TARGETS)
    with pytest.raises(TypeError, match="negative_log_likelihood"):
        gdt.second_order.fisher_diag(None, PARAMS, INPUTS, TARGETS)
