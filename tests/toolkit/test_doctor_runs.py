"""The doctor on real training runs with planted faults (docs/notes.md §10).

Each run trains an MLP on scikit-learn's digits with gdtransforms' optimizers;
it differs from the healthy run only by the planted fault, and the doctor must
name that reading and no other. ``benchmarks/doctor_reliability.py`` repeats
this over many seeds.
"""

import functools

import numpy as np
import pytest

import gdtransforms as gdt
from tests import faulty_runs as fr


@functools.cache
def _run(fault, seed=0):
    return fr.run(fault, seed)


def _diagnose(fault, seed=0, **kwargs):
    train, val, spe = _run(fault, seed)
    return gdt.toolkit.diagnose(train, val, spe, val_every=fr.EVAL_EVERY, **kwargs)


@pytest.mark.parametrize("fault", fr.FAULTS, ids=lambda f: f.name)
def test_doctor_names_the_planted_fault_and_nothing_else(fault):
    diagnosis = _diagnose(fault)
    expected = (fault.reading,) if fault.reading else ()
    if fault.reading == "overflow":  # NaN from the second step on: nothing left to read
        expected = ("overflow", "too_short")
    assert diagnosis.names == expected, str(diagnosis)


def test_healthy_runs_really_learn():
    # The healthy twin reaches a low loss and the faults change the run.
    train, val, _ = _run(fr.FAULTS[0])
    assert np.mean(train[-64:]) < 0.05 and val[-1] < 0.3
    sign_train, _, _ = _run(fr.FAULTS[1])
    assert np.mean(sign_train[-64:]) > 10 * train[0]


def test_overflow_evidence_names_the_first_nan_step():
    finding = _diagnose(fr.FAULTS[4])["overflow"]
    train, _, _ = _run(fr.FAULTS[4])
    first_bad = int(np.flatnonzero(~np.isfinite(train))[0])
    assert finding.steps[0] == first_bad == finding.numbers["step"]
    assert np.isfinite(finding.numbers["last_finite"])


def test_same_adam_with_its_eps_is_healthy_and_eps_zero_is_refused_up_front():
    assert _diagnose(fr.HEALTHY_ADAM).healthy
    # The library refuses a zero eps when it can see it; the planted fault above
    # passes a traced eps, as a live (injected) hyperparameter would.
    with pytest.raises(ValueError, match="eps"):
        gdt.adam(1e-3, eps=0.0)


def test_epoch_bumps_evidence_is_epoch_periodic():
    finding = _diagnose(fr.FAULTS[3])["epoch_bumps"]
    assert finding.numbers["share"] > 0.3
    assert 0 <= finding.numbers["peak_step"] < fr.STEPS_PER_EPOCH


def _seeds(fault):
    runs = [_run(fault, seed) for seed in range(5)]
    (train, val, spe), others = runs[0], [r[0] for r in runs[1:]]
    return gdt.toolkit.diagnose(train, val, spe, others, val_every=fr.EVAL_EVERY)


def test_softmax_applied_twice_makes_identical_runs_disagree():
    diagnosis = _seeds(fr.DOUBLE_SOFTMAX)
    assert diagnosis.names == ("runs_disagree",), str(diagnosis)
    assert diagnosis["runs_disagree"].numbers["spread"] > 0.25 * diagnosis["runs_disagree"].numbers["improvement"]


def test_the_same_deep_model_without_the_fault_agrees_across_seeds():
    diagnosis = _seeds(fr.HEALTHY_DEEP)
    assert diagnosis.healthy, str(diagnosis)
