"""griffe extension: the reST markup of gdtransforms' docstrings, as Markdown for mkdocstrings.

The docstrings are Google style with a few reST constructs (as optax's are), which help()
and IDEs show as they are. For the site they become Markdown that the build can check:

- doctest blocks (``>>>``) -> fenced ``pycon`` code;
- ``.. math::`` and its indented block -> a ``$$ ... $$`` display block (pymdownx.arithmatex);
- ``:math:`x``` -> ``$x$``;
- ``docs/notes.md §N`` -> a link to that section of the notes page (a missing section is a warning);
- ``:class:`X```, ``:func:`X```, ``:meth:``, ``:attr:``, ``:data:``, ``:mod:`` -> a link to the
  API page of ``X`` when ``X`` is public, plain code when it is private or outside the package
  (``jax.numpy.allclose``), and a warning (an error under ``mkdocs build --strict``) when ``X``
  names nothing at all: a broken cross-reference fails the build.

Names are looked up the way a reader would: in the module of the object the docstring belongs
to, then in the package's top level and public namespaces.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

import griffe

sys.path.insert(0, os.path.dirname(__file__))

import _api_index  # noqa: E402

# mkdocstrings routes griffe's logger to mkdocs, so a warning here fails `mkdocs build --strict`.
log = griffe.logger


_ROLE = re.compile(r":(class|func|meth|attr|data|mod|obj|exc):`([^`]+)`")
_MATH_ROLE = re.compile(r":math:`([^`]*)`")
_MATH_DIRECTIVE = re.compile(r"^(\s*)\.\. math::\s*(.*)$")
_NOTES_REF = re.compile(r"docs/notes\.md (§(\d+))")
_NOTES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "notes.md")
_EXTERNAL = ("jax.", "numpy.", "np.", "jnp.", "optax.", "flax.", "equinox.", "scipy.", "orbax.", "matplotlib.")


def convert_math(text: str) -> str:
    """``.. math::`` blocks and ``:math:`` roles as arithmatex's ``$$``/``$`` syntax."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _MATH_DIRECTIVE.match(lines[i])
        if not match:
            out.append(lines[i])
            i += 1
            continue
        indent, first = match.group(1), match.group(2).strip()
        body = [first] if first else []
        i += 1
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > len(indent)):
            body.append(lines[i].strip())
            i += 1
        while body and not body[-1]:
            body.pop()
        while body and not body[0]:
            body.pop(0)
        body = [line for line in body if line]  # one display block: a blank line would end it
        tex = "\n".join(body)
        if "\\begin{" not in tex and ("&" in tex or "\\\\" in tex):
            # as Sphinx does, several lines of one formula are set together (aligned at & if any)
            env = "aligned" if "&" in tex else "gathered"
            body = [f"\\begin{{{env}}}", *body, f"\\end{{{env}}}"]
        out += [f"{indent}$$", *[f"{indent}{line}" for line in body], f"{indent}$$", ""]
    return _MATH_ROLE.sub(lambda m: f"${m.group(1).strip()}$", "\n".join(out))


def fence_doctests(text: str) -> str:
    """Doctest blocks (``>>>`` lines and their output) as fenced ``pycon`` code, wherever they sit.

    griffe gives an ``Examples:`` section code of its own, but ``Example:`` becomes an admonition whose
    doctest output (``[-0.1]``) Markdown would read as a link reference.
    """
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: _indent(line)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip() and lines[i].startswith(indent):
            out.append(lines[i])
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


def notes_anchors(path: str = _NOTES) -> dict[str, str]:
    """``{"7": "7-adam", ...}``: the anchor of each ``## §N ...`` heading of docs/notes.md."""
    from markdown.extensions.toc import slugify

    anchors = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            match = re.match(r"^## (§(\d+)\b.*?)\s*$", line)
            if match:
                anchors[match.group(2)] = slugify(match.group(1), "-")
    return anchors


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


class RstToMarkdown(griffe.Extension):
    """Rewrite the reST parts of every docstring of the package before mkdocstrings parses it."""

    def __init__(self, package: str = _api_index.PACKAGE) -> None:
        super().__init__()
        self._package_name = package
        self._notes = notes_anchors() if os.path.exists(_NOTES) else {}
        self._index: _api_index.Index | None = None
        self._package: Any = None

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        if pkg.path != self._package_name:
            return
        self._package = pkg
        try:
            self._index = _api_index.build_index(pkg)
        except Exception as err:  # aliases not resolvable yet: fall back to lookups without an index
            log.debug("griffe_rst: index not built: %s", err)
        self._walk(pkg, set())

    def _walk(self, obj: Any, seen: set[str]) -> None:
        if obj.path in seen:
            return
        seen.add(obj.path)
        if obj.docstring is not None:
            obj.docstring.value = self.convert(obj.docstring.value, obj)
        for member in obj.members.values():
            if member.is_alias:
                continue
            self._walk(member, seen)

    def convert(self, text: str, obj: Any) -> str:
        text = fence_doctests(convert_math(text))
        text = _NOTES_REF.sub(lambda m: self._notes_link(m, obj), text)
        return _ROLE.sub(lambda m: self._reference(m.group(2), obj), text)

    def _notes_link(self, match: re.Match[str], obj: Any) -> str:
        """``docs/notes.md §7`` -> a link to that section of the notes page (an autorefs heading anchor)."""
        anchor = self._notes.get(match.group(2))
        if anchor is None:
            log.warning("%s: the docstring cites docs/notes.md %s, which has no such section", obj.path, match.group(1))
            return match.group(0)
        return f"[docs/notes.md {match.group(1)}][{anchor}]"

    def _reference(self, target: str, obj: Any) -> str:
        shown = target.strip()
        short = shown.startswith("~")
        name = shown.lstrip("~").lstrip(".")
        label = name.rsplit(".", 1)[-1] if short else name
        if name.startswith(_EXTERNAL):
            return f"`{label}`"
        found = self._lookup(name, obj)
        if found is None:
            log.warning("%s: the docstring refers to %r, which names nothing", obj.path, target)
            return f"`{label}`"
        ident = self._page_ident(found)
        return f"[`{label}`][{ident}]" if ident else f"`{label}`"

    def _lookup(self, name: str, obj: Any) -> Any:
        """The griffe object that ``name`` means in the docstring of ``obj``, or None."""
        module = obj if obj.is_module else obj.module
        scopes = [node for node in (obj, obj.parent) if node is not None and node.is_class]  # sibling methods
        scopes += [module, module.parent] if module.parent else [module]
        if self._package is not None:
            scopes.append(self._package)
            scopes += [m for m in _api_index.public_modules(self._package)]
        candidates = [name[len(_api_index.PACKAGE) + 1 :]] if name.startswith(_api_index.PACKAGE + ".") else []
        candidates.append(name)
        if name == self._package_name:
            return self._package
        for scope in ([self._package] if candidates[0] != name else []) + scopes:
            if scope is None:
                continue
            for candidate in candidates:
                try:
                    found = scope[candidate]
                    return found.final_target if found.is_alias else found
                except Exception:
                    continue
        return None

    def _page_ident(self, found: Any) -> str | None:
        """The identifier of the API page that documents ``found`` (or its class/module), if any."""
        if self._index is None:
            return None
        node = found
        while node is not None:
            page = self._index.pages.get(node.path)
            if page is not None:
                return page.ident
            if node.is_module and node.path in self._index.namespaces:
                return None  # a namespace: no single page (it is listed on the API index)
            node = node.parent
        return None
