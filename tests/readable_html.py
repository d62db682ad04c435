"""What a page a planner reads must not contain: scientific notation, ``None``, ``nan``, raw dicts (as
Python prints them, escaped or not) or the m1/m2/m3 placeholders for months. Shared by the report tests
(``salesplan report``, the proposal's HTML export, the funnel report) and its own can-fail test."""

from __future__ import annotations

import re

__all__ = ["BAD_TEXT", "unreadable"]

BAD_TEXT = {
    # a number standing alone (not a run inside an id such as a UUID's "758e-54")
    "scientific notation": re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?e[+-]?\d+(?![\w-])", re.IGNORECASE),
    "None": re.compile(r"\bNone\b"),
    "nan": re.compile(r"\bnan\b", re.IGNORECASE),
    "raw dict": re.compile(r"\{\s*(?:'|&#x27;|&#39;|\"|&quot;)"),
    "month placeholder": re.compile(r">\s*m[123]\s*<"),
}
IMAGES = re.compile(r"data:image/[a-z]+;base64,[A-Za-z0-9+/=]+")
CODE = re.compile(r"<style>.*?</style>|<script\b.*?</script>", re.DOTALL)


def unreadable(page: str) -> list[str]:
    """Each offending snippet as ``kind: …context…`` (empty when the page reads well); embedded images,
    styles and scripts are left out (base64 and CSS are not text a reader sees)."""
    text = CODE.sub("", IMAGES.sub("IMG", page))
    found = []
    for kind, pattern in BAD_TEXT.items():
        for m in pattern.finditer(text):
            found.append(f"{kind}: …{text[max(0, m.start() - 60) : m.end() + 30]}…".replace("\n", " "))
    return found
