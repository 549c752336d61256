"""The checklist's and the doctor's thresholds, tested at their edges (issue 13, item 12).

Each doctor test builds a one-parameter family of curves whose reading turns
on as the parameter grows, finds the flip point by bisection, and checks that
the flip sits where the documented threshold says (README, docs/notes.md §10):
the measured ratio at the flip equals the documented constant within 1%, the
curve 1% below the flip is not flagged and the curve 1% above is. A constant
moved, or a margin computed from the wrong noise, moves the flip and fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

import gdtransforms as gdt
from gdtransforms.toolkit._curves import shape
from gdtransforms.toolkit._readings import read_loss_rising, read_not_learning, read_slow_start
from gdtransforms.toolkit._readings_val import read_noisy_validation, read_overfitting, read_runs_disagree

N = 400


def _flip(fires: Callable[[float], bool], lo: float, hi: float, iters: int = 40) -> float:
    """The smallest parameter in ``[lo, hi]`` at which ``fires`` turns on (bisection)."""
    assert not fires(lo) and fires(hi), "the family must go from quiet to flagged"
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if fires(mid) else (mid, hi)
    return hi


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def _assert_edge(fires: Callable[[float], bool], k: float) -> None:
    assert not fires(0.99 * k), "1% below the threshold must not be flagged"
    assert fires(1.01 * k), "1% above the threshold must be flagged"


# ---- the checklist ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rtol", [0.2, 0.05])
def test_initial_loss_passes_up_to_rtol_and_fails_just_beyond(rtol):
    expected = math.log(10)
    for sign, verdict in ((1, "too high"), (-1, "too low")):
        inside = expected * (1 + sign * rtol * (1 - 1e-9))
        outside = expected * (1 + sign * rtol * (1 + 1e-6))
        assert gdt.toolkit.check_initial_loss(inside, 10, rtol=rtol).verdict == "ok"
        assert gdt.toolkit.check_initial_loss(outside, 10, rtol=rtol).verdict == verdict


def test_regularization_edge_is_one_ulp():
    a = np.float64(2.5)
    up, down = np.nextafter(a, np.inf), np.nextafter(a, -np.inf)
    assert gdt.toolkit.check_regularization(a, up).verdict == "ok"
    assert gdt.toolkit.check_regularization(a, a).verdict == "unchanged"
    assert gdt.toolkit.check_regularization(a, down).verdict == "lowered"


# ---- the doctor: curve shapes ----------------------------------------------------------------------------------


def _rising(k: float) -> np.ndarray:
    # Alternating noise: block means carry none, so Kendall's tau is 1 and only the size rule decides.
    t = np.arange(N)
    return 2.0 + 0.05 * (-1.0) ** t + k * t / N


def test_loss_rising_flips_at_8_noise_units():
    def fires(k: float) -> bool:
        return read_loss_rising(shape(_rising(k), None)) is not None

    k = _flip(fires, 0.0, 1.0)
    sh = shape(_rising(k), None)
    margin = sh.noise * math.sqrt(1 / sh.head + 1 / sh.tail)
    assert (sh.end - sh.start) / margin == pytest.approx(8.0, rel=1e-2)
    _assert_edge(fires, k)


def _slow_start(plateau: float) -> np.ndarray:
    t = np.arange(N, dtype=np.float64)
    drop = np.where(t < plateau, 0.0, 1.0 - np.exp(-(t - plateau) / 15.0))
    return 3.0 - 2.0 * drop + 0.01 * _noise(N)


def test_slow_start_needs_a_plateau_of_6_percent_of_the_run():
    def fires(p: float) -> bool:
        return read_slow_start(shape(_slow_start(p), None)) is not None

    p = _flip(fires, 0.0, 0.2 * N)
    finding = read_slow_start(shape(_slow_start(p), None))
    assert finding is not None
    # The plateau is measured to the first step 10% of the way down (an integer step).
    assert finding.numbers["plateau_steps"] == math.ceil(0.06 * N)
    below = shape(_slow_start(p - 1.0), None)
    assert read_slow_start(below) is None


# ---- the doctor: validation and seeds --------------------------------------------------------------------------


def _train_curve() -> np.ndarray:
    return 0.5 + 2.0 * np.exp(-np.arange(N) / 80.0) + 0.005 * _noise(N, 1)


def _val_curve(rise: float, depth: float = 1.0, noise: float = 1e-3, n: int = 40) -> np.ndarray:
    # Falls by ``depth`` to its minimum at 60% of the run, then rises linearly by ``rise``.
    t = np.linspace(0.0, 1.0, n)
    fall = depth * np.minimum(t / 0.6, 1.0)
    up = rise * np.clip((t - 0.6) / 0.4, 0.0, None)
    return 1.5 - fall + up + noise * _noise(n, 2)


def _overfits(val: np.ndarray):
    sh = shape(_train_curve(), None)
    return read_overfitting(sh, val, N // len(val))


def test_overfitting_needs_a_rise_of_25_percent_of_the_drop():
    def fires(r: float) -> bool:
        return _overfits(_val_curve(r)) is not None

    r = _flip(fires, 0.0, 1.0)
    val = _val_curve(1.01 * r)
    finding = _overfits(val)
    assert finding is not None
    ratio = finding.numbers["rise"] / (float(val[0]) - finding.numbers["val_min"])
    assert ratio == pytest.approx(0.25, rel=2e-2)
    _assert_edge(fires, r)


def test_overfitting_needs_a_rise_of_2_noise_units():
    # Noise large against the rise, drop small: the noise rule decides.
    def val(r: float) -> np.ndarray:
        return _val_curve(r, depth=0.0, noise=0.05)

    def fires(r: float) -> bool:
        return _overfits(val(r)) is not None

    r = _flip(fires, 0.0, 2.0)
    finding = _overfits(val(1.001 * r))
    assert finding is not None
    k = max(3, len(val(r)) // 10)
    units = finding.numbers["rise"] / (finding.numbers["val_noise"] * math.sqrt(2.0 / k))
    assert units == pytest.approx(2.0, rel=1e-2)
    _assert_edge(fires, r)


def _noisy_pair(a: float) -> tuple[np.ndarray, np.ndarray]:
    # Training noise large enough that the 2x rule, not the 1%-of-range floor, decides.
    train = 0.5 + 2.0 * np.exp(-np.arange(N) / 80.0) + 0.1 * _noise(N, 1)
    val = 0.5 + 2.0 * np.exp(-np.arange(10, N, 10) / 80.0) + a * _noise(N // 10 - 1, 3)
    return train, val


def test_noisy_validation_flips_at_twice_the_training_zigzag():
    def fires(a: float) -> bool:
        train, val = _noisy_pair(a)
        return read_noisy_validation(shape(train, None), val, 10) is not None

    a = _flip(fires, 0.0, 0.1)
    train, val = _noisy_pair(1.001 * a)
    finding = read_noisy_validation(shape(train, None), val, 10)
    assert finding is not None
    assert finding.numbers["zigzag"] / finding.numbers["train_zigzag"] == pytest.approx(2.0, rel=1e-2)
    _assert_edge(fires, a)


def _runs(spread: float) -> list[np.ndarray]:
    base = 1.0 + 2.0 * np.exp(-np.arange(N) / 60.0)
    return [base + 0.001 * _noise(N, 10 + i) - spread * i / 2 for i in range(3)]


def test_runs_disagree_when_they_spread_over_25_percent_of_the_improvement():
    def fires(s: float) -> bool:
        return read_runs_disagree(_runs(s)) is not None

    s = _flip(fires, 0.0, 1.5)
    finding = read_runs_disagree(_runs(1.001 * s))
    assert finding is not None
    assert finding.numbers["spread"] / finding.numbers["improvement"] == pytest.approx(0.25, rel=1e-2)
    _assert_edge(fires, s)


def test_noisy_validation_ignores_a_zigzag_under_1_percent_of_the_range():
    # Training noise tiny: the floor of 1% of the validation curve's range decides.
    def pair(a: float) -> tuple[np.ndarray, np.ndarray]:
        return _train_curve(), _noisy_pair(a)[1]

    def fires(a: float) -> bool:
        train, val = pair(a)
        return read_noisy_validation(shape(train, None), val, 10) is not None

    a = _flip(fires, 0.0, 0.1)
    train, val = pair(1.001 * a)
    finding = read_noisy_validation(shape(train, None), val, 10)
    assert finding is not None
    assert finding.numbers["zigzag"] / float(val.max() - val.min()) == pytest.approx(0.01, rel=1e-2)
    _assert_edge(fires, a)


@pytest.mark.parametrize(("level", "stuck"), [(0.849, False), (0.851, True), (1.049, True), (1.051, False)])
def test_a_flat_curve_is_at_chance_between_85_and_105_percent_of_log_n(level, stuck):
    # A curve that fell quickly and then sat flat: "not learning" only when the flat level is at chance.
    t = np.arange(N)
    x = level * math.log(10) + 1.0 * (t < 3) + 1e-3 * _noise(N, 4)
    assert (read_not_learning(shape(x, None), None, num_classes=10) is not None) == stuck
