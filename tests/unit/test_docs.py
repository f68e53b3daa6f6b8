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
