"""MoMo and MoMo-Adam: the first step by hand; the loss is required."""

import jax
import jax.numpy as jnp
import pytest

import gdtransforms as gdt
from tests._trees import gradient_sequence, nested_params
from tests.contrib._helpers import G1, P0, close


def test_momo_first_step_is_the_capped_polyak_step():
    loss = 2.0
    opt = gdt.contrib.momo(learning_rate=10.0)
    u, state = opt.update(G1, opt.init(P0), P0, value=loss)
    # First step: d = g, barf = f, gamma = <g, p>; tau = (f - <g,p> + <g,p>) / |g|^2.
    tau = min(10.0, loss / float(jnp.sum(G1**2)))
    close(u, -tau * G1, rtol=1e-6)
    u_small, _ = gdt.contrib.momo(learning_rate=1e-3).update(G1, opt.init(P0), P0, value=loss)
    close(u_small, -1e-3 * G1, rtol=1e-6)


def test_momo_adam_first_step():
    lr, loss = 0.01, 0.05
    opt = gdt.contrib.momo_adam(lr, eps=1e-12)
    u, _ = opt.update(G1, opt.init(P0), P0, value=loss)
    d, D = 0.1 * G1, jnp.abs(G1)  # D = sqrt(v / (1 - b2)) = |g|
    polyak = float((0.1 * loss - 0.1 * jnp.vdot(G1, P0) + jnp.vdot(d, P0)) / jnp.vdot(d, d / D))
    tau = min(lr / 0.1, max(polyak, 0.0))
    close(u, -tau * d / D, rtol=1e-5)


def test_loss_is_required():
    opt = gdt.contrib.momo()
    with pytest.raises(ValueError, match="value=loss"):
        opt.update(G1, opt.init(P0), P0)


@pytest.mark.parametrize("name", ["momo", "momo_adam"])
def test_adapted_lower_bound_runs_on_a_mixed_precision_tree(name):
    """optax's lax.cond fails on this tree (bfloat16 and float32 scalars)."""
    params = nested_params()
    opt = getattr(gdt.contrib, name)(adapt_lower_bound=True)
    state = opt.init(params)
    step = jax.jit(opt.update)
    for t, g in enumerate(gradient_sequence(params, 3)):
        u, state = step(g, state, params, value=jnp.float32(2.0 / (t + 1)))
        params = gdt.apply_updates(params, u)
    assert all(bool(jnp.isfinite(x).all()) for x in jax.tree.leaves((params, state)))
