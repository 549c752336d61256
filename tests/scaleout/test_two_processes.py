"""Two processes with jax.distributed on 127.0.0.1 and CPU collectives (issue 13, item 7).

Starts tests/multidevice/_two_process_worker.py twice (process 0 and 1, two
CPU devices each) and requires both to pass its three checks.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parents[1]
WORKER = HERE / "multidevice" / "_two_process_worker.py"

pytest.importorskip("orbax.checkpoint")  # in the test extra: runs in CI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_data_parallel_and_checkpoints(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("XLA_FLAGS", "JAX_PLATFORMS")}
    port = _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(i), str(port), str(tmp_path)],
            cwd=HERE.parent,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    outputs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=300)
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for i, (p, out) in enumerate(zip(procs, outputs)):
        assert p.returncode == 0, f"process {i}:\n{out}"
        assert out.count("ok: ") == 3 and out.rstrip().endswith("ALL OK"), f"process {i}:\n{out}"
