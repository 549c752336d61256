"""D-Adaptation AdamW: the first step and the estimate by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_first_step_is_d0_times_the_unit_adam_step_and_keeps_d():
    d0, b1, b2 = 1e-3, 0.9, 0.999
    opt = gdt.contrib.dadapt_adamw(estim_lr0=d0, betas=(b1, b2), eps=1e-12)
    u, state = opt.update(G1, opt.init(P0), P0)
    close(u, -d0 * jnp.sign(G1), rtol=1e-5)
    assert float(state.estim_lr) == jnp.float32(d0)


def test_second_step_estimate_by_hand():
    d0, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    opt = gdt.contrib.dadapt_adamw(estim_lr0=d0, betas=(b1, b2), eps=eps)
    _, state = opt.update(G1, opt.init(P0), P0)
    _, state2 = opt.update(G2, state, P0)
    sb2 = b2**0.5
    lam2 = d0 * ((1 - b2**2) ** 0.5) / (1 - b1**2)
    s1 = state.grad_sum
    numerator = sb2 * state.numerator_weighted + (1 - sb2) * lam2 * jnp.vdot(
        G2, s1 / (jnp.sqrt(state.exp_avg_sq) + eps)
    )
    s2 = sb2 * s1 + (1 - sb2) * lam2 * G2
    close(state2.numerator_weighted, numerator, rtol=1e-5)
    close(state2.estim_lr, max(d0, float(numerator / ((1 - sb2) * jnp.abs(s2).sum()))), rtol=1e-5)
