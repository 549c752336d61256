"""COCOB: the first two steps by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_two_bets_by_hand():
    alpha = 100.0
    opt = gdt.contrib.cocob(alpha=alpha)
    u1, state = opt.update(G1, opt.init(P0), P0)
    L, G = jnp.abs(G1), jnp.abs(G1)
    close(u1, -G1 / (L * jnp.maximum(G + L, alpha * L)) * L, rtol=1e-6)
    p1 = P0 + u1
    u2, _ = opt.update(G2, state, p1)
    L = jnp.maximum(jnp.abs(G1), jnp.abs(G2))
    G = jnp.abs(G1) + jnp.abs(G2)
    R = jnp.maximum(-G2 * (p1 - P0), 0)
    expected = P0 + (-G1 - G2) / (L * jnp.maximum(G + L, alpha * L)) * (L + R) - p1
    close(u2, expected, rtol=1e-5, atol=1e-7)
