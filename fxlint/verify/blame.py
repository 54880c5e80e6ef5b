"""Parent side: does fxlint's static analysis cover a failure that verify observed at run time?

Given the user's frames of a failed stage (innermost last), ask ``fxlint.api.check_source`` about the
files involved and match diagnostics by file and row: first on the failing line, then on the calls
that led there (a rule may flag the call site that passes a Proxy into a helper). An output mismatch
has no frame; then any silent-hazard (TRC5xx) diagnostic in the model's file stands in for it.

The static analysis is written separately; until ``fxlint.api.check_source`` exists (or when it fails
on a file) blame says so instead of guessing, and ``code`` stays None.
"""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from fxlint.verify.results import Blame, SourceLocation
from fxlint.verify.targets import display_path

CheckSource = Callable[[str, str], Sequence[object]]
GAP = "not flagged by fxlint: detection gap"
SILENT_PREFIX = "TRC5"


def load_check_source() -> Tuple[Optional[CheckSource], str]:
    """(check_source, "") or (None, why it is unavailable)."""
    try:
        from fxlint.api import check_source  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001 - a half-written analysis must not break verify
        return None, f"fxlint static analysis unavailable ({type(exc).__name__}: {exc})"
    return check_source, ""


def diagnostic_rows(diagnostic: object) -> Tuple[int, int]:
    start = diagnostic.location.row  # type: ignore[attr-defined]
    end = getattr(getattr(diagnostic, "end_location", None), "row", start) or start
    return start, max(start, end)


def match_row(diagnostics: Sequence[object], filename: str, row: int, end_row: int = 0) -> Optional[object]:
    """The diagnostic of ``filename`` whose rows overlap ``row..end_row``; an exact start row wins."""
    end_row = max(row, end_row or row)
    wanted = _norm(filename)
    overlapping = []
    for diagnostic in diagnostics:
        if _norm(getattr(diagnostic, "filename", "")) != wanted:
            continue
        start, end = diagnostic_rows(diagnostic)
        if start <= end_row and row <= end:
            overlapping.append(diagnostic)
    overlapping.sort(key=lambda d: (d.location.row != row, d.location.row, d.code))  # type: ignore[attr-defined]
    return overlapping[0] if overlapping else None


def _norm(path: str) -> str:
    return os.path.normcase(os.path.realpath(path)) if path else ""


class Blamer:
    """Runs the static analysis at most once per file and matches its diagnostics to failures."""

    def __init__(self, check_source: Optional[CheckSource] = None, unavailable: str = ""):
        if check_source is None and not unavailable:
            check_source, unavailable = load_check_source()
        self.check_source = check_source
        self.unavailable = unavailable
        self._cache: Dict[str, Tuple[List[object], str]] = {}

    def diagnostics(self, filename: str) -> Tuple[List[object], str]:
        """(diagnostics, "") or ([], why none could be had). Diagnostics may lie in helper files."""
        if self.check_source is None:
            return [], self.unavailable
        key = _norm(filename)
        if key not in self._cache:
            self._cache[key] = self._analyze(filename)
        return self._cache[key]

    def _analyze(self, filename: str) -> Tuple[List[object], str]:
        try:
            with open(filename, encoding="utf-8") as handle:
                source = handle.read()
        except (OSError, UnicodeDecodeError) as exc:
            return [], f"cannot read {display_path(filename)}: {exc}"
        try:
            found = list(self.check_source(source, filename))  # type: ignore[misc]
        except Exception as exc:  # noqa: BLE001
            return [], f"fxlint static analysis failed on {display_path(filename)}: {type(exc).__name__}: {exc}"
        return found, ""

    def _pool(self, files: Sequence[str]) -> Tuple[List[object], str]:
        """Diagnostics from analysing each file (the model's file reaches helpers in other files)."""
        pooled: List[object] = []
        problems = []
        for filename in dict.fromkeys(f for f in files if f):
            found, problem = self.diagnostics(filename)
            pooled.extend(found)
            if problem:
                problems.append(problem)
        return pooled, (problems[0] if problems and not pooled else "")

    def blame_frames(self, frames: Sequence[dict], model_file: str = "") -> Blame:
        """Blame for a stage that raised: the innermost user frame first, then its callers."""
        if not frames:
            return Blame(None, "no line of your files in the traceback (it failed inside torch): nothing to match")
        innermost = frames[-1]
        pooled, problem = self._pool([innermost["filename"], model_file])
        if problem:
            return Blame(None, problem)
        hit = match_row(pooled, innermost["filename"], innermost["row"], innermost.get("end_row", 0))
        if hit is not None:
            return Blame(hit.code, f"{hit.code} flagged this line")  # type: ignore[attr-defined]
        for frame in reversed(frames[:-1]):
            found, _ = self._pool([frame["filename"]])
            hit = match_row(pooled + found, frame["filename"], frame["row"], frame.get("end_row", 0))
            if hit is not None:
                where = SourceLocation(display_path(frame["filename"]), hit.location.row)  # type: ignore[attr-defined]
                return Blame(hit.code, f"{hit.code} flagged the call at {where.filename}:{where.row}, "  # type: ignore[attr-defined]
                             "not this line", flagged_at=where)
        return Blame(None, GAP)

    def blame_mismatch(self, class_file: str, class_span: Optional[Sequence[int]]) -> Blame:
        """Blame for an output mismatch (no frame): a silent-hazard diagnostic in the model's file."""
        if not class_file:
            return Blame(None, self.unavailable or GAP)
        pooled, problem = self._pool([class_file])
        if problem:
            return Blame(None, problem)
        silent = [d for d in pooled if str(getattr(d, "code", "")).startswith(SILENT_PREFIX)]
        if not silent:
            return Blame(None, GAP)
        silent.sort(key=lambda d: (not _inside(d, class_file, class_span), _norm(d.filename), d.location.row))  # type: ignore[attr-defined]
        best = silent[0]
        where = SourceLocation(display_path(best.filename), best.location.row)  # type: ignore[attr-defined]
        return Blame(best.code, f"{best.code} flagged a silent hazard at {where.filename}:{where.row}",  # type: ignore[attr-defined]
                     flagged_at=where)


def _inside(diagnostic: object, filename: str, span: Optional[Sequence[int]]) -> bool:
    if _norm(getattr(diagnostic, "filename", "")) != _norm(filename) or not span:
        return False
    return span[0] <= diagnostic.location.row <= span[1]  # type: ignore[attr-defined]
