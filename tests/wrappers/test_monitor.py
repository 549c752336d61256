"""Tests for snapshot, monitor and measure_with_ema."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt
from tests.wrappers_common import assert_matches_optax, make_grads, make_params


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_snapshot_of_the_norm_before_clipping_matches_optax(jit):
    # optax #326: log the global norm of the gradients before they are clipped.
    _, state = assert_matches_optax(
        gdt.chain(
            gdt.snapshot("norm_before_clip", gdt.global_norm), gdt.clip_by_global_norm(1.0), gdt.sgd(0.1, momentum=0.9)
        ),
        optax.chain(
            optax.snapshot("norm_before_clip", optax.tree.norm),
            optax.clip_by_global_norm(1.0),
            optax.sgd(0.1, momentum=0.9),
        ),
        make_grads(),
        jit=jit,
    )
    last = make_grads()[-1]
    expected = np.sqrt(sum(np.sum(np.asarray(g, np.float64) ** 2) for g in jax.tree.leaves(last)))
    # optax and gdt sum the bfloat16 leaf's squares in bfloat16.
    np.testing.assert_allclose(float(gdt.tree_get(state, "norm_before_clip")), expected, rtol=1e-3)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_monitor_with_ema_measures_matches_optax(jit):
    def measures(lib):
        return {
            "norm": gdt.global_norm,
            "norm_ema": lib.measure_with_ema(gdt.global_norm, decay=0.9),
            "clipped_ema": lib.measure_with_ema(lambda u: gdt.global_norm(u) > 3.5, 0.8),
        }

    _, state = assert_matches_optax(
        gdt.chain(gdt.monitor(measures(gdt)), gdt.clip_by_global_norm(3.5), gdt.sgd(0.1)),
        optax.chain(optax.monitor(measures(optax)), optax.clip_by_global_norm(3.5), optax.sgd(0.1)),
        make_grads(),
        jit=jit,
    )
    fraction = float(gdt.tree_get(state, "clipped_ema"))
    assert 0.0 < fraction < 1.0


def test_measure_with_ema_by_hand():
    tx = gdt.monitor({"m": gdt.measure_with_ema(lambda u: jnp.sum(u), decay=0.5)})
    state = tx.init(jnp.zeros(2))
    values = []
    for g in ([1.0, 1.0], [3.0, 3.0]):
        _, state = tx.update(jnp.array(g), state)
        values.append(float(gdt.tree_get(state, "m")))
    # v1 = 0.5 * 2 = 1 -> 1 / 0.5 = 2; v2 = 0.5 + 0.5 * 6 = 3.5 -> 3.5 / 0.75
    np.testing.assert_allclose(values, [2.0, 3.5 / 0.75], rtol=1e-6)


def test_state_structure_is_fixed_from_init_so_scan_works():
    opt = gdt.chain(
        gdt.monitor({"norm": gdt.global_norm, "norm_ema": gdt.measure_with_ema(gdt.global_norm, 0.9)}),
        gdt.snapshot("max", lambda u: jax.tree.reduce(jnp.maximum, jax.tree.map(jnp.max, u))),
        gdt.sgd(0.1),
    )
    params = make_params()
    state = opt.init(params)
    grads = make_grads(steps=5)
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs), *grads)

    def body(carry, g):
        params, state = carry
        updates, state = opt.update(g, state, params)
        return (gdt.apply_updates(params, updates), state), gdt.tree_get(state, "norm")

    (_, final), norms = jax.lax.scan(body, (params, state), stacked)
    assert jax.tree.structure(final) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(state)):
        assert a.dtype == b.dtype and a.shape == b.shape
    assert norms.shape == (5,) and float(gdt.tree_get(state, "norm")) == 0.0


def test_snapshot_init_works_on_abstract_params():
    abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), make_params())
    state = gdt.snapshot("norm", gdt.global_norm).init(abstract)
    assert float(state.measurement["norm"]) == 0.0


def test_bad_measures():
    with pytest.raises(TypeError, match="name"):
        gdt.snapshot("", gdt.global_norm)
    with pytest.raises(TypeError, match="measure"):
        gdt.snapshot("x", 3.0)
    with pytest.raises(TypeError, match="dict"):
        gdt.monitor([gdt.global_norm])
