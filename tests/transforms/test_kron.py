"""scale_by_kron / kron (PSGD Kron): first step by hand, factor layouts, schedule, checks, jit.

The cross-check against psgd-jax itself (bit-identical for 20 steps) is
benchmarks/check_kron_reference.py: psgd-jax 0.2.9 does not import with
optax 0.2.8 without a stand-in module.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms._transforms._kron import precond_update_prob_schedule

G_W = np.array([[0.3, -1.2], [0.8, 0.5]], np.float32)
G_S = np.float32(-0.4)


def _probes(count: int, n_leaves: int):
    """The probes psgd-jax draws at step ``count``: fold, split, (balance key), split, one key per leaf."""
    key = jax.random.fold_in(jax.random.PRNGKey(5318008), count)
    _, refresh = jax.random.split(key)
    key, balance_key = jax.random.split(refresh)
    _, probe_key = jax.random.split(key)
    return jax.random.uniform(balance_key), jax.random.split(probe_key, n_leaves)


def _norm_floor(m: np.ndarray) -> float:
    """The lower bound of the spectral norm, written out in NumPy."""
    peak = np.abs(m).max()
    u = m / peak
    cols, rows = (u * u).sum(0), (u * u).sum(1)
    if cols.max() > rows.max():
        v = u[:, cols.argmax()] @ u
        return peak * np.linalg.norm((v / np.linalg.norm(v)) @ u.T)
    v = u @ u[rows.argmax()]
    return peak * np.linalg.norm(u.T @ (v / np.linalg.norm(v)))


def test_first_step_by_hand():
    """A 2x2 matrix and a scalar, probability 1: Q moves from I once, then preconditions."""
    lr, plr = 0.1, 0.1
    opt = gdt.kron(learning_rate=lr, preconditioner_update_probability=1.0, preconditioner_lr=plr)
    params = {"s": jnp.float32(1.0), "w": jnp.ones((2, 2), jnp.float32)}
    state = opt.init(params)
    updates, state = opt.update({"s": jnp.asarray(G_S), "w": jnp.asarray(G_W)}, state, params)

    odds, keys = _probes(0, 2)  # leaves in order: "s", "w"
    assert odds >= 0.01  # no balancing at this step (it would change nothing from I anyway)
    eps = np.sqrt(np.finfo(np.float32).eps)
    v_s = float(jax.random.normal(keys[0], (), jnp.float32))
    v_w = np.asarray(jax.random.normal(keys[1], (2, 2), jnp.float32), np.float64)

    # The matrix: Q1 = Q2 = I, so A = h (the damped gradient) and B = V.
    g = G_W.astype(np.float64)  # step 1: the bias-corrected momentum is the gradient
    a = g + eps * np.abs(g).mean() * v_w
    q = []
    for t1, t2 in [(a @ a.T, v_w @ v_w.T), (a.T @ a, v_w.T @ v_w)]:
        step = np.triu(plr * (t1 - t2)) / _norm_floor(t1 + t2)
        q.append(np.eye(2) - step)
    direction = q[0].T @ q[0] @ g @ q[1].T @ q[1]
    direction /= max(1.0, np.sqrt(np.mean(direction**2)) / 1.1)

    # The scalar: one factor q = 1, A = h, B = v.
    h = float(G_S) + eps * abs(float(G_S)) * v_s
    t1, t2 = h * h, v_s * v_s
    q_s = 1.0 - plr * (t1 - t2) / abs(t1 + t2)
    d_s = q_s * q_s * float(G_S)
    d_s /= max(1.0, abs(d_s) / 1.1)

    kron_state = state[0]
    np.testing.assert_allclose(kron_state.Qs_preconditioners["w"][0], q[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kron_state.Qs_preconditioners["w"][1], q[1], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(kron_state.Qs_preconditioners["s"][0], q_s, rtol=1e-5)
    np.testing.assert_allclose(updates["w"], -lr * direction, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(updates["s"], -lr * d_s, rtol=1e-5)
    np.testing.assert_allclose(kron_state.mu["w"], 0.1 * G_W, rtol=1e-6)
    assert int(kron_state.count) == 1 and int(kron_state.update_counter) == 0


def test_factor_layouts():
    """Triangular per axis where allowed; diagonal past max_size_triangular, below min_ndim, by mode."""
    params = {
        "big": jnp.zeros((3, 20)),
        "vec": jnp.zeros(4),
        "s": jnp.zeros(()),
        "one": jnp.zeros((1, 3)),
        "stack": jnp.zeros((2, 3, 4)),
    }

    def shapes(**kwargs):
        state = gdt.scale_by_kron(**kwargs).init(params)
        return jax.tree.map(lambda q: q.shape, state.Qs_preconditioners)

    got = shapes(max_size_triangular=10, scanned_layers={k: k == "stack" for k in params})
    assert got == {
        "big": [(3, 3), (20,)],
        "vec": [(4,)],
        "s": [()],
        "one": [(1,), (3, 3)],
        "stack": [(2, 3, 3), (2, 4, 4)],
    }
    assert shapes(memory_save_mode="one_diag")["big"] == [(3, 3), (20,)]
    assert shapes(memory_save_mode="all_diag")["big"] == [(3,), (20,)]
    assert shapes(min_ndim_triangular=1)["vec"] == [(4, 4)]
    assert shapes(min_ndim_triangular=3)["big"] == [(3,), (20,)]
    # init scale s: each of k factors starts at s^(1/k).
    state = gdt.scale_by_kron(preconditioner_init_scale=4.0).init({"m": jnp.zeros((2, 3))})
    np.testing.assert_allclose(state.Qs_preconditioners["m"][0], 2.0 * np.eye(2))
    state = gdt.scale_by_kron(b1=0.0).init(params)
    assert state.mu is None


def test_default_schedule():
    """1 for the first 500 updates (psgd-jax's steps 1..500), then exp(-0.001 k), floor 0.03."""
    sched = precond_update_prob_schedule()
    assert float(sched(0)) == 1.0 and float(sched(499)) == 1.0
    np.testing.assert_allclose(float(sched(999)), np.exp(-0.5), rtol=1e-6)
    assert float(sched(10_000)) == pytest.approx(0.03)


def test_trust_region_and_zero_gradients():
    """The update's RMS is capped at 1.1; zero gradients give zero updates, no NaN."""
    opt = gdt.scale_by_kron(preconditioner_update_probability=1.0)
    params = {"s": jnp.float32(1.0), "w": jnp.ones((2, 2), jnp.float32)}
    state = opt.init(params)
    updates, state = opt.update(jax.tree.map(jnp.zeros_like, params), state)
    assert all(bool(jnp.all(x == 0)) for x in jax.tree.leaves(updates))
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state))
    updates, _ = opt.update({"s": jnp.float32(1e3), "w": jnp.asarray(G_W) * 1e3}, state)
    assert float(jnp.sqrt(jnp.mean(updates["w"] ** 2))) == pytest.approx(1.1, rel=1e-5)
    assert float(jnp.abs(updates["s"])) == pytest.approx(1.1, rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        (dict(b1=1.0), ValueError, "b1"),
        (dict(preconditioner_update_probability=0.0), ValueError, "preconditioner_update_probability"),
        (dict(preconditioner_update_probability=1.5), ValueError, "preconditioner_update_probability"),
        (dict(preconditioner_lr=-0.1), ValueError, "preconditioner_lr"),
        (dict(preconditioner_init_scale=0.0), ValueError, "preconditioner_init_scale"),
        (dict(max_size_triangular=2.5), TypeError, "max_size_triangular"),
        (dict(min_ndim_triangular=-1), ValueError, "min_ndim_triangular"),
        (dict(memory_save_mode="half_diag"), ValueError, "memory_save_mode"),
        (dict(precond_update_precision="double"), ValueError, "precond_update_precision"),
        (dict(mu_dtype=jnp.int32), TypeError, "mu_dtype"),
        (dict(precond_dtype="int8"), TypeError, "precond_dtype"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, name):
    with pytest.raises(error, match=name):
        gdt.scale_by_kron(**kwargs)


def test_mismatched_updates_name_the_problem():
    opt = gdt.scale_by_kron()
    state = opt.init({"w": jnp.ones((2, 2))})
    with pytest.raises(ValueError, match="w"):
        opt.update({"w": jnp.ones((3, 2))}, state)
    with pytest.raises(ValueError, match="updates"):
        gdt.scale_by_kron(b1=0.0).update({"v": jnp.ones(2), "w": jnp.ones(2)}, opt.init({"w": jnp.ones(2)}))
    with pytest.raises(TypeError, match="ScaleByKronState"):
        opt.update({"w": jnp.ones((2, 2))}, gdt.EmptyState())
    with pytest.raises(ValueError, match="axes"):
        opt.init({"w": jnp.ones((1,) * 14)})


def test_jit_equals_eager_update_counter_and_key():
    """Probability 1/3: factors move at steps 3 and 6 only, one compile, eager == jit; a new key, new probes."""
    opt = gdt.scale_by_kron(preconditioner_update_probability=1 / 3)
    params = {"s": jnp.float32(1.0), "w": jnp.ones((2, 2), jnp.float32)}
    grads = {"s": jnp.asarray(G_S), "w": jnp.asarray(G_W)}
    jitted = jax.jit(opt.update)
    s1 = s2 = opt.init(params)
    moved = []
    for _ in range(6):
        before = s2.Qs_preconditioners["w"][0]
        u1, s1 = opt.update(grads, s1)
        u2, s2 = jitted(grads, s2)
        moved.append(not np.array_equal(before, s2.Qs_preconditioners["w"][0]))
        for a, b in zip(jax.tree.leaves((u1, s1)), jax.tree.leaves((u2, s2)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert moved == [False, False, True, False, False, True]
    assert [int(s2.update_counter), int(s2.count)] == [0, 6]
    assert jitted._cache_size() == 1
    u3, _ = jitted(grads, s2._replace(key=jax.random.PRNGKey(1), update_counter=jnp.int32(2)))
    u4, _ = jitted(grads, s2._replace(update_counter=jnp.int32(2)))
    assert not np.allclose(u3["w"], u4["w"])


def test_init_scale_from_the_first_gradient():
    """``preconditioner_init_scale=None``: the first step equals one built with (mean g^4)^(-1/8)."""
    params = {"w": jnp.ones((2, 2), jnp.float32)}
    grads = {"w": jnp.asarray(G_W)}
    scale = float(np.mean(G_W.astype(np.float64) ** 4) ** (-1 / 8))
    auto = gdt.scale_by_kron(preconditioner_init_scale=None, preconditioner_update_probability=1.0)
    fixed = gdt.scale_by_kron(preconditioner_init_scale=scale, preconditioner_update_probability=1.0)
    u_auto, s_auto = auto.update(grads, auto.init(params))
    u_fixed, s_fixed = fixed.update(grads, fixed.init(params))
    for a, b in zip(jax.tree.leaves((u_auto, s_auto)), jax.tree.leaves((u_fixed, s_fixed)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # Only the first step rescales: the second one starts from the first's factors.
    u2_auto, _ = auto.update(grads, s_auto)
    u2_fixed, _ = fixed.update(grads, s_fixed)
    np.testing.assert_allclose(u2_auto["w"], u2_fixed["w"], rtol=1e-5, atol=1e-7)
    assert not np.isclose(scale, 1.0)
