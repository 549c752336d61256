"""Shampoo: hand-derived steps, a NumPy transcription, bad input, inject, flat path, jit."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests._trees import assert_trees_close, gradient_sequence, nested_params

PLAIN = dict(best_effort_shape_interpretation=False, nesterov=False, beta1=0.0, beta2=0.0)


def test_graft_only_before_start():
    """Before ``start_preconditioning_step`` the update is the graft (Adam) with momentum."""
    g = jnp.array([[3.0, -1.0], [0.5, 2.0]])
    tx = gdt.scale_by_shampoo(start_preconditioning_step=5, beta1=0.9, beta2=0.99, diagonal_epsilon=0.0)
    u, state = tx.update(g, tx.init(g))
    # v = 0.01 g^2, v_hat = g^2: d = sign(g); moving average w = 0.1; Nesterov: 0.1 d + 0.9 (0.1 d).
    np.testing.assert_allclose(u, 0.19 * jnp.sign(g), rtol=1e-6)
    np.testing.assert_allclose(state.diagonal_momentum, 0.1 * jnp.sign(g), rtol=1e-6)
    assert int(state.count) == 1


def test_blocked_direction_has_the_graft_norm():
    """After the start: each 2x2 block is whitened by its roots, then scaled to the SGD graft's norm.

    G = [[3, 0, 1, 0], [0, 4, 0, 2]] in blocks of 2: diag(3, 4) and diag(1, 2). With
    beta2 = 0 each block's L = R = diag(a^2, b^2) (+ tiny damping), so L^{-1/4} G R^{-1/4}
    = diag(1, 1) per block; the Frobenius norm of the result is 2, the graft's sqrt(30).
    """
    g = jnp.array([[3.0, 0.0, 1.0, 0.0], [0.0, 4.0, 0.0, 2.0]])
    tx = gdt.scale_by_shampoo(block_size=2, start_preconditioning_step=0, graft_type="sgd", **PLAIN)
    u, state = tx.update(g, tx.init(g))
    expected = jnp.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]]) * np.sqrt(30.0) / 2
    np.testing.assert_allclose(u, expected, rtol=1e-4, atol=1e-5)
    assert [s.shape for s in state.statistics] == [(2, 2)] * 4
    np.testing.assert_allclose(state.preconditioners[0], np.diag(np.array([9.0, 16.0]) ** -0.25), rtol=1e-4)


def test_failed_roots_keep_the_previous_preconditioner():
    """A root whose residual is above ``inverse_failure_threshold`` is dropped: identity stays."""
    g = jnp.array([[3.0, 1.0], [0.5, 2.0]])
    tx = gdt.scale_by_shampoo(start_preconditioning_step=0, graft_type="sgd", inverse_failure_threshold=1e-30, **PLAIN)
    u, state = tx.update(g, tx.init(g))
    np.testing.assert_allclose(u, g, rtol=1e-6)  # identity roots: G scaled to its own norm
    np.testing.assert_array_equal(state.preconditioners[0], jnp.eye(2))


# -- A NumPy transcription (float64, roots by eigendecomposition) --------------------


def _np_root(stat, p, eps):
    w, v = np.linalg.eigh(stat)
    w = w + eps * max(w.max(), 1e-6)
    return (v * w ** (-1.0 / p)) @ v.T


def _np_shampoo(params, grads, *, block, b1, b2, eps_d, eps_m, wd, start, every):
    """Scalable Shampoo with an Adam graft, moving-average Nesterov momentum; 2-D and 1-D leaves."""

    def blocks(shape):
        cuts = [list(range(0, d, block)) if d > block else [0] for d in shape]
        return [
            tuple(slice(c, min(c + block, d) if d > block else d) for c, d in zip(corner, shape))
            for corner in np.array(np.meshgrid(*cuts, indexing="ij")).reshape(len(shape), -1).T
        ]

    state = {}
    out = []
    p = {k: np.asarray(v, np.float64) for k, v in params.items()}
    for t, g in enumerate(grads):
        g = {k: np.asarray(v, np.float64) for k, v in g.items()}
        for k, gk in g.items():
            st = state.setdefault(k, dict(v=np.zeros_like(gk), m=np.zeros_like(gk), dm=np.zeros_like(gk), L={}, P={}))
            st["v"] = b2 * st["v"] + (1 - b2) * gk**2
            d = gk / (np.sqrt(st["v"] / (1 - b2 ** (t + 1))) + eps_d)
            if gk.ndim == 0:
                precond = d
            else:
                precond = np.zeros_like(gk)
                for bi, sl in enumerate(blocks(gk.shape)):
                    gb = gk[sl]
                    for axis in range(gk.ndim):
                        key = (bi, axis)
                        other = tuple(a for a in range(gk.ndim) if a != axis)
                        gram = np.tensordot(gb, gb, axes=(other, other))
                        old = st["L"].get(key, eps_m * np.eye(gb.shape[axis]))
                        st["L"][key] = b2 * old + (1 - b2) * gram
                        if t % every == 0:
                            st["P"][key] = _np_root(st["L"][key], 2 * gk.ndim, eps_m)
                    pb = gb
                    for axis in range(gk.ndim):
                        pb = np.tensordot(pb, st["P"].get((bi, axis), np.eye(gb.shape[axis])), axes=[[0], [0]])
                    precond[sl] = pb
            s = precond * np.linalg.norm(d) / (np.linalg.norm(precond) + 1e-16) + wd * p[k]
            d = d + wd * p[k]
            st["m"] = b1 * st["m"] + (1 - b1) * s
            st["dm"] = b1 * st["dm"] + (1 - b1) * d
            x, m = (s, st["m"]) if t >= start else (d, st["dm"])
            p[k] = p[k] - 0.1 * ((1 - b1) * x + b1 * m)
        out.append(dict(p))
    return out


def test_matches_a_numpy_transcription():
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((4, 6)), "b": rng.standard_normal(5), "s": np.float64(0.3)}
    grads = [jax.tree.map(lambda x: rng.standard_normal(np.shape(x)), params) for _ in range(6)]
    hp = dict(b1=0.9, b2=0.9, eps_d=1e-8, eps_m=1e-2, wd=0.01, start=2, every=2)
    expected = _np_shampoo(params, grads, block=4, **hp)
    opt = gdt.shampoo(
        0.1,
        block_size=4,
        beta1=hp["b1"],
        beta2=hp["b2"],
        diagonal_epsilon=hp["eps_d"],
        matrix_epsilon=hp["eps_m"],
        weight_decay=hp["wd"],
        start_preconditioning_step=hp["start"],
        preconditioning_compute_steps=hp["every"],
        best_effort_shape_interpretation=False,
    )
    p = jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), params)
    state = opt.init(p)
    update = jax.jit(opt.update)
    for t, g in enumerate(grads):
        u, state = update(jax.tree.map(lambda x: jnp.asarray(x, jnp.float32), g), state, p)
        p = gdt.apply_updates(p, u)
        assert_trees_close(p, expected[t], rtol=1e-4, atol=1e-5, check_dtypes=False, msg=f"step {t}")


# -- Bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(block_size=1.5), TypeError, "block_size"),
        (dict(beta1=1.0), ValueError, "beta1"),
        (dict(beta2=1.5), ValueError, "beta2"),
        (dict(beta2=1.0), ValueError, "beta2"),  # with the Adam graft
        (dict(matrix_epsilon=-1.0), ValueError, "matrix_epsilon"),
        (dict(graft_type="adamw"), ValueError, "graft_type"),
        (dict(preconditioning_compute_steps=0), ValueError, "preconditioning_compute_steps"),
        (dict(start_preconditioning_step=1.0), TypeError, "start_preconditioning_step"),
        (dict(exponent_override=-2), ValueError, "exponent_override"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, name):
    with pytest.raises(error, match=name):
        gdt.scale_by_shampoo(**kwargs)


def test_weight_decay_needs_params():
    tx = gdt.scale_by_shampoo(weight_decay=0.1)
    w = jnp.ones((2, 2))
    with pytest.raises(ValueError, match="params"):
        tx.update(w, tx.init(w))


def test_mismatched_updates_name_the_path():
    tx = gdt.scale_by_shampoo()
    state = tx.init({"a": jnp.ones(2), "b": jnp.ones(3)})
    with pytest.raises((ValueError, TypeError), match="b"):
        tx.update({"a": jnp.ones(2), "b": jnp.ones(4)}, state)


# -- inject_hyperparams, the flat path, jit ------------------------------------------

STEPS = 4  # roots computed at steps 0 and 2, kept at 1 and 3; Shampoo's direction from step 2
PARAMS = nested_params()  # float32 leaves, one bfloat16 leaf, one scalar leaf
GRADS = gradient_sequence(PARAMS, STEPS)
KW = dict(learning_rate=0.05, block_size=2, start_preconditioning_step=2, preconditioning_compute_steps=2)


def _trajectory(opt, jit, params=PARAMS, grads=GRADS):
    update = jax.jit(opt.update) if jit else opt.update
    p, state, out = params, opt.init(params), []
    for g in grads:
        u, state = update(g, state, p)
        p = gdt.apply_updates(p, u)
        out.append((u, p, state))
    return out


@pytest.fixture(scope="module")
def plain_jit():
    return _trajectory(gdt.shampoo(**KW), jit=True)


@pytest.fixture(scope="module")
def plain_eager():
    return _trajectory(gdt.shampoo(**KW), jit=False)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_inject_is_bit_identical(jit, plain_jit, plain_eager):
    plain = plain_jit if jit else plain_eager
    injected = _trajectory(gdt.inject_hyperparams(gdt.shampoo)(**KW, beta2=0.999), jit)
    for (u, p, _), (ui, pi, _) in zip(plain, injected):
        for x, y in zip(jax.tree.leaves((u, p)), jax.tree.leaves((ui, pi))):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(np.float32(x), np.float32(y))


def test_jit_equals_eager(plain_jit, plain_eager):
    for (u, p, s), (uj, pj, sj) in zip(plain_eager, plain_jit):
        assert_trees_close((u, p, s), (uj, pj, sj), rtol=1e-6, atol=1e-7)


def test_flat_path_equals_the_tree(plain_jit):
    flat = gdt.flatten_params(PARAMS)
    grads = [flat.layout.pack(jax.tree.leaves(g)) for g in GRADS]
    run = _trajectory(gdt.shampoo(**KW), jit=True, params=flat, grads=grads)
    for (_, p_tree, _), (_, p_flat, _) in zip(plain_jit, run):
        assert_trees_close(p_flat.unflatten(), p_tree, rtol=1e-6, atol=1e-7)


def test_statistics_every_other_step_and_shapes():
    tx = gdt.scale_by_shampoo(block_size=3, statistics_compute_steps=2, **PLAIN)
    w = jnp.ones((5, 2))
    state = tx.init(w)
    assert [s.shape for s in state.statistics] == [(3, 3), (2, 2), (2, 2), (2, 2)]
    g = jnp.arange(10.0).reshape(5, 2)
    _, s1 = tx.update(g, state)
    _, s2 = tx.update(g, s1)
    assert not np.array_equal(s1.statistics[0], state.statistics[0])  # step 0 updates
    np.testing.assert_array_equal(s2.statistics[0], s1.statistics[0])  # step 1 does not


def test_injected_values_changed_at_run_time_are_used():
    opt = gdt.inject_hyperparams(gdt.shampoo)(**KW)
    state = opt.init(PARAMS)
    state.hyperparams["beta1"] = 0.5
    state.hyperparams["start_preconditioning_step"] = 0
    u, _ = opt.update(GRADS[0], state, PARAMS)
    expected_opt = gdt.shampoo(**{**KW, "beta1": 0.5, "start_preconditioning_step": 0})
    expected, _ = expected_opt.update(GRADS[0], expected_opt.init(PARAMS), PARAMS)
    assert_trees_close(u, expected, rtol=1e-6, atol=1e-7)
    plain, _ = gdt.shampoo(**KW).update(GRADS[0], gdt.shampoo(**KW).init(PARAMS), PARAMS)
    assert not np.allclose(jax.tree.leaves(u)[0], jax.tree.leaves(plain)[0])


def test_state_dtypes_are_stable(plain_jit):
    first_state = gdt.shampoo(**KW).init(PARAMS)
    for _, _, state in plain_jit:
        for a, b in zip(jax.tree.leaves(first_state), jax.tree.leaves(state)):
            assert a.dtype == b.dtype and a.shape == b.shape
