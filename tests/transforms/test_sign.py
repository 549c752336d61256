"""Lion and the trust ratio: hand-derived steps."""

import jax.numpy as jnp
import numpy as np
import pytest

import gdtransforms as gdt


def test_lion_by_hand():
    tx = gdt.scale_by_lion(b1=0.9, b2=0.99)
    state = tx.init(jnp.zeros(2))
    u1, state = tx.update(jnp.array([2.0, -0.1]), state)
    np.testing.assert_array_equal(u1, [1.0, -1.0])
    np.testing.assert_allclose(state.mu, [0.02, -0.001], rtol=1e-6)
    # sign(0.9 * mu + 0.1 * g): 0.018 - 0.03 < 0 for the first leaf.
    u2, state = tx.update(jnp.array([-0.3, 0.5]), state)
    np.testing.assert_array_equal(u2, [-1.0, 1.0])
    assert int(state.count) == 2


@pytest.mark.parametrize("mode, expected", [("smooth", np.tanh(0.2)), ("refined", 0.2)])
def test_lion_modes(mode, expected):
    tx = gdt.scale_by_lion(mode=mode)
    u, _ = tx.update(jnp.array([2.0]), tx.init(jnp.zeros(1)))
    np.testing.assert_allclose(u, [expected], rtol=1e-6)


def test_trust_ratio_scales_each_leaf_to_param_norm():
    tx = gdt.scale_by_trust_ratio()
    params = {"a": jnp.array([3.0, 4.0]), "b": jnp.zeros(2)}
    updates = {"a": jnp.array([0.6, 0.8]), "b": jnp.array([1.0, 1.0])}
    u, _ = tx.update(updates, tx.init(params), params)
    np.testing.assert_allclose(u["a"], [3.0, 4.0], rtol=1e-6)  # ratio 5 / 1
    np.testing.assert_allclose(u["b"], [1.0, 1.0])  # zero param norm: unchanged


def test_trust_ratio_needs_params():
    tx = gdt.scale_by_trust_ratio()
    with pytest.raises(ValueError, match="params"):
        tx.update(jnp.ones(2), tx.init(jnp.ones(2)))
