"""How `fxlint fix` reports what it did: the summary lines for people, the JSON document for machines.
Pure: results in, text or data out (the command prints).

At scale (a whole library) the guidance of a finding left for a human runs to hundreds of
characters (measured up to 638); one such line per finding buried the summary. Each finding is one
short line (place, code, the rule's summary); ``detail`` adds the full guidance under it, as
`fxlint check --show-fixes` does.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

from fxlint.diagnostics import Applicability

#: a fix's title quotes the code it rewrites: cut in the short listing, whole with ``detail``
TITLE_WIDTH = 100


@dataclass(frozen=True)
class Outcome:
    """What the command did with a report: written or not, rolled back, not written."""

    written: bool = False
    rolled_back: Dict[str, str] = field(default_factory=dict)  #: path -> why verification failed
    unwritten: Dict[str, str] = field(default_factory=dict)  #: path -> why writing failed


def summary_lines(report, outcome: Outcome, detail: bool = False) -> List[str]:
    """The text summary, one short line per finding (``detail``: the full guidance under it)."""
    kept = _kept(report, outcome)
    applied = [a for r in kept for a in r.applied]
    safe = sum(1 for a in applied if a[3] is Applicability.SAFE)
    verb = "Fixed" if outcome.written else "Would fix"
    lines = [f"{verb} {len(applied)} finding(s) in {len(kept)} file(s) ({safe} safe, {len(applied) - safe} unsafe)"]
    lines += [f"Rolled back {show(path)}: verification failed: {why}" for path, why in outcome.rolled_back.items()]
    skipped = [(r, s) for r in report.results for s in r.skipped_unsafe]
    if skipped:
        lines.append(f"Skipped as unsafe: {len(skipped)} (rerun with --unsafe-fixes)")
        for r, (code, row, title) in skipped:
            lines.append(f"  {show(r.filename)}:{row}: {code} {title if detail else _cut(title)}")
    manual = [(r, m) for r in report.results for m in r.manual]
    if manual:
        lines.append(f"Needs manual work: {len(manual)}" + ("" if detail else " (--show-fixes: what to do)"))
        for r, (code, row, why) in manual:
            lines.append(f"  {show(r.filename)}:{row}: {code} {short_title(code)}")
            if detail:
                lines.append(f"      {why}")
    failed = [(r, f) for r in report.results for f in r.failed]
    if failed:
        lines.append(f"Could not be applied: {len(failed)} (the rewritten code was invalid, so it was dropped; "
                     "the file's other fixes are kept; please report this)")
        lines += [f"  {show(r.filename)}:{row}: {code} {title if detail else _cut(title)}: {why}"
                  for r, (code, row, title, why) in failed]
    broken = not_fixed(report, outcome)
    if broken:
        lines.append(f"Not fixed: {len(broken)} file(s) (left as they were)")
        lines += [f"  {show(path)}: {why}" for path, why in broken.items()]
    return lines + _outside_lines(report.outside, detail)


#: files outside the given paths listed by name in the short summary (all of them with ``detail``)
OUTSIDE_SHOWN = 5


def _outside_lines(outside: Sequence[str], detail: bool) -> List[str]:
    if not outside:
        return []
    shown = list(outside) if detail else list(outside[:OUTSIDE_SHOWN])
    more = len(outside) - len(shown)
    return ([f"Left alone: findings in {len(outside)} file(s) outside the paths given, reached from the checked "
             "code (name them to fix them too):"] + [f"  {show(path)}" for path in shown]
            + ([f"  ... and {more} more (--show-fixes lists them all)"] if more else []))


def fix_json(report, outcome: Outcome) -> Dict[str, object]:
    """Every file with a finding (what was fixed, skipped, left, refused) and a summary object."""
    kept = {r.filename for r in _kept(report, outcome)}
    files = [{
        "filename": os.path.abspath(r.filename),
        "changed": r.filename in kept,
        "applied": [{"code": c, "row": row, "title": t, "applicability": a.value} for c, row, t, a in r.applied],
        "skipped_unsafe": [{"code": c, "row": row, "title": t} for c, row, t in r.skipped_unsafe],
        "manual": [{"code": c, "row": row, "title": short_title(c), "help": why} for c, row, why in r.manual],
        "failed": [{"code": c, "row": row, "title": t, "reason": why} for c, row, t, why in r.failed],
        "error": r.error or None,
    } for r in report.results]
    return {"files": files, "summary": fix_summary(report, outcome)}


def fix_summary(report, outcome: Outcome) -> Dict[str, object]:
    kept = _kept(report, outcome)
    problems = [{"filename": os.path.abspath(p.filename), "reason": p.message} for p in report.problems]
    return {
        "files_checked": report.files_checked,
        "files_with_findings": len(report.results),
        "files_changed": len(kept),
        "written": outcome.written,
        "fixed": sum(len(r.applied) for r in kept),
        "fixed_by_code": _by_code(a[0] for r in kept for a in r.applied),
        "skipped_unsafe": sum(len(r.skipped_unsafe) for r in report.results),
        "manual": sum(len(r.manual) for r in report.results),
        "manual_by_code": _by_code(m[0] for r in report.results for m in r.manual),
        "failed": sum(len(r.failed) for r in report.results),
        "files_not_fixed": [{"filename": os.path.abspath(path), "reason": why}
                            for path, why in not_fixed(report, outcome).items()]
                           + [{"filename": os.path.abspath(r.filename), "reason": r.error}
                              for r in report.results if r.error and not r.internal] + problems,
        "rolled_back": [{"filename": os.path.abspath(path), "reason": why}
                        for path, why in outcome.rolled_back.items()],
        "outside_paths": list(report.outside),  #: findings there were left alone
    }


def not_fixed(report, outcome: Outcome) -> Dict[str, str]:
    """Files fxlint failed on (exit 3): an internal error left them untouched, or writing failed."""
    broken = {r.filename: r.error for r in report.results if r.internal}
    broken.update({path: f"not written: {why}" for path, why in outcome.unwritten.items()})
    return broken


def short_title(code: str) -> str:
    """The rule's one-line summary (`fxlint rules`), or the code when the rule is unknown."""
    from fxlint import registry

    rule = registry.find(code)
    return rule.summary if rule is not None else code


def show(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _kept(report, outcome: Outcome) -> list:
    return [r for r in report.results if r.changed and r.filename not in outcome.rolled_back
            and r.filename not in outcome.unwritten]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_WIDTH else text[:TITLE_WIDTH - 1] + "…"


def _by_code(codes) -> Dict[str, int]:
    return dict(sorted(Counter(codes).items()))


__all__: Sequence[str] = ("Outcome", "fix_json", "fix_summary", "summary_lines")
