"""Schedules shared with optax: equal to optax's at every step, boundaries included."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import gdtransforms as gdt

STEPS = 60

# (name, kwargs) of schedules both libraries have; every boundary lies in 0..STEPS.
CASES = [
    ("constant_schedule", dict(value=0.3)),
    ("polynomial_schedule", dict(init_value=10.0, end_value=20.0, power=1, transition_steps=10)),
    (
        "polynomial_schedule",
        dict(init_value=1.0, end_value=0.01, power=2, transition_steps=40, transition_begin=5),
    ),
    ("linear_schedule", dict(init_value=1.0, end_value=0.0, transition_steps=10, transition_begin=3)),
    ("piecewise_constant_schedule", dict(init_value=0.1, boundaries_and_scales={3: 2.0, 5: 0.5, 9: 1.25})),
    ("piecewise_constant_schedule", dict(init_value=0.1, boundaries_and_scales={})),
    ("exponential_decay", dict(init_value=1.0, transition_steps=4, decay_rate=0.5)),
    (
        "exponential_decay",
        dict(init_value=1.0, transition_steps=4, decay_rate=0.5, transition_begin=5, staircase=True),
    ),
    ("exponential_decay", dict(init_value=1.0, transition_steps=3, decay_rate=0.7, end_value=0.2)),
    ("exponential_decay", dict(init_value=0.1, transition_steps=3, decay_rate=1.3, end_value=0.5)),
    ("cosine_decay_schedule", dict(init_value=0.1, decay_steps=50, alpha=0.1, exponent=2.0)),
    ("cosine_decay_schedule", dict(init_value=2.0, decay_steps=7)),
    (
        "warmup_cosine_decay_schedule",
        dict(init_value=0.0, peak_value=1.0, warmup_steps=5, decay_steps=20, end_value=0.1),
    ),
    ("warmup_cosine_decay_schedule", dict(init_value=0.5, peak_value=1.0, warmup_steps=0, decay_steps=9)),
    ("warmup_constant_schedule", dict(init_value=0.0, peak_value=1.0, warmup_steps=5)),
    (
        "warmup_exponential_decay_schedule",
        dict(
            init_value=0.0,
            peak_value=1.0,
            warmup_steps=5,
            transition_steps=3,
            decay_rate=0.5,
            transition_begin=2,
            staircase=True,
            end_value=0.1,
        ),
    ),
    ("linear_onecycle_schedule", dict(transition_steps=50, peak_value=1.0)),
    ("linear_onecycle_schedule", dict(transition_steps=40, peak_value=2.0, pct_start=0.1, pct_final=0.5)),
    ("cosine_onecycle_schedule", dict(transition_steps=50, peak_value=1.0, pct_start=0.25)),
    (
        "piecewise_interpolate_schedule",
        dict(interpolate_type="linear", init_value=1.0, boundaries_and_scales={4: 0.1, 8: 0.01}),
    ),
    (
        "piecewise_interpolate_schedule",
        dict(interpolate_type="cosine", init_value=13.0, boundaries_and_scales={0: 2.0, 5: 3.0, 12: 0.5}),
    ),
    (
        "sgdr_schedule",
        dict(
            cosine_kwargs=[
                dict(init_value=0.0, peak_value=1.0, warmup_steps=2, decay_steps=10, end_value=0.1),
                dict(init_value=0.5, peak_value=0.8, warmup_steps=0, decay_steps=5),
                dict(init_value=0.1, peak_value=0.4, warmup_steps=3, decay_steps=12),
            ]
        ),
    ),
]


def _values(schedule):
    """The schedule at steps 0..STEPS: jitted on int32 counts, and eagerly on Python ints."""
    jitted = jax.jit(jax.vmap(lambda c: jnp.asarray(schedule(c), jnp.float32)))
    counts = jnp.arange(STEPS + 1, dtype=jnp.int32)
    return np.asarray(jitted(counts))


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_equals_optax_at_every_step(name, kwargs):
    ours, theirs = getattr(gdt, name)(**kwargs), getattr(optax, name)(**kwargs)
    np.testing.assert_array_equal(_values(ours), _values(theirs))
    for count in (0, 5, 50):  # eager, Python int counts
        np.testing.assert_array_equal(np.asarray(ours(count)), np.asarray(theirs(count)))


def test_piecewise_switches_at_the_boundary():
    s = gdt.piecewise_constant_schedule(1.0, {3: 0.5, 6: 0.1})
    got = [float(s(c)) for c in range(8)]
    assert got == pytest.approx([1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.05, 0.05])


def test_warmup_cosine_hand_values():
    s = gdt.warmup_cosine_decay_schedule(0.0, 1.0, warmup_steps=4, decay_steps=12, end_value=0.2)
    # Warmup: t / 4; cosine: 0.2 + 0.8 * (1 + cos(pi * (t - 4) / 8)) / 2; end: 0.2.
    expected = (
        [t / 4 for t in range(4)]
        + [0.2 + 0.8 * (1 + np.cos(np.pi * (t - 4) / 8)) / 2 for t in range(4, 13)]
        + [0.2, 0.2]
    )
    np.testing.assert_allclose([float(s(t)) for t in range(15)], expected, rtol=1e-6, atol=1e-7)


def test_exponential_staircase_is_a_per_epoch_decay():
    # 0.95 ** epoch with 10 steps per epoch, epochs counted from 0.
    s = gdt.exponential_decay(0.1, transition_steps=10, decay_rate=0.95, staircase=True)
    got = _values(s)
    expected = np.float32(0.1) * np.float32(0.95) ** (np.arange(STEPS + 1) // 10)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_cosine_giant_step_counts_do_not_overflow():
    s = jax.jit(gdt.cosine_decay_schedule(1000.0, decay_steps=int(1e10)))
    np.testing.assert_allclose(s(int(1e9)), 975.52826, rtol=1e-6)


def test_schedule_drives_an_optimizer_under_jit():
    sched = gdt.linear_schedule(1.0, 0.0, transition_steps=4)
    opt = gdt.scale_by_learning_rate(sched)
    step = jax.jit(opt.update)
    state = opt.init({"w": jnp.zeros(2)})
    got = []
    for _ in range(6):
        updates, state = step({"w": jnp.ones(2)}, state)
        got.append(float(updates["w"][0]))
    assert got == pytest.approx([-1.0, -0.75, -0.5, -0.25, 0.0, 0.0])


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: gdt.linear_schedule(1.0, 0.0, transition_steps=0), "transition_steps"),
        (lambda: gdt.polynomial_schedule(1.0, 0.0, 2, transition_steps=-3), "transition_steps"),
        (lambda: gdt.linear_schedule(1.0, 0.0, 10, transition_begin=-1), "transition_begin"),
        (lambda: gdt.exponential_decay(1.0, transition_steps=0, decay_rate=0.5), "transition_steps"),
        (lambda: gdt.exponential_decay(1.0, transition_steps=5, decay_rate=0.0), "decay_rate"),
        (lambda: gdt.cosine_decay_schedule(1.0, decay_steps=0), "decay_steps"),
        (lambda: gdt.warmup_cosine_decay_schedule(0.0, 1.0, 10, decay_steps=10), "warmup_steps"),
        (lambda: gdt.warmup_cosine_decay_schedule(0.0, 1.0, 20, decay_steps=10), "warmup_steps"),
        (lambda: gdt.warmup_cosine_decay_schedule(0.0, 1.0, -1, decay_steps=10), "warmup_steps"),
        (lambda: gdt.warmup_constant_schedule(0.0, 1.0, warmup_steps=-2), "warmup_steps"),
        (
            lambda: gdt.warmup_exponential_decay_schedule(0.0, 1.0, 5, transition_steps=0, decay_rate=0.5),
            "transition_steps",
        ),
        (lambda: gdt.join_schedules([gdt.constant_schedule(1.0)] * 3, [5, 5]), "boundaries"),
        (lambda: gdt.join_schedules([gdt.constant_schedule(1.0)] * 3, [7, 2]), "boundaries"),
        (lambda: gdt.join_schedules([gdt.constant_schedule(1.0)] * 3, [7]), "boundaries"),
        (lambda: gdt.piecewise_constant_schedule(1.0, {5: -0.1}), r"boundaries_and_scales\[5\]"),
        (lambda: gdt.piecewise_interpolate_schedule("cubic", 1.0, {5: 0.1}), "interpolate_type"),
        (lambda: gdt.linear_onecycle_schedule(0, 1.0), "transition_steps"),
        (lambda: gdt.linear_onecycle_schedule(10, 1.0, pct_start=0.5, pct_final=0.5), "pct_start"),
        (lambda: gdt.cosine_onecycle_schedule(10, 1.0, pct_start=1.0), "pct_start"),
        (lambda: gdt.linear_onecycle_schedule(10, 1.0, pct_start=1.5), "pct_start"),
        (lambda: gdt.sgdr_schedule([dict(init_value=0.0, peak_value=1.0, warmup_steps=1)]), "decay_steps"),
        (lambda: gdt.sgdr_schedule([]), "cosine_kwargs"),
    ],
)
def test_bad_input_names_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_steps_must_be_concrete_numbers():
    with pytest.raises(TypeError, match="transition_steps"):
        gdt.linear_schedule(1.0, 0.0, transition_steps="10")
    with pytest.raises(TypeError, match="schedules"):
        gdt.join_schedules([1.0, gdt.constant_schedule(1.0)], [3])
