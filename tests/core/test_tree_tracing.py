"""map_unzip traces its per-leaf function once per leaf signature under jit."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

import gdtransforms as gdt
from gdtransforms._core import _tree

TREE = {f"w{i}": jnp.full((3, 2), float(i + 1)) for i in range(5)} | {"b": jnp.arange(4.0)}


def test_repeated_leaves_trace_once_and_give_the_same_numbers():
    traces = []

    def leaf(x, y):
        traces.append(x.shape)
        return x * 2.0 + y, jnp.sqrt(y)

    eager = _tree.map_unzip(leaf, TREE, TREE, num_outputs=2)
    assert len(traces) == 6
    jitted = jax.jit(lambda t: _tree.map_unzip(leaf, t, t, num_outputs=2))(TREE)
    assert sorted(traces[6:]) == [(3, 2), (4,)]  # one trace per signature
    for a, e in zip(jax.tree.leaves(jitted), jax.tree.leaves(eager)):
        np.testing.assert_array_equal(a, e)


def test_adam_compiles_to_the_same_numbers_as_per_leaf_tracing(monkeypatch):
    opt = gdt.adam(0.1)
    grads = jax.tree.map(lambda x: jnp.sin(x) * 0.3, TREE)
    state = opt.init(TREE)
    for _ in range(3):
        grouped = jax.jit(opt.update)(grads, state)
        with monkeypatch.context() as m:
            m.setattr(_tree, "_leaf_callers", lambda fn, rows: [fn] * len(rows))
            per_leaf = jax.jit(opt.update)(grads, state)
        for a, e in zip(jax.tree.leaves(grouped), jax.tree.leaves(per_leaf)):
            np.testing.assert_array_equal(a, e)
        state = grouped[1]
