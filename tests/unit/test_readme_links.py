"""README.md's relative links lead somewhere: every file it links exists, and every `#anchor` is a
heading of its target, as GitHub renders it. The docs site checks its own pages' links when it
is built (`make docs-build`, strict); the README is outside the site, so it is checked here."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"

FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# [text](target) and ![alt](target); the text may itself hold backticks already removed
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
EXTERNAL = ("http://", "https://", "mailto:")


def without_code(markdown: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def github_anchors(markdown: str) -> set[str]:
    """The ids GitHub gives a file's headings: lower case, punctuation dropped, each space a
    hyphen, and a repeated id numbered (-1, -2, ...)."""
    seen: Counter[str] = Counter()
    anchors = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        anchors.add(f"{slug}-{seen[slug]}" if seen[slug] else slug)
        seen[slug] += 1
    return anchors


def relative_links(markdown: str) -> list[str]:
    return [t for t in LINK.findall(without_code(markdown)) if not t.startswith(EXTERNAL)]


def test_the_anchor_rules_match_githubs() -> None:
    markdown = "\n".join(
        [
            "# Run policies: missed fires, catch-up",
            "## Backends: API keys (`service_role` JWT)",
            "## Limits",
            "## Limits",
            "```",
            "# not a heading",
            "```",
        ]
    )
    assert github_anchors(markdown) == {
        "run-policies-missed-fires-catch-up",
        "backends-api-keys-service_role-jwt",
        "limits",
        "limits-1",
    }


def test_the_readme_links_into_the_docs() -> None:
    links = relative_links(README.read_text())
    assert "docs/getting-started.md" in links
    assert "docs/api.md" in links


@pytest.mark.parametrize("link", sorted(set(relative_links(README.read_text()))))
def test_each_relative_link_of_the_readme_resolves(link: str) -> None:
    path, _, anchor = link.partition("#")
    target = (README.parent / path).resolve() if path else README
    assert target.exists(), f"README.md links {link!r}: no such file"
    if anchor:
        assert target.suffix == ".md", f"{link!r}: an anchor needs a page"
        assert anchor in github_anchors(target.read_text()), f"{link!r}: no such heading"
