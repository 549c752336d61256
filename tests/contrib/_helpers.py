"""Small helpers for the contrib tests."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def close(actual, expected, rtol=1e-6, atol=1e-7):
    np.testing.assert_allclose(np.asarray(actual, np.float64), np.asarray(expected, np.float64), rtol=rtol, atol=atol)


G1 = jnp.array([0.5, -2.0, 3.0])
G2 = jnp.array([-1.0, 0.25, 2.0])
P0 = jnp.array([1.0, -1.0, 0.5])
