"""AdEMAMix and its simplified form: the first step by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, P0, close


def test_first_step_mixes_the_bias_corrected_fast_and_raw_slow_moments():
    lr, alpha, b3 = 0.1, 4.0, 0.9
    opt = gdt.contrib.ademamix(lr, b3=b3, alpha=alpha, eps=0.0, eps_root=1e-30)
    u, state = opt.update(G1, opt.init(P0), P0)
    close(u, -lr * (G1 + alpha * (1 - b3) * G1) / jnp.abs(G1), rtol=1e-5)
    assert int(state[0].count) == int(state[0].count_m2) == 1


def test_schedules_of_b3_and_alpha_are_read_at_the_step_count():
    opt = gdt.contrib.scale_by_ademamix(b3=lambda c: 0.5 + 0.1 * c, alpha=lambda c: 1.0 + c)
    state = opt.init(P0)
    _, state = opt.update(G1, state)
    u, state = opt.update(G1, state)  # b3 = 0.6, alpha = 2: m2 = 0.6 * 0.5 g + 0.4 g
    m2 = 0.6 * 0.5 * G1 + 0.4 * G1
    close(state.m2, m2, rtol=1e-6)
    close(u, (G1 + 2.0 * m2) / (jnp.abs(G1) + 1e-8), rtol=1e-5)


def test_simplified_first_step_and_undamped_momentum():
    lr, alpha, b1 = 0.1, 2.0, 0.5
    opt = gdt.contrib.simplified_ademamix(lr, b1=b1, alpha=alpha, eps=0.0, eps_root=1e-30)
    u, state = opt.update(G1, opt.init(P0), P0)
    close(u, -lr * (1 + alpha) * jnp.sign(G1), rtol=1e-5)
    _, state = opt.update(G1, state, P0)
    close(state[0].m, G1 + b1 * G1)  # a sum, not an average
