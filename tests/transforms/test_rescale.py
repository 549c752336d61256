"""add_scaled_params: a multiple of the params, of either sign."""

import jax.numpy as jnp
import numpy as np
import pytest

from gdtransforms._transforms._rescale import add_scaled_params


def test_negative_coefficient_and_schedule():
    w = jnp.array([2.0, -4.0])
    u, _ = add_scaled_params(-0.5).update(jnp.ones(2), add_scaled_params(-0.5).init(w), w)
    np.testing.assert_allclose(u, [0.0, 3.0])
    tx = add_scaled_params(lambda count: -0.1 * (count + 1))
    state = tx.init(w)
    u, state = tx.update(jnp.zeros(2), state, w)
    np.testing.assert_allclose(u, [-0.2, 0.4], rtol=1e-6)
    u, state = tx.update(jnp.zeros(2), state, w)
    np.testing.assert_allclose(u, [-0.4, 0.8], rtol=1e-6)
    assert int(state.count) == 2


def test_bad_coefficient():
    with pytest.raises(ValueError, match="coefficient"):
        add_scaled_params(float("inf"))
