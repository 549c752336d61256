"""Say where the documentation-site tests left their screenshots."""

from __future__ import annotations

import time

import pytest

from tests.docs import _site

_STARTED = time.time()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = [p for p in _site.SCREENSHOTS.glob("*.png") if p.stat().st_mtime >= _STARTED - 1]
    if shots:
        terminalreporter.write_line(f"docs site screenshots ({len(shots)}): {_site.SCREENSHOTS}")
