"""Weight decay and the L1 penalty (docs/notes.md §9)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt

PARAMS = {"w": jnp.array([[2.0, -3.0]]), "b": jnp.array([0.5])}
GRADS = {"w": jnp.array([[1.0, 1.0]]), "b": jnp.array([1.0])}


def test_add_decayed_weights_by_hand():
    tx = gdt.add_decayed_weights(0.1)
    u, state = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(u["w"], [[1.2, 0.7]], rtol=1e-6)
    np.testing.assert_allclose(u["b"], [1.05], rtol=1e-6)
    assert jax.tree.leaves(state) == []


def test_add_decayed_weights_passes_none_updates_through():
    """No updates at all (None), as optax allows: nothing to add the decay to."""
    tx = gdt.add_decayed_weights(0.1)
    state = tx.init(PARAMS)
    updates, new_state = tx.update(None, state, PARAMS)
    assert updates is None and new_state == state


def test_add_decayed_weights_mask_skips_biases():
    tx = gdt.add_decayed_weights(0.1, mask={"w": True, "b": False})
    u, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(u["w"], [[1.2, 0.7]], rtol=1e-6)
    np.testing.assert_array_equal(u["b"], [1.0])


def test_add_decayed_weights_schedule_counts_steps():
    tx = gdt.add_decayed_weights(lambda count: 0.1 * (count + 1))
    state = tx.init(PARAMS)
    _, state = tx.update(GRADS, state, PARAMS)
    u, state = tx.update(GRADS, state, PARAMS)
    np.testing.assert_allclose(u["b"], [1.0 + 0.2 * 0.5], rtol=1e-6)
    assert int(state.count) == 2


def test_l1_penalty_adds_sign_of_params():
    tx = gdt.add_l1_penalty(0.01)
    u, _ = tx.update(GRADS, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(u["w"], [[1.01, 0.99]], rtol=1e-6)


def test_l1_drives_weights_to_zero_while_l2_only_shrinks_them():
    """docs/notes.md §9: L1 makes a sparse network, L2 shrinks weights."""
    w0 = jnp.array([0.05, -0.03, 0.2])
    zero_grad = jnp.zeros(3)

    def final(reg):
        opt = gdt.chain(reg, gdt.sgd(0.01))
        w, state = w0, opt.init(w0)
        for _ in range(40):
            u, state = opt.update(zero_grad, state, w)
            w = gdt.apply_updates(w, u)
        return np.asarray(w)

    l1 = final(gdt.add_l1_penalty(0.2))
    l2 = final(gdt.add_decayed_weights(0.5))
    assert np.all(np.abs(l1[:2]) <= 0.002)  # oscillates within one step of 0
    assert np.all(np.abs(l2) > 0) and np.all(np.abs(l2) < np.abs(np.asarray(w0)))


@pytest.mark.parametrize("factory", [gdt.add_decayed_weights, gdt.add_l1_penalty])
def test_needs_params(factory):
    tx = factory(0.1)
    with pytest.raises(ValueError, match="params"):
        tx.update(GRADS, tx.init(PARAMS))
