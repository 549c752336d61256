"""Muon: hand-derived Newton–Schulz steps, grouping, options, inject_hyperparams, flat path, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

A, B, C = 3.4445, -4.7750, 2.0315


def _f(s, steps=5):
    """The quintic acts on each singular value: s -> a s + b s^3 + c s^5."""
    for _ in range(steps):
        s = A * s + B * s**3 + C * s**5
    return s


def test_first_step_on_a_diagonal_matrix_is_the_quintic_on_its_singular_values():
    # beta=0, no Nesterov: the momentum is the gradient. diag(3, 4) / ||.||_F = diag(0.6, 0.8).
    tx = gdt.contrib.scale_by_muon(beta=0.0, nesterov=False)
    g = {"w": jnp.array([[3.0, 0.0], [0.0, 4.0]])}
    u, state = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u["w"], np.diag([_f(0.6), _f(0.8)]), rtol=1e-5, atol=1e-7)
    assert int(state.count) == 1 and state.ns_coeffs.shape == (3,)


def test_rank_one_matrix_and_tall_matrix_are_handled_by_transposition():
    # u v^T with |u| = |v| = 1 has one singular value, 1 after normalisation: f^5(1) u v^T.
    u_vec, v_vec = np.array([0.6, 0.8, 0.0]), np.array([0.0, 1.0])
    g = {"tall": jnp.asarray(5.0 * np.outer(u_vec, v_vec), jnp.float32)}
    tx = gdt.contrib.scale_by_muon(beta=0.0, nesterov=False, ns_steps=2)
    out, _ = tx.update(g, tx.init(g))
    np.testing.assert_allclose(out["tall"], _f(1.0, 2) * np.outer(u_vec, v_vec), rtol=1e-5, atol=1e-7)


def test_nesterov_momentum_of_the_second_step():
    # m1 = 0.5 g1, m2 = 0.25 g1 + 0.5 g2 with beta = 0.5. Nesterov:
    # hat = 0.5 m2 / (1 - 0.5^3) + 0.5 g2 / (1 - 0.5^2). Orthogonalizing a diagonal keeps it diagonal.
    tx = gdt.contrib.scale_by_muon(beta=0.5, ns_steps=1)
    g1, g2 = jnp.diag(jnp.array([1.0, 2.0])), jnp.diag(jnp.array([3.0, 1.0]))
    state = tx.init(g1)
    _, state = tx.update(g1, state)
    out, state = tx.update(g2, state)
    m2 = 0.25 * g1 + 0.5 * g2
    hat = 0.5 * m2 / 0.875 + 0.5 * g2 / 0.75
    s = np.diag(hat) / np.linalg.norm(hat)
    np.testing.assert_allclose(np.diag(out), _f(s, 1), rtol=1e-5)
    np.testing.assert_allclose(state.mu, m2, rtol=1e-6)


def test_same_shaped_leaves_share_one_chain_with_the_numbers_of_separate_ones():
    rng = np.random.default_rng(0)
    tree = {f"w{i}": jnp.asarray(rng.normal(size=(6, 4)), jnp.float32) for i in range(3)}
    tree["t"] = jnp.asarray(rng.normal(size=(4, 6)), jnp.float32)  # transposed: same group
    tx = gdt.contrib.scale_by_muon()
    together, _ = tx.update(tree, tx.init(tree))
    for k, v in tree.items():
        alone, _ = tx.update({k: v}, tx.init({k: v}))
        np.testing.assert_allclose(together[k], alone[k], rtol=1e-6, atol=1e-7)
    jaxpr = str(jax.make_jaxpr(lambda t: tx.update(t, tx.init(t))[0])(tree))
    assert jaxpr.count("dot_general") == 5 * 3  # one chain: 5 steps x 3 matmuls


def test_dimension_numbers_with_a_batch_axis_orthogonalize_each_slice():
    rng = np.random.default_rng(1)
    w = jnp.asarray(rng.normal(size=(3, 5, 4)), jnp.float32)  # (heads, in, out)
    dn = gdt.contrib.MuonDimensionNumbers(reduction_axis=1, output_axis=2)
    tx = gdt.contrib.scale_by_muon(weight_dimension_numbers={"w": dn})
    out, _ = tx.update({"w": w}, tx.init({"w": w}))
    plain = gdt.contrib.scale_by_muon()
    for h in range(3):
        ref, _ = plain.update({"w": w[h]}, plain.init({"w": w[h]}))
        np.testing.assert_allclose(out["w"][h], ref["w"], rtol=1e-5, atol=1e-6)


def test_muon_sends_non_matrices_to_adamw():
    params = {"w": jnp.ones((4, 3)), "b": jnp.array([1.0, -2.0, 0.5])}
    opt = gdt.contrib.muon(0.1)
    updates, _ = opt.update(params, opt.init(params), params)
    ref = gdt.adamw(0.1, weight_decay=0.0, nesterov=True)
    adam, _ = ref.update(params["b"], ref.init(params["b"]), params["b"])
    np.testing.assert_allclose(updates["b"], adam, rtol=1e-6)


def test_width_scaling_and_consistent_rms():
    g = {"w": jnp.diag(jnp.array([1.0, 2.0]))[:, :2].repeat(2, axis=1)}  # (2, 4): fan_out / fan_in = 2
    base = gdt.contrib.muon(1.0, beta=0.0, nesterov=False)
    rms = gdt.contrib.muon(1.0, beta=0.0, nesterov=False, consistent_rms=0.2)
    u1, _ = base.update(g, base.init(g), g)
    u2, _ = rms.update(g, rms.init(g), g)
    np.testing.assert_allclose(u2["w"], u1["w"] / np.sqrt(2.0) * np.sqrt(4.0) * 0.2, rtol=1e-6)


def test_more_coefficient_rows_than_steps_uses_the_last_rows():
    # optax raises "Not enough coeffs" here; we take the last ns_steps rows.
    rows = ((4.0848, -6.8946, 2.9270), (3.9505, -6.3029, 2.6377), (3.7418, -5.5913, 2.3037))
    state = gdt.contrib.scale_by_muon(ns_coeffs=rows, ns_steps=2).init(jnp.ones((2, 2)))
    np.testing.assert_allclose(state.ns_coeffs, np.asarray(rows[1:], np.float32))


def test_spectral_preconditioning_on_bfloat16():
    g = {"w": jnp.asarray([[2.0, 1.0], [0.0, 1.0]], jnp.bfloat16)}
    tx = gdt.contrib.scale_by_muon(preconditioning="spectral")
    out, _ = tx.update(g, tx.init(g))
    assert out["w"].dtype == jnp.bfloat16 and bool(jnp.isfinite(out["w"]).all())


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_bit_identical_under_inject_hyperparams(jit):
    rng = np.random.default_rng(2)
    params = {"w": jnp.asarray(rng.normal(size=(8, 6)), jnp.float32), "b": jnp.ones(3), "s": jnp.float32(0.5)}
    kw = dict(learning_rate=0.02, weight_decay=0.01, beta=0.9, adam_b2=0.99)
    runs = []
    for opt in (gdt.contrib.muon(**kw), gdt.inject_hyperparams(gdt.contrib.muon)(**kw)):
        update = jax.jit(opt.update) if jit else opt.update
        p, s, out = params, opt.init(params), []
        for t in range(20):
            u, s = update(jax.tree.map(lambda x: x * (1.0 + t) - 0.1, p), s, p)
            p = gdt.apply_updates(p, u)
            out.append((u, p))
        runs.append(out)
    for a, b in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1])):
        assert jnp.array_equal(a, b)


def test_injected_ns_steps_can_change_at_run_time():
    params = {"w": jnp.asarray(np.random.default_rng(3).normal(size=(5, 4)), jnp.float32)}
    opt = gdt.inject_hyperparams(gdt.contrib.muon)(learning_rate=0.1)
    state = opt.init(params)
    state.hyperparams["ns_steps"] = 2
    got, _ = jax.jit(opt.update)(params, state, params)
    ref = gdt.contrib.muon(0.1, ns_steps=2)
    want, _ = ref.update(params, ref.init(params), params)
    np.testing.assert_allclose(got["w"], want["w"], rtol=1e-5)


def test_flat_path_matches_the_tree():
    rng = np.random.default_rng(4)
    params = {"w": jnp.asarray(rng.normal(size=(6, 4)), jnp.float32), "b": jnp.ones(4), "v": jnp.ones((4, 4))}
    opt = gdt.contrib.muon(0.05, weight_decay=0.1)
    flat = gdt.flatten_params(params)
    s_tree, s_flat, p_tree = opt.init(params), opt.init(flat), params
    for t in range(3):
        g = jax.tree.map(lambda x: jnp.sin(x * (t + 1.0)), p_tree)
        u_tree, s_tree = opt.update(g, s_tree, p_tree)
        u_flat, s_flat = opt.update(gdt.flatten_params(g), s_flat, flat)
        p_tree, flat = gdt.apply_updates(p_tree, u_tree), gdt.apply_updates(flat, u_flat)
    for a, b in zip(jax.tree.leaves(flat.unflatten()), jax.tree.leaves(p_tree)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_bad_inputs():
    with pytest.raises(ValueError, match="beta"):
        gdt.contrib.muon(0.1, beta=1.5)
    with pytest.raises(ValueError, match="ns_coeffs"):
        gdt.contrib.scale_by_muon(ns_coeffs=(1.0, 2.0))
    with pytest.raises(ValueError, match="ns_coeffs"):
        gdt.contrib.muon(0.1, ns_coeffs="fast")
    with pytest.raises(ValueError, match="preconditioning"):
        gdt.contrib.scale_by_muon(preconditioning="qr")
    with pytest.raises(ValueError, match="ns_steps"):
        gdt.contrib.scale_by_muon(ns_steps=-1)
    with pytest.raises(TypeError, match="mu_dtype"):
        gdt.contrib.scale_by_muon(mu_dtype=jnp.int32)
    tx = gdt.contrib.scale_by_muon()
    with pytest.raises(ValueError, match=r"\['b'\].*rank 1"):
        tx.update({"b": jnp.ones(3)}, tx.init({"b": jnp.ones(3)}))
    bad = gdt.contrib.scale_by_muon(weight_dimension_numbers={"w": gdt.contrib.MuonDimensionNumbers(0, 0)})
    with pytest.raises(ValueError, match="disjoint"):
        bad.update({"w": jnp.ones((2, 2))}, bad.init({"w": jnp.ones((2, 2))}))
    with pytest.raises(ValueError, match=r"updates do not match.*\['v'\]"):
        tx.update({"v": jnp.ones((2, 2))}, tx.init({"w": jnp.ones((2, 2))}))
    with pytest.raises(TypeError, match="MuonState"):
        tx.update({"w": jnp.ones((2, 2))}, gdt.adam(0.1).init({"w": jnp.ones((2, 2))}))
