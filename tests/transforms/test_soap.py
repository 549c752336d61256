"""scale_by_soap: hand-derived first steps, the NumPy transcription for 20 steps, checks, jit.

The flat path is checked with the alias, in tests/optimizers/test_alias_soap.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt
from tests.transforms.soap_numpy import NumpySoap

STEPS = 20
# A full 4x4 matrix; a 3x5 one whose long axis exceeds max_precond_dim (left as is);
# a 3x4 one; a 2-vector (preconditioned with precondition_1d); a 5-vector (too
# long: plain Adam); a scalar.
_rng = np.random.default_rng(0)
PARAMS = {
    "w": _rng.normal(size=(4, 4)),
    "v": _rng.normal(size=(3, 5)),
    "r": _rng.normal(size=(3, 4)),
    "b": _rng.normal(size=2),
    "c": _rng.normal(size=5),
    "s": np.array(0.7),
}
CONFIG = dict(
    b1=0.9, b2=0.95, shampoo_beta=0.8, eps=1e-8, precondition_frequency=3, max_precond_dim=4, precondition_1d=True
)
LR = 0.05
TX = gdt.scale_by_soap(**CONFIG)
TX_UPDATE = jax.jit(TX.update)  # one compile, shared by the tests below


def grads_np(params, t):
    return {k: np.sin(v * (1 + 0.1 * t)) + 0.1 * v + 0.05 * t for k, v in params.items()}


def grads_jax(params, t):
    return {k: jnp.sin(v * (1 + 0.1 * t)) + 0.1 * v + 0.05 * t for k, v in params.items()}


def f32(tree):
    return {k: jnp.asarray(v, jnp.float32) for k, v in tree.items()}


def _run(tx, update, params, steps=STEPS):
    """Updates, params and states after each step of ``params -= LR * u`` along ``grads_jax``."""
    state, out = tx.init(params), []
    for t in range(steps):
        u, state = update(grads_jax(params, jnp.float32(t)), state)
        params = jax.tree.map(lambda p, x: p - LR * x, params, u)
        out.append((u, params, state))
    return out


def _assert_close_per_leaf(actual, expected, rtol, msg, floor=1e-30):
    """Each leaf within ``rtol`` of that leaf's largest magnitude (this step's scale, at least ``floor``)."""
    for k, e in expected.items():
        a, e = np.asarray(actual[k], np.float64), np.asarray(e, np.float64)
        scale = max(np.max(np.abs(e)), floor)
        err = np.max(np.abs(a - e)) / scale
        assert err <= rtol, f"{msg}, leaf {k!r}: relative error {err:.2e} > {rtol:.0e}"


# -- Hand-derived steps -------------------------------------------------------------


def test_first_call_builds_factors_and_bases_and_makes_no_step():
    # G = [[2, 1], [1, 2]]: G G^T = G^T G = [[5, 4], [4, 5]], eigenvalues 9 and 1
    # on (1, 1)/sqrt(2) and (1, -1)/sqrt(2).
    g = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    tx = gdt.scale_by_soap()
    updates, state = tx.update(g, tx.init(jnp.zeros((2, 2))))
    np.testing.assert_array_equal(updates, np.zeros((2, 2)))
    np.testing.assert_array_equal(state.mu, np.zeros((2, 2)))
    np.testing.assert_array_equal(state.nu, np.zeros((2, 2)))
    for factor, q in zip(state.preconditioners, state.eigenbases):
        np.testing.assert_allclose(factor, 0.05 * np.array([[5.0, 4.0], [4.0, 5.0]]), rtol=1e-6)
        # Largest eigenvalue first, each column up to its sign.
        np.testing.assert_allclose(np.abs(q), np.full((2, 2), 1 / np.sqrt(2)), rtol=1e-6)
        np.testing.assert_allclose(np.abs(q[:, 0] @ np.array([1.0, 1.0])), np.sqrt(2), rtol=1e-6)
    assert int(state.count) == 1


def test_second_call_is_adam_in_the_eigenbasis():
    # In the basis Q = [(1, 1), (1, -1)]/sqrt(2), G' = Q^T G Q = diag(3, 1)
    # (its zeros are float32 rounding, ~1e-7, which Adam would blow up to
    # +-1 with a tiny eps: eps = 0.01 keeps them negligible). With
    # b1 = b2 = 0.95, mu = 0.05 G, nu = 0.05 G'^2, and the step
    # sqrt(0.05) / 0.05 * 0.05 g' / (sqrt(0.05) |g'| + eps) = d(g') with
    # d(3) = 0.67082 / 0.68082 and d(1) = 0.22361 / 0.23361, so
    # u = Q diag(d(3), d(1)) Q^T: not Adam's near-uniform sign(G) = all ones.
    g = jnp.array([[2.0, 1.0], [1.0, 2.0]])
    tx = gdt.scale_by_soap(eps=0.01)
    state = tx.init(jnp.zeros((2, 2)))
    _, state = tx.update(g, state)
    updates, state = tx.update(g, state)
    d3 = np.sqrt(0.05) * 3 / (np.sqrt(0.05) * 3 + 0.01)
    d1 = np.sqrt(0.05) / (np.sqrt(0.05) + 0.01)
    expected = 0.5 * np.array([[d3 + d1, d3 - d1], [d3 - d1, d3 + d1]])
    np.testing.assert_allclose(updates, expected, rtol=1e-5, atol=5e-5)
    np.testing.assert_allclose(state.mu, 0.05 * np.asarray(g), rtol=1e-6)
    np.testing.assert_allclose(state.nu, 0.05 * np.diag([9.0, 1.0]), rtol=1e-5, atol=1e-6)
    # The factors moved on with the second gradient: 0.95 * 0.05 A + 0.05 A = 0.0975 A.
    np.testing.assert_allclose(state.preconditioners[0], 0.0975 * np.array([[5.0, 4.0], [4.0, 5.0]]), rtol=1e-6)
    # A third step with the same gradient (s = 2): the same d's, as in Adam.
    updates, _ = tx.update(g, state)
    c = np.sqrt(1 - 0.95**2)
    d3, d1 = c * 3 / (c * 3 + 0.01), c / (c + 0.01)
    expected = 0.5 * np.array([[d3 + d1, d3 - d1], [d3 - d1, d3 + d1]])
    np.testing.assert_allclose(updates, expected, rtol=1e-5, atol=5e-5)


def test_identity_axes_and_scalars_are_plain_adam():
    params = {"big": jnp.ones((3, 6)), "vec": jnp.ones(3), "s": jnp.float32(1.0)}
    state = gdt.scale_by_soap(max_precond_dim=5).init(params)
    shapes = jax.tree.map(lambda x: x.shape, state.preconditioners, is_leaf=lambda x: isinstance(x, jax.Array))
    assert shapes == {"big": ((3, 3), (0, 0)), "vec": ((0, 0),), "s": ()}
    assert jax.tree.map(jnp.shape, state.eigenbases) == shapes
    state_1d = gdt.scale_by_soap(precondition_1d=True).init(params)
    assert state_1d.preconditioners["vec"][0].shape == (3, 3)
    # A vector left as it is: Adam with the bias correction on the step
    # (second call: u = sqrt(1 - b2) / (1 - b1) * (1 - b1) g / (sqrt(1 - b2) |g|) = sign(g)).
    tx = gdt.scale_by_soap()
    g = jnp.array([0.5, -2.0, 0.0])
    state = tx.init(jnp.zeros(3))
    _, state = tx.update(g, state)
    updates, _ = tx.update(g, state)
    np.testing.assert_allclose(updates, [1.0, -1.0, 0.0], rtol=1e-6)


# -- The NumPy transcription, 20 steps ------------------------------------------------


def test_matches_the_numpy_transcription_for_20_steps():
    # "c" (5 > max_precond_dim) is a 1-D leaf left in its own basis, "b" one
    # preconditioned, "v" a matrix with one axis of each kind.
    ref = NumpySoap(PARAMS, **CONFIG)
    params_np = PARAMS
    run = _run(TX, TX_UPDATE, f32(PARAMS))
    refreshes = 0
    for t, (u, params, state) in enumerate(run):
        u_ref = ref.step(grads_np(params_np, t))
        params_np = {k: v - LR * u_ref[k] for k, v in params_np.items()}
        # Float32 against float64 with eigh and QR in the loop: about 1e-5 here;
        # a 1% error anywhere fails.
        _assert_close_per_leaf(u, u_ref, 1e-4, f"updates, step {t}")
        # Params: relative to their size, at least 1 (the scalar crosses zero).
        _assert_close_per_leaf(params, params_np, 1e-5, f"params, step {t}", floor=1.0)
        _assert_close_per_leaf(state.mu, ref.M, 1e-4, f"mu, step {t}")
        _assert_close_per_leaf(state.nu, ref.V, 1e-4, f"nu, step {t}")
        for k, factors in state.preconditioners.items():
            for axis, f in enumerate(factors):
                if ref.L[k][axis] is None:
                    assert f.shape == (0, 0)
                else:
                    _assert_close_per_leaf({"L": f}, {"L": ref.L[k][axis]}, 1e-5, f"factor {k}[{axis}], step {t}")
        refreshes += t >= 1 and t % 3 == 0
    assert refreshes == 6  # the bases were refreshed after steps 3, 6, ..., 18


def test_precondition_frequency_sets_the_refresh_steps():
    params = {"w": jnp.asarray(PARAMS["w"], jnp.float32)}
    tx = gdt.scale_by_soap(precondition_frequency=4)
    state = tx.init(params)
    bases = []
    for t in range(7):
        _, state = tx.update(grads_jax(params, jnp.float32(t)), state)
        bases.append(np.asarray(state.eigenbases["w"][0]))
    changed = [not np.array_equal(a, b) for a, b in zip(bases, bases[1:])]
    # Calls 2..7 are steps 1..6: only step 4 (call 5) refreshes.
    assert changed == [False, False, False, True, False, False]


# -- jit, flat path, dtypes -------------------------------------------------------------


def test_jit_equals_eager():
    # 5 calls: the first (eigh), plain steps and a refresh after step 3.
    eager = _run(TX, TX.update, f32(PARAMS), steps=5)
    jitted = _run(TX, TX_UPDATE, f32(PARAMS), steps=5)
    for t, ((u_e, p_e, s_e), (u_j, p_j, s_j)) in enumerate(zip(eager, jitted)):
        _assert_close_per_leaf(u_j, u_e, 1e-5, f"updates, step {t}")
        _assert_close_per_leaf(p_j, p_e, 1e-6, f"params, step {t}")
        for a, b in zip(jax.tree.leaves(s_j), jax.tree.leaves(s_e)):
            assert a.dtype == b.dtype and a.shape == b.shape
            if not b.size:
                continue
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(jnp.max(jnp.abs(b)))))


def test_bfloat16_leaf_keeps_its_dtype_and_float32_factors():
    params = {"w": jnp.ones((3, 3), jnp.bfloat16)}
    tx = gdt.scale_by_soap(mu_dtype=jnp.float32)
    state = tx.init(params)
    assert state.mu["w"].dtype == jnp.float32 and state.nu["w"].dtype == jnp.bfloat16
    assert state.preconditioners["w"][0].dtype == jnp.float32
    g = {"w": jnp.asarray(np.arange(9.0).reshape(3, 3) - 4.0, jnp.bfloat16)}
    for _ in range(3):
        updates, state = tx.update(g, state)
    assert updates["w"].dtype == jnp.bfloat16
    assert bool(jnp.all(jnp.isfinite(updates["w"].astype(jnp.float32))))


# -- Bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, name",
    [
        (dict(b1=1.0), ValueError, "b1"),
        (dict(b2=-0.1), ValueError, "b2"),
        (dict(shampoo_beta=1.5), ValueError, "shampoo_beta"),
        (dict(eps=-1e-8), ValueError, "eps"),
        (dict(precondition_frequency=0), ValueError, "precondition_frequency"),
        (dict(precondition_frequency=2.5), TypeError, "precondition_frequency"),
        (dict(max_precond_dim=0), ValueError, "max_precond_dim"),
        (dict(max_precond_dim=10.0), TypeError, "max_precond_dim"),
        (dict(precondition_1d="yes"), TypeError, "precondition_1d"),
        (dict(normalize_grads=1), TypeError, "normalize_grads"),
        (dict(mu_dtype=jnp.int32), (TypeError, ValueError), "mu_dtype"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, error, name):
    with pytest.raises(error, match=name):
        gdt.scale_by_soap(**kwargs)


def test_normalize_grads_divides_each_leaf_by_its_rms():
    g = {"w": jnp.asarray(PARAMS["w"], jnp.float32), "b": jnp.array([1.0, -3.0])}
    out = {}
    for normalize in (False, True):
        tx = gdt.scale_by_soap(normalize_grads=normalize)
        _, state = tx.update(g, tx.init(g))
        out[normalize], _ = tx.update(g, state)
    step_size = np.sqrt(0.05) / 0.05  # sqrt(1 - b2) / (1 - b1) at the first step
    for k, u in out[False].items():
        u = np.asarray(u, np.float64)
        np.testing.assert_allclose(out[True][k], step_size * u / np.sqrt(np.mean(u**2)), rtol=1e-5)


def test_mismatched_updates_and_bad_params_are_refused():
    tx = gdt.scale_by_soap()
    state = tx.init({"w": jnp.zeros((2, 2))})
    with pytest.raises((ValueError, TypeError), match="updates"):
        tx.update({"x": jnp.zeros((2, 2))}, state)
    with pytest.raises((ValueError, TypeError), match="params"):
        tx.init({"w": jnp.zeros((2, 2), jnp.int32)})
    with pytest.raises(TypeError, match="real"):
        tx.init({"w": jnp.zeros((2, 2), jnp.complex64)})
