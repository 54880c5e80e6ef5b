"""Warnings for suppression comments that name codes no rule has (ruff's RUF100 "unknown" case).

``# fxlint: ignore[...]`` is fxlint's own comment, so every code in it must match an fxlint rule
(by prefix, like ``--select``). ``# noqa:`` comments are shared with other linters, so, like ruff's
``external`` setting, a code there is fxlint's only when it starts with ``TRC``: ``# noqa: E501``,
``# noqa: NC001`` (another linter's) stay quiet, ``# noqa: TRC10l`` and ``# noqa: TRC999`` are reported.
A typo in a suppression comment otherwise fails silently: the finding stays, or a later one is hidden.
(A list of known linter prefixes, kept before, could never be complete: any plugin may own any prefix.)
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

from fxlint.diagnostics import physical_lines
from fxlint.suppression import _IGNORE, mentions_suppression

#: bytes read per file at most; suppression comments in larger files are not checked
MAX_BYTES = 2_000_000


#: the prefix of every fxlint code; other codes in a shared `# noqa` belong to other linters
OWN_PREFIX = "TRC"


def _is_fxlint_code(code: str, known: Sequence[str]) -> bool:
    return any(k.startswith(code) for k in known)


def unknown_codes_in_text(text: str, known: Sequence[str]) -> List[Tuple[int, str, str]]:
    """``(row, comment kind, code)`` for each unknown code in a suppression comment of ``text``.

    Only real comments count (a ``"# noqa: X1"`` inside a string does not), so the text is tokenized;
    text that does not tokenize falls back to a line scan.
    """
    if not mentions_suppression(text):
        return []
    # tokenizing is the expensive part: first scan the raw lines, and tokenize only when some line
    # would produce a warning (rare), to drop matches that sit inside strings
    candidates = [(row, line[line.index("#"):]) for row, line in enumerate(physical_lines(text), start=1)
                  if "#" in line and mentions_suppression(line)]
    if not _unknown_in(candidates, known):
        return []
    return _unknown_in(_comments(text), known)


def _unknown_in(comments: Iterable[Tuple[int, str]], known: Sequence[str]) -> List[Tuple[int, str, str]]:
    out: List[Tuple[int, str, str]] = []
    for row, comment in comments:
        ignore = _IGNORE.search(comment)
        if ignore is not None:
            kind, found = "# fxlint: ignore", [c for c in re.split(r"[\s,]+", ignore.group("codes") or "") if c]
        else:
            noqa = _NOQA_CODES.search(comment)
            if noqa is None:
                continue
            kind, found = "# noqa", _leading_codes(noqa.group("codes"))
        for code in (c.upper() for c in found):
            if _is_fxlint_code(code, known):
                continue
            if kind == "# noqa" and not code.startswith(OWN_PREFIX):
                continue
            out.append((row, kind, code))
    return out


#: ``# noqa: A1, B2 prose``: everything after the colon; codes are the leading code-like words
_NOQA_CODES = re.compile(r"#\s*noqa\s*:\s*(?P<codes>.*)", re.IGNORECASE)
#: a code as a person may type it, typos included (``TRC10l``): letters, then a digit, then letters/digits
_CODE_LIKE = re.compile(r"[A-Za-z]+[0-9][A-Za-z0-9]*")


def _leading_codes(raw: str) -> List[str]:
    codes: List[str] = []
    for word in re.split(r"[\s,]+", raw.strip()):
        if not _CODE_LIKE.fullmatch(word):
            break  # `# noqa: E501 long URL`: the words after the codes are prose
        codes.append(word)
    return codes


def _comments(text: str) -> Iterable[Tuple[int, str]]:
    found: List[Tuple[int, str]] = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                found.append((tok.start[0], tok.string))
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # a file that does not tokenize (it gets TRC901): scan the lines after the last good comment
        last = found[-1][0] if found else 0
        found.extend((row, line[line.index("#"):]) for row, line in enumerate(physical_lines(text), start=1)
                     if row > last and "#" in line)
    return found


def unknown_suppression_warnings(files: Iterable[Path], known: Optional[Sequence[str]] = None) -> List[str]:
    """One warning line per unknown code in the suppression comments of ``files``.

    ``known`` are the rule codes (default: every registered rule). Unreadable, binary and non-UTF-8
    files are skipped silently: the check itself reports them.
    """
    if known is None:
        from fxlint.registry import rule_codes

        known = list(rule_codes())
    from fxlint.render import display_path

    warnings: List[str] = []
    for path in files:
        try:
            if path.stat().st_size > MAX_BYTES:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        folded = data.lower()
        if (b"noqa" not in folded and b"fxlint:" not in folded) or b"\x00" in data[:8192]:
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            continue
        for row, kind, code in unknown_codes_in_text(text, known):
            warnings.append(f"{display_path(str(path))}:{row}: unknown rule code {code} in `{kind}` comment "
                            f"(no fxlint rule matches it; see `fxlint rules`)")
    return warnings


__all__ = ["unknown_codes_in_text", "unknown_suppression_warnings", "OWN_PREFIX"]
