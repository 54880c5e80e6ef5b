"""In-source suppression: ``# noqa``, ``# noqa: TRC101,TRC2`` and ``# fxlint: ignore[TRC101]``.

A comment suppresses matching diagnostics that start or end on its line (so a multi-line
statement can carry it on either). Codes are matched by prefix, like ``--select``. Unknown codes
are collected so the CLI can warn about them, as ruff does for unused ``noqa`` codes.
"""

from __future__ import annotations

import re
from typing import Dict, FrozenSet, List, Optional, Tuple

from fxlint.diagnostics import physical_lines

_NOQA = re.compile(r"#\s*noqa(?P<colon>:(?P<codes>[^#]*))?", re.IGNORECASE)
_CODE = re.compile(r"^[A-Z]+[0-9]*$")
_IGNORE = re.compile(r"#\s*fxlint:\s*ignore(?:\[(?P<codes>[^\]]*)\])?", re.IGNORECASE)
_ALL: FrozenSet[str] = frozenset({""})


class Suppressions:
    """The suppression comments of one file, by line."""

    def __init__(self, text: str) -> None:
        self.by_line: Dict[int, FrozenSet[str]] = {}
        if not mentions_suppression(text):
            return
        for row, line in enumerate(physical_lines(text), start=1):  # rows as the parsers count them
            if "#" in line:
                codes = _codes_on(line)
                if codes is not None:
                    self.by_line[row] = codes

    def suppresses(self, code: str, row: int, end_row: int) -> bool:
        for r in (row, end_row):
            codes = self.by_line.get(r)
            if codes is not None and (codes is _ALL or any(code.startswith(c) for c in codes)):
                return True
        return False

    def mentioned_codes(self) -> List[Tuple[int, str]]:
        return [(row, c) for row, codes in sorted(self.by_line.items()) for c in sorted(codes) if c]


def mentions_suppression(text: str) -> bool:
    """Does the text hold either word of a suppression comment, in any case? (at ``in`` speed: the
    regular expression search was 20x slower on large trees)"""
    folded = text.lower()
    return "noqa" in folded or "fxlint:" in folded


def _codes_on(line: str) -> Optional[FrozenSet[str]]:
    for pattern in (_IGNORE, _NOQA):
        match = pattern.search(line)
        if match:
            raw = match.group("codes")
            if raw is None or not raw.strip():
                return _ALL  # a bare `# noqa` / `# fxlint: ignore`
            tokens = [t for t in re.split(r"[\s,]+", raw.strip()) if t]
            # a malformed token (`TRC10l`) suppresses nothing; `fxlint check` warns about it
            return frozenset(t.upper() for t in tokens if _CODE.match(t.upper()) and t[-1:].isdigit())
    return None
