"""Every loss of optax.losses against optax: values and gradients, float32 and bfloat16.

One table: each case names a loss, its differentiable input ``x`` and its other
arguments (random, batched), and optionally edge values (probabilities of zero,
logits of +-1e4 and +-1e30, masked entries, empty axes). Both libraries run
eagerly on the same inputs; the loss and its vector-Jacobian product with a
fixed cotangent must agree in dtype, in where they are NaN or infinite, and in
value to a tolerance relative to each array's magnitude (2e-5 in float32, so a
1% error fails; 4e-2 in bfloat16). optax runs with implicit rank promotion
allowed; gdtransforms runs under the suite's ``jax_numpy_rank_promotion="raise"``.

Where gdtransforms deliberately differs (docs/DIFFERENCES.md, "Losses"), the
case compares gdtransforms with an independent reference instead.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.scipy.special import logsumexp

import gdtransforms as gdt
from tests._session_cache import once_per_session

F32, BF16 = jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16)
RTOL = {F32: 2e-5, BF16: 4e-2}
_rng = np.random.default_rng(0)


def normal(*shape: int, scale: float = 1.0) -> np.ndarray:
    return _rng.normal(size=shape) * scale


def simplex(*shape: int) -> np.ndarray:
    e = np.exp(normal(*shape))
    return e / e.sum(-1, keepdims=True)


def one_hot(labels: np.ndarray, n: int) -> np.ndarray:
    return np.eye(n)[labels]


def mask(*shape: int, p: float = 0.7) -> np.ndarray:
    m = _rng.uniform(size=shape) < p
    m.reshape(-1, shape[-1])[:, 0] = True
    return m


@dataclass
class Case:
    """``loss(module, x, **args)``; float numpy arguments are cast to the case's dtype."""

    loss: Callable[..., Any]
    x: np.ndarray
    args: dict = field(default_factory=dict)
    dtypes: tuple = (F32, BF16)
    eager: bool = False
    upcast_reference: bool = False  # optax fails in bfloat16: compare with optax in float32


L = lambda name, **kw: lambda m, x, **a: getattr(m, name)(x, **a, **kw)  # noqa: E731
B, C = 6, 4
INT_LABELS = np.array([0, 1, 2, 3, 1, 2], np.int32)
# Random rows, then rows with logits of +-1e4 and +-1e30 and a row of ties.
LOGITS = np.concatenate([normal(3, C), [[1e4, -1e4, 0.0, 3.0], [-1e30, 1e30, 2.0, -2.0], [5.0] * C]])
BINARY = np.concatenate([normal(4, 3), [[1e4, -1e4, 0.0], [-1e30, 1e30, 2.0]]])
BINARY_LABELS = np.concatenate([_rng.uniform(size=(4, 3)), [[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
CTC_LOGITS = normal(3, 7, 4)
CTC_LABELS = np.array([[1, 2, 2, 0], [3, 3, 1, 1], [2, 1, 0, 0]], np.int32)
CTC_LABEL_PAD = np.array([[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 1, 1]], np.float32)
CTC_FRAME_PAD = np.zeros((3, 7), np.float32)
CTC_FRAME_PAD[2, 5:] = 1.0
SEG = normal(2, 4, 4, 3)
SEG_T = one_hot(_rng.integers(0, 3, size=(2, 4, 4)), 3)


def ctc_both(m: Any, x: jax.Array) -> tuple:
    return (
        m.ctc_loss(x, CTC_FRAME_PAD, CTC_LABELS, CTC_LABEL_PAD),
        m.ctc_loss_with_forward_probs(x, CTC_FRAME_PAD, CTC_LABELS, CTC_LABEL_PAD, blank_id=2),
    )


CASES: dict[str, Case] = {
    # Cross-entropies.
    "sigmoid_bce": Case(L("sigmoid_binary_cross_entropy"), BINARY, {"labels": BINARY_LABELS}),
    "sigmoid_bce_empty_batch": Case(L("sigmoid_binary_cross_entropy"), normal(0, C), {"labels": np.zeros((0, C))}),
    "focal": Case(L("sigmoid_focal_loss"), BINARY, {"labels": np.round(BINARY_LABELS)}),
    "focal_alpha_gamma": Case(L("sigmoid_focal_loss", alpha=0.25, gamma=0.5), BINARY, {"labels": BINARY_LABELS}),
    "softmax_ce": Case(L("softmax_cross_entropy"), LOGITS, {"labels": one_hot(INT_LABELS, C) * 0.9 + 0.025}),
    "softmax_ce_axes": Case(
        L("softmax_cross_entropy", axis=(0, 2)),
        normal(3, 2, 4),
        {"labels": simplex(2, 12).T.reshape(3, 4, 2).transpose(0, 2, 1)},
    ),
    "softmax_ce_where": Case(L("softmax_cross_entropy"), LOGITS, {"labels": simplex(B, C), "where": mask(B, C)}),
    "softmax_ce_where_batch": Case(
        L("softmax_cross_entropy", axis=0), normal(C, B), {"labels": simplex(B, C).T, "where": np.arange(B) % 3 != 0}
    ),
    "softmax_ce_empty_batch": Case(L("softmax_cross_entropy"), normal(0, C), {"labels": np.zeros((0, C))}),
    "softmax_ce_int": Case(L("softmax_cross_entropy_with_integer_labels"), LOGITS, {"labels": INT_LABELS}),
    "softmax_ce_int_axis0": Case(
        L("softmax_cross_entropy_with_integer_labels", axis=0), normal(C, B), {"labels": INT_LABELS}
    ),
    "softmax_ce_int_axes": Case(
        L("softmax_cross_entropy_with_integer_labels", axis=(1, 2)), normal(2, 3, 4), {"labels": np.array([5, 11])}
    ),
    "softmax_ce_int_where": Case(
        L("softmax_cross_entropy_with_integer_labels"),
        LOGITS,
        {"labels": np.zeros(B, np.int32), "where": mask(B, C) & (np.arange(B) != 2)[:, None]},
    ),
    "safe_softmax_ce": Case(
        L("safe_softmax_cross_entropy"),
        np.concatenate([LOGITS, [[-np.inf, 1.0, 2.0, 0.0], [0.5, -np.inf, -1.0, -np.inf]]]),
        {"labels": np.concatenate([simplex(B, C), [[0.0, 0.3, 0.7, 0.0], [1.0, 0.0, 0.0, 0.0]]])},
    ),
    "poly": Case(L("poly_loss_cross_entropy"), LOGITS, {"labels": simplex(B, C)}),
    "poly_eps_where": Case(
        L("poly_loss_cross_entropy", epsilon=-1.0),
        normal(B, C),
        {"labels": one_hot(INT_LABELS, C), "where": mask(B, C)},
    ),
    # Divergences and smoothing (targets with probabilities of zero).
    "kl": Case(
        L("kl_divergence"), np.log(simplex(B, C)), {"targets": one_hot(INT_LABELS, C) * 0.7 + simplex(B, C) * 0.3}
    ),
    "kl_zero_targets_where": Case(
        L("kl_divergence"), np.log(simplex(B, C)), {"targets": one_hot(INT_LABELS, C), "where": mask(B, C)}
    ),
    "kl_axis_none": Case(L("kl_divergence", axis=None), np.log(simplex(B, C)), {"targets": simplex(B, C)}),
    "kl_log_targets": Case(
        L("kl_divergence_with_log_targets"), np.log(simplex(B, C)), {"log_targets": np.log(simplex(B, C))}
    ),
    "generalized_kl": Case(L("generalized_kl_divergence"), normal(B, C), {"targets": _rng.uniform(size=(B, C))}),
    "generalized_kl_where": Case(
        L("generalized_kl_divergence", axis=0),
        normal(B, C),
        {"targets": _rng.uniform(size=(B, C)), "where": mask(B, C)},
    ),
    "convex_kl": Case(L("convex_kl_divergence"), normal(B, C), {"targets": _rng.uniform(size=(B, C))}),
    "smooth_labels": Case(lambda m, x: m.smooth_labels(x, 0.1), one_hot(INT_LABELS, C)),
    "smooth_labels_where": Case(
        lambda m, x, **a: m.smooth_labels(x, 0.2, **a), one_hot(INT_LABELS, C), {"where": mask(B, C)}
    ),
    # Margin losses.
    "hinge": Case(L("hinge_loss"), normal(B), {"targets": np.sign(normal(B))}),
    "perceptron": Case(L("perceptron_loss"), normal(B), {"targets": np.sign(normal(B))}),
    "sparsemax_binary": Case(L("sparsemax_loss"), normal(B, scale=2.0), {"labels": (normal(B) > 0).astype(np.int32)}),
    "multiclass_hinge": Case(L("multiclass_hinge_loss"), LOGITS, {"labels": INT_LABELS}),
    "multiclass_perceptron": Case(L("multiclass_perceptron_loss"), normal(B, C), {"labels": INT_LABELS}),
    "multiclass_sparsemax": Case(
        L("multiclass_sparsemax_loss"),
        np.concatenate([normal(4, C, scale=2.0), [[1e4, -1e4, 0.0, 3.0], [-1e6, 1e6, 2.0, -2.0]]]),
        {"labels": INT_LABELS},
        upcast_reference=True,
    ),
    # Regression.
    "squared_error": Case(L("squared_error"), normal(B, C), {"targets": normal(B, C)}),
    "squared_error_no_target": Case(L("squared_error"), normal(B, C)),
    "l2": Case(L("l2_loss"), normal(B, C), {"targets": normal(B, C)}),
    "huber": Case(L("huber_loss", delta=0.5), normal(B, C, scale=2.0), {"targets": normal(B, C)}),
    "log_cosh": Case(L("log_cosh"), BINARY, {"targets": normal(B, 3)}),
    "cosine_similarity": Case(L("cosine_similarity"), normal(B, C), {"targets": normal(B, C)}),
    "cosine_distance_where": Case(
        L("cosine_distance", epsilon=1e-3, axis=0), normal(B, C), {"targets": normal(B, C), "where": mask(B, C)}
    ),
    # Ranking.
    "ranking": Case(L("ranking_softmax_loss"), LOGITS, {"labels": (normal(B, C) > 0.5) * 1.0}),
    "ranking_where_weights": Case(
        L("ranking_softmax_loss", reduce_fn=jnp.sum),
        normal(B, C),
        {"labels": _rng.uniform(size=(B, C)), "where": mask(B, C), "weights": _rng.uniform(size=(B, C))},
    ),
    "ranking_no_reduce_masked_list": Case(
        L("ranking_softmax_loss", reduce_fn=None),
        normal(3, C),
        {"labels": _rng.uniform(size=(3, C)), "where": np.array([[True] * C, [False] * C, [True, False] * 2])},
    ),
    "ranking_mean_all_masked": Case(
        L("ranking_softmax_loss"), normal(2, C), {"labels": _rng.uniform(size=(2, C)), "where": np.zeros((2, C), bool)}
    ),
    # Self-supervised.
    "ntxent": Case(
        lambda m, x, **a: m.ntxent(x, **a, temperature=0.5), normal(B, 3), {"labels": np.array([0, 1, 0, 1, 1, 2])}
    ),
    "triplet": Case(
        lambda m, x, **a: m.triplet_margin_loss(x, **a, margin=2.0),
        normal(B, 3),
        {"positives": normal(B, 3), "negatives": normal(B, 3)},
    ),
    # Segmentation.
    "dice": Case(L("dice_loss"), SEG, {"targets": SEG_T}),
    "dice_tversky_weights": Case(
        L(
            "dice_loss",
            alpha=0.3,
            beta=0.7,
            class_weights=np.array([0.2, 1.0, 2.0]),
            reduction="sum",
            ignore_background=True,
        ),
        SEG,
        {"targets": SEG_T},
    ),
    "dice_none_axis": Case(L("dice_loss", reduction="none", axis=(1,)), SEG, {"targets": SEG_T}),
    "dice_probabilities": Case(
        L("dice_loss", apply_softmax=False), simplex(2, 4, 4, 3), {"targets": SEG_T}, (F32,), eager=True
    ),
    "generalized_dice": Case(L("multiclass_generalized_dice_loss"), SEG, {"targets": SEG_T}),
    "binary_dice": Case(L("binary_dice_loss"), normal(2, 4, 4), {"targets": (normal(2, 4, 4) > 0) * 1.0}),
    # CTC: the loss, and the loss with its forward variables (another blank id).
    "ctc": Case(ctc_both, CTC_LOGITS),
    # Fenchel-Young.
    "fenchel_young_logsumexp": Case(
        lambda m, x, **a: m.make_fenchel_young_loss(logsumexp)(x, **a), LOGITS, {"targets": simplex(B, C)}
    ),
}


def _cast(value: Any, dtype: jnp.dtype) -> Any:
    arr = np.asarray(value)
    return jnp.asarray(arr, dtype) if arr.dtype.kind == "f" else jnp.asarray(arr)


def _value_and_vjp(module: Any, case: Case, x: jax.Array, args: dict) -> tuple[Any, Any]:
    value, vjp = jax.vjp(lambda x: case.loss(module, x, **args), x)
    # A fixed, uneven cotangent, so the gradient is not the gradient of a plain sum.
    cot = jax.tree.map(lambda v: (0.5 + jnp.cos(jnp.arange(v.size)).reshape(v.shape)).astype(v.dtype), value)
    return value, vjp(cot)[0]


_RESULTS: dict[tuple[str, str], dict[str, Any]] = {}


def _results(lib: str, dtype: jnp.dtype, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case's (value, gradient) for one library and dtype, as numpy arrays.

    Computed once per test session: under pytest-xdist the first worker that
    needs them compiles the program and the others read its results back.
    """
    key = (lib, dtype.name)
    if key not in _RESULTS:
        compute = lambda: _portable(_compute_results(lib, dtype))  # noqa: E731
        _RESULTS[key] = once_per_session(tmp_path_factory, f"losses-{lib}-{dtype.name}", compute)
    return _RESULTS[key]


def _portable(out: dict[str, Any]) -> dict[str, Any]:
    """Arrays as numpy arrays (same dtypes), exceptions that pickle (else their text), for :func:`_results`."""

    def exception(e: Exception) -> Exception:
        try:
            pickle.loads(pickle.dumps(e))
        except Exception:  # noqa: BLE001
            return RuntimeError(f"{type(e).__name__}: {e}")
        return e

    return {n: exception(r) if isinstance(r, Exception) else jax.tree.map(np.asarray, r) for n, r in out.items()}


def _compute_results(lib: str, dtype: jnp.dtype) -> dict[str, Any]:
    """Every case's (value, gradient) for one library and dtype, from one jitted program.

    Tracing errors are kept per case (and raised by that case's test), so one
    broken loss does not hide the others. Cases marked ``eager`` run outside jit.
    """
    module = gdt.losses if lib == "gdt" else optax.losses
    names = [n for n, case in CASES.items() if dtype in case.dtypes]
    inputs = {
        n: (jnp.asarray(CASES[n].x, dtype), {k: _cast(v, dtype) for k, v in CASES[n].args.items()}) for n in names
    }
    out: dict[str, Any] = {}

    def one(n: str, x: jax.Array, args: dict) -> tuple[Any, Any]:
        case = CASES[n]
        if lib == "optax" and dtype == BF16 and case.upcast_reference:
            up = lambda v: v.astype(F32) if v.dtype == BF16 else v  # noqa: E731
            result = _value_and_vjp(module, case, up(x), {k: up(v) for k, v in args.items()})
            return jax.tree.map(lambda v: v.astype(BF16) if v.dtype == F32 else v, result)
        return _value_and_vjp(module, case, x, args)

    def run_all(inputs: dict) -> dict:
        results = {}
        for n, (x, args) in inputs.items():
            if CASES[n].eager:
                continue
            try:
                results[n] = one(n, x, args)
            except Exception as e:  # noqa: BLE001  (reported by the case's own test)
                out[n] = e
        return results

    with warnings.catch_warnings(), jax.numpy_rank_promotion("raise" if lib == "gdt" else "allow"):
        warnings.simplefilter("ignore", DeprecationWarning)
        # One program per library and dtype, compiled without LLVM's slow passes: compile time
        # is nearly all of this test's cost.
        compiled = jax.jit(run_all).lower(inputs).compile(compiler_options={"xla_backend_optimization_level": 0})
        out.update(compiled(inputs))
        for n in names:
            if CASES[n].eager:
                try:
                    out[n] = one(n, *inputs[n])
                except Exception as e:  # noqa: BLE001
                    out[n] = e
    return out


def assert_close(actual: jax.Array, expected: jax.Array, what: str) -> None:
    assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, optax {expected.dtype}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, optax {expected.shape}"
    a, e = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(e), err_msg=f"{what}: NaN pattern")
    np.testing.assert_array_equal(np.isinf(a) * np.sign(a), np.isinf(e) * np.sign(e), err_msg=f"{what}: inf pattern")
    finite = np.isfinite(e)
    rtol = RTOL.get(jnp.dtype(expected.dtype), RTOL[F32])
    scale = np.abs(e[finite]).max(initial=0.0)
    np.testing.assert_allclose(a[finite], e[finite], rtol=rtol, atol=rtol * scale, err_msg=what)


PARAMS = [pytest.param(name, dtype, id=f"{name}-{dtype.name}") for name, case in CASES.items() for dtype in case.dtypes]


@pytest.mark.parametrize("name,dtype", PARAMS)
def test_loss_matches_optax(name: str, dtype: jnp.dtype, tmp_path_factory: pytest.TempPathFactory) -> None:
    ours, ref = _results("gdt", dtype, tmp_path_factory)[name], _results("optax", dtype, tmp_path_factory)[name]
    if isinstance(ref, Exception):
        raise AssertionError(f"optax failed on {name}") from ref
    if isinstance(ours, Exception):
        raise ours
    (ours_value, ours_grad), (ref_value, ref_grad) = ours, ref
    for i, (a, e) in enumerate(zip(jax.tree.leaves(ours_value), jax.tree.leaves(ref_value))):
        assert_close(a, e, f"{name} value {i}")
    assert_close(ours_grad, ref_grad, f"{name} gradient")


def test_every_optax_loss_is_in_the_table() -> None:
    class Spy:
        def __init__(self) -> None:
            self.called: set[str] = set()

        def __getattr__(self, name: str) -> Any:
            self.called.add(name)
            return lambda *args, **kwargs: jnp.zeros(())

    spy = Spy()
    for case in CASES.values():
        try:
            case.loss(spy, jnp.zeros(1), **case.args)
        except Exception:  # noqa: BLE001,S110  (only the names looked up matter)
            pass
    missing = {n for n in dir(optax.losses) if not n.startswith("_")} - spy.called
    assert not missing, f"losses without a parity case: {sorted(missing)}"
