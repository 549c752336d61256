"""Results computed once per test session, shared by pytest-xdist's workers.

Under ``pytest -n N`` the tests of one file are spread over the workers, so a
module-level cache of an expensive result (one big compile, say) is filled
once in each worker. :func:`once_per_session` stores the result as a pickle in
the session's temporary root, which all workers of one run share (and no other
run sees), under a file lock: the first worker computes it, the others read it.
Without xdist it simply computes. (pytest-xdist's documented recipe for
session data, with ``fcntl`` for the lock.)
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")


def once_per_session(tmp_path_factory: pytest.TempPathFactory, name: str, compute: Callable[[], T]) -> T:
    """``compute()``, computed by one xdist worker per session and read back by the others.

    ``name`` keys the result (a file name); the result must pickle.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return compute()
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): each worker computes its own
        return compute()
    path = Path(tmp_path_factory.getbasetemp().parent) / f"session-cache-{name}.pickle"
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if path.exists():
                return pickle.loads(path.read_bytes())
            result = compute()
            tmp = path.with_suffix(".partial")
            tmp.write_bytes(pickle.dumps(result))
            tmp.replace(path)
            return result
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
