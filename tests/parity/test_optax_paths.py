"""optax's public paths, namespace by namespace, resolved in gdtransforms.

Every public name of the installed optax, in each of its namespaces, is looked
up at the same dotted path in gdtransforms. The test prints ``paths N/M``;
where optax re-exports one object at two paths (``optax.transforms.masked is
optax.masked``), gdtransforms must do the same.
"""

from __future__ import annotations

import importlib
import types
import typing

import optax
import pytest

import gdtransforms as gdt

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

NAMESPACES = [
    "",
    "schedules",
    "transforms",
    "tree_utils",
    "tree",
    "contrib",
    "losses",
    "projections",
    "second_order",
    "perturbations",
    "assignment",
    "experimental",
    "experimental.aggregating",
]
# The count may only grow; raise it as names are added.
MINIMUM_PATHS = 477


def _public(module: types.ModuleType) -> list[str]:
    """The public names of an optax namespace: not modules, nor ``typing``'s own objects that a module imported."""
    return sorted(
        n
        for n in dir(module)
        if not n.startswith("_")
        and not isinstance(getattr(module, n), types.ModuleType)
        and getattr(typing, n, None) is not getattr(module, n)
    )


def _optax_namespace(ns: str) -> types.ModuleType:
    """optax's namespace ``ns``; past the first part an attribute path (``optax.experimental.aggregating``
    is an attribute, not an importable module)."""
    if not ns:
        return optax
    first, *rest = ns.split(".")
    module = importlib.import_module(f"optax.{first}")
    for part in rest:
        module = getattr(module, part)
    return module


def _paths() -> list[tuple[str, str]]:
    return [(ns, name) for ns in NAMESPACES for name in _public(_optax_namespace(ns))]


PATHS = _paths()


def _namespace(ns: str):
    """``gdt`` itself, or its (possibly dotted) namespace ``ns``; None when missing."""
    module = gdt
    for part in ns.split(".") if ns else ():
        module = getattr(module, part, None)
    return module


def _resolve(ns: str, name: str):
    module = _namespace(ns)
    return getattr(module, name, None) if module is not None else None


def test_paths_count(capsys):
    found = [(ns, name) for ns, name in PATHS if _resolve(ns, name) is not None]
    with capsys.disabled():
        print(f"\npaths {len(found)}/{len(PATHS)}")
    assert len(found) >= MINIMUM_PATHS


@pytest.mark.parametrize("ns", [ns for ns in NAMESPACES if ns])
def test_shared_objects_are_shared(ns):
    """Where optax's namespace re-exports a top-level object, gdtransforms' does too."""
    opt_ns = _optax_namespace(ns)
    missing, different = [], []
    for name in _public(opt_ns):
        if getattr(optax, name, None) is not getattr(opt_ns, name) or not hasattr(gdt, name):
            continue
        ours = _resolve(ns, name)
        if ours is None:
            missing.append(name)
        elif ours is not getattr(gdt, name):
            different.append(name)
    assert not missing, f"gdtransforms.{ns} lacks {missing}, which gdtransforms has at the top level"
    assert not different, f"gdtransforms.{ns}.X is not gdtransforms.X for {different}"


@pytest.mark.parametrize("ns", [ns for ns in NAMESPACES if ns])
def test_namespace_names_are_optax_names_or_documented(ns):
    """A namespace holds optax's names, plus gdtransforms' own extras listed in its __all__."""
    ours = _namespace(ns)
    assert sorted(ours.__all__) == list(ours.__all__), f"gdtransforms.{ns}.__all__ is not sorted"
    for name in ours.__all__:
        assert hasattr(ours, name), f"gdtransforms.{ns}.__all__ names {name}, which it lacks"
