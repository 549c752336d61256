"""GaLore: hand-derived first step, projector refresh, inject_hyperparams, flat path, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_first_step_projects_onto_the_top_singular_vector():
    # G = 2 u v^T + 1 u2 v2^T; rank 1 keeps u. Base = identity scaling (sgd with rate 1).
    u, u2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    v, v2 = np.array([0.6, 0.8]), np.array([0.8, -0.6])
    g = jnp.asarray(2 * np.outer(u, v) + np.outer(u2, v2), jnp.float32)
    tx = gdt.contrib.scale_by_galore(rank=1, base_optimizer=gdt.identity(), scale=0.5)
    out, state = tx.update({"w": g}, tx.init({"w": g}))
    np.testing.assert_allclose(out["w"], 0.5 * 2 * np.outer(u, v), atol=1e-6)  # P P^T G, scaled
    np.testing.assert_allclose(np.abs(state.projector["w"][:, 0]), u, atol=1e-6)


def test_wide_matrix_projects_on_the_right_and_refreshes_every_gap():
    rng = np.random.default_rng(0)
    tx = gdt.contrib.scale_by_galore(rank=2, update_proj_gap=2, base_optimizer=gdt.identity())
    g1, g2, g3 = (jnp.asarray(rng.normal(size=(3, 6)), jnp.float32) for _ in range(3))
    state = tx.init({"w": g1})
    assert state.projector["w"].shape == (6, 2)
    _, state = tx.update({"w": g1}, state)
    p1 = state.projector["w"]
    _, state = tx.update({"w": g2}, state)
    np.testing.assert_array_equal(state.projector["w"], p1)  # step 2: kept
    _, state = tx.update({"w": g3}, state)
    vh = np.linalg.svd(np.asarray(g3), full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(np.asarray(state.projector["w"]).T), np.abs(vh[:2]), atol=1e-5)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_under_inject_hyperparams(jit):
    rng = np.random.default_rng(1)
    params = {"w": jnp.asarray(rng.normal(size=(8, 5)), jnp.float32), "b": jnp.ones(3)}
    kw = dict(learning_rate=0.02, rank=2, update_proj_gap=3, weight_decay=0.1)
    runs = []
    for opt in (gdt.contrib.galore(**kw), gdt.inject_hyperparams(gdt.contrib.galore, static_args="rank")(**kw)):
        update = jax.jit(opt.update) if jit else opt.update
        p, s, out = params, opt.init(params), []
        for t in range(20):
            u, s = update(jax.tree.map(lambda x: jnp.cos(x * (1.0 + t)), p), s, p)
            p = gdt.apply_updates(p, u)
            out.append((u, p))
        runs.append(out)
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        if jit:  # XLA fuses the injected values' selects differently: equal to float32 rounding.
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-9)
        else:
            assert jnp.array_equal(a, b)


def test_flat_path_matches_the_tree():
    rng = np.random.default_rng(2)
    params = {"w": jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), "b": jnp.ones(4)}
    opt = gdt.contrib.galore(0.05, rank=2)
    flat = gdt.flatten_params(params)
    s_tree, s_flat = opt.init(params), opt.init(flat)
    u_tree, _ = opt.update(params, s_tree, params)
    u_flat, _ = opt.update(flat, s_flat, flat)
    for a, b in zip(jax.tree.leaves(u_flat.unflatten()), jax.tree.leaves(u_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_bad_inputs():
    with pytest.raises(TypeError, match="rank"):
        gdt.contrib.galore(0.1, rank=2.5)
    with pytest.raises(ValueError, match="rank"):
        gdt.contrib.galore(0.1, rank=0)
    with pytest.raises(ValueError, match="update_proj_gap"):
        gdt.contrib.galore(0.1, update_proj_gap=0)
    dn = {"w": gdt.contrib.GaLoreDimensionNumbers(0, 0)}
    tx = gdt.contrib.scale_by_galore(weight_dimension_numbers=dn)
    with pytest.raises(ValueError, match="disjoint"):
        tx.init({"w": jnp.ones((2, 2))})
