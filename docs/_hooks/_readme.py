"""Pieces of README.md reused on the site, so that each table has one source.

The optimizer table, the benchmark tables, the notebook list and the how-to sections of the
wrappers, schedules, flat path, scale-out and toolkit live in README.md; the site's pages take
them from there at build time. Links are rewritten for the page they land on, and code spans
that name a public object (`adam`, `gdt.adam(...)`, `toolkit.diagnose`) link to its API page.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable

_HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK = re.compile(r"(?<!!)\[([^\]]+)\]\(([^)\s]+)\)")
_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
_NAME = re.compile(r"^(?:gdt\.|gdtransforms\.)?([A-Za-z_][A-Za-z0-9_.]*)(\(.*\))?$")


def section(text: str, heading: str, *, body_only: bool = False) -> str | None:
    """The section of ``text`` under ``heading`` (e.g. ``"## Speed"``), up to the next heading of its level.

    Headings inside fenced code blocks (a ``# comment`` in a bash block) are not headings.
    """
    level = len(heading.split(" ", 1)[0])
    lines = text.splitlines()
    out: list[str] = []
    inside = fenced = False
    for line in lines:
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match and inside and len(match.group(1)) <= level:
            break
        if match and not inside and line.strip() == heading:
            inside = True
            if body_only:
                continue
        if inside:
            out.append(line)
    return "\n".join(out).strip() + "\n" if inside else None


def drop_section(text: str, heading: str) -> str:
    """``text`` without the section under ``heading`` (unchanged when there is none)."""
    part = section(text, heading)
    return text.replace(part.rstrip("\n"), "").rstrip() + "\n" if part else text


def shift_headings(text: str, by: int) -> str:
    """Move every heading (outside code fences) ``by`` levels down (positive) or up (negative)."""
    out = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _HEADING.match(line)
        if match:
            level = min(6, max(1, len(match.group(1)) + by))
            line = "#" * level + " " + match.group(2)
        out.append(line)
    return "\n".join(out) + "\n"


def rewrite_links(text: str, page_src: str, known_src: Callable[[str], str | None]) -> str:
    """Point README's repository-relative links at the site's pages, relative to ``page_src``.

    ``known_src`` maps a repository path (``docs/notes.md``, ``notebooks/03_x.ipynb``) to the
    page's source path on the site, or None: such a link (to a test or a script) becomes plain text.
    """
    here = posixpath.dirname(page_src)

    def fix(match: re.Match[str]) -> str:
        label, target = match.group(1), match.group(2)
        if "://" in target or target.startswith("#") or target.startswith("mailto:"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        src = known_src(path)
        if src is None:
            return label
        rel = posixpath.relpath(src, here or ".")
        return f"[{label}]({rel}{'#' + anchor if anchor else ''})"

    return _map_outside_fences(text, lambda line: _LINK.sub(fix, line))


def link_code_names(text: str, page_src: str, page_of: Callable[[str], str | None]) -> str:
    """Turn code spans that name a public object into links to its page.

    ``page_of`` maps a dotted name without the package prefix (``adam``, ``toolkit.diagnose``,
    ``contrib.muon``) to its page's source path, or None. Code spans already inside a link are left alone.
    """
    here = posixpath.dirname(page_src)

    def fix_line(line: str) -> str:
        pieces = re.split(r"(\[[^\]]*\]\([^)]*\))", line)  # leave existing links as they are
        for i in range(0, len(pieces), 2):
            pieces[i] = _CODE.sub(lambda m: _link_code(m, here, page_of), pieces[i])
        return "".join(pieces)

    return _map_outside_fences(text, fix_line)


def _link_code(match: re.Match[str], here: str, page_of: Callable[[str], str | None]) -> str:
    code = match.group(1)
    parsed = _NAME.match(code.strip())
    if parsed is None:
        return match.group(0)
    src = page_of(parsed.group(1))
    if src is None:
        return match.group(0)
    return f"[`{code}`]({posixpath.relpath(src, here or '.')})"


def _map_outside_fences(text: str, fn: Callable[[str], str]) -> str:
    out = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            out.append(line)
            continue
        out.append(line if fenced else fn(line))
    return "\n".join(out) + "\n"
