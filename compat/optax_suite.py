"""Run optax's own test suite against gdtransforms.

The installed optax ships its tests (``optax/**/*_test.py``, 52 files). This
script copies them into a temporary folder and points every optax import at
gdtransforms' public path with the same name: ``from optax._src import alias``
becomes ``import gdtransforms as alias``, ``from optax.transforms import
_masking`` becomes ``from gdtransforms import transforms as _masking``
(a private module that optax publishes under its own name, ``PUBLIC_MODULES``,
becomes that namespace: ``optax.experimental._aggregating`` ->
``gdtransforms.experimental.aggregating``),
``import optax`` becomes ``import gdtransforms as optax``. optax's own test
helpers (``optax._src.test_utils``) stay real, and a test file that imports
another test file gets the rewritten copy. So do the few helpers that optax
defines only in a private module and that the tests use without testing them
(``OPTAX_HELPERS``: type aliases, ``abs_sq`` in the objectives,
``x64_precision``, the line search's failure codes); nothing under test falls
back to optax.

Each file runs in its own pytest process (``-j`` at a time, each with a
timeout), and the script prints, per file, passed / failed / skipped, the
failures grouped by cause, and a last line with the pass rate.

    python compat/optax_suite.py                      # against gdtransforms
    python compat/optax_suite.py --baseline           # optax itself, unchanged
    python compat/optax_suite.py --files alias,_src/base   # only matching files
    python compat/optax_suite.py --list-failures      # every failing test id

What is counted (the exclusion rule):

* a test counts if it passes when the unchanged file runs against optax (the
  baseline, cached in ``compat/baseline_optax-<version>.json``; ``--baseline``
  runs and rewrites it). A test optax itself fails or skips on this machine
  (a missing optional dependency, no accelerator) is not counted;
* and it is not in ``NOT_PORTABLE`` below: the tests of a name that optax
  has only in a private module (``utils.set_diags``, ``_mask_callable``, ...),
  which gdtransforms has no public path for. Each entry names its reason, and
  the script prints how many tests each one leaves out.

So ``--baseline`` shows 100% by construction of what it counts, and the
gdtransforms figure is over exactly the same tests. A test that optax passes
and that is skipped against gdtransforms counts as a failure.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import fnmatch
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable

import optax

OPTAX_DIR = pathlib.Path(optax.__file__).parent
REPO = pathlib.Path(__file__).resolve().parent.parent
BASELINE_FILE = REPO / "compat" / f"baseline_optax-{optax.__version__}.json"
LAST_RUN = pathlib.Path(tempfile.gettempdir()) / "optax_suite_last_run.json"
JAX_CACHE = pathlib.Path(tempfile.gettempdir()) / "optax_suite_jax_cache"
KEEP = {"test_utils"}  # optax's own test helpers stay real.
# Helpers that optax defines only in a private module, with no public path to point at: type
# aliases that annotate the tests' own helpers, and ``abs_sq``, which the tests' objective
# functions use. They are not under test, so the rewritten files take them from optax.
# The linesearch failure flags are the expected values that a test compares a state with.
OPTAX_HELPERS = {
    "ArrayTree": "base",
    "PRNGKey": "base",
    "Shape": "base",
    "abs_sq": "numerics",
    "x64_precision": "utils",
    **{
        f"FLAG_{flag}": "linesearch"
        for flag in (
            "CURVATURE_COND_NOT_SATISFIED",
            "INTERVAL_NOT_FOUND",
            "INTERVAL_TOO_SMALL",
            "NOT_A_DESCENT_DIRECTION",
            "NO_STEPSIZE_FOUND",
        )
    },
}

# optax's private modules that optax itself publishes as a namespace of their own
# (``optax.experimental.aggregating`` is ``optax.experimental._aggregating``): imported as that namespace.
PUBLIC_MODULES = {"optax.experimental._aggregating": "gdtransforms.experimental.aggregating"}

# Tests that cannot be ported: test id glob (file stem "::" class "::" test) -> reason.
_PRIVATE = "tests a name optax has only in a private module"
NOT_PORTABLE: dict[str, str] = {
    "_src__numerics_test::*::test_abs_sqr_hlo_equivalence*": f"{_PRIVATE} (numerics.abs_sq)",
    "_src__utils_test::HelpersTest::test_canonicalize_dtype*": f"{_PRIVATE} (utils.canonicalize_dtype)",
    "_src__utils_test::HelpersTest::test_set_diag*": f"{_PRIVATE} (utils.set_diags)",
    "_src__utils_test::HelpersTest::test_tile_second_to_last_dim*": f"{_PRIVATE} (utils.tile_second_to_last_dim)",
    "_src__utils_test::MultiNormalDiagFromLogScaleTest::test_init_successful_broadcast*": (
        f"{_PRIVATE} (utils.MultiNormalDiagFromLogScale)"
    ),
    "_src__linear_algebra_test::*::test_power_iteration_cond_fun*": f"{_PRIVATE} (_power_iteration_cond_fun)",
    "_src__linesearch_test::*::test_extract_fns_kwargs*": f"{_PRIVATE} (linesearch._extract_fns_kwargs)",
    "_src__alias_test::LBFGSTest::test_preconditioning_by_lbfgs_on_*": f"{_PRIVATE} (_precondition_by_lbfgs)",
    "contrib___muon_test::*::test_newton_schulz*": f"{_PRIVATE} (orthogonalize_via_newton_schulz)",
    "contrib___muon_test::*::test_reshape_inverse*": f"{_PRIVATE} (_compute_muon_reshape)",
    "transforms___masking_test::*::test_mask_compatible_callable_pytree*": f"{_PRIVATE} (_masking._mask_callable)",
}


def _namespace_for(package: str) -> str:
    """``optax.transforms._masking`` -> ``gdtransforms.transforms``; ``optax._src`` -> ``gdtransforms``."""
    parts = package.split(".")[1:]
    public = [p for p in parts if not p.startswith("_")]
    return ".".join(["gdtransforms", *public])


def _copied_name(package: str, name: str) -> str:
    """The module name a copied test file gets: ``optax._src``, ``alias_test`` -> ``_src__alias_test``."""
    parts = [*package.split(".")[1:], name]
    return "__".join(parts)


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
            elif name.endswith("_test"):
                out.append(f"{indent}import {_copied_name(package, name)} as {alias}")
            elif f"{package}.{name}" in PUBLIC_MODULES:
                out.append(f"{indent}import {PUBLIC_MODULES[f'{package}.{name}']} as {alias}")
            elif name.startswith("_") or package.endswith("._src"):
                out.append(f"{indent}import {_namespace_for(package)} as {alias}")
            else:
                out.append(f"{indent}from {_namespace_for(package)} import {name} as {alias}")
        return "\n".join(out)
    m = re.match(r"^(\s*)import (optax(?:\.\w+)*)(?: as (\w+))?\s*$", line)
    if m:
        indent, module, alias = m.groups()
        if alias:
            return f"{indent}import {_namespace_for(module)} as {alias}"
        return f"{indent}import gdtransforms as optax"
    return line


def rewrite(source: str) -> str:
    """Point a test file's optax imports at gdtransforms' public paths."""
    source = re.sub(
        r"from (optax[\w.]*) import \(([^)]*)\)",
        lambda m: f"from {m.group(1)} import " + ", ".join(n.strip() for n in m.group(2).split(",") if n.strip()),
        source,
    )
    lines = "\n".join(_rewrite_line(line) for line in source.splitlines()).splitlines()
    bound = r"^\s*(?:import gdtransforms[\w.]*|from gdtransforms[\w.]* import \w+) as (\w+)$"
    aliases = re.findall(bound, "\n".join(lines), re.M)
    if not aliases:
        return "\n".join(lines) + "\n"
    helper = r"\b(?:" + "|".join(aliases) + r")\.(" + "|".join(OPTAX_HELPERS) + r")\b"
    body = [line for line in lines if not line.lstrip().startswith(("import ", "from "))]
    used = sorted({OPTAX_HELPERS[m.group(1)] for line in body for m in re.finditer(helper, line)})
    first = next(i for i, line in enumerate(lines) if "gdtransforms" in line)
    lines[first:first] = [f"from optax._src import {module} as _optax_{module}" for module in used]
    text = re.sub(helper, lambda m: f"_optax_{OPTAX_HELPERS[m.group(1)]}.{m.group(1)}", "\n".join(lines))
    return text + "\n"


def all_test_files() -> list[str]:
    """Paths of optax's test files relative to the installed package, e.g. ``_src/alias_test.py``."""
    return sorted(str(p.relative_to(OPTAX_DIR)) for p in OPTAX_DIR.rglob("*_test.py"))


def select(files: list[str], patterns: str | None) -> list[str]:
    """Files whose path contains one of the comma-separated patterns (or matches it as a glob)."""
    if not patterns:
        return files
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    return [f for f in files if any(p in f or fnmatch.fnmatch(f, p) for p in wanted)]


def stem(rel: str) -> str:
    """``_src/alias_test.py`` -> ``_src__alias_test``: the copied file's module name."""
    return rel[: -len(".py")].replace("/", "__")


def copy_tests(dest: pathlib.Path, baseline: bool) -> None:
    """Copy every optax test file (so that cross-imports between test files resolve), rewritten unless baseline."""
    for rel in all_test_files():
        text = (OPTAX_DIR / rel).read_text()
        (dest / f"{stem(rel)}.py").write_text(text if baseline else rewrite(text))


def run_file(dest: pathlib.Path, rel: str, timeout: float) -> tuple[str, float, bool]:
    """Run one copied file under pytest; returns (its file stem, seconds, whether it timed out)."""
    name = stem(rel)
    report = dest / f"{name}.xml"
    cmd = [sys.executable, "-m", "pytest", f"{name}.py", "-q", "-p", "no:cacheprovider", f"--junitxml={report}"]
    cmd += ["-o", "python_files=*_test.py", "--rootdir", str(dest), "-W", "ignore::DeprecationWarning"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(dest), os.environ.get("PYTHONPATH", "")]))
    env.setdefault("JAX_PLATFORMS", "cpu")
    # A persistent compilation cache makes a rerun of unchanged tests much faster.
    env.setdefault("JAX_COMPILATION_CACHE_DIR", str(JAX_CACHE))
    env.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")
    start = time.perf_counter()
    try:
        subprocess.run(cmd, cwd=dest, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
    return name, time.perf_counter() - start, timed_out


def outcomes(report: pathlib.Path, name: str) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, first line of the failure message), from a junit report."""
    result: dict[str, tuple[str, str]] = {}
    if not report.exists():
        return result
    for case in ET.parse(report).getroot().iter("testcase"):
        classname = (case.get("classname") or "").split(".")[-1]
        test_id = f"{name}::{classname}::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome, message = "failed", (child.get("message") or child.text or "").strip()
                if message == "collection failure":  # the cause is in the traceback's last "E" line
                    errors = [line[1:].strip() for line in (child.text or "").splitlines() if line.startswith("E ")]
                    message = f"collection failure: {errors[-1]}" if errors else message
            elif child.tag == "skipped":
                outcome, message = "skipped", (child.get("message") or "").strip()
        first = message.splitlines()[0][:200] if message else ""
        if outcome == "failed" and test_id in result and result[test_id][0] == "failed":
            continue  # a teardown error after a failure: keep the failure
        result[test_id] = (outcome, first)
    return result


def run_all(
    files: list[str],
    baseline: bool,
    jobs: int,
    timeout: float,
    smallest_first: bool = False,
    save: Callable[[dict[str, tuple[str, str]], list[str]], None] | None = None,
) -> dict[str, tuple[str, str]]:
    """Run the files (``jobs`` at a time) and return every test's outcome. A timed-out file's tests are missing.

    ``save(results, [file])`` is called as each file finishes, so an interrupted run keeps what it ran.
    """
    dest = pathlib.Path(tempfile.mkdtemp(prefix="optax_suite_"))
    results: dict[str, tuple[str, str]] = {}
    try:
        copy_tests(dest, baseline)
        # The largest files first, so that the last ones to finish are small (or the reverse, to see results soon).
        order = sorted(files, key=lambda rel: (OPTAX_DIR / rel).stat().st_size, reverse=not smallest_first)
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [pool.submit(run_file, dest, rel, timeout) for rel in order]
            for future in concurrent.futures.as_completed(futures):
                name, seconds, timed_out = future.result()
                got = outcomes(dest / f"{name}.xml", name)
                if timed_out:
                    got[f"{name}::*"] = ("timeout", f"file timed out after {timeout:.0f}s")
                if save is not None:
                    save(got, [rel for rel in files if stem(rel) == name])
                note = " TIMED OUT" if timed_out else ""
                print(f"  ran {name} in {seconds:.0f}s ({len(got)} tests){note}", file=sys.stderr, flush=True)
                results.update(got)
    finally:
        shutil.rmtree(dest, ignore_errors=True)
    return results


def cause(message: str) -> str:
    """A failure message with the specifics (numbers, quoted text) blanked, to group failures by."""
    for pattern in (r"has no attribute '(\w+)'", r"cannot import name '(\w+)'", r"No module named '([\w.]+)'"):
        found = re.search(pattern, message)
        if found:
            return f"missing name: {found.group(1)}"
    m = re.match(r"(\w+(?:Error|Exception|Exit))", message)
    kind = m.group(1) if m else "AssertionError"
    text = re.sub(r"[-+]?\d[\d.e+-]*", "N", message)
    text = re.sub(r"'[^']*'", "'.'", text)
    return f"{kind}: {text[:100]}"


def not_portable_reason(test_id: str) -> str | None:
    for pattern, reason in NOT_PORTABLE.items():
        if fnmatch.fnmatchcase(test_id, pattern):
            return reason
    return None


def load_baseline() -> dict[str, tuple[str, str]]:
    if not BASELINE_FILE.exists():
        return {}
    return {k: (v, "") for k, v in json.loads(BASELINE_FILE.read_text()).items()}


def save_baseline(results: dict[str, tuple[str, str]], files: list[str]) -> None:
    """Merge these files' baseline outcomes into the cache (other files' entries are kept)."""
    names = {stem(rel) for rel in files}
    old = {k: v for k, (v, _) in load_baseline().items() if k.split("::")[0] not in names}
    old.update({k: v for k, (v, _) in results.items()})
    BASELINE_FILE.write_text(json.dumps(dict(sorted(old.items())), indent=0) + "\n")


def load_last_run() -> dict[str, tuple[str, str]]:
    if not LAST_RUN.exists():
        return {}
    return {k: (v[0], v[1]) for k, v in json.loads(LAST_RUN.read_text()).items()}


def save_last_run(results: dict[str, tuple[str, str]], files: list[str]) -> None:
    """Merge these files' gdtransforms outcomes into the last run (other files' entries are kept)."""
    names = {stem(rel) for rel in files}
    merged = {k: v for k, v in load_last_run().items() if k.split("::")[0] not in names}
    merged.update(results)
    LAST_RUN.write_text(json.dumps(dict(sorted(merged.items())), indent=0) + "\n")


def report(results: dict, baseline: dict, who: str, list_failures: bool) -> float:
    """Print the per-file table, the failures by cause, and the pass rate; returns the rate in percent."""
    per_file: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    causes: collections.Counter = collections.Counter()
    excluded: collections.Counter = collections.Counter()
    failures = []
    baseline_files = {test_id.split("::")[0] for test_id in baseline}
    # Why a file's tests did not run: it timed out, or failed to collect (an entry with no class).
    file_errors = {k.split("::")[0]: m for k, (o, m) in results.items() if k.endswith("::*") or "::::" in k}
    for test_id in sorted(set(baseline) | set(results)):
        file = test_id.split("::")[0]
        if test_id.endswith("::*"):
            continue
        if file in baseline_files:
            base = baseline.get(test_id, ("missing", ""))[0]
        else:  # no baseline for this file: every test that ran counts unless it was skipped
            base = "skipped (no baseline)" if results[test_id][0] == "skipped" else "passed"
        reason = not_portable_reason(test_id)
        if base != "passed" or reason:
            excluded[reason or f"optax itself: {base}"] += 1
            per_file[file]["not counted"] += 1
            continue
        outcome, message = results.get(test_id, ("failed", ""))
        if test_id not in results:
            message = file_errors.get(file, "not run")
        if outcome == "skipped":
            outcome, message = "failed", f"skipped where optax passes: {message}"
        per_file[file][outcome] += 1
        if outcome == "failed":
            causes[cause(message)] += 1
            failures.append((test_id, message))
    print(f"{'file':44} {'passed':>7} {'failed':>7} {'not counted':>12}")
    for file, c in sorted(per_file.items()):
        print(f"{file:44} {c['passed']:7d} {c['failed']:7d} {c['not counted']:12d}")
    if excluded:
        print("\nnot counted:")
        for text, n in excluded.most_common():
            print(f"{n:6d}  {text}")
    if causes:
        print("\nfailures by cause:")
        for text, n in causes.most_common():
            print(f"{n:6d}  {text}")
    if list_failures and failures:
        print("\nfailing tests:")
        for test_id, message in failures:
            print(f"  {test_id}: {message}")
    passed = sum(c["passed"] for c in per_file.values())
    counted = sum(c["passed"] + c["failed"] for c in per_file.values())
    rate = 100.0 * passed / max(counted, 1)
    print(f"\n{who}: {passed}/{counted} portable optax {optax.__version__} tests pass ({rate:.1f}%)")
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", action="store_true", help="run optax's tests against optax itself")
    parser.add_argument("--files", default=None, help="comma-separated substrings or globs of test file paths")
    parser.add_argument("--exclude", default=None, help="comma-separated substrings or globs of files to leave out")
    parser.add_argument("--smallest-first", action="store_true", help="run the smallest files first")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="files run at once (default 2)")
    parser.add_argument("--timeout", type=float, default=2400.0, help="seconds per file (default 2400)")
    parser.add_argument("--rereport", action="store_true", help=f"report the last run again ({LAST_RUN})")
    parser.add_argument("--list-failures", action="store_true", help="print every failing test id")
    args = parser.parse_args(argv)

    files = select(all_test_files(), args.files)
    if args.exclude:
        files = [f for f in files if f not in select(files, args.exclude)]
    if not files:
        parser.error(f"no optax test file matches {args.files!r}")
    names = {stem(rel) for rel in files}
    baseline = {k: v for k, v in load_baseline().items() if k.split("::")[0] in names}
    missing = sorted(names - {k.split("::")[0] for k in baseline})
    if not args.baseline and missing:
        print(f"no baseline for {missing}: every test there that ran counts (run --baseline)", file=sys.stderr)
    if args.baseline:
        print(f"running the baseline (optax {optax.__version__}) on {len(files)} files", file=sys.stderr)
        baseline = run_all(files, True, args.jobs, args.timeout, args.smallest_first, save_baseline)
    if args.baseline:
        report(baseline, baseline, "optax (baseline)", args.list_failures)
        return 0
    if args.rereport:
        results = {k: v for k, v in load_last_run().items() if k.split("::")[0] in names}
    else:
        print(f"running gdtransforms on {len(files)} files", file=sys.stderr)
        results = run_all(files, False, args.jobs, args.timeout, args.smallest_first, save_last_run)
    report(results, baseline, "gdtransforms", args.list_failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
