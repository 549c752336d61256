"""The bank of real training runs for the loss-curve doctor (``tests/data/doctor_bank.npz``).

``benchmarks/doctor_bank.py`` generates it; ``benchmarks/doctor_figures.py``
prints the doctor's published figures from it and
``tests/toolkit/test_doctor_bank.py`` asserts them.
"""

from __future__ import annotations

import collections
import functools
import pathlib
from typing import Any

import numpy as np

import gdtransforms as gdt

PATH = pathlib.Path(__file__).resolve().parent / "data" / "doctor_bank.npz"


@functools.cache
def load(path: str | None = None) -> dict[str, np.ndarray]:
    with np.load(path or PATH) as f:
        return {k: f[k] for k in f.files}


def diagnose(bank: dict[str, np.ndarray], i: int, shift: float = 0.0, chance: bool = True) -> Any:
    """The doctor's answer on run ``i`` (with its seed group as ``other_runs``), the loss shifted by ``shift``."""
    group = int(bank["group"][i])
    others = None
    if group >= 0:
        others = [bank["train"][j] + shift for j in np.flatnonzero(bank["group"] == group) if j != i]
    k = int(bank["num_classes"][i])
    return gdt.toolkit.diagnose(
        bank["train"][i] + shift,
        bank["val"][i] + shift,
        int(bank["steps_per_epoch"][i]),
        others,
        val_every=int(bank["val_every"]),
        num_classes=k if (chance and k > 1) else None,
    )


def score(bank: dict[str, np.ndarray], shift: float = 0.0) -> dict[str, Any]:
    """False positives on healthy runs, detection per fault, and the confusion table.

    The number of classes is passed (as a user would) unless the losses are shifted.
    """
    names = [diagnose(bank, i, shift, chance=shift == 0.0).names for i in range(len(bank["train"]))]
    table: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    detected: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0])
    healthy = [0, 0]
    for i, found in enumerate(names):
        fault, expected = str(bank["fault"][i]), str(bank["expected"][i])
        if fault == "healthy":
            healthy[0] += bool(found)
            healthy[1] += 1
            row = "healthy"
        else:
            if not bank["symptom"][i]:
                table[f"{fault} (no symptom)"][found[0] if found else "healthy"] += 1
                continue
            row = f"{fault} -> {expected}"
            detected[row][0] += expected in found
            detected[row][1] += 1
        for name in found or ("healthy",):
            table[row][name] += 1
    return {"names": names, "false_positives": tuple(healthy), "detected": dict(detected), "table": dict(table)}
