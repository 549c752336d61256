"""The parity comparison must be able to fail (issue 13, item 12).

A deliberately perturbed Adam (its learning rate 1% too high) is compared
with optax's Adam by the same helpers the property tests use; the comparison
must raise, in float32, bfloat16 and float16. Element by element a 1-ulp
bfloat16 difference (up to 0.78%) cannot be told from a 1% error, so the
helpers also compare each leaf norm-wise (``NORM_RTOL``): a 1% error moves
every entry, rounding differences do not. The exact Adam must pass in every
dtype, so the norm-wise bound is not tighter than rounding.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from tests._parity import Case, check_case

STEPS = 8


def _problem(dtype):
    rng = np.random.default_rng(0)
    params = {"w": jnp.asarray(rng.normal(size=(4, 5)), dtype), "b": jnp.asarray(rng.normal(size=5), dtype)}
    grads = [
        {k: jnp.asarray(rng.normal(size=v.shape) * 10.0 ** (-t / 3), dtype) for k, v in params.items()}
        for t in range(STEPS)
    ]
    return params, grads


def _adam(error: float) -> Case:
    def build(module, hp, params):
        lr = hp["learning_rate"] * (1.0 + error if module.__name__ == "gdtransforms" else 1.0)
        return module.adam(lr)

    return Case(strategies={}, build=build)


DTYPES = [jnp.float32, jnp.bfloat16, jnp.float16]
IDS = ["float32", "bfloat16", "float16"]


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_an_exact_adam_passes(dtype):
    check_case("adam", _adam(0.0), {"learning_rate": 0.05}, *_problem(dtype))


@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("error", [0.01, -0.01], ids=["plus", "minus"])
def test_a_one_percent_error_fails(dtype, error):
    with pytest.raises(AssertionError):
        check_case("perturbed adam", _adam(error), {"learning_rate": 0.05}, *_problem(dtype))
