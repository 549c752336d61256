"""The doctor's published figures, measured on the bank of real runs.

Prints the false-positive rate on healthy runs, the detection rate per planted
fault (runs whose symptom shows), and the confusion table (rows: the planted
fault -> the reading it should give; columns: what the doctor said; a run with
several findings counts in several columns). Run from the repository root:

    python benchmarks/doctor_figures.py [bank.npz]
"""

from __future__ import annotations

import pathlib
import sys

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import gdtransforms as gdt  # noqa: E402
from tests import doctor_bank  # noqa: E402


def main(path: str | None = None) -> None:
    bank = doctor_bank.load(path)
    s = doctor_bank.score(bank)
    fp, n = s["false_positives"]
    print(f"bank: {len(bank['train'])} runs of {len(set(bank['setup']))} setups")
    print(f"false positives on healthy runs: {fp}/{n} = {100 * fp / n:.1f}%\n")
    print("| planted fault -> reading | detected | rate |")
    print("|---|---:|---:|")
    for row, (hit, total) in sorted(s["detected"].items()):
        print(f"| {row} | {hit}/{total} | {100 * hit / total:.0f}% |")
    cols = ["healthy", *gdt.toolkit.READINGS]
    short = {c: c.replace("_", " ") for c in cols}
    print("\n| planted \\ found | " + " | ".join(short[c] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for row in sorted(s["table"], key=lambda r: (r != "healthy", r)):
        counts = s["table"][row]
        print(f"| {row} | " + " | ".join(str(counts.get(c, "")) or "" for c in cols) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:2])
