"""The doctor's accuracy on the bank of real runs (``tests/data/doctor_bank.npz``).

The bank holds real training runs of seven setups (``benchmarks/doctor_bank.py``
made it): healthy ones and ones with a fault planted in the training code. These
are accuracy figures, the ones the README publishes
(``benchmarks/doctor_figures.py`` prints them): under 3% false positives on
healthy runs, at least 95% detection of each fault whose symptom shows in the
run, and no reading changed by adding a constant to the losses.
"""

import functools

import pytest

import gdtransforms as gdt
from tests import doctor_bank as db

FAULT_ROWS = (
    "chance -> not_learning",
    "double -> runs_disagree",
    "eps -> overflow",
    "lr_high -> lr_too_high",
    "lr_low -> lr_too_low",
    "no_shuffle -> epoch_bumps",
    "no_update -> not_learning",
    "sign -> loss_rising",
    "tiny_init -> slow_start",
    "tiny_train -> overfitting",
    "tiny_val -> noisy_validation",
)


@functools.cache
def _score(shift=0.0):
    return db.score(db.load(), shift)


def test_bank_is_small_varied_and_labelled():
    bank = db.load()
    assert db.PATH.stat().st_size < 2_000_000
    assert len(set(bank["setup"])) == 7 and len(bank["train"]) >= 300
    assert set(bank["opt"]) == {"sgd", "momentum", "adam"} and len(set(bank["batch"])) >= 3
    assert set(bank["expected"]) <= {"", *gdt.toolkit.READINGS}
    assert bank["train"].shape[1] == bank["val"].shape[1] * int(bank["val_every"])


def test_false_positives_on_healthy_runs_are_under_3_percent():
    found, total = _score()["false_positives"]
    assert total >= 80 and found / total < 0.03, _score()["table"]["healthy"]


@pytest.mark.parametrize("row", FAULT_ROWS)
def test_each_fault_whose_symptom_shows_is_detected_95_percent(row):
    hit, total = _score()["detected"][row]
    assert total >= 4 and hit / total >= 0.95, (hit, total, _score()["table"][row])


@pytest.mark.parametrize("shift", [-0.3, 0.5])
def test_no_reading_changes_when_every_curve_is_shifted(shift):
    bank = db.load()
    for i in range(len(bank["train"])):
        before = db.diagnose(bank, i, chance=False).names
        assert db.diagnose(bank, i, shift, chance=False).names == before, (i, str(bank["fault"][i]))
