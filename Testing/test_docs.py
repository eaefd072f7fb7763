"""The README a newcomer reads in five minutes, and the docs it links: short, every link resolves,
every topic file reachable from the README."""
from __future__ import annotations

import re
from pathlib import Path
from typing import List

import pytest
from conftest import ROOT

README = ROOT / "README.md"
DOCS = ROOT / "docs"
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)|src=\"([^\"]+)\"")


def relative_links(path: Path) -> List[str]:
    links = []
    for match in LINK.finditer(path.read_text(encoding="utf-8")):
        target = match.group(1) or match.group(3)
        if target and not re.match(r"^[a-z]+:", target):
            links.append(target)
    return links


def test_the_readme_is_read_in_five_minutes() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


@pytest.mark.parametrize("page", [README] + sorted(DOCS.glob("*.md")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_and_picture_resolves(page: Path) -> None:
    missing = [t for t in relative_links(page) if not (page.parent / t).exists()]
    assert not missing, "%s links to missing files: %s" % (page.name, missing)


def test_every_topic_in_docs_is_reachable_from_the_readme() -> None:
    # Linked from the README, or from a page it links (a topic's own sub-page, e.g. publishing.md
    # from slicer.md).
    reached, pages = set(), [README.resolve()]
    while pages:
        page = pages.pop()
        for target in relative_links(page):
            found = (page.parent / target).resolve()
            if found.suffix == ".md" and found.is_file() and found not in reached:
                reached.add(found)
                pages.append(found)
    unlinked = [p.name for p in DOCS.glob("*.md") if p.resolve() not in reached]
    assert not unlinked, "docs not reachable from README.md: %s" % unlinked
