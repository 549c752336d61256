"""Prodigy: the first step and the second estimate by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, P0, close


def test_first_step_is_d0_times_the_unit_adam_step():
    opt = gdt.contrib.prodigy(estim_lr0=1e-3)
    u, state = opt.update(G1, opt.init(P0), P0)
    close(u, -1e-3 * jnp.sign(G1), rtol=1e-4)
    assert float(state.estim_lr) == jnp.float32(1e-3)


def test_estimate_grows_with_the_distance_travelled():
    d0, b1, b2 = 1e-3, 0.9, 0.999
    b3 = b2**0.5
    opt = gdt.contrib.prodigy(estim_lr0=d0)
    u1, state = opt.update(G1, opt.init(P0), P0)
    p1 = P0 + u1
    _, state2 = opt.update(G1, state, p1)
    lam2 = d0 * ((1 - b2**2) ** 0.5) / (1 - b1**2)
    numerator = b3 * 0.0 + (d0 / d0) * lam2 * jnp.vdot(G1, P0 - p1)
    lam1 = d0 * ((1 - b2) ** 0.5) / (1 - b1)
    s2 = b3 * (lam1 * d0 * G1 / d0) + lam2 * d0 * G1 / d0
    close(state2.numerator_weighted, numerator, rtol=1e-4)
    close(state2.estim_lr, max(d0, float(numerator / jnp.abs(s2).sum())), rtol=1e-4)
    assert float(state2.estim_lr) > d0
