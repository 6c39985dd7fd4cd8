"""The documentation's examples: write a console transcript of a script, or check the pages' transcripts.

Every example in ``docs/`` is a Python console transcript (``>>>`` lines and what they printed) that was run,
not typed. This tool makes and checks them:

    python tools/docs_examples.py record session.py     # run the script statement by statement, print a transcript
    python tools/docs_examples.py update docs/x.md      # re-run a page's ```pycon blocks, rewrite their outputs
    python tools/docs_examples.py check                 # run every transcript in docs/**/*.md with doctest

``record`` executes each top-level statement as the interactive interpreter does (an expression's value is
printed with ``repr``) and prints ``>>>``/``...`` prompts with the output, ready to paste into a page inside a
```` ```pycon ```` block. ``check`` runs the pages with :mod:`doctest` (``NORMALIZE_WHITESPACE`` and
``ELLIPSIS``), so a page whose numbers no longer match the library fails; run it after a model change, re-record
the pages it names with ``update`` (which keeps each block's input lines and replaces what they printed), and read
the new numbers against the page's prose before committing. All three need the built package (``pip install .``),
or ``PYTHONPATH=python`` with the engine in place.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import doctest
import io
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def record(source: str, namespace: dict[str, object] | None = None) -> str:
    """A console transcript of ``source``: each top-level statement with its prompts, then its output. Pass the
    same ``namespace`` to record several blocks of one page as one session (as ``check`` runs them)."""
    tree = ast.parse(source)
    lines = source.splitlines()
    if namespace is None:
        namespace = {"__name__": "__main__"}
    out: list[str] = []
    shown = 0  # source lines already printed (statements sharing a line print it once)
    for node in tree.body:
        start = node.lineno - 1
        if getattr(node, "decorator_list", None):
            start = min(d.lineno for d in node.decorator_list) - 1  # type: ignore[attr-defined]
        end = node.end_lineno or node.lineno
        if start >= shown:
            text = lines[start:end]
            out.append(">>> " + text[0])
            out.extend("... " + line for line in text[1:])
            shown = end
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            if isinstance(node, ast.Expr):
                value = eval(compile(ast.Expression(node.value), "<docs>", "eval"), namespace)
                if value is not None:
                    print(repr(value))
            else:
                exec(compile(ast.Module([node], []), "<docs>", "exec"), namespace)
        printed = buf.getvalue().rstrip("\n")
        if printed:
            out.extend(line if line.strip() else "<BLANKLINE>" for line in printed.splitlines())
    return "\n".join(out) + "\n"


_FENCE = re.compile(r"^```pycon\n(.*?)^```", re.S | re.M)


def update(path: Path) -> str:
    """The page at ``path`` with every ```` ```pycon ```` block re-run (one session per page, in page order): each
    block's ``>>>``/``...`` lines are kept and its output lines replaced by what they print now."""
    namespace: dict[str, object] = {"__name__": "__main__"}

    def rerun(m: re.Match[str]) -> str:
        source = [line[4:] for line in m.group(1).splitlines() if line.startswith((">>> ", "... "))]
        return "```pycon\n" + record("\n".join(source) + "\n", namespace) + "```"

    return _FENCE.sub(rerun, path.read_text(encoding="utf-8"))


def check(paths: list[Path]) -> int:
    """Runs the transcripts of ``paths`` with doctest; returns the number of failed examples."""
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    parser = doctest.DocTestParser()
    failed = 0
    for path in paths:
        # A code fence ends an example's expected output, as a blank line does.
        text = "\n".join(
            "" if line.lstrip().startswith("```") else line
            for line in path.read_text(encoding="utf-8").splitlines()
        )
        name = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
        test = parser.get_doctest(text, {"__name__": "__main__"}, name, str(path), 0)
        runner = doctest.DocTestRunner(optionflags=flags)
        result = runner.run(test)
        status = "ok" if result.failed == 0 else f"{result.failed} FAILED"
        print(f"{name}: {result.attempted} examples, {status}")
        failed += result.failed
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rec = sub.add_parser("record", help="print the console transcript of a script")
    rec.add_argument("script", type=Path, help="a Python script, run statement by statement")
    upd = sub.add_parser("update", help="re-run the transcripts of docs pages and rewrite their outputs")
    upd.add_argument("pages", nargs="+", type=Path, help="pages to rewrite in place")
    chk = sub.add_parser("check", help="run the transcripts of docs pages with doctest")
    chk.add_argument("pages", nargs="*", type=Path, help="pages to check (default: every docs/**/*.md)")
    args = parser.parse_args(argv)
    if args.command == "record":
        sys.stdout.write(record(args.script.read_text(encoding="utf-8")))
        return 0
    if args.command == "update":
        for page in args.pages:
            page.write_text(update(page), encoding="utf-8")
            print(f"rewrote {page}")
        return 0
    pages = [p.resolve() for p in args.pages] or sorted((ROOT / "docs").rglob("*.md"))
    return 1 if check(pages) else 0


if __name__ == "__main__":
    raise SystemExit(main())
