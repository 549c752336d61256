"""Shared helpers of the documentation-site tests: build the site once, serve it, drive Chromium."""

from __future__ import annotations

import contextlib
import fcntl
import functools
import http.server
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "build" / "site"
SCREENSHOTS = ROOT / "build" / "docs-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def browser_required() -> bool:
    """CI (``.ci/run``) sets GDT_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip."""
    return os.environ.get("GDT_REQUIRE_BROWSER") == "1"


def _sources_newer_than(path: Path) -> bool:
    """Whether anything the site is made from changed after ``path`` was written."""
    built = path.stat().st_mtime
    sources = [ROOT / "mkdocs.yml", ROOT / "README.md"]
    for folder, pattern in (("docs", "*"), ("gdtransforms", "*.py"), ("notebooks", "*.ipynb")):
        sources += (ROOT / folder).rglob(pattern)
    sources = [p for p in sources if p.is_file() and "__pycache__" not in p.parts]
    return any(p.stat().st_mtime > built for p in sources)


def built_site() -> Path:
    """The built site, building it (``mkdocs build --strict``) if it is missing or older than its sources.

    CI builds it in a step of its own before the tests; locally the first test that needs it
    builds it. A lock keeps two pytest-xdist workers from building it at once.
    """
    SITE.parent.mkdir(parents=True, exist_ok=True)
    with open(SITE.parent / ".site.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        index = SITE / "index.html"
        if not index.exists() or _sources_newer_than(index):
            env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
            cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(SITE)]
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            if done.returncode != 0:
                shutil.rmtree(SITE, ignore_errors=True)
                pytest.fail(f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}")
    return SITE


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on a free local port (the site's search needs http, not file://)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def chromium(user_data_dir: Path):  # -> selenium.webdriver.Chrome
    """Headless Debian Chromium through Debian's chromedriver; skips (fails in CI) when either is missing."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing.append("the selenium package")
    if missing:
        message = f"headless browser test needs {', '.join(missing)} (apt-get install chromium chromium-driver)"
        if browser_required():
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={user_data_dir}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
