"""Build the notebooks from their sources and execute them, outputs included.

Each notebook's source is a plain Python script in ``notebooks/src/`` written in
the "percent" format: a line ``# %% [markdown]`` starts a markdown cell (its
lines are comments, the leading ``# `` is removed), a line ``# %%`` starts a code
cell. Regenerate every notebook, or only some, with one command from the
repository root::

    python notebooks/_build.py            # all of them
    python notebooks/_build.py 03 07      # the ones whose names start so

The executed ``notebooks/<name>.ipynb`` files are committed with their outputs
(plots embedded as PNG) so they render on the repository page.
``tests/demo/test_notebooks.py`` re-executes each committed notebook from a clean
kernel and checks that it still matches its source here.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat

NOTEBOOK_DIR = Path(__file__).resolve().parent
SOURCE_DIR = NOTEBOOK_DIR / "src"
REPO_ROOT = NOTEBOOK_DIR.parent
KERNEL_NAME = "python3"
CELL_TIMEOUT_S = 300

_MARKDOWN = "# %% [markdown]"
_CODE = "# %%"


def sources() -> list[Path]:
    """The notebook sources, in order (``src/NN_name.py``)."""
    return sorted(SOURCE_DIR.glob("[0-9][0-9]_*.py"))


def notebook_path(source: Path) -> Path:
    """Where the executed notebook built from ``source`` lives."""
    return NOTEBOOK_DIR / (source.stem + ".ipynb")


def parse_cells(text: str) -> list[tuple[str, str]]:
    """Splits a percent-format script into ``(kind, source)`` cells.

    ``kind`` is ``"markdown"`` or ``"code"``. Text before the first marker is
    ignored (a module docstring or a comment may sit there).
    """
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        stripped = line.rstrip()
        if stripped == _MARKDOWN:
            cells.append(("markdown", []))
        elif stripped == _CODE:
            cells.append(("code", []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown":
                if stripped and not stripped.startswith("#"):
                    raise ValueError(f"markdown line is not a comment: {line!r}")
                stripped = stripped[2:] if stripped.startswith("# ") else stripped[1:]
            lines.append(stripped)
    out = []
    for kind, lines in cells:
        body = "\n".join(lines).strip("\n")
        if body:
            out.append((kind, body))
    return out


def build(source: Path) -> nbformat.NotebookNode:
    """The unexecuted notebook for one source file."""
    nb = nbformat.v4.new_notebook()
    for kind, body in parse_cells(source.read_text()):
        if kind == "markdown":
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
        else:
            nb.cells.append(nbformat.v4.new_code_cell(body))
    nb.metadata["kernelspec"] = {
        "name": KERNEL_NAME,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    # Stable cell ids keep the committed files' diffs small between rebuilds.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"{source.stem[:2]}-{i:02d}"
    return nb


def kernel_env() -> dict[str, str]:
    """The kernel's environment: this repository first on ``sys.path``.

    The ``python3`` kernel spec starts ``python -m ipykernel_launcher``;
    jupyter_client replaces that ``python`` with ``sys.executable``, so the
    kernel runs in the same interpreter as the caller (the test's venv).
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # plots inline, as PNG
    return env


def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Runs every cell in a fresh kernel; raises ``CellExecutionError`` on error."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
    )
    client.execute(env=kernel_env())
    return nb


def main(argv: list[str]) -> None:
    selected = [s for s in sources() if not argv or any(s.stem.startswith(a) for a in argv)]
    if not selected:
        raise SystemExit(f"no notebook source matches {argv}")
    for source in selected:
        start = time.perf_counter()
        nb = execute(build(source), cwd=NOTEBOOK_DIR)
        seconds = time.perf_counter() - start
        target = notebook_path(source)
        nbformat.write(nb, target)
        size = target.stat().st_size / 1024
        print(f"wrote {target.relative_to(REPO_ROOT)} ({size:.0f} KiB, executed in {seconds:.1f} s)")


if __name__ == "__main__":
    main(sys.argv[1:])
