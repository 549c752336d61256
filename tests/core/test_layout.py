"""The package's import graph: layered, acyclic, the toolkit on the public API only."""

from __future__ import annotations

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "gdtransforms"

# Implementation layers, lowest first: a module may import its own layer and those below.
LAYERS = ["_core", "_transforms", "_optimizers", "_schedules", "_wrappers", "_flat", "_scaleout"]
# Packages that hold their own implementation and sit above the layers (optax's namespaces
# with code of their own, or with a public module of their own: experimental.aggregating);
# they may import any layer, never the toolkit or the demo.
UPPER = [
    "contrib",
    "losses",
    "projections",
    "second_order",
    "perturbations",
    "assignment",
    "microbatching",
    "experimental",
]
TOP_ONLY = {"toolkit", "_demo", "__main__"}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, modules: set[str]) -> set[str]:
    """Every gdtransforms module imported by an import statement (in functions too), not under TYPE_CHECKING.

    ``importlib.import_module`` is not followed: the top level loads the toolkit on first use that way.
    """
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("gdtransforms"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gdtransforms"):
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if sub in modules else node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(ast.parse(path.read_text()), modules) - {name} for name, path in files.items()}


GRAPH = _graph()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_graph_is_found():
    assert "gdtransforms._core._base" in GRAPH
    assert "gdtransforms._core._base" in GRAPH["gdtransforms._transforms._adam"]


def test_no_import_cycle():
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt not in GRAPH:
                continue
            if state.get(nxt) == 1:
                cycle = stack[stack.index(nxt) :] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(GRAPH):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) in LAYERS))
def test_layers_import_only_themselves_and_below(module):
    rank = LAYERS.index(_layer(module))
    for dep in GRAPH[module]:
        layer = _layer(dep)
        assert layer in LAYERS[: rank + 1], f"{module} imports {dep}, which is not in a layer at or below it"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) in UPPER))
def test_namespaces_with_code_never_import_the_toolkit_or_the_demo(module):
    for dep in GRAPH[module]:
        assert _layer(dep) not in TOP_ONLY, f"{module} imports {dep}"
        assert dep != "gdtransforms", f"{module} imports the top-level package; import the layer instead"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "toolkit"))
def test_toolkit_uses_only_the_public_api(module):
    for dep in GRAPH[module]:
        public = dep == "gdtransforms" or not any(part.startswith("_") for part in dep.split(".")[1:2])
        assert public, f"{module} imports the private module {dep}"


def test_nothing_below_the_toolkit_imports_it():
    for module, deps in GRAPH.items():
        if _layer(module) in TOP_ONLY:
            continue
        for dep in deps:
            assert _layer(dep) not in TOP_ONLY, f"{module} imports {dep}"


def test_modules_stay_small():
    sizes = {p.name: len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    too_big = {name: n for name, n in sizes.items() if n > 450}
    assert not too_big, f"modules over 450 lines: {too_big}"
