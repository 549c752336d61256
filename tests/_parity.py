"""Running a transformation in gdtransforms and optax and comparing every step.

Shared by the property tests (tests/parity/test_properties*.py). A :class:`Case`
builds the same transformation from either module; :func:`check_case` runs
both eagerly on one drawn problem and compares updates, state and params leaf
by leaf at every step, to each dtype's tolerance.

Non-finite values must match exactly (the same NaN/inf pattern), except where
the case allows gdtransforms to be finite where optax is not, a documented
deliberate difference (docs/DIFFERENCES.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from hypothesis import strategies as st

import gdtransforms as gdt

FLOAT32 = jnp.dtype(jnp.float32)
BF16 = jnp.dtype(jnp.bfloat16)
F16 = jnp.dtype(jnp.float16)
# Relative tolerance per dtype. The absolute tolerance is this times the
# largest magnitude the leaf has had so far (see assert_leaf_agrees).
RTOL = {FLOAT32: 2e-5, BF16: 4e-2, F16: 1e-2}
# Norm-wise relative tolerance per dtype: ||ours - optax|| <= this * ||optax||
# over a leaf's finite entries. Element by element, a 1% error in bfloat16
# cannot be told from a one-ulp rounding difference (an ulp is 0.4-0.8%), but
# rounding differences are rare and of either sign, while a 1% error moves
# every entry: over a leaf it is a ~1% norm-wise error, above this bound.
NORM_RTOL = {FLOAT32: 2e-5, BF16: 5e-3, F16: 2e-3}
# Leaves with fewer entries than this are judged element by element only.
NORM_MIN_SIZE = 8


@dataclass(frozen=True)
class Case:
    """One transformation, buildable from either library.

    Attributes:
      strategies: hyperparameter name -> hypothesis strategy.
      build: ``build(module, hp, params) -> transformation``; ``module`` is
        ``gdtransforms`` or ``optax``.
      finite_where_optax_is_not: the leaf dtypes (``None``: all) where
        gdtransforms may be finite while optax gives NaN/inf, by a documented
        deliberate difference.
      promotes_updates: optax promotes bfloat16 updates to a wider state's
        float32; gdtransforms keeps bfloat16.
      wrap_params: ``wrap_params(module, params)``, the params the
        transformation works on (lookahead's fast/slow pair).
      extra_args: ``extra_args(hp, step) -> dict`` of keyword arguments for
        ``update`` (``value=loss``).
      comparable_steps: ``comparable_steps(hp, optax_history) -> int``, how
        many steps to compare (a documented difference may start later).
      wider_state: state leaves may be float32 where optax's are bfloat16 or
        float16 (a documented difference); values compare at the narrower
        dtype's tolerance.
      dtypes: the leaf dtypes to draw problems with (``None``: all).
      lowest_tolerance: compare every leaf at the tolerance of the least
        precise params dtype (optax rounds a shared value, such as a scale,
        to the params' dtype).
    """

    strategies: dict[str, st.SearchStrategy]
    build: Callable[[Any, dict, Any], Any]
    finite_where_optax_is_not: frozenset | None = field(default=frozenset())
    promotes_updates: bool = False
    wrap_params: Callable[[Any, Any], Any] | None = None
    extra_args: Callable[[dict, int], dict] | None = None
    comparable_steps: Callable[[dict, list], int] | None = None
    wider_state: bool = False
    dtypes: list[Any] | None = None
    lowest_tolerance: bool = False


def run(module: Any, case: Case, hp: dict, params: Any, grads: list[Any]) -> list[tuple]:
    """Eager steps; returns the (updates, state, params) after each."""
    tx = case.build(module, hp, params)
    if case.wrap_params is not None:
        params = case.wrap_params(module, params)
    state, history = tx.init(params), []
    for t, g in enumerate(grads):
        extra = case.extra_args(hp, t) if case.extra_args else {}
        updates, state = tx.update(g, state, params, **extra)
        params = module.apply_updates(params, updates)
        history.append((updates, state, params))
    return history


def check_case(name: str, case: Case, hp: dict, params: Any, grads: list[Any]) -> None:
    ours = run(gdt, case, hp, params, grads)
    theirs = run(optax, case, hp, params, grads)
    if case.comparable_steps is not None:
        n = case.comparable_steps(hp, theirs)
        ours, theirs = ours[:n], theirs[:n]
    wrapped = case.wrap_params(gdt, params) if case.wrap_params else params
    assert_histories_agree(name, case, ours, theirs, wrapped)


def lowest_precision(*dtypes: Any) -> jnp.dtype:
    """The least precise of ``dtypes`` (non-float and None count as float32)."""
    known = [jnp.dtype(d) for d in dtypes if d is not None and jnp.dtype(d) in RTOL]
    return max(known, key=RTOL.__getitem__, default=FLOAT32)


def assert_leaf_agrees(
    ours: Any,
    theirs: Any,
    *,
    where: str,
    allow_finite: frozenset | None = frozenset(),
    promoted: bool = False,
    wider: bool = False,
    floor: Any = None,
    scale: float = 0.0,
) -> float:
    """Asserts one leaf agrees with optax's; returns optax's largest finite magnitude.

    The tolerance is that of the least precise of the two dtypes and ``floor``
    (the param's dtype: a float32 update computed from float16 state is only
    float16-accurate). It is relative, plus an absolute part relative to
    ``scale``, the largest magnitude this leaf has had so far: rounding at an
    earlier, larger value stays in a value that has since shrunk.
    """
    ours, theirs = jnp.asarray(ours), jnp.asarray(theirs)
    assert ours.shape == theirs.shape, f"{where}: shape {ours.shape} != {theirs.shape}"
    if ours.dtype != theirs.dtype:
        # Updates only by optax's promotion to float32; state only wider.
        assert (promoted and theirs.dtype == FLOAT32 and ours.dtype == BF16) or (
            wider and ours.dtype == FLOAT32 and theirs.dtype in (BF16, F16)
        ), f"{where}: dtype {ours.dtype} != optax's {theirs.dtype}"
    if not jnp.issubdtype(theirs.dtype, jnp.inexact):  # Counters, flags.
        np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs), err_msg=where)
        return 0.0
    low = lowest_precision(ours.dtype, theirs.dtype, floor)
    a = np.asarray(ours, np.float64)
    e = np.asarray(theirs.astype(ours.dtype) if promoted else theirs, np.float64)
    e_raw = np.asarray(theirs, np.float64)
    e_finite, a_finite = np.isfinite(e_raw), np.isfinite(a)
    # Non-finite in optax: ours the same, or finite where documented.
    bad = ~e_finite & ~((a == e_raw) | (np.isnan(a) & np.isnan(e_raw)))
    if allow_finite is None or low in allow_finite:
        # At least as good: finite where optax is not, or inf (the true value
        # overflowing) where optax is NaN.
        bad &= ~a_finite & ~(np.isinf(a) & np.isnan(e_raw))
    assert not bad.any(), (
        f"{where}: optax non-finite at {np.argwhere(bad)[:3].tolist()}, ours {a[bad][:3]} vs optax {e_raw[bad][:3]}"
    )
    # Finite in optax: ours finite and close. A value that overflows only when
    # cast to our narrower update dtype counts as optax's value.
    check = e_finite & np.isfinite(e) if promoted else e_finite
    if not check.any():
        return 0.0
    magnitude = float(np.max(np.abs(e[check])))
    rtol = RTOL[low]
    atol = rtol * max(scale, magnitude) + np.finfo(np.float32).tiny
    np.testing.assert_allclose(a[check], e[check], rtol=rtol, atol=atol, err_msg=where)
    _assert_normwise_close(a[check], e[check], NORM_RTOL[low], where=where)
    return magnitude


def _assert_normwise_close(a: np.ndarray, e: np.ndarray, rtol: float, *, where: str) -> None:
    """Asserts ``||a - e|| <= rtol * ||e||`` (float64) on leaves big enough to judge."""
    if a.size < NORM_MIN_SIZE:
        return
    diff, ref = float(np.linalg.norm(a - e)), float(np.linalg.norm(e))
    assert diff <= rtol * ref + np.finfo(np.float32).tiny, (
        f"{where}: norm-wise relative difference {diff / max(ref, 1e-300):.3g} > {rtol:g}"
    )


def assert_trees_agree(ours: Any, theirs: Any, *, where: str) -> None:
    """Leaf by leaf, each to its own dtype's tolerance."""
    a_leaves, e_leaves = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert len(a_leaves) == len(e_leaves), f"{where}: {len(a_leaves)} vs {len(e_leaves)} leaves"
    for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
        assert_leaf_agrees(a, e, where=f"{where}, leaf {i}")


def assert_histories_agree(name: str, case: Case, ours: list, theirs: list, params0: Any) -> None:
    param_dtypes = [jnp.asarray(p).dtype for p in jax.tree.leaves(params0)]
    lowest = lowest_precision(*param_dtypes) if case.lowest_tolerance else None
    scales: dict[tuple[str, int], float] = {}
    for t, ((u_a, s_a, p_a), (u_e, s_e, p_e)) in enumerate(zip(ours, theirs, strict=True)):
        for what, a_tree, e_tree in (("updates", u_a, u_e), ("state", s_a, s_e), ("params", p_a, p_e)):
            a_leaves, e_leaves = jax.tree.leaves(a_tree), jax.tree.leaves(e_tree)
            assert len(a_leaves) == len(e_leaves), (
                f"{name}, step {t}, {what}: {len(a_leaves)} leaves vs optax's {len(e_leaves)}"
            )
            mirrors_params = what != "state" and len(a_leaves) == len(param_dtypes)
            for i, (a, e) in enumerate(zip(a_leaves, e_leaves)):
                promoted = what == "updates" and case.promotes_updates and jnp.asarray(a).dtype != jnp.asarray(e).dtype
                scale = scales.get((what, i), 0.0)
                if what == "params":  # p + u rounds at the larger of the two.
                    scale = max(scale, scales.get(("updates", i), 0.0))
                magnitude = assert_leaf_agrees(
                    a,
                    e,
                    where=f"{name}, step {t}, {what} leaf {i}",
                    allow_finite=case.finite_where_optax_is_not,
                    promoted=promoted,
                    wider=what == "state" and case.wider_state,
                    floor=lowest_precision(lowest, param_dtypes[i] if mirrors_params else None),
                    scale=scale,
                )
                scales[(what, i)] = max(scale, magnitude)
