"""compat/optax_suite.py: its import rewriting and its report, on tiny samples (no suite run)."""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import pytest

import gdtransforms

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "compat" / "optax_suite.py"


@pytest.fixture(scope="module")
def suite():
    spec = importlib.util.spec_from_file_location("optax_suite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["optax_suite"] = module
    spec.loader.exec_module(module)
    yield module
    del sys.modules["optax_suite"]


SAMPLE = '''"""A test file as optax writes them."""
import optax
from optax._src import alias
from optax._src import base
from optax._src import numerics
from optax._src import test_utils
from optax._src import alias_test
from optax.transforms import _masking
from optax.experimental import _aggregating as aggregating
from optax import tree_utils as otu
from optax.contrib import (
    _muon,
    _sam,
)

def helper(tree: base.ArrayTree) -> base.ArrayTree:
  return numerics.abs_sq(tree)
'''


def test_rewrite_points_optax_imports_at_gdtransforms(suite):
    lines = suite.rewrite(SAMPLE).splitlines()
    assert "import gdtransforms as optax" in lines
    assert "import gdtransforms as alias" in lines
    assert "import gdtransforms as base" in lines
    assert "from optax._src import test_utils as test_utils" in lines  # optax's helpers stay real
    assert "import _src__alias_test as alias_test" in lines  # another test file: its rewritten copy
    assert "import gdtransforms.transforms as _masking" in lines
    # A private module that optax publishes under its own name becomes that namespace.
    assert "import gdtransforms.experimental.aggregating as aggregating" in lines
    assert "from gdtransforms import tree_utils as otu" in lines
    assert "import gdtransforms.contrib as _muon" in lines and "import gdtransforms.contrib as _sam" in lines
    # optax's private typing alias is taken from optax, not looked up in gdtransforms.
    assert "from optax._src import base as _optax_base" in lines
    assert "def helper(tree: _optax_base.ArrayTree) -> _optax_base.ArrayTree:" in lines
    assert "from optax._src import numerics as _optax_numerics" in lines
    assert "  return _optax_numerics.abs_sq(tree)" in lines
    kept = ("test_utils", "_optax_base", "_optax_numerics")
    assert not any(line.startswith(("from optax.", "import optax")) and not line.endswith(kept) for line in lines)


def test_rewritten_imports_resolve_to_gdtransforms_objects(suite):
    source = suite.rewrite(SAMPLE).replace("import _src__alias_test as alias_test\n", "")
    namespace: dict = {}
    exec(compile(source, "sample_test.py", "exec"), namespace)  # noqa: S102
    assert namespace["optax"] is gdtransforms
    assert namespace["alias"].adam is gdtransforms.adam
    assert namespace["_masking"].masked is gdtransforms.transforms.masked
    assert namespace["aggregating"].process is gdtransforms.experimental.aggregating.process
    assert namespace["otu"].tree_get is gdtransforms.tree_utils.tree_get
    assert namespace["test_utils"].__name__ == "optax._src.test_utils"


def test_select_and_stem(suite):
    files = ["_src/alias_test.py", "_src/base_test.py", "contrib/_muon_test.py"]
    assert suite.select(files, "alias,contrib/") == ["_src/alias_test.py", "contrib/_muon_test.py"]
    assert suite.select(files, "_src/b*") == ["_src/base_test.py"]
    assert suite.select(files, None) == files
    assert suite.stem("contrib/_muon_test.py") == "contrib___muon_test"
    assert len(suite.all_test_files()) >= 50


def test_cause_groups_failures(suite):
    assert suite.cause("AttributeError: module 'gdtransforms' has no attribute 'soap'") == "missing name: soap"
    a = suite.cause("AssertionError: Arrays are not almost equal to 6 decimals, max diff 0.25")
    b = suite.cause("AssertionError: Arrays are not almost equal to 6 decimals, max diff 1e-3")
    assert a == b


def test_report_counts_only_what_optax_passes(suite, capsys):
    baseline = {
        "f::C::test_a": ("passed", ""),
        "f::C::test_b": ("passed", ""),
        "f::C::test_c": ("passed", ""),
        "f::C::test_d": ("skipped", "no GPU"),
    }
    results = {
        "f::C::test_a": ("passed", ""),
        "f::C::test_b": ("failed", "AttributeError: module 'gdtransforms' has no attribute 'x'"),
        "f::C::test_c": ("skipped", "not annotated"),  # skipped where optax passes: a failure
        "f::C::test_d": ("skipped", "no GPU"),
    }
    rate = suite.report(results, baseline, "gdtransforms", list_failures=True)
    out = capsys.readouterr().out
    assert rate == pytest.approx(100 / 3)
    assert "gdtransforms: 1/3 portable" in out.splitlines()[-1]
    assert "missing name: x" in out and "skipped where optax passes" in out
