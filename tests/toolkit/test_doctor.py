"""The doctor's readings on constructed curves, its evidence and its errors.

The real faulty training runs are in ``test_doctor_runs.py``.
"""

import numpy as np
import pytest

import gdtransforms as gdt

T = np.arange(640)
RNG = np.random.default_rng(0)
NOISE = RNG.normal(size=640)


def healthy_curve(scale=2.3, tau=40.0, floor=0.05, noise=0.03):
    return scale * np.exp(-T / tau) + floor + noise * np.abs(NOISE) * np.exp(-T / 200)


def test_healthy_curve_gets_no_findings():
    val = healthy_curve(floor=0.12, noise=0)[7::8]
    d = gdt.toolkit.diagnose(healthy_curve(), val, steps_per_epoch=32)
    assert d.healthy and len(d) == 0 and d.names == ()
    assert str(d).startswith("healthy")


def test_flat_curve_is_not_learning_with_numbers():
    d = gdt.toolkit.diagnose(2.3 + 0.1 * NOISE, np.full(80, 2.31))
    assert d.names == ("not_learning",)
    f = d["not_learning"]
    assert f.title == "not learning" and f.steps == (0, 639)
    assert abs(f.numbers["start"] - np.median(2.3 + 0.1 * NOISE[:12])) < 1e-9
    assert "flat" in f.evidence and "apply_updates" in f.advice


def test_rising_curve_is_loss_rising():
    d = gdt.toolkit.diagnose(2.3 + 0.01 * T + 0.05 * NOISE)
    assert d.names == ("loss_rising",)
    assert d["loss_rising"].numbers["end"] > 7.0
    assert "sign" in d["loss_rising"].advice


def test_fall_then_climb_back_is_loss_rising_from_the_low():
    curve = np.where(T < 200, 2.3 - 0.01 * T, 0.3 + 0.003 * (T - 200))
    d = gdt.toolkit.diagnose(curve)
    assert d.names == ("loss_rising",)
    assert abs(d["loss_rising"].steps[0] - 200) <= 32


def test_slow_steady_decrease_is_lr_too_low():
    d = gdt.toolkit.diagnose(2.3 - 0.0008 * T + 0.05 * NOISE)
    assert d.names == ("lr_too_low",)
    numbers = d["lr_too_low"].numbers
    assert 0.4 <= numbers["t50_fraction"] <= 0.6 and 0.6 <= numbers["late_pace"] <= 1.4


def test_plateau_then_drop_is_slow_start():
    curve = np.where(T < 200, 2.3, 2.2 * np.exp(-(T - 200) / 30) + 0.1) + 0.01 * NOISE
    d = gdt.toolkit.diagnose(curve)
    assert d.names == ("slow_start",)
    f = d["slow_start"]
    assert 190 <= f.numbers["plateau_steps"] <= 215 and f.steps == (0, f.numbers["plateau_steps"])


def test_short_flat_start_is_healthy():
    curve = np.where(T < 30, 2.3, 2.2 * np.exp(-(T - 30) / 30) + 0.1) + 0.01 * NOISE
    assert gdt.toolkit.diagnose(curve).healthy


def test_pattern_repeating_every_epoch_is_epoch_bumps():
    bump = np.tile(np.r_[np.full(4, 0.6), np.zeros(28)], 20)
    curve = healthy_curve() * np.exp(bump)
    d = gdt.toolkit.diagnose(curve, steps_per_epoch=32)
    assert d.names == ("epoch_bumps",)
    assert d["epoch_bumps"].numbers["peak_step"] in range(4)
    # Without the epoch length, or with a wrong one, there is nothing to see.
    assert "epoch_bumps" not in gdt.toolkit.diagnose(curve)
    assert "epoch_bumps" not in gdt.toolkit.diagnose(curve, steps_per_epoch=29)


def test_nan_is_overflow_and_the_rest_is_still_read():
    curve = 2.3 + 0.01 * T
    curve[400:] = np.nan
    d = gdt.toolkit.diagnose(curve)
    assert d.names == ("overflow", "loss_rising")
    f = d["overflow"]
    assert f.steps == (400, 639) and f.numbers["step"] == 400
    assert f.numbers["last_finite"] == pytest.approx(2.3 + 3.99)
    assert "NaN at steps 400-639" in f.evidence and "eps" in f.advice


def test_inf_from_the_first_step_and_a_nan_in_validation():
    d = gdt.toolkit.diagnose(np.full(100, np.inf))
    assert d.names == ("overflow", "too_short") and "inf at steps 0-99" in d["overflow"].evidence
    val = healthy_curve(noise=0)[9::10].copy()
    val[30] = np.nan
    d = gdt.toolkit.diagnose(healthy_curve(), val, val_every=10)
    assert d.names == ("overflow",)
    assert d["overflow"].steps[0] == 309 and "validation" in d["overflow"].evidence


def test_train_to_zero_with_val_pulling_away_is_overfitting():
    train = 2.3 * np.exp(-T / 20) + 1e-3
    val_steps = T[7::8]
    val = 1.2 + 0.8 * np.exp(-val_steps / 20) + 0.001 * np.maximum(val_steps - 100, 0)
    d = gdt.toolkit.diagnose(train, val, val_every=8)
    assert d.names == ("overfitting",)
    f = d["overfitting"]
    assert f.numbers["val_end"] > f.numbers["val_min"] and f.numbers["rise"] > 0.3
    assert "more training data" in f.advice


def test_modest_generalization_gap_is_not_overfitting():
    train = healthy_curve()
    val = (healthy_curve(noise=0) + 0.1)[7::8]
    assert gdt.toolkit.diagnose(train, val).healthy


def test_zigzag_validation_is_noisy():
    val = (healthy_curve(noise=0) + 0.1)[7::8] * np.exp(0.3 * RNG.normal(size=80))
    d = gdt.toolkit.diagnose(healthy_curve(), val)
    assert d.names == ("noisy_validation",)
    numbers = d["noisy_validation"].numbers
    assert numbers["zigzag"] > 2 * numbers["train_zigzag"]


def test_runs_that_end_far_apart_disagree_and_speed_readings_are_withheld():
    def run(end):
        return end + (2.3 - end) * (1 - T / 640) + 0.01 * NOISE

    d = gdt.toolkit.diagnose(run(1.5), other_runs=[run(1.9), run(1.7)])
    assert d.names == ("runs_disagree",)  # alone, run(1.5) would read lr_too_low
    assert gdt.toolkit.diagnose(run(1.5)).names == ("lr_too_low",)
    f = d["runs_disagree"]
    # Each end is the mean of the last 10% of steps: 1.5 + 0.8 * 0.0508 and so on.
    assert f.numbers["spread"] == pytest.approx(0.4 * (1 - 0.0508), abs=1e-3)
    assert "softmax" in f.advice


def test_runs_that_agree_and_runs_where_only_some_break():
    assert gdt.toolkit.diagnose(healthy_curve(), other_runs=[healthy_curve() * 1.01]).healthy
    broken = healthy_curve()
    broken[300:] = np.nan
    d = gdt.toolkit.diagnose(healthy_curve(), other_runs=[broken])
    assert d.names == ("runs_disagree",) and "1 of 2" in d["runs_disagree"].evidence


def test_diagnosis_lookup_and_text():
    d = gdt.toolkit.diagnose(2.3 + 0.01 * T)
    assert "loss_rising" in d and "overfitting" not in d
    assert [f.name for f in d] == ["loss_rising"]
    with pytest.raises(KeyError, match="overfitting"):
        d["overfitting"]
    assert str(d).startswith("- loss rising (steps 0-639)")
    assert set(gdt.toolkit.READINGS) == {
        "too_short",
        "not_learning",
        "lr_too_high",
        "overfitting",
        "lr_too_low",
        "slow_start",
        "loss_rising",
        "epoch_bumps",
        "overflow",
        "noisy_validation",
        "runs_disagree",
    }


def test_short_curves_are_too_short_to_judge_not_healthy():
    d = gdt.toolkit.diagnose([2.3, 2.4, 2.5])
    assert d.names == ("too_short",) and not d.healthy
    assert d["too_short"].numbers["finite_steps"] == 3 and "too short to judge" in str(d)
    assert gdt.toolkit.diagnose([2.3, np.nan]).names == ("overflow", "too_short")
    assert gdt.toolkit.diagnose(np.r_[np.ones(15), np.full(30, np.nan)]).names == ("overflow", "too_short")


def test_smooth_curve_shrinks_its_window_at_the_ends():
    np.testing.assert_allclose(gdt.toolkit.smooth_curve([1, 2, 3, 4, 5], 3), [1.5, 2, 3, 4, 4.5])
    np.testing.assert_allclose(gdt.toolkit.smooth_curve([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5])
    np.testing.assert_allclose(gdt.toolkit.smooth_curve([1.0, 3.0], 1), [1.0, 3.0])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(train_loss=np.ones((2, 3))), ValueError, "train_loss.*1-D"),
        (dict(train_loss=[]), ValueError, "train_loss.*empty"),
        (dict(train_loss=["a"]), TypeError, "train_loss"),
        (dict(train_loss=np.ones(50), val_loss=np.ones((5, 2))), ValueError, "val_loss"),
        (dict(train_loss=np.ones(50), steps_per_epoch=0), ValueError, "steps_per_epoch.*>= 1"),
        (dict(train_loss=np.ones(50), steps_per_epoch=2.5), TypeError, "steps_per_epoch"),
        (dict(train_loss=np.ones(50), val_loss=np.ones(5), val_every=True), TypeError, "val_every"),
        (dict(train_loss=np.ones(50), other_runs=[np.ones((2, 2))]), ValueError, r"other_runs\[0\]"),
    ],
)
def test_bad_input_names_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        gdt.toolkit.diagnose(**kwargs)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(other_runs=np.ones(50)), TypeError, "other_runs.*list"),
        (dict(other_runs=np.ones((2, 50))), TypeError, "other_runs.*list"),
        (dict(other_runs=[np.ones(40)]), ValueError, r"other_runs\[0\].*40 steps"),
        (dict(val_loss=np.ones(60)), ValueError, "val_loss.*longer"),
        (dict(val_loss=np.ones(10), val_every=10), ValueError, "val_loss.*beyond"),
        (dict(num_classes=1), ValueError, "num_classes"),
        (dict(hyperparams=0.1), TypeError, "hyperparams"),
        (dict(hyperparams={"learning_rate": "fast"}), TypeError, "learning_rate"),
    ],
)
def test_bad_runs_and_options_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        gdt.toolkit.diagnose(np.ones(50), **kwargs)


def test_zero_curves_are_read_without_dividing_by_zero():
    d = gdt.toolkit.diagnose(np.zeros(500), np.zeros(50), other_runs=[np.zeros(500)] * 2)
    assert d.names == ("not_learning",)


def test_nan_stretch_is_reported_where_it_is_and_the_recovered_rest_is_read():
    # apply_if_finite skipped the bad steps; the loss recovered and kept falling to 0.05.
    curve = 2.3 * np.exp(-T / 40) + 0.05 + 0.01 * np.abs(NOISE)
    curve[100:103] = np.nan
    curve[300] = np.inf
    d = gdt.toolkit.diagnose(curve)
    assert d.names == ("overflow",)
    f = d["overflow"]
    assert f.steps == (100, 300) and f.numbers["count"] == 4
    assert "100-102, 300" in f.evidence and "recovered" in f.evidence
    # The rest is still read: a flat curve with a NaN in it is still not learning.
    flat = 2.3 + 0.1 * NOISE
    flat[200] = np.nan
    assert gdt.toolkit.diagnose(flat).names == ("overflow", "not_learning")


def test_stuck_at_chance_is_not_learning_when_num_classes_is_given():
    # The output bias learns the class prior in the first steps, then nothing moves.
    curve = np.log(3) + 0.2 * np.exp(-T / 5) + 0.05 * NOISE
    d = gdt.toolkit.diagnose(curve, num_classes=3)
    assert d.names == ("not_learning",) and "chance level, log(3)" in d["not_learning"].evidence


def test_spikes_then_a_dead_plateau_is_lr_too_high():
    curve = np.log(10) + 0.05 * NOISE
    curve[20:60] += 3.0 * np.exp(-(T[20:60] - 20) / 10)
    d = gdt.toolkit.diagnose(
        curve, num_classes=10, hyperparams={"learning_rate": 0.3, "batch_size": 8, "optimizer": "sgd"}
    )
    assert d.names == ("lr_too_high",)
    f = d["lr_too_high"]
    assert f.numbers["spike"] > f.numbers["start"] + 1.0
    assert f.advice.startswith("rate 0.3 with SGD at batch 8: try 0.03-0.1")


def test_advice_names_concrete_values_from_hyperparameters_or_an_inject_state():
    slow = 2.3 - 0.0008 * T + 0.05 * NOISE
    d = gdt.toolkit.diagnose(slow, hyperparams={"learning_rate": 0.001, "optimizer": "adam"})
    assert d["lr_too_low"].advice.startswith("rate 0.001 with Adam: try 0.003-0.01")
    state = gdt.inject_hyperparams(gdt.sgd)(learning_rate=0.02).init({"w": np.zeros(2)})
    d = gdt.toolkit.diagnose(slow, hyperparams=state)
    assert d["lr_too_low"].advice.startswith("rate 0.02: try 0.06-0.2")
    # Without hyperparameters, the general advice.
    assert gdt.toolkit.diagnose(slow)["lr_too_low"].advice.startswith("raise the learning rate")


@pytest.mark.parametrize("shift", [-0.3, 0.5, 100.0])
def test_constructed_curves_read_the_same_after_adding_a_constant(shift):
    cases = [
        (healthy_curve(), healthy_curve(floor=0.12, noise=0)[7::8], 32),
        (2.3 + 0.1 * NOISE, None, None),
        (2.3 + 0.01 * T + 0.05 * NOISE, None, None),
        (2.3 - 0.0008 * T + 0.05 * NOISE, None, None),
        (healthy_curve() * np.exp(np.tile(np.r_[np.full(4, 0.6), np.zeros(28)], 20)), None, 32),
    ]
    for train, val, spe in cases:
        shifted = gdt.toolkit.diagnose(train + shift, None if val is None else val + shift, spe)
        assert shifted.names == gdt.toolkit.diagnose(train, val, spe).names
