"""Muon, GaLore, Sophia, SAM, normalize and split_real_and_imaginary against optax.contrib.

One table: (id, factory(module), params, extra update kwargs, dtypes kept). Each
case runs 20 steps jitted (and eagerly; the matrix-heavy Muon/GaLore/Sophia rows
run their first steps eagerly for one representative each, see EAGER_STEPS); updates, state and params agree leaf by
leaf at every step, relative to each step's largest value (float32 2e-5,
bfloat16 2e-2). The trees are nested, with a 128x128 matrix where the
algorithm works on matrices, a bfloat16 leaf and a scalar leaf where optax
supports them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests._trees import jit_level0

STEPS = 20
RTOL = {jnp.dtype(jnp.float32): 2e-5, jnp.dtype(jnp.bfloat16): 2e-2, jnp.dtype(jnp.complex64): 2e-5}
_rng = np.random.default_rng(0)


def _arr(shape, dtype=jnp.float32):
    return jnp.asarray(_rng.normal(size=shape), dtype)


# Muon and GaLore: matrices of several shapes (two alike), bfloat16 matrix and vector, scalar.
MATRICES = {
    "attn": {"q": _arr((128, 128)), "k": _arr((16, 32)), "v": _arr((16, 32))},
    "mlp": [_arr((48, 16)), (_arr((8, 8), jnp.bfloat16), _arr(5, jnp.bfloat16), jnp.float32(0.7))],
    "bias": _arr(7),
}
# Sophia: optax's Hutchinson probe needs one dtype across the tree (see DIFFERENCES.md).
FLOAT32 = {"dense": {"w": _arr((6, 5)), "b": _arr(5)}, "layers": [_arr((3, 4)), (_arr(3), jnp.float32(0.7))]}
VECTORS = {"dense": {"w": _arr((3, 4)), "b": _arr(4)}, "layers": [_arr(3), (_arr(3, jnp.bfloat16), jnp.float32(0.7))]}
COMPLEX = {"z": _arr((3, 4)) + 1j * _arr((3, 4)), "r": [_arr(5), jnp.float32(0.3)]}


def _grads(params, seed=1):
    """Gradients of varied scale and sign, never all zero (optax's normalize divides by 0)."""
    rng = np.random.default_rng(seed)
    seq = []
    for _ in range(STEPS):
        scale = 10.0 ** rng.uniform(-2, 1)

        def draw(p):
            g = scale * rng.normal(size=np.shape(p))
            if jnp.iscomplexobj(p):
                g = g + 1j * scale * rng.normal(size=np.shape(p))
            return jnp.asarray(g, p.dtype)

        seq.append(jax.tree.map(draw, params))
    return seq


def _quartic(params):
    return sum(jnp.sum(p**4) / 4 + jnp.sum(p) for p in jax.tree.leaves(params))


SOPHIA_KW = {"obj_fn": _quartic}


def _sam(m, **kw):
    adv = m.chain(m.contrib.normalize(), m.sgd(0.1))
    return m.contrib.sam(m.sgd(0.05, momentum=0.9), adv, **kw)


DIMS = {
    "attn": {"q": None, "k": "dn", "v": "dn"},
    "mlp": ["dn", (None, None, None)],
    "bias": None,
}


def _dims(m):
    dn = m.contrib.MuonDimensionNumbers(reduction_axis=0, output_axis=1)
    return jax.tree.map(lambda x: dn if x == "dn" else None, DIMS, is_leaf=lambda x: x is None)


# id -> (factory, params, extra kwargs, keeps bfloat16 updates where optax promotes)
CASES = {
    "muon": (lambda m: m.contrib.muon(0.02), MATRICES, {}, False),
    "muon_weight_decay_nesterov_off": (
        lambda m: m.contrib.muon(0.02, beta=0.9, weight_decay=0.1, nesterov=False, adam_learning_rate=0.01),
        MATRICES,
        {},
        False,
    ),
    "muon_adaptive": (lambda m: m.contrib.muon(0.02, adaptive=True), MATRICES, {}, False),
    "muon_consistent_rms": (lambda m: m.contrib.muon(0.02, consistent_rms=0.2), MATRICES, {}, False),
    "muon_aol": (lambda m: m.contrib.muon(0.02, preconditioning="aol"), MATRICES, {}, False),
    "muon_schatten": (lambda m: m.contrib.muon(0.02, preconditioning="schatten", ns_steps=4), MATRICES, {}, False),
    "muon_spectral": (lambda m: m.contrib.muon(0.02, preconditioning="spectral"), FLOAT32, {}, False),
    "muon_dion": (lambda m: m.contrib.muon(0.02, ns_coeffs="dion", mu_dtype=jnp.float32), MATRICES, {}, True),
    "muon_dimension_numbers": (
        lambda m: m.contrib.muon(0.02, muon_weight_dimension_numbers=_dims(m)),
        MATRICES,
        {},
        False,
    ),
    "galore": (lambda m: m.contrib.galore(0.01, rank=8, update_proj_gap=7), MATRICES, {}, False),
    "galore_decay_sgd_base": (
        lambda m: m.contrib.galore(
            0.01, rank=4, update_proj_gap=5, scale=0.5, weight_decay=0.1, base_optimizer=m.scale_by_rms()
        ),
        MATRICES,
        {},
        False,
    ),
    "sophia": (lambda m: m.contrib.sophia(0.01, update_interval=3), FLOAT32, SOPHIA_KW, False),
    "sophia_no_clip": (
        lambda m: m.contrib.sophia(0.01, clip_threshold=None, gamma=0.5, update_interval=1),
        FLOAT32,
        SOPHIA_KW,
        False,
    ),
    "normalize": (lambda m: m.contrib.normalize(), VECTORS, {}, True),
    "sam": (lambda m: _sam(m), VECTORS, {}, True),
    "sam_period_3_no_reset": (lambda m: _sam(m, sync_period=3, reset_state=False), VECTORS, {}, True),
    "split_real_and_imaginary": (lambda m: m.contrib.split_real_and_imaginary(m.adam(0.05)), COMPLEX, {}, False),
}


def _run(tx, params, grads, extra, jit):
    def step(params, state, g):
        updates, state = tx.update(g, state, params, **extra)
        return gdt.apply_updates(params, updates), state, updates

    step = jit_level0(step) if jit else step  # both libraries alike
    state, out = tx.init(params), []
    for g in grads:
        params, state, updates = step(params, state, g)
        out.append((updates, state, params))
    return out


def _close(a, e, *, where, promoted):
    a, e = jnp.asarray(a), jnp.asarray(e)
    assert a.shape == e.shape, where
    if not promoted:
        assert a.dtype == e.dtype, f"{where}: {a.dtype} != {e.dtype}"
    if not jnp.issubdtype(e.dtype, jnp.inexact):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(e), err_msg=where)
        return
    rtol = max(RTOL.get(a.dtype, 2e-5), RTOL.get(e.dtype, 2e-5))
    a64, e64 = np.asarray(a.astype(e.dtype), np.complex128), np.asarray(e, np.complex128)
    assert np.isfinite(e64).all(), where
    np.testing.assert_allclose(a64, e64, rtol=rtol, atol=rtol * float(np.max(np.abs(e64), initial=0.0)), err_msg=where)


# Eager Newton-Schulz on a 128x128 matrix dispatches every op of both libraries one by one
# (about 7 s a step on 2 CPU cores): the Muon variants run all 20 steps jitted, and one
# representative of each matrix family also runs its first EAGER_STEPS steps eagerly.
EAGER_STEPS = 3
EAGER_MATRIX_CASES = {"muon", "galore", "sophia"}


def _matrix_case(case):
    return CASES[case][1] is MATRICES or CASES[case][1] is FLOAT32


PAIRS = [(c, False) for c in sorted(CASES) if not _matrix_case(c) or c in EAGER_MATRIX_CASES]
PAIRS += [(c, True) for c in sorted(CASES)]


@pytest.mark.parametrize(("case", "jit"), PAIRS, ids=[f"{c}-{'jit' if j else 'eager'}" for c, j in PAIRS])
def test_matches_optax(case, jit):
    factory, params, extra, promoted = CASES[case]
    grads = _grads(params)
    if not jit and _matrix_case(case):
        grads = grads[:EAGER_STEPS]
    ours = _run(factory(gdt), params, grads, extra, jit)
    theirs = _run(factory(optax), params, grads, extra, jit)
    for t, (step_a, step_e) in enumerate(zip(ours, theirs)):
        for what, a_tree, e_tree in zip(("updates", "state", "params"), step_a, step_e):
            a_leaves, e_leaves = jax.tree.leaves(a_tree), jax.tree.leaves(e_tree)
            assert len(a_leaves) == len(e_leaves), f"{case}, step {t}, {what}"
            for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
                _close(a, e, where=f"{case}, step {t}, {what} leaf {i}", promoted=promoted)


def test_state_classes_have_optax_fields():
    for name in [
        "MuonState",
        "GaLoreState",
        "SophiaState",
        "HutchinsonState",
        "SAMState",
        "SplitRealAndImaginaryState",
    ]:
        assert getattr(gdt.contrib, name)._fields == getattr(optax.contrib, name)._fields, name
    for name in ["MuonDimensionNumbers", "GaLoreDimensionNumbers"]:
        assert getattr(gdt.contrib, name)() == tuple(getattr(optax.contrib, name)()), name


def test_hutchinson_draws_optax_probes():
    key = jax.random.PRNGKey(42)
    ours, theirs = (
        gdt.contrib.hutchinson_estimator_diag_hessian(key),
        optax.contrib.hutchinson_estimator_diag_hessian(key),
    )
    s_a, s_e = ours.init(FLOAT32), theirs.init(FLOAT32)
    for _ in range(3):
        d_a, s_a = ours.update(None, s_a, FLOAT32, obj_fn=_quartic)
        d_e, s_e = theirs.update(None, s_e, FLOAT32, obj_fn=_quartic)
        for a, e in zip(jax.tree.leaves(d_a), jax.tree.leaves(d_e)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(e))
        np.testing.assert_array_equal(np.asarray(s_a.key), np.asarray(s_e.key))
