"""A griffe extension for the API reference (mkdocs.yml, ``mkdocstrings`` handler ``extensions``).

The package's docstrings are numpy-style text written for ``help()`` and doctest, with Sphinx roles in places.
Before griffe parses a docstring this extension rewrites, in the copy the site renders (never the source):

- Sphinx cross-reference roles (``:func:`gemm```, ``:class:`~perfmodel.Cluster```) into inline code, which
  Markdown shows as the name alone;
- a doctest block (``>>>`` lines and their output) into a fenced ``pycon`` block where it sits in the running
  text, or under an ``Examples`` heading where it follows a numpy section (``Parameters``, ``Returns``...) that
  would otherwise read its lines as entries.

It also documents what a user gets at run time where a package's ``__init__`` binds a name that is also one of its
submodules (``perfmodel.cluster``, ``perfmodel.serve.simulate``, ``perfmodel.serve.search`` are functions once the
package is imported, while a static reader sees the submodules): the function takes the name, and the submodule
is kept under ``_<name>_module`` (hidden from the reference) with the imports that point into it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(
    r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`~?\.?([^`<]+?)(?:\s*<[^>]*>)?`"
)
_DOCTEST_FLAG = re.compile(r"\s*#\s*doctest:.*$")
_SECTIONS = {
    "parameters",
    "other parameters",
    "returns",
    "yields",
    "receives",
    "raises",
    "warns",
    "attributes",
    "methods",
    "see also",
    "notes",
    "references",
    "examples",
}


def _is_header(lines: list[str], i: int) -> str | None:
    """The lower-cased section name when line ``i`` is a numpy section header (underlined by dashes)."""
    if i + 1 >= len(lines):
        return None
    name = lines[i].strip().lower()
    rule = lines[i + 1].strip()
    if name in _SECTIONS and rule and set(rule) == {"-"}:
        return name
    return None


def rewrite(text: str) -> str:
    """The docstring ``text`` as the site renders it (see the module docstring)."""
    text = _ROLE.sub(lambda m: f"``{m.group(1)}``", text)
    lines = text.split("\n")
    out: list[str] = []
    section: str | None = None
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        header = None if in_fence else _is_header(lines, i)
        if header is not None:
            section = header
            out.extend(lines[i : i + 2])
            i += 2
            continue
        if not in_fence and stripped.startswith(">>>") and section != "examples":
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(_DOCTEST_FLAG.sub("", lines[i]))
                i += 1
            if section is None:
                out.extend([f"{indent}```pycon", *block, f"{indent}```"])
            else:
                if out and out[-1].strip():
                    out.append("")
                out.extend([f"{indent}Examples", f"{indent}--------", *block])
                section = "examples"
            continue
        out.append(line)
        i += 1
    return "\n".join(out)


def _walk(obj: griffe.Object) -> Any:
    """``obj`` and every object below it (aliases are yielded, not followed)."""
    yield obj
    for member in list(obj.members.values()):
        if isinstance(member, griffe.Alias):
            yield member
        elif member.parent is obj:
            yield from _walk(member)


class DocstringsForTheSite(griffe.Extension):
    """Rewrites each object's docstring for rendering, and lets a package's own bindings win over a submodule of
    the same name (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        #: (package path, name) -> the function or import an ``__init__`` binds under that name.
        self._bound: dict[tuple[str, str], griffe.Object | griffe.Alias] = {}

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = rewrite(obj.docstring.value)

    def on_module_members(self, *, mod: griffe.Module, **kwargs: Any) -> None:
        if mod.is_init_module:
            for name, member in mod.members.items():
                if isinstance(member, griffe.Alias) or member.is_function:
                    self._bound[(mod.path, name)] = member

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        renamed: dict[str, str] = {}
        for obj in list(_walk(pkg)):
            if not isinstance(obj, griffe.Module) or isinstance(obj, griffe.Alias):
                continue
            for name, member in list(obj.members.items()):
                bound = self._bound.get((obj.path, name))
                if bound is None or isinstance(member, griffe.Alias) or not member.is_module:
                    continue
                old = member.path
                hidden = f"_{name}_module"
                obj.del_member(name)
                member.name = hidden
                obj.set_member(hidden, member)
                obj.set_member(name, bound)
                renamed[old] = member.path
        if not renamed:
            return
        for obj in _walk(pkg):
            if isinstance(obj, griffe.Alias):
                for old, new in renamed.items():
                    if obj.target_path == old or obj.target_path.startswith(old + "."):
                        obj.target_path = new + obj.target_path[len(old) :]
