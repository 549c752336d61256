"""Run optax's own test suite against gdtransforms.

The installed optax ships its tests (``optax/**/*_test.py``). This script copies
them into a temporary folder and points every optax import at gdtransforms'
public path with the same name: ``from optax._src import alias`` becomes
``import gdtransforms as alias``, ``from optax.transforms import _masking``
becomes ``from gdtransforms import transforms as _masking``, ``import optax``
becomes ``import gdtransforms as optax``. optax's own test helpers
(``optax._src.test_utils``) stay real; nothing under test falls back to optax.

It then runs the copies with pytest and prints, per file, passed / failed /
skipped, the failures grouped by cause, and a last line with the pass rate.

    python compat/optax_suite.py                 # against gdtransforms
    python compat/optax_suite.py --baseline      # optax itself, unchanged
    python compat/optax_suite.py -k alias        # only files whose name has "alias"
    python compat/optax_suite.py --list-failures # every failing test id

Tests that fail in the baseline (optax itself) on this machine are not
portable here (a missing optional dependency, say) and are left out of the
count; ``--baseline`` prints them.
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import optax

OPTAX_DIR = pathlib.Path(optax.__file__).parent
KEEP = {"test_utils"}  # optax's own test helpers stay real.
# Where a private optax module's names live in gdtransforms' public API.
PRIVATE_HOME = {"_src": "gdtransforms"}


def _namespace_for(package: str) -> str:
    """``optax.transforms`` -> ``gdtransforms.transforms``; ``optax._src`` -> ``gdtransforms``."""
    parts = package.split(".")[1:]
    public = [p for p in parts if not p.startswith("_")]
    return ".".join(["gdtransforms", *public])


def _rewrite_line(line: str) -> str:
    m = re.match(r"^(\s*)from (optax(?:\.\w+)*) import (.+)$", line)
    if m:
        indent, package, names = m.groups()
        out = []
        for item in names.split(","):
            item = item.strip().strip("()")
            if not item:
                continue
            name, _, alias = item.partition(" as ")
            name, alias = name.strip(), (alias.strip() or name.strip())
            if name in KEEP:
                out.append(f"{indent}from {package} import {name} as {alias}")
            elif name.startswith("_") or package.endswith("._src"):
                out.append(f"{indent}import {_namespace_for(package)} as {alias}")
            else:
                target = _namespace_for(package)
                out.append(f"{indent}from {target} import {name} as {alias}")
        return "\n".join(out)
    m = re.match(r"^(\s*)import (optax(?:\.\w+)*)(?: as (\w+))?\s*$", line)
    if m:
        indent, module, alias = m.groups()
        if alias:
            return f"{indent}import {_namespace_for(module)} as {alias}"
        return f"{indent}import gdtransforms as optax"
    return line


def _rewrite(source: str) -> str:
    # Join parenthesised ``from optax... import (\n a,\n b)`` blocks first.
    source = re.sub(
        r"from (optax[\w.]*) import \(([^)]*)\)",
        lambda m: f"from {m.group(1)} import " + ", ".join(n.strip() for n in m.group(2).split(",") if n.strip()),
        source,
    )
    return "\n".join(_rewrite_line(line) for line in source.splitlines()) + "\n"


def copy_tests(dest: pathlib.Path, baseline: bool, pattern: str | None) -> list[pathlib.Path]:
    files = []
    for path in sorted(OPTAX_DIR.rglob("*_test.py")):
        rel = path.relative_to(OPTAX_DIR)
        if pattern and pattern not in str(rel):
            continue
        target = dest / str(rel).replace("/", "__")
        text = path.read_text()
        target.write_text(text if baseline else _rewrite(text))
        files.append(target)
    return files


def run(dest: pathlib.Path, workers: int) -> pathlib.Path:
    report = dest / "report.xml"
    cmd = [sys.executable, "-m", "pytest", str(dest), "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    cmd += ["-o", "python_files=*_test.py", "--rootdir", str(dest), "-W", "ignore::DeprecationWarning"]
    if workers > 1:
        cmd += ["-n", str(workers)]
    subprocess.run(cmd, cwd=dest, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return report


def outcomes(report: pathlib.Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the failure message)."""
    result = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        test_id = f"{case.get('classname')}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or "").strip()
            elif child.tag == "skipped":
                outcome, message = "skipped", (child.get("message") or "").strip()
        result[test_id] = (outcome, message.splitlines()[0][:160] if message else "")
    return result


def cause(message: str) -> str:
    """A failure message with the specifics (numbers, names in quotes) blanked, to group by."""
    m = re.match(r"(\w+(?:Error|Exception))", message)
    kind = m.group(1) if m else "AssertionError"
    if "has no attribute" in message:
        name = re.search(r"has no attribute '(\w+)'", message)
        return f"missing name: {name.group(1) if name else '?'}"
    if "cannot import name" in message:
        name = re.search(r"cannot import name '(\w+)'", message)
        return f"missing name: {name.group(1) if name else '?'}"
    text = re.sub(r"[-+]?\d[\d.e+-]*", "N", message)
    text = re.sub(r"'[^']*'", "'.'", text)
    return f"{kind}: {text[:90]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", action="store_true", help="run optax's tests against optax itself")
    parser.add_argument("-k", dest="pattern", default=None, help="only test files whose path contains this")
    parser.add_argument("-n", dest="workers", type=int, default=2, help="pytest-xdist workers (default 2)")
    parser.add_argument("--list-failures", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)

    dest = pathlib.Path(tempfile.mkdtemp(prefix="optax_suite_"))
    try:
        copy_tests(dest, args.baseline, args.pattern)
        base_dest = pathlib.Path(tempfile.mkdtemp(prefix="optax_suite_base_"))
        copy_tests(base_dest, True, args.pattern)
        baseline = outcomes(run(base_dest, args.workers)) if not args.baseline else None
        shutil.rmtree(base_dest, ignore_errors=True)
        results = outcomes(run(dest, args.workers))
    finally:
        if not args.keep:
            shutil.rmtree(dest, ignore_errors=True)

    portable = {t for t, (o, _) in (baseline or results).items() if o == "passed"}
    per_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    causes: collections.Counter = collections.Counter()
    failures = []
    for test_id, (outcome, message) in sorted(results.items()):
        file = test_id.split("::")[0].split(".")[0]
        if test_id not in portable:
            per_file[file]["not portable"] += 1
            continue
        per_file[file][outcome] += 1
        if outcome == "failed":
            causes[cause(message)] += 1
            failures.append((test_id, message))
    print(f"{'file':48} {'passed':>7} {'failed':>7} {'skipped':>7} {'n/p':>5}")
    for file, c in sorted(per_file.items()):
        print(f"{file:48} {c['passed']:7d} {c['failed']:7d} {c['skipped']:7d} {c['not portable']:5d}")
    if causes:
        print("\nfailures by cause:")
        for text, n in causes.most_common():
            print(f"{n:6d}  {text}")
    if args.list_failures:
        print("\nfailing tests:")
        for test_id, message in failures:
            print(f"  {test_id}: {message}")
    passed = sum(c["passed"] for c in per_file.values())
    counted = sum(c["passed"] + c["failed"] for c in per_file.values())
    who = "optax (baseline)" if args.baseline else "gdtransforms"
    print(f"\n{who}: {passed}/{counted} portable optax tests pass ({100.0 * passed / max(counted, 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
