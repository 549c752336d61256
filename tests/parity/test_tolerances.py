"""The parity comparison must be able to fail (issue 13, item 12).

A deliberately perturbed Adam (its learning rate 1% too high) is compared
with optax's Adam by the same helpers the property tests use; the comparison
must raise. For float32 leaves it does. For bfloat16 leaves it does not yet:
the bfloat16 tolerance (``RTOL[BF16] = 4e-2`` plus an absolute part that grows
with the largest value a leaf has had) is wider than 1%, and a 1-ulp bfloat16
difference (up to 0.78%) cannot be told from a 1% error element by element.
That test is a strict xfail, so it turns red the day the tolerances are fixed.
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


@pytest.mark.parametrize("dtype", [jnp.float32], ids=["float32"])
def test_an_exact_adam_passes(dtype):
    check_case("adam", _adam(0.0), {"learning_rate": 0.05}, *_problem(dtype))


def test_a_one_percent_error_fails_in_float32():
    with pytest.raises(AssertionError):
        check_case("perturbed adam", _adam(0.01), {"learning_rate": 0.05}, *_problem(jnp.float32))


@pytest.mark.xfail(strict=True, reason="bfloat16 tolerances are wider than 1% (issue 13, item 12; not fixed yet)")
def test_a_one_percent_error_fails_in_bfloat16():
    with pytest.raises(AssertionError):
        check_case("perturbed adam", _adam(0.01), {"learning_rate": 0.05}, *_problem(jnp.bfloat16))
