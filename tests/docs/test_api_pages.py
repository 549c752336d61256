"""Every public name of the imported package has an API page, and the site's generators keep working.

The site reads the package statically (griffe); this test imports it, so a name that only exists
at run time, or a namespace the static reader misses, cannot go without a page.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import gdtransforms

griffe = pytest.importorskip("griffe", reason="the docs extra is not installed")

HOOKS = Path(__file__).resolve().parents[2] / "docs" / "_hooks"
sys.path.insert(0, str(HOOKS))

import _api_index  # noqa: E402
import _readme  # noqa: E402
import griffe_rst  # noqa: E402


@pytest.fixture(scope="module")
def index() -> _api_index.Index:
    _, index = _api_index.load_index(str(HOOKS.parents[1]))
    return index


def _public_namespaces() -> dict[str, object]:
    found = {"gdtransforms": gdtransforms}
    todo = [gdtransforms]
    while todo:
        module = todo.pop()
        for info in pkgutil.iter_modules(module.__path__ if hasattr(module, "__path__") else []):
            if info.name.startswith("_"):
                continue
            sub = importlib.import_module(f"{module.__name__}.{info.name}")
            found[sub.__name__] = sub
            todo.append(sub)
    return found


def test_every_public_name_has_a_page(index: _api_index.Index) -> None:
    namespaces = _public_namespaces()
    assert {"gdtransforms.contrib", "gdtransforms.toolkit.surfaces", "gdtransforms.tree_utils"} <= set(namespaces)
    assert not index.problems
    missing = []
    for path, module in namespaces.items():
        names = getattr(module, "__all__", None)
        if names is None:
            names = [n for n, v in vars(module).items() if n[0] != "_" and getattr(v, "__module__", "") == path]
        assert index.namespaces.get(path) is not None, f"the site does not know the namespace {path}"
        for name in names:
            full = f"{path}.{name}"
            if full in namespaces:
                continue  # a namespace: listed on the API index
            if full not in index.page_of_path:
                missing.append(full)
    assert not missing, f"public names without an API page: {missing}"


def test_pages_are_grouped_and_unique(index: _api_index.Index) -> None:
    assert len(index.pages) > 300
    assert {p.group for p in index.pages.values()} == set(_api_index.GROUP_KEYS)
    assert index.page_of_path["gdtransforms.adamw"].src_uri == "api/optimizers/adamw.md"
    assert index.page_of_path["gdtransforms.scale_by_adam"].src_uri == "api/transforms/scale_by_adam.md"
    noise = index.page_of_path["gdtransforms.transforms.add_noise"]  # one object, two paths, one page
    assert noise is index.page_of_path["gdtransforms.add_noise"]
    assert noise.ident == "gdtransforms.add_noise" and "gdtransforms.transforms.add_noise" in noise.paths
    assert index.page_of_path["gdtransforms.contrib.muon"].group == "contrib"
    assert index.page_of_path["gdtransforms.flatten_params"].group == "flat"
    assert index.page_of_path["gdtransforms.save_state"].group == "scaleout"
    assert index.page_of_path["gdtransforms.toolkit.diagnose"].group == "toolkit"
    tree_add = index.page_of_path["gdtransforms.tree.add"]
    assert tree_add is index.page_of_path["gdtransforms.tree_utils.tree_add"]


def test_a_public_name_that_cannot_get_a_page_is_reported(tmp_path: Path) -> None:
    pkg = tmp_path / "tinypkg"
    (pkg / "ns").mkdir(parents=True)
    (pkg / "__init__.py").write_text('from tinypkg._impl import f\n__all__ = ["f", "missing"]\n')
    (pkg / "_impl.py").write_text('def f() -> None:\n    """F."""\n')
    (pkg / "ns" / "__init__.py").write_text('from tinypkg._impl import f\n__all__ = ["f"]\n')
    index = _api_index.build_index(griffe.load("tinypkg", search_paths=[str(tmp_path)]))
    assert len(index.problems) == 1 and index.problems[0].startswith("tinypkg.missing:")
    assert index.page_of_path["tinypkg.f"] is index.page_of_path["tinypkg.ns.f"]  # one page, two paths


def test_new_module_falls_back_to_its_namespace_group() -> None:
    assert _api_index.group_for("gdtransforms._brand_new._x.shampoo", "gdtransforms") == "core"
    assert _api_index.group_for("gdtransforms.contrib._new.soap", "gdtransforms.contrib") == "contrib"
    assert _api_index.group_for("gdtransforms._optimizers._new.kron", "gdtransforms") == "optimizers"


def test_rst_math_becomes_arithmatex() -> None:
    text = "Rule.\n\n.. math::\n    a &= b \\\\\n    c &= d\n\nWith :math:`\\beta_1` and\n  >>> f(1)\n  [-0.1]\n"
    out = griffe_rst.fence_doctests(griffe_rst.convert_math(text))
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$" in out
    assert "$\\beta_1$" in out
    assert "  ```pycon\n  >>> f(1)\n  [-0.1]\n  ```" in out


def test_notes_citations_link_to_their_section() -> None:
    anchors = griffe_rst.notes_anchors()
    assert anchors["7"] == "7-adam" and len(anchors) >= 12
    ext = griffe_rst.RstToMarkdown()
    out = ext.convert("This is docs/notes.md §7 (Adam).", griffe.Module("m"))
    assert out == "This is [docs/notes.md §7][7-adam] (Adam)."


def test_readme_sections_used_by_the_site_exist() -> None:
    readme = (HOOKS.parents[1] / "README.md").read_text(encoding="utf-8")
    for heading in ("## Optimizers and transforms", "## Speed", "## Notebooks"):
        body = _readme.section(readme, heading)
        assert body is not None and "|" in body, heading
    speed = _readme.section(readme, "## Speed")
    assert "### Microbenchmarks" in speed and "## Differences" not in speed
    benchmarks = _readme.drop_section(speed, "### Using the flat path")
    assert "### Microbenchmarks" in benchmarks and "make_train_step(loss_fn, opt)" not in benchmarks


def test_readme_links_are_rewritten_for_the_page() -> None:
    text = "See [nb](notebooks/03_x.ipynb), [diff](docs/DIFFERENCES.md), [test](tests/x.py) and `gdt.adam(1e-3)`.\n"
    known = {"notebooks/03_x.ipynb": "notebooks/03_x.ipynb", "docs/DIFFERENCES.md": "DIFFERENCES.md"}.get
    out = _readme.rewrite_links(text, "api/flat/index.md", known)
    out = _readme.link_code_names(out, "api/flat/index.md", {"adam": "api/optimizers/adam.md"}.get)
    assert "[nb](../../notebooks/03_x.ipynb)" in out and "[diff](../../DIFFERENCES.md)" in out
    assert " test " in out and "[`gdt.adam(1e-3)`](../optimizers/adam.md)" in out
