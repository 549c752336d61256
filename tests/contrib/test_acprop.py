"""ACProp: the first two steps by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_first_step_divides_by_one_second_by_the_first_gradients_root():
    lr, b2 = 0.1, 0.99
    opt = gdt.contrib.acprop(lr, b1=0.9, b2=b2, eps=1e-8, eps_root=0.0)
    u1, state = opt.update(G1, opt.init(P0), P0)
    close(u1, -lr * G1 / (1 + 1e-8))
    u2, state = opt.update(G2, state, P0 + u1)
    # s_1 = (1 - b2) (g_1 - 0)^2, bias-corrected by 1 - b2: g_1^2.
    close(u2, -lr * G2 / (jnp.abs(G1) + 1e-8), rtol=1e-5)
    # s_2 = b2 s_1 + (1 - b2) (g_2 - m_1)^2 with m_1 = 0.1 g_1.
    close(state[0].nu, b2 * (1 - b2) * G1**2 + (1 - b2) * (G2 - 0.1 * G1) ** 2, rtol=1e-5)
