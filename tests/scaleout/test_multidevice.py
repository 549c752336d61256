"""Runs the multi-device scripts of ``tests/multidevice/`` on 8 simulated CPU devices.

Each script runs in its own process: the device count is fixed when jax
starts, and the rest of the suite keeps one device. A script asserts its
checks, prints ``ok: <check>`` for each, and ends with ``ALL OK``; the count of
``ok:`` lines proves every check ran (a script may hold several optimizers'
checks, as ``fsdp_second_order.py`` does, to pay jax's start once).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]  # tests/
ROOT = HERE.parent
SCRIPTS = sorted(
    p.name for p in (HERE / "multidevice").glob("*.py") if not p.name.startswith("_") and p.name != "conftest.py"
)
EXPECTED_CHECKS = {
    "data_parallel.py": 4,
    "fsdp_second_order.py": 4 + 3 + 3,  # SOAP, Shampoo, Kron
    "fsdp_sharded_jit.py": 4,
    "muon_fsdp.py": 3,
    "restore_placement.py": 3,
    "zero_and_abstract_init.py": 4,
}


def test_every_script_is_listed():
    assert sorted(EXPECTED_CHECKS) == SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_multidevice_script(script):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, str(HERE / "multidevice" / script)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output
    assert proc.stdout.rstrip().endswith("ALL OK"), output
    assert proc.stdout.count("ok: ") == EXPECTED_CHECKS[script], output
