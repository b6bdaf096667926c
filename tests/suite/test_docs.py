"""The README is a short door: at most 150 lines, every docs/ page linked from it, and every relative link in
the README and in docs/ pointing at a file that exists (and, with a #fragment, at a heading of that file)."""
from __future__ import annotations

import re
from pathlib import Path

from helpers_paths import REPO

ROOT = REPO
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 150
# [text](target) and ![alt](target); the target ends at whitespace or ')'.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (but '-' and '_'), spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)  # no code blocks
    return {slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}


def links(page: Path) -> list[str]:
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.S | re.M)
    return LINK.findall(text)


def broken_links(page: Path) -> list[str]:
    """Relative links of `page` whose file, or whose #heading in that file, does not exist."""
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target} (no heading #{fragment} in {dest.name})")
    return broken


def test_readme_is_at_most_150_lines():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail into docs/"


def test_every_readme_link_resolves():
    assert broken_links(README) == []


def test_every_docs_page_is_linked_from_the_readme_and_its_links_resolve():
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ has no pages"
    linked = {(ROOT / t.partition("#")[0]).resolve() for t in links(README) if t.startswith("docs/")}
    assert [p.name for p in pages if p.resolve() not in linked] == []
    assert {p.name: broken_links(p) for p in pages if broken_links(p)} == {}


def test_the_link_check_can_fail(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Model specs (`--model`)\n")
    page.write_text("[a](other.md#model-specs---model) [b](missing.md) [c](other.md#nope) [d](https://x.y/z)\n"
                    "```\n[e](inside-code.md)\n```\n")
    assert broken_links(page) == ["missing.md (no such file)", "other.md#nope (no heading #nope in other.md)"]
