"""Shared fixtures of the wrapper tests: the nested tree and the optax cross-check.

The tree is the core cross-check's kind: dicts, a list and a tuple, float32
leaves, one bfloat16 leaf and one scalar leaf.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt

STEPS = 24


def make_params() -> dict[str, Any]:
    """The nested params tree (values away from 0, so every leaf moves)."""
    return {
        "dense": {
            "w": jnp.array([[0.5, -1.0], [1.5, 2.0], [-0.3, 0.7]], jnp.float32),
            "b": jnp.array([0.1, -0.2], jnp.float32),
        },
        "blocks": [
            (jnp.array([1.0, -2.0, 3.0, 0.5], jnp.float32), jnp.array([0.25, -0.75, 1.5], jnp.bfloat16)),
            {"scale": jnp.array(1.25, jnp.float32)},
        ],
    }


def make_grads(
    steps: int = STEPS,
    nan_steps: Sequence[int] = (),
    inf_steps: Sequence[int] = (),
    seed: int = 0,
) -> list[Any]:
    """Deterministic gradients per step; NaN/Inf put into one leaf at some steps.

    NaNs alternate between a float32 leaf and the bfloat16 leaf.
    """
    rng = np.random.default_rng(seed)
    params = make_params()
    leaves, treedef = jax.tree.flatten(params)
    out = []
    for t in range(steps):
        new = [rng.normal(size=np.shape(x)).astype(np.float32) for x in leaves]
        if t in nan_steps or t in inf_steps:
            bad = np.nan if t in nan_steps else np.inf
            i = 1 if t % 2 else 0  # the bfloat16 leaf, or the first float32 one.
            new[i] = new[i].copy()
            new[i].reshape(-1)[0] = bad
        out.append(treedef.unflatten([jnp.asarray(g, dtype=x.dtype) for g, x in zip(new, leaves)]))
    return out


def _step_fn(tx: Any) -> Callable[..., Any]:
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return gdt.apply_updates(params, updates), state, updates

    return step


def run(tx: Any, grads: Sequence[Any], *, jit: bool, params: Any = None) -> tuple[Any, list[Any], list[Any]]:
    """Runs ``tx`` over ``grads``; returns final params, per-step updates and states."""
    params = make_params() if params is None else params
    if jit:
        return _loop(tx, jax.jit(_step_fn(tx)), grads, params)
    # Eager is op by op: under disable_jit a lax.cond runs the taken branch in
    # Python instead of compiling a conditional at every step.
    with jax.disable_jit():
        return _loop(tx, _step_fn(tx), grads, params)


def _loop(tx: Any, step: Callable[..., Any], grads: Sequence[Any], params: Any) -> Any:
    state = tx.init(params)
    all_updates, all_states = [], []
    for g in grads:
        params, state, updates = step(params, state, g)
        all_updates.append(updates)
        all_states.append(state)
    return params, all_updates, all_states


def _tol(x: np.ndarray) -> dict[str, float]:
    if x.dtype == jnp.bfloat16:
        return {"rtol": 1e-2, "atol": 1e-2}
    return {"rtol": 2e-6, "atol": 1e-6}


def assert_trees_close(actual: Any, expected: Any, what: str = "") -> None:
    """Leaf-by-leaf closeness (same leaf count, shapes, dtypes); NaNs must match."""
    a_leaves = jax.tree_util.tree_flatten_with_path(actual)[0]
    e_leaves = jax.tree.leaves(expected)
    assert len(a_leaves) == len(e_leaves), f"{what}: {len(a_leaves)} leaves vs {len(e_leaves)} expected"
    for (path, a), e in zip(a_leaves, e_leaves):
        a, e = np.asarray(a), np.asarray(e)
        where = f"{what} at {jax.tree_util.keystr(path)}"
        assert a.shape == e.shape, f"{where}: shape {a.shape} vs {e.shape}"
        assert a.dtype == e.dtype, f"{where}: dtype {a.dtype} vs {e.dtype}"
        if a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer):
            np.testing.assert_array_equal(a, e, err_msg=where)
        else:
            np.testing.assert_allclose(
                a.astype(np.float64),
                e.astype(np.float64),
                equal_nan=True,
                err_msg=where,
                **_tol(a),
            )


def assert_matches_optax(
    gdt_tx: Any,
    optax_tx: Any,
    grads: Sequence[Any],
    *,
    jit: bool,
    compare_state: bool = True,
) -> tuple[Any, Any]:
    """Runs gdt and optax, both eager or both jitted, and compares every step's
    updates and state, and the final params. Returns gdt's final params and state.

    Each mode is compared with optax in the same mode: they differ in the last
    bits (XLA fuses jitted bfloat16 arithmetic in float32).
    """
    g_params, g_updates, g_states = run(gdt_tx, grads, jit=jit)
    o_params, o_updates, o_states = run(optax_tx, grads, jit=jit)
    assert len(g_updates) >= 20
    for t, (gu, ou) in enumerate(zip(g_updates, o_updates)):
        assert_trees_close(gu, ou, f"updates at step {t}")
        if compare_state:
            assert_trees_close(g_states[t], o_states[t], f"state at step {t}")
    assert_trees_close(g_params, o_params, "final params")
    return g_params, g_states[-1]


def state_leaf_count(state: Any) -> int:
    """How many arrays a state holds."""
    return len(jax.tree.leaves(state))
