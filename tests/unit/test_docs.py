"""The repository stands alone: its docs and code cite nothing outside it, and the README's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTSIDE = ("../shared", "shared/bench", "shared/design", "design.md", "stack-notes")


def _texts() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "pyproject.toml", ROOT / "Makefile", ROOT / "docker-compose.yml"]
    folders = ("src", "benchmarks", "scripts", "jobs", "dags", "docs", "plugins", "feature_defs", "docker", "tests")
    for folder in folders:
        files += [p for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix in
                  {".py", ".md", ".sh", ".toml", ".yaml", ".yml", ".json", ".txt", ".properties", ""}]
    return [p for p in files if p.is_file() and "__pycache__" not in p.parts
            and not any(part.endswith(".egg-info") for part in p.parts)]  # build output, not the repository's text


def test_nothing_cites_a_file_outside_the_repository() -> None:
    me = Path(__file__).resolve()
    found = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
             for p in _texts() if p.resolve() != me
             for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
             if any(word in line for word in OUTSIDE)]
    assert found == []


def _slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readme_links_to_the_semantics_and_every_local_link_resolves() -> None:
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert "docs/semantics.md" in links
    for link in links:
        if re.match(r"[a-z]+://", link):
            continue
        path, _, anchor = link.partition("#")
        target = ROOT / path
        assert target.exists(), link
        if anchor:
            headings = re.findall(r"^#+ (.+)$", target.read_text(), re.MULTILINE)
            assert anchor in {_slug(h) for h in headings}, link


def test_the_semantics_page_says_what_changed_about_days_and_latest_values() -> None:
    page = (ROOT / "docs" / "semantics.md").read_text()
    text = " ".join(page.split())
    assert "## Materialized days" in page
    assert "a *quiet* day, on which no entity had any event, is still materialized" in text
    assert "before the source's first event" in text and "before the view's `start_date`" in text
    assert "comes from the **whole history of the source** before S(D), not from the days materialized so far" in text


def test_the_readme_stays_short() -> None:
    """The README is the front door (what, why, the two commands, one view end to end); the rest is docs/."""
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_every_docs_page_is_in_the_site_nav_and_every_nav_entry_exists() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = _nav_pages(config["nav"])
    pages = sorted(str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md"))
    assert sorted(nav) == pages
    assert config["strict"] is True
    assert [p if isinstance(p, str) else next(iter(p)) for p in config["plugins"]] == ["search"]  # offline build


def test_the_cli_reference_is_rendered_from_the_parser_with_every_command_and_option() -> None:
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location("mkdocs_cli_reference", ROOT / "scripts" / "mkdocs_cli_reference.py")
    assert spec is not None and spec.loader is not None
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    page = (ROOT / "docs" / "cli.md").read_text()
    assert page.count(hook.MARKER) == 1
    text = hook.render()
    from pitstop.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert len(commands) >= 20
    for name, sub in commands.items():
        assert f"### pitstop {name}\n" in text, name
        section = text.split(f"### pitstop {name}\n", 1)[1].split("\n### ", 1)[0]
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help", "--repo"):
                    assert f"`{option}`" in section, (name, option)

    class Page:
        class file:
            src_uri = "cli.md"

    rendered = hook.on_page_markdown(page, Page)
    assert hook.MARKER not in rendered and "### pitstop materialize" in rendered
