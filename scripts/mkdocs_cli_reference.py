"""The command-line reference of the docs site, rendered from the real parser so it cannot drift.

An mkdocs hook (mkdocs.yml: ``hooks:``): on ``docs/cli.md`` it replaces the marker line
``<!-- pitstop-cli-reference -->`` with one section per command of ``pitstop.cli.build_parser()``: its help,
its usage line and a table of its arguments (names, value, default, help). Run on its own it prints that
markdown: ``python scripts/mkdocs_cli_reference.py``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MARKER = "<!-- pitstop-cli-reference -->"
PAGE = "cli.md"


def _parser() -> argparse.ArgumentParser:
    src = str(ROOT / "src")
    if src not in sys.path:
        sys.path.insert(0, src)  # this checkout's code, whatever the virtualenv has installed
    from pitstop.cli import build_parser

    return build_parser()


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _names(action: argparse.Action) -> str:
    if action.option_strings:
        names = ", ".join(f"`{o}`" for o in action.option_strings)
        if action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(map(str, action.choices)) + "}" if action.choices else action.dest.upper())
            names += f" `{metavar}`"
        return names
    return f"`{action.metavar or action.dest}`"


def _details(action: argparse.Action) -> str:
    parts = [_cell(action.help or "")] if action.help and action.help != argparse.SUPPRESS else []
    if action.option_strings and action.choices and action.metavar:
        parts.append("one of " + ", ".join(f"`{c}`" for c in action.choices))
    if action.required and action.option_strings:
        parts.append("required")
    if action.nargs == "+":
        parts.append("one or more")
    elif action.nargs == "*":
        parts.append("zero or more")
    elif isinstance(action, argparse._AppendAction) and "repeat" not in (action.help or ""):
        parts.append("repeatable")
    default = action.default
    if (action.option_strings and action.nargs != 0 and default not in (None, argparse.SUPPRESS)
            and "default" not in (action.help or "")):
        parts.append(f"default `{default}`")
    return "; ".join(p for p in parts if p)


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)) and a.help != argparse.SUPPRESS
            and not (a.dest == "repo" and parser.prog != "pitstop")]  # --repo: once, under the global options


def _table(actions: list[argparse.Action]) -> list[str]:
    if not actions:
        return ["No arguments.", ""]
    rows = ["| argument | meaning |", "|---|---|"]
    rows += [f"| {_names(a)} | {_details(a)} |" for a in actions]
    return [*rows, ""]


def _usage(parser: argparse.ArgumentParser) -> str:
    usage = " ".join(parser.format_usage().split())
    return usage.removeprefix("usage: ")


def render() -> str:
    """The reference, as markdown: the global options, then every command in the parser's order."""
    parser = _parser()
    subparsers: Any = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in subparsers._choices_actions}
    lines = ["## Global options", "", "```text", _usage(parser), "```", ""]
    lines += _table(_arguments(parser))
    lines += ["## Commands", "", "| command | what it does |", "|---|---|"]
    lines += [f"| [`{name}`](#pitstop-{name}) | {_cell(helps.get(name, ''))} |" for name in subparsers.choices]
    lines.append("")
    for name, sub in subparsers.choices.items():
        lines += [f"### pitstop {name}", "", _cell(helps.get(name, "")), "", "```text", _usage(sub), "```", ""]
        lines += _table(_arguments(sub))
    return "\n".join(lines)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """mkdocs hook: fill the marker of the command-line page."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise ValueError(f"docs/{PAGE} lost its marker line {MARKER}: put it back where the reference goes")
    return markdown.replace(MARKER, render())


if __name__ == "__main__":
    print(render())
