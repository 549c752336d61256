"""The notebooks: each one executes from a clean kernel and matches its source.

Every committed ``notebooks/NN_*.ipynb`` is copied to a temporary folder and run
there top to bottom in a fresh ``python3`` kernel (the interpreter running the
tests, see ``notebooks/_build.py``), so the committed outputs never change; a
cell that raises fails the test. The notebooks assert their own numbers (docs/notes.md
check values, equality with optax) inside their cells.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError

import gdtransforms

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
MAX_BYTES = 1_000_000


def _load_builder():
    spec = importlib.util.spec_from_file_location("_notebook_build", NOTEBOOK_DIR / "_build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_builder()
SOURCES = build.sources()
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_one_notebook_per_topic_listed_in_the_readme():
    numbers = [s.stem[:2] for s in SOURCES]
    assert numbers == [f"{i:02d}" for i in range(1, 11)], numbers
    assert [build.notebook_path(s) for s in SOURCES] == NOTEBOOKS
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("\n## Notebooks\n") :]
    for path in NOTEBOOKS:
        assert f"(notebooks/{path.name})" in section, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes_from_clean_kernel(path, tmp_path):
    committed = path.read_bytes()
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    build.execute(nb, cwd=tmp_path)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count is not None for c in code_cells)
    assert any("image/png" in o.get("data", {}) for c in code_cells for o in c.outputs)
    assert path.read_bytes() == committed  # the committed notebook is left as it was


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_committed_notebook_is_built_from_its_source(source):
    """The .ipynb is the executed build of ``src/``: same cells, all outputs, no errors."""
    committed = nbformat.read(build.notebook_path(source), as_version=4)
    nbformat.validate(committed)
    built = build.build(source)
    assert [(c.cell_type, c.source) for c in committed.cells] == [(c.cell_type, c.source) for c in built.cells], (
        f"rebuild it: python notebooks/_build.py {source.stem[:2]}"
    )
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "no plot"
    assert build.notebook_path(source).stat().st_size < MAX_BYTES


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_notebook_uses_only_the_public_api(source):
    code = "\n".join(src for kind, src in build.parse_cells(source.read_text()) if kind == "code")
    assert "import gdtransforms as gdt" in code
    assert not re.search(r"gdtransforms\._|gdt\._|from gdtransforms", code)
    markdown = [src for kind, src in build.parse_cells(source.read_text()) if kind == "markdown"]
    assert markdown and markdown[0].startswith(f"# {int(source.stem[:2])}. ")


def test_parse_cells_splits_markdown_and_code():
    text = "header\n# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n\n# %%\n\n"
    assert build.parse_cells(text) == [("markdown", "# Title\n\ntext"), ("code", "x = 1")]
    with pytest.raises(ValueError, match="not a comment"):
        build.parse_cells("# %% [markdown]\nx = 1\n")


def test_kernel_is_this_interpreter_and_a_raising_cell_fails(tmp_path):
    """One fresh kernel: it runs ``sys.executable`` with this checkout's package,
    and a cell that raises stops the run with ``CellExecutionError``."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "import json, sys\nimport gdtransforms as gdt\nprint(json.dumps([sys.executable, gdt.__file__]))"
        ),
        nbformat.v4.new_code_cell("gdt.adam(0.1, b1=1.0)"),
        nbformat.v4.new_code_cell("print('never reached')"),
    ]
    nb.metadata["kernelspec"] = {"name": build.KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    with pytest.raises(CellExecutionError, match="b1"):
        build.execute(nb, cwd=tmp_path)
    executable, module_file = json.loads(nb.cells[0].outputs[0].text)
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(module_file).resolve() == Path(gdtransforms.__file__).resolve()
    assert nb.cells[2].execution_count is None
