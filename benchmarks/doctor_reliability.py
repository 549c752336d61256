"""How reliably the doctor names each planted fault, over many seeds.

Trains the faulty runs of ``tests/faulty_runs.py`` with seeds 0..N-1 and prints,
for each fault, how often the doctor named exactly the planted reading (and
what else it said). Run from the repository root:

    python benchmarks/doctor_reliability.py [num_seeds [first_seed [gallery.png]]]

With a third argument it also draws the first seed's faulty runs, each with
the doctor's findings marked, into that PNG.
"""

from __future__ import annotations

import collections
import pathlib
import sys
import time

_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(_ROOT))

import gdtransforms as gdt  # noqa: E402
from tests import faulty_runs as fr  # noqa: E402


def gallery(path: str, seed: int) -> None:
    curves, diagnoses = {}, {}
    for fault in fr.FAULTS[1:]:
        train, val, spe = fr.run(fault, seed)
        curves[fault.name] = (train, val)
        diagnoses[fault.name] = gdt.toolkit.diagnose(train, val, spe, val_every=fr.EVAL_EVERY)
    gdt.toolkit.plot_loss_curves(curves, diagnoses, val_every=fr.EVAL_EVERY, save_to=path)
    print(f"wrote {path}")


def main(num_seeds: int = 10, first_seed: int = 0, gallery_path: str | None = None) -> None:
    if gallery_path:
        gallery(gallery_path, first_seed)
    start = time.perf_counter()
    faults = [*fr.FAULTS, fr.HEALTHY_ADAM, fr.HEALTHY_DEEP]
    print(f"{'fault':32s} {'exact':>7s}  other answers")
    for fault in faults:
        answers = collections.Counter()
        for seed in range(first_seed, first_seed + num_seeds):
            train, val, spe = fr.run(fault, seed)
            answers[gdt.toolkit.diagnose(train, val, spe, val_every=fr.EVAL_EVERY).names] += 1
        expected = (fault.reading,) if fault.reading else ()
        if fault.reading == "overflow":  # NaN from the second step: too short to read the rest
            expected = ("overflow", "too_short")
        others = {k: v for k, v in answers.items() if k != expected}
        print(f"{fault.name:32s} {answers[expected]:3d}/{num_seeds:<3d}  {others or ''}")
    for fault in (fr.DOUBLE_SOFTMAX, fr.HEALTHY_DEEP):
        answers = collections.Counter()
        for group in range(first_seed, first_seed + num_seeds):
            runs = [fr.run(fault, 5 * group + i) for i in range(5)]
            (train, val, spe), others = runs[0], [r[0] for r in runs[1:]]
            answers[gdt.toolkit.diagnose(train, val, spe, others, val_every=fr.EVAL_EVERY).names] += 1
        expected = (fault.reading,) if fault.reading else ()
        others = {k: v for k, v in answers.items() if k != expected}
        print(f"{fault.name + ' x5 seeds':32s} {answers[expected]:3d}/{num_seeds:<3d}  {others or ''}")
    print(f"{time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]), *sys.argv[3:4])
