"""mkdocs hook: the generated pages of the site.

- ``api/``: one page per public object of gdtransforms and its public namespaces (see
  ``_api_index.py``), one index page per group, and the namespaces page listing every public
  path. A public name that cannot be given a page fails the build.
- ``optimizers.md``, ``benchmarks.md``, ``notebooks/index.md``: taken from README.md (one source).
- ``notebooks/*.ipynb``: the committed notebooks of the repository's ``notebooks/`` folder, which
  mkdocs-jupyter renders with their stored outputs (``execute: false``).

The navigation's "API reference" and "Notebooks" entries are filled in here too, so a new group
member or a new notebook needs no edit of mkdocs.yml.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

sys.path.insert(0, os.path.dirname(__file__))

import _api_index  # noqa: E402
import _readme  # noqa: E402

log = logging.getLogger("mkdocs.hooks.site_pages")

_INDEX: _api_index.Index | None = None

# README sections shown on the index page of an API group (how-to text above the list of names).
GROUP_README_SECTIONS = {
    "schedules": "## Schedules",
    "wrappers": "## Wrappers",
    "flat": "### Using the flat path",
    "scaleout": "## Scaling out and checkpoints",
    "toolkit": "## The training toolkit and the demo",
    "losses": "### Losses, projections, tree utilities",
}


def _repo_root(config: Any) -> Path:
    return Path(config["config_file_path"]).resolve().parent


def _notebooks(config: Any) -> list[Path]:
    return sorted((_repo_root(config) / "notebooks").glob("*.ipynb"))


def _index(config: Any) -> _api_index.Index:
    global _INDEX
    if _INDEX is None:
        _, _INDEX = _api_index.load_index(str(_repo_root(config)))
    return _INDEX


def on_config(config: Any) -> Any:
    """Fill the navigation's "API reference" and "Notebooks" sections."""
    global _INDEX
    _INDEX = None  # `mkdocs serve` rebuilds: read the package again
    nav = config["nav"] or []
    for i, item in enumerate(nav):
        if not isinstance(item, dict):
            continue
        ((title, value),) = item.items()
        if value == "api/index.md":
            nav[i] = {title: ["api/index.md"] + [{t: f"api/{k}/index.md"} for k, t, _ in _api_index.GROUPS]}
        elif value == "notebooks/index.md":
            # each notebook's title is its first heading (mkdocs-jupyter sets it)
            nav[i] = {title: ["notebooks/index.md", *(f"notebooks/{p.name}" for p in _notebooks(config))]}
    return config


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """In the notes and the differences, code spans that name a public object link to its page."""
    if page.file.src_uri in ("notes.md", "DIFFERENCES.md"):
        index = _index(config)

        def page_of(name: str) -> str | None:
            found = index.page_of_path.get(f"{_api_index.PACKAGE}.{name}")
            return found.src_uri if found else None

        return _readme.link_code_names(markdown, page.file.src_uri, page_of)
    return markdown


@event_priority(100)  # before mkdocs-jupyter's on_files, which claims the .ipynb files
def on_files(files: Files, config: Any) -> Files:
    index = _index(config)
    if index.problems:
        raise PluginError("public names without an API page:\n  " + "\n  ".join(index.problems))
    readme = (_repo_root(config) / "README.md").read_text(encoding="utf-8")

    def add(src_uri: str, content: str) -> None:
        files.append(File.generated(config, src_uri, content=content))

    for page in index.pages.values():
        add(page.src_uri, _object_page(page))
    for key, title, description in _api_index.GROUPS:
        add(f"api/{key}/index.md", _group_page(index, key, title, description, readme, config))
    add("api/index.md", _namespaces_page(index))

    for nb in _notebooks(config):
        # a plain File rooted at the repository (mkdocs-jupyter's wrapper loses a generated file's source path)
        files.append(
            File(
                f"notebooks/{nb.name}",
                src_dir=str(_repo_root(config)),
                dest_dir=config["site_dir"],
                use_directory_urls=config["use_directory_urls"],
            )
        )
    add("notebooks/index.md", _readme_page(readme, "## Notebooks", "notebooks/index.md", "Notebooks", config))
    add("optimizers.md", _optimizers_page(readme, config))
    # the flat path's how-to, under Speed in README.md, is on the Flat path page
    speed = _readme_page(readme, "## Speed", "benchmarks.md", "Benchmarks", config, drop="### Using the flat path")
    add("benchmarks.md", speed)

    _check_every_path_has_a_page(index, files)
    return files


def _check_every_path_has_a_page(index: _api_index.Index, files: Files) -> None:
    missing = []
    for namespace, names in index.namespaces.items():
        for name in names:
            path = f"{namespace}.{name}"
            page = index.page_of_path.get(path)
            if page is None and f"{path}" not in index.namespaces:
                missing.append(path)
            elif page is not None and files.get_file_from_path(page.src_uri) is None:
                missing.append(f"{path} (page {page.src_uri} not generated)")
    if missing:
        raise PluginError("public names without an API page:\n  " + "\n  ".join(missing))


# -- pages ---------------------------------------------------------------------------------------


def _object_page(page: _api_index.Page) -> str:
    # the object's own heading is the page's title; an object's page ranks above pages that
    # merely mention it (a search for "adamw" finds adamw first)
    lines = ["---", f"title: {page.short}", "search:", "  boost: 4", "---", ""]
    lines += [f"::: {page.ident}", "    options:", "      heading_level: 1", ""]
    others = [p for p in page.paths if p != page.ident]
    if others:
        lines += ["Also available as " + ", ".join(f"`{p}`" for p in others) + ".", ""]
    return "\n".join(lines)


def _table_text(text: str) -> str:
    """A docstring summary fit for a table cell: reST roles as Markdown, no pipes."""
    text = re.sub(r":math:`([^`]*)`", r"$\1$", text)
    text = re.sub(r":[a-z]+:`~?\.?([^`]*)`", r"`\1`", text)
    return text.replace("|", "\\|")


def _name_table(pages: list[_api_index.Page], here: str) -> list[str]:
    rows = ["| name | summary |", "| --- | --- |"]
    for page in pages:
        link = os.path.relpath(page.src_uri, here).replace(os.sep, "/")
        rows.append(f"| [`{page.short}`]({link}) | {_table_text(page.summary)} |")
    return rows


def _group_page(index: _api_index.Index, key: str, title: str, description: str, readme: str, config: Any) -> str:
    src = f"api/{key}/index.md"
    lines = [f"# {title}", "", description, ""]
    heading = GROUP_README_SECTIONS.get(key)
    if heading:
        body = _readme.section(readme, heading, body_only=True)
        if body is None:
            log.info("README.md has no section %r for the %s page", heading, key)
        else:
            level = len(heading.split(" ")[0])
            lines += [_fix_readme(_readme.shift_headings(body, 2 - level), src, index, config), ""]
    pages = index.group_pages(key)
    lines += ["## Reference", "", f"{len(pages)} public objects; each links to its page.", ""]
    lines += _name_table(pages, f"api/{key}")
    return "\n".join(lines) + "\n"


def _namespaces_page(index: _api_index.Index) -> str:
    lines = [
        "# API reference",
        "",
        "Every public name of gdtransforms has a page, generated from the package's `__all__` lists at",
        "build time. The pages are grouped by topic:",
        "",
        "| group | what it holds | objects |",
        "| --- | --- | --: |",
    ]
    for key, title, description in _api_index.GROUPS:
        lines.append(f"| [{title}]({key}/index.md) | {description} | {len(index.group_pages(key))} |")
    lines += [
        "",
        "## By namespace",
        "",
        "The same objects by the path you import them from. `import gdtransforms as optax` works:",
        "every path here is also optax's path for the same name.",
        "",
    ]
    for namespace, names in index.namespaces.items():
        lines += [f"### `{namespace}`", ""]
        cells = []
        for name in sorted(names, key=str.lower):
            path = f"{namespace}.{name}"
            page = index.page_of_path.get(path)
            if page is None:  # a namespace exported by its parent
                cells.append(f"[`{name}`](#{path.replace('.', '')})")
            else:
                cells.append(f"[`{name}`]({page.src_uri[len('api/') :]})")
        lines += [", ".join(cells), ""]
    return "\n".join(lines) + "\n"


def _known_src(config: Any) -> Any:
    notebooks = {f"notebooks/{p.name}" for p in _notebooks(config)}

    def known(path: str) -> str | None:
        if path.startswith("docs/") and path.endswith(".md"):
            return path[len("docs/") :]
        if path in notebooks:
            return path
        if path == "README.md":
            return "index.md"
        return None

    return known


def _fix_readme(text: str, src: str, index: _api_index.Index, config: Any) -> str:
    text = _readme.rewrite_links(text, src, _known_src(config))

    def page_of(name: str) -> str | None:
        page = index.page_of_path.get(f"{_api_index.PACKAGE}.{name}")
        return page.src_uri if page else None

    return _readme.link_code_names(text, src, page_of)


def _readme_page(readme: str, heading: str, src: str, title: str, config: Any, drop: str = "") -> str:
    body = _readme.section(readme, heading, body_only=True)
    if body is None:
        raise PluginError(f"README.md has no section {heading!r}, which the page {src} is made from")
    if drop:
        body = _readme.drop_section(body, drop)
    level = len(heading.split(" ")[0])
    body = _readme.shift_headings(body, 2 - level)
    return f"# {title}\n\n" + _fix_readme(body, src, _index(config), config)


def _optimizers_page(readme: str, config: Any) -> str:
    """README's optimizer table, each name linked to its API page."""
    index = _index(config)
    page = _readme_page(readme, "## Optimizers and transforms", "optimizers.md", "Optimizers and their papers", config)
    out = []
    for line in page.splitlines():
        cells = line.split(" | ")
        if line.startswith("| ") and len(cells) >= 3 and not set(cells[0]) <= set("|- "):
            cells[0] = "| " + _link_names(cells[0][2:], cells[1], index)
            line = " | ".join(cells)
        out.append(line)
    return "\n".join(out) + "\n"


def _link_names(names: str, paths: str, index: _api_index.Index) -> str:
    namespaces = [p.strip("` ").replace("gdt", _api_index.PACKAGE, 1) for p in paths.split(",")]

    items, depth, current = [], 0, ""
    for ch in names:  # split on the commas outside parentheses
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    out = []
    for item in items:
        match = re.match(r"(\s*)([A-Za-z_][A-Za-z0-9_]*)(.*)", item, re.S)
        if match:
            lead, name, rest = match.groups()
            for ns in namespaces + [_api_index.PACKAGE]:
                page = index.page_of_path.get(f"{ns}.{name}")
                if page is not None:
                    item = f"{lead}[{name}]({page.src_uri}){rest}"
                    break
        out.append(item)
    return ",".join(out)
