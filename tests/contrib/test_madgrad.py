"""MADGRAD: the first two steps by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_two_steps_by_hand():
    lr, c, eps = 0.1, 0.9, 1e-6
    opt = gdt.contrib.madgrad(lr, momentum=c, eps=eps)
    u1, state = opt.update(G1, opt.init(P0), P0)
    lam1 = (lr + eps) * 1.0
    z1 = P0 - lam1 * G1 / (jnp.cbrt(lam1 * G1**2) + eps)
    close(u1, (1 - c) * z1 + c * P0 - P0, rtol=1e-5, atol=1e-7)
    p1 = P0 + u1
    u2, _ = opt.update(G2, state, p1)
    lam2 = (lr + eps) * jnp.sqrt(2.0)
    z2 = P0 - (lam1 * G1 + lam2 * G2) / (jnp.cbrt(lam1 * G1**2 + lam2 * G2**2) + eps)
    close(u2, (1 - c) * z2 + c * p1 - p1, rtol=1e-5, atol=1e-7)
