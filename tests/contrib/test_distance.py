"""DoG and DoWG: the first two steps by hand."""

import jax.numpy as jnp

import gdtransforms as gdt
from tests.contrib._helpers import G1, G2, P0, close


def test_dog_distance_init_and_second_step():
    opt = gdt.contrib.dog(init_step=("distance", 0.5), eps=0.0)
    u1, state = opt.update(G1, opt.init(P0), P0)
    close(u1, -0.5 * G1 / jnp.linalg.norm(G1), rtol=1e-6)
    p1 = P0 + u1
    u2, _ = opt.update(G2, state, p1)
    r = max(0.5, float(jnp.linalg.norm(p1 - P0)))
    close(u2, -r * G2 / jnp.sqrt(jnp.sum(G1**2) + jnp.sum(G2**2)), rtol=1e-5)


def test_dog_heuristic_and_learning_rate_inits():
    state = gdt.contrib.scale_by_dog(("heuristic", 1e-3)).init(P0)
    close(state.max_dist, 1e-3 * (1 + jnp.linalg.norm(P0)), rtol=1e-6)
    u, _ = gdt.contrib.dog(init_step=("learning_rate", 0.2)).update(
        G1, gdt.contrib.dog(init_step=("learning_rate", 0.2)).init(P0), P0
    )
    close(u, -0.2 * G1)


def test_dowg_two_steps():
    eps = 1e-4
    opt = gdt.contrib.dowg(eps=eps)
    u1, state = opt.update(G1, opt.init(P0), P0)
    v1 = eps * jnp.sum(G1**2)
    close(u1, -eps / (jnp.sqrt(v1) + eps) * G1, rtol=1e-5)
    p1 = P0 + u1
    u2, _ = opt.update(G2, state, p1)
    r2 = max(eps, float(jnp.sum((p1 - P0) ** 2)))
    v2 = v1 + r2 * jnp.sum(G2**2)
    close(u2, -r2 / (jnp.sqrt(v2) + eps) * G2, rtol=1e-4)
