"""ADOPT: the first two steps by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_first_step_only_records_the_second_moment():
    opt = gdt.contrib.adopt(0.1)
    u, state = opt.update(G1, opt.init(P0), P0)
    assert float(jnp.abs(u).max()) == 0.0
    close(state[0].nu, G1**2)


def test_second_step_normalises_by_the_previous_gradient_and_clips():
    lr, b1 = 0.1, 0.9
    opt = gdt.contrib.adopt(lr, b1=b1)
    state = opt.init(P0)
    _, state = opt.update(G1, state, P0)
    u, _ = opt.update(G2, state, P0)
    # clip bound 1^(1/4) = 1.
    close(u, -lr * (1 - b1) * jnp.clip(G2 / jnp.abs(G1), -1, 1), rtol=1e-6)
    u_free, _ = gdt.contrib.adopt(lr, b1=b1, use_clipping=False).update(G2, state, P0)
    close(u_free, -lr * (1 - b1) * G2 / jnp.abs(G1), rtol=1e-6)
