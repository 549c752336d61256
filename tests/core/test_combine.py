"""chain and named_chain."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_chain_applies_in_order():
    tx = gdt.chain(gdt.clip(1.0), gdt.scale(3.0))
    u, state = tx.update(jnp.array([5.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_array_equal(u, [3.0])  # clip then scale, not scale then clip
    assert state == (gdt.EmptyState(), gdt.EmptyState())


def test_chain_state_is_a_tuple_of_states():
    tx = gdt.chain(gdt.trace(0.9), gdt.scale_by_adam())
    state = tx.init({"w": jnp.ones(2)})
    assert isinstance(state, tuple) and len(state) == 2
    assert isinstance(state[0], gdt.TraceState) and isinstance(state[1], gdt.ScaleByAdamState)


def test_chain_passes_extra_args_to_every_member():
    seen = []

    def update(updates, state, params=None, **extra):
        seen.append(extra)
        return updates, state

    probe = gdt.GradientTransformation(gdt.init_empty_state, update)
    tx = gdt.chain(probe, gdt.identity(), probe)
    tx.update(jnp.ones(1), tx.init(jnp.ones(1)), value=2.0)
    assert seen == [{"value": 2.0}, {"value": 2.0}]


def test_chain_rejects_a_state_of_the_wrong_length():
    tx = gdt.chain(gdt.scale(1.0), gdt.scale(2.0))
    with pytest.raises(ValueError, match="2 entries"):
        tx.update(jnp.ones(1), (gdt.EmptyState(),))


def test_named_chain_keeps_states_by_name():
    tx = gdt.named_chain(("momentum", gdt.trace(0.5)), ("lr", gdt.scale(-0.1)))
    state = tx.init(jnp.zeros(1))
    u, state = tx.update(jnp.array([2.0]), state)
    np.testing.assert_allclose(u, [-0.2])
    np.testing.assert_allclose(state["momentum"].trace, [2.0])
    assert list(state) == ["momentum", "lr"]


def test_named_chain_rejects_duplicate_names_and_missing_states():
    with pytest.raises(ValueError, match="unique"):
        gdt.named_chain(("a", gdt.identity()), ("a", gdt.identity()))
    tx = gdt.named_chain(("a", gdt.identity()))
    with pytest.raises(ValueError, match="no entry"):
        tx.update(jnp.ones(1), {"b": gdt.EmptyState()})
