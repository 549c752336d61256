"""Which API page documents which public name: computed from the package, never listed by hand.

The site's API reference is generated (see ``api_pages.py``): every name in the ``__all__`` of
``gdtransforms`` and of each public namespace (``gdtransforms.contrib``, ``gdtransforms.toolkit.surfaces``,
...) gets a page. The package is read statically with griffe, the same reader mkdocstrings renders
from, so nothing is imported or executed to build the site.

One object reachable at several public paths (``gdtransforms.scale_by_adam`` and
``gdtransforms.transforms.scale_by_adam``) gets one page, at its first public path in
``NAMESPACE_ORDER``; the page lists the other paths. Each page belongs to one group of the
reference, chosen from the module that defines the object (``GROUP_OF_MODULE``); an object
defined somewhere no rule covers falls back to the group of the namespace it is exported from,
so a new module never leaves a name without a page.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

PACKAGE = "gdtransforms"

# (key, title, one-line description); the order of the reference's navigation.
GROUPS: list[tuple[str, str, str]] = [
    ("core", "Core", "Base types, `chain`, `apply_updates`, moments and the numerical helpers."),
    ("optimizers", "Optimizers", "Ready-made optimizers: chains of transforms with a learning rate."),
    ("transforms", "Transforms", "The primitive gradient transformations (`scale_by_*`, clipping, ...)."),
    ("schedules", "Schedules", "Learning-rate schedules and live hyperparameters (`inject_hyperparams`)."),
    ("wrappers", "Wrappers", "Transformations of transformations: masking, skipping, multi-step, monitoring."),
    ("contrib", "Contrib", "Recent optimizers (Muon, schedule-free, Prodigy, ...), as in `optax.contrib`."),
    ("losses", "Losses", "Loss functions, as in `optax.losses`."),
    ("projections", "Projections", "Euclidean projections onto convex sets, as in `optax.projections`."),
    ("tree", "Tree utilities", "Arithmetic and helpers on pytrees (`gdtransforms.tree`, `gdtransforms.tree_utils`)."),
    (
        "more",
        "Second order, perturbations, assignment",
        "Curvature products, perturbed functions and the Hungarian algorithm.",
    ),
    ("flat", "Flat path", "Parameters as one contiguous buffer per dtype, and the fused train step."),
    ("scaleout", "Scale-out and checkpoints", "Sharding helpers, and saving and restoring optimizer state."),
    ("toolkit", "Toolkit", "Mini-batches, the training checklist, the loss-curve doctor, plots and test surfaces."),
]
GROUP_KEYS = [key for key, _, _ in GROUPS]

# Longest matching prefix of the defining module wins.
GROUP_OF_MODULE: dict[str, str] = {
    f"{PACKAGE}._core": "core",
    f"{PACKAGE}._core._tree": "tree",
    f"{PACKAGE}._core._tree_api": "tree",
    f"{PACKAGE}._core._tree_checks": "tree",
    f"{PACKAGE}._core._tree_like": "tree",
    f"{PACKAGE}._core._tree_math": "tree",
    f"{PACKAGE}._core._tree_random": "tree",
    f"{PACKAGE}._core._flat_params": "flat",
    f"{PACKAGE}._optimizers": "optimizers",
    f"{PACKAGE}._transforms": "transforms",
    f"{PACKAGE}._schedules": "schedules",
    f"{PACKAGE}._wrappers": "wrappers",
    f"{PACKAGE}._flat": "flat",
    f"{PACKAGE}._scaleout": "scaleout",
    f"{PACKAGE}.contrib": "contrib",
    f"{PACKAGE}.losses": "losses",
    f"{PACKAGE}.projections": "projections",
    f"{PACKAGE}.tree": "tree",
    f"{PACKAGE}.tree_utils": "tree",
    f"{PACKAGE}.second_order": "more",
    f"{PACKAGE}.perturbations": "more",
    f"{PACKAGE}.assignment": "more",
    f"{PACKAGE}.microbatching": "wrappers",
    f"{PACKAGE}.toolkit": "toolkit",
    f"{PACKAGE}.schedules": "schedules",
    f"{PACKAGE}.transforms": "transforms",
}

# A name exported from several namespaces gets its page at the first of these (then alphabetical).
NAMESPACE_ORDER = [
    PACKAGE,
    f"{PACKAGE}.transforms",
    f"{PACKAGE}.schedules",
    f"{PACKAGE}.contrib",
    f"{PACKAGE}.losses",
    f"{PACKAGE}.projections",
    f"{PACKAGE}.tree",
    f"{PACKAGE}.tree_utils",
]


@dataclasses.dataclass
class Page:
    """One API page: one object, documented at ``ident``, reachable at every path of ``paths``."""

    ident: str  # the public path mkdocstrings renders (``gdtransforms.scale_by_adam``)
    canonical: str  # where the object is defined (``gdtransforms._transforms._adam.scale_by_adam``)
    group: str
    kind: str  # function, class, attribute or module
    summary: str
    paths: list[str] = dataclasses.field(default_factory=list)

    @property
    def short(self) -> str:
        return self.ident[len(PACKAGE) + 1 :]

    @property
    def src_uri(self) -> str:
        return f"api/{self.group}/{self.short}.md"


@dataclasses.dataclass
class Index:
    """Every public namespace with its exported names, and the page of each name."""

    namespaces: dict[str, list[str]]  # namespace path -> its public names, as in __all__
    pages: dict[str, Page]  # canonical path -> page
    page_of_path: dict[str, Page]  # public path (``gdtransforms.transforms.scale_by_adam``) -> page
    problems: list[str]  # public names that could not be given a page

    def group_pages(self, group: str) -> list[Page]:
        return sorted((p for p in self.pages.values() if p.group == group), key=lambda p: p.short.lower())


def _namespace_rank(path: str) -> tuple[int, str]:
    return (NAMESPACE_ORDER.index(path), "") if path in NAMESPACE_ORDER else (len(NAMESPACE_ORDER), path)


def public_modules(package: Any) -> Iterator[Any]:
    """The package and each of its submodules whose dotted path has no private part, recursively."""
    yield package
    for name, module in sorted(package.modules.items()):
        if name.startswith("_") or module.is_alias:
            continue
        yield from public_modules(module)


def exported_names(module: Any) -> list[str]:
    """``__all__`` of a module when it has one, else its public, non-imported members."""
    if module.exports is not None:
        return [str(name) for name in module.exports]
    return [
        name
        for name, member in module.members.items()
        if not name.startswith("_") and not member.is_alias and not member.is_module
    ]


def group_for(canonical: str, namespace: str) -> str:
    best = ""
    for prefix in GROUP_OF_MODULE:
        if (canonical == prefix or canonical.startswith(prefix + ".")) and len(prefix) > len(best):
            best = prefix
    if best:
        return GROUP_OF_MODULE[best]
    for prefix, group in GROUP_OF_MODULE.items():  # defined outside every rule: the namespace decides
        if namespace == prefix or namespace.startswith(prefix + "."):
            return group
    return "core"


def summary_of(obj: Any) -> str:
    docstring = obj.docstring.value if obj.docstring else ""
    return docstring.strip().split("\n\n")[0].replace("\n", " ").strip()


def build_index(package: Any) -> Index:
    """Walk a griffe-loaded package and give every public name a page."""
    namespaces: dict[str, list[str]] = {}
    pages: dict[str, Page] = {}
    page_of_path: dict[str, Page] = {}
    problems: list[str] = []
    modules = sorted(public_modules(package), key=lambda m: _namespace_rank(m.path))
    for module in modules:
        names = exported_names(module)
        namespaces[module.path] = names
        for name in names:
            path = f"{module.path}.{name}"
            try:
                obj = module[name]
                target = obj.final_target if obj.is_alias else obj
            except Exception as err:  # a name in __all__ that is not there, or an import griffe cannot follow
                problems.append(f"{path}: {type(err).__name__}: {err}")
                continue
            if target.is_module:
                continue  # a namespace: it has its own section on the namespaces page
            canonical = target.path
            page = pages.get(canonical)
            if page is None:
                page = Page(
                    ident=path,
                    canonical=canonical,
                    group=group_for(canonical, module.path),
                    kind=target.kind.value,
                    summary=summary_of(target),
                )
                pages[canonical] = page
            page.paths.append(path)
            page_of_path[path] = page
    seen: dict[str, str] = {}
    for page in pages.values():  # two objects must never share one page file
        other = seen.setdefault(page.src_uri.lower(), page.ident)
        if other != page.ident:
            problems.append(f"{page.ident} and {other} would share the page {page.src_uri}")
    return Index(namespaces, pages, page_of_path, problems)


def load_index(search_path: str) -> tuple[Any, Index]:
    import griffe

    package = griffe.load(PACKAGE, search_paths=[search_path], resolve_aliases=True, resolve_external=False)
    return package, build_index(package)
