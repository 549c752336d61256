"""Schedules at and next to every boundary, and at the int32 saturation point (issue 13, item 12).

Step counts drawn uniformly almost never land on a boundary; here every
schedule is evaluated at ``b - 1``, ``b`` and ``b + 1`` for each of its
boundaries, at 0, and near ``2**31 - 1`` (where the int32 step counter
saturates: ``safe_increment`` stops there), and compared with optax's value.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

INT32_MAX = int(np.iinfo(np.int32).max)

# name -> (build(module), boundaries)
CASES = {
    "piecewise_constant": (lambda m: m.piecewise_constant_schedule(0.1, {5: 0.5, 12: 0.1}), [5, 12]),
    "linear": (lambda m: m.linear_schedule(0.1, 0.01, transition_steps=20, transition_begin=7), [7, 27]),
    "polynomial": (
        lambda m: m.polynomial_schedule(0.1, 0.01, power=2, transition_steps=20, transition_begin=3),
        [3, 23],
    ),
    "exponential_staircase": (
        lambda m: m.exponential_decay(0.1, transition_steps=4, decay_rate=0.5, transition_begin=2, staircase=True),
        [2, 6, 10],
    ),
    "exponential_end_value": (
        lambda m: m.exponential_decay(0.1, transition_steps=4, decay_rate=0.5, end_value=0.02),
        [8, 12],
    ),
    "cosine_decay": (lambda m: m.cosine_decay_schedule(0.1, decay_steps=15, alpha=0.1), [15]),
    "warmup_cosine": (
        lambda m: m.warmup_cosine_decay_schedule(0.0, 0.1, warmup_steps=5, decay_steps=25, end_value=0.01),
        [5, 25],
    ),
    "warmup_exponential": (
        lambda m: m.warmup_exponential_decay_schedule(0.0, 0.1, 5, 10, 0.5, transition_begin=3, end_value=0.01),
        [5, 8, 18],
    ),
    "join": (
        lambda m: m.join_schedules([m.constant_schedule(0.1), m.linear_schedule(0.1, 0.0, 10)], [6]),
        [6, 16],
    ),
    "onecycle": (lambda m: m.cosine_onecycle_schedule(40, 0.1, pct_start=0.25), [10, 40]),
    "sgdr": (
        lambda m: m.sgdr_schedule([dict(init_value=0.0, peak_value=0.1, warmup_steps=2, decay_steps=8)] * 2),
        [2, 8, 10, 16],
    ),
}


def _counts(boundaries: list[int]) -> list[int]:
    near = {c for b in boundaries for c in (b - 1, b, b + 1) if c >= 0}
    return sorted(near | {0, INT32_MAX - 1, INT32_MAX})


@pytest.mark.parametrize("name", sorted(CASES))
def test_at_and_next_to_every_boundary_and_at_saturation(name):
    build, boundaries = CASES[name]
    ours, theirs = build(gdt), build(optax)
    counts = jnp.asarray(_counts(boundaries), jnp.int32)
    got = np.asarray(jax.jit(jax.vmap(ours))(counts))  # int32 counts, as the optimizer state holds them
    expected = np.asarray(jax.vmap(theirs)(counts))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7, err_msg=f"{name} at {counts.tolist()}")
    assert np.isfinite(got).all()


def test_the_step_counter_saturates_at_int32_max():
    opt = gdt.sgd(gdt.piecewise_constant_schedule(0.1, {5: 0.5}))
    state = opt.init({"w": jnp.ones(1)})
    state = (state[0], state[1]._replace(count=jnp.asarray(INT32_MAX - 1, jnp.int32)))
    for expected in (INT32_MAX, INT32_MAX):
        updates, state = opt.update({"w": jnp.ones(1)}, state)
        assert int(state[1].count) == expected  # no wrap to a negative count
        np.testing.assert_allclose(updates["w"], [-0.05], rtol=1e-6)
