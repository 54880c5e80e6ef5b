"""The one place that formats results for people and machines.

Formats: ``text`` (ruff-like one line per finding, followed by where the value comes from and
how tracing reaches it), ``concise`` (one line), ``full`` (adds the source line with a caret
and the fix or help), ``json`` (ruff's field names plus ``hazard``, ``provenance`` and
``reached_from``), ``sarif`` (SARIF 2.1.0) and ``github`` (workflow annotations).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from fxlint import __version__
from fxlint.diagnostics import (DOCS_URL, Applicability, CheckResult, Diagnostic, FileProblem, Location,
                                 physical_lines)

FORMATS = ("text", "concise", "full", "json", "sarif", "github")


class Style:
    """ANSI styling, off unless the stream is a terminal and NO_COLOR is unset."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def red(self, text: str) -> str:
        return self._wrap("1;31", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)


def color_wanted(is_tty: bool) -> bool:
    return is_tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def display_path(filename: str) -> str:
    """``filename`` relative to the working directory, unless that climbs two levels or more
    (remembered per name and working directory: a report names the same files thousands of times)."""
    key = (filename, os.getcwd())
    found = _DISPLAYED.get(key)
    if found is None:
        try:
            rel = os.path.relpath(filename)
        except ValueError:
            rel = filename
        found = _DISPLAYED[key] = filename if rel.startswith(".." + os.sep + "..") else rel
    return found


_DISPLAYED: Dict[Tuple[str, str], str] = {}


# ------------------------------------------------------------------------- text
def one_line(text: str) -> str:
    """Messages quote source, which may span lines (a parenthesized condition): keep one line."""
    return re.sub(r"\s*\n\s*", " ", text) if "\n" in text else text


def concise_line(d: Diagnostic, style: Style) -> str:
    where = f"{display_path(d.filename)}:{d.location.row}:{d.location.column}:"
    return f"{style.bold(where)} {style.red(d.code)} {one_line(d.message)}"


def provenance_lines(d: Diagnostic, style: Style) -> List[str]:
    out: List[str] = []
    if d.provenance:
        chain = " -> ".join(f"line {s.row} `{one_line(s.text)}`" for s in d.provenance)
        out.append(style.dim(f"    from `{d.source}`: {chain}"))
    if len(d.reached_from) > 1:
        out.append(style.dim(f"    reached from {' -> '.join(d.reached_from)}"))
    return out


def render_text(result: CheckResult, style: Style, mode: str = "text", show_fixes: bool = False,
                sources: Optional[Dict[str, List[str]]] = None) -> str:
    lines: List[str] = []
    for d in result.diagnostics:
        lines.append(concise_line(d, style))
        if mode == "concise":
            continue
        if mode == "full":
            lines.extend(_source_excerpt(d, sources or {}, style))
        lines.extend(provenance_lines(d, style))
        if mode == "full" or show_fixes:
            if d.fix is not None:
                lines.append(style.cyan(f"    fix ({d.fix.applicability.value}): {d.fix.title}"))
            elif d.help:
                lines.append(style.cyan(f"    help: {d.help}"))
    for p in result.problems:
        lines.append(f"{style.bold(display_path(p.filename) + ':')} {p.message}")
    return "\n".join(lines)


def _source_excerpt(d: Diagnostic, sources: Dict[str, List[str]], style: Style) -> List[str]:
    text = sources.get(d.filename)
    if text is None:
        try:
            with open(d.filename, encoding="utf-8-sig") as fh:
                text = sources[d.filename] = physical_lines(fh.read())
        except (OSError, UnicodeDecodeError):
            text = sources[d.filename] = []
    if not 0 < d.location.row <= len(text):
        return []
    line = text[d.location.row - 1]
    width = (d.end_location.column if d.end_location.row == d.location.row else len(line) + 1) - d.location.column
    gutter = f"{d.location.row:>5} | "
    return [style.dim(gutter) + line, " " * (len(gutter) + d.location.column - 1) + style.red("^" * max(1, width))]


def summary(result: CheckResult, style: Style) -> str:
    n = len(result.diagnostics)
    files = len({d.filename for d in result.diagnostics})
    head = "No traceability hazards found" if n == 0 else f"Found {n} hazard{'s' * (n != 1)} in {files} file{'s' * (files != 1)}"
    tail = f" ({result.files_checked} file{'s' * (result.files_checked != 1)} checked"
    tail += f", {result.files_cached} from cache)." if result.files_cached else ")."
    safe = sum(1 for d in result.diagnostics if d.fix is not None and d.fix.applicability is Applicability.SAFE)
    unsafe = sum(1 for d in result.diagnostics if d.fix is not None and d.fix.applicability is Applicability.UNSAFE)
    extra = f"\n{safe} fixable with `fxlint fix --apply`." if safe else ""
    if unsafe:
        extra += f"\n{unsafe} {'more ' if safe else ''}fixable with `fxlint fix --apply --unsafe-fixes` (review them)."
    if n > ROOT_CAUSES_AFTER:
        causes = root_causes(result)
        if causes:
            extra += "\n" + "\n".join(causes)
    return style.bold(head) + tail + extra


def statistics(result: CheckResult) -> str:
    counts = Counter((d.code, d.rule) for d in result.diagnostics)
    width = max((len(str(c)) for c in counts.values()), default=1)
    lines = [f"{count:>{width}}  {code}  {rule}" for (code, rule), count in
             sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    causes = root_causes(result)
    return "\n".join(lines + ([""] + causes if causes else []))


#: how many lines the root-cause view lists
ROOT_CAUSES_SHOWN = 10
#: a text report longer than this ends with the root-cause view (a short one is read whole)
ROOT_CAUSES_AFTER = 50


def root_causes(result: CheckResult, limit: int = ROOT_CAUSES_SHOWN) -> List[str]:
    """The lines reached by the most models (entry points), most first: a hazard in a shared helper
    blocks every model that reaches it, so these are the few lines to fix first. Empty when no
    line is reached by two or more models."""
    ranked = sorted((d for d in result.diagnostics if len(d.entries) > 1),
                    key=lambda d: (-len(d.entries), d.sort_key()))
    if not ranked:
        return []
    width = len(str(len(ranked[0].entries)))
    out = [f"Lines reached by the most models (fix these first; {len(ranked)} line(s) reached by two or more):"]
    for d in ranked[:limit]:
        out.append(f"  {len(d.entries):>{width}} models  {display_path(d.filename)}:{d.location.row}  "
                   f"{d.code}  {d.rule}")
    return out


# ------------------------------------------------------------------------- json
def _loc(loc: Location) -> Dict[str, int]:
    return {"row": loc.row, "column": loc.column}


def diagnostic_json(d: Diagnostic) -> Dict[str, object]:
    fix = None
    if d.fix is not None:
        fix = {"applicability": d.fix.applicability.value, "message": d.fix.title,
               "edits": [{"content": e.content, "location": _loc(e.start), "end_location": _loc(e.end)}
                         for e in d.fix.edits]}
    return {
        "code": d.code,
        "name": d.rule,
        "message": d.message,
        "filename": os.path.abspath(d.filename),
        "location": _loc(d.location),
        "end_location": _loc(d.end_location),
        "fix": fix,
        "url": d.url,
        "hazard": d.hazard.value,
        "source": d.source,
        "provenance": [{"row": s.row, "text": s.text,
                        **({"filename": os.path.abspath(s.filename)} if s.filename else {})} for s in d.provenance],
        "reached_from": list(d.reached_from),
        "entries": list(d.entries),
        "help": d.help,
    }


def render_json(result: CheckResult, with_summary: bool = False) -> str:
    """ruff's shape, a list of findings; ``with_summary`` (`--statistics`): an object holding that
    list as ``diagnostics`` and a ``summary`` (the list stays the default: consumers read it)."""
    return "".join(json_pieces(result, with_summary))


def json_pieces(result: CheckResult, with_summary: bool = False, size: int = 1 << 20) -> Iterator[str]:
    """``render_json``'s text in pieces of about ``size`` characters, for a caller that writes them
    as they come: the whole text of a large report (34 MB for transformers' models/) and its encoded
    copy were a quarter of the peak memory of a one-process run. The same text as ``json.dumps``
    (which joins these chunks of the same encoder)."""
    rows = [diagnostic_json(d) for d in result.diagnostics]
    doc = {"summary": summary_json(result), "diagnostics": rows} if with_summary else rows
    pending: List[str] = []
    held = 0
    for chunk in json.JSONEncoder(indent=2).iterencode(doc):
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield "".join(pending)
            pending, held = [], 0
    if pending:
        yield "".join(pending)


def summary_json(result: CheckResult) -> Dict[str, object]:
    """Files checked, findings per code, and the files not checked and why."""
    fixable = Counter(d.fix.applicability.value for d in result.diagnostics if d.fix is not None)
    return {
        "files_checked": result.files_checked,
        "files_cached": result.files_cached,
        "files_with_findings": len({d.filename for d in result.diagnostics}),
        "findings": len(result.diagnostics),
        "by_code": dict(sorted(Counter(d.code for d in result.diagnostics).items())),
        "fixable": {"safe": fixable.get("safe", 0), "unsafe": fixable.get("unsafe", 0)},
        "files_not_checked": [{"filename": os.path.abspath(p.filename), "kind": p.kind, "reason": p.message}
                              for p in result.problems],
    }


# ------------------------------------------------------------------------- github
def _gh_data(text: str) -> str:
    """Escape a workflow-command message (the part after ``::``)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    """Escape a workflow-command property value (``file=``, ``title=``): also ``:`` and ``,``."""
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(result: CheckResult) -> str:
    out = []
    for d in result.diagnostics:
        path = display_path(d.filename)
        out.append(f"::error title={_gh_property(f'fxlint ({d.code})')},file={_gh_property(path)},"
                   f"line={d.location.row},col={d.location.column},endLine={d.end_location.row},"
                   f"endColumn={d.end_location.column}::"
                   f"{_gh_data(f'{path}:{d.location.row}:{d.location.column}: {d.code} {one_line(d.message)}')}")
    for p in result.problems:
        out.append(f"::warning title=fxlint,file={_gh_property(display_path(p.filename))}::{_gh_data(p.message)}")
    return "\n".join(out)


# ------------------------------------------------------------------------- sarif
def render_sarif(result: CheckResult, rules: Sequence[type]) -> str:
    rule_index = {r.code: i for i, r in enumerate(rules)}
    sarif_rules = [{
        "id": r.code,
        "name": r.name(),
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.documentation().split("## Why is this bad?")[-1].split("##")[0].strip()},
        "helpUri": DOCS_URL.format(code=r.code.lower()),
        **({"help": {"text": r.help}} if getattr(r, "help", "") else {}),
        "defaultConfiguration": {"level": "error"},
        "properties": {"hazard": r.hazard.value, "fix": r.fix_availability.value,
                       "tags": [r.hazard.value]},
    } for r in rules]
    results = [_sarif_result(d, rule_index) for d in result.diagnostics]
    # files fxlint skipped (binary, not UTF-8, too large, ...) are tool notifications, not results
    notifications = [{"level": "warning", "message": {"text": p.message},
                      "descriptor": {"id": p.kind},
                      "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(p.filename)}}}]}
                     for p in result.problems]
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": "fxlint", "version": __version__, "semanticVersion": __version__,
                                      "informationUri": "https://github.com/fxlint/fxlint", "rules": sarif_rules}},
                  "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notifications}],
                  "columnKind": "unicodeCodePoints",
                  "results": results}],
    }
    return json.dumps(doc, indent=2)


def _sarif_result(d: Diagnostic, rule_index: Dict[str, int]) -> Dict[str, object]:
    region = {"startLine": d.location.row, "startColumn": d.location.column,
              "endLine": d.end_location.row, "endColumn": d.end_location.column}
    out: Dict[str, object] = {
        "ruleId": d.code,
        "level": "error",
        "message": {"text": d.message},
        "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(d.filename)}, "region": region}}],
    }
    if d.code in rule_index:
        out["ruleIndex"] = rule_index[d.code]
    # the provenance chain (where the traced value comes from) as related locations
    related = [{"id": i, "message": {"text": step.text},
                "physicalLocation": {"artifactLocation": {"uri": _uri(step.filename or d.filename)},
                                     "region": {"startLine": step.row}}}
               for i, step in enumerate(d.provenance, start=1) if step.row > 0]
    if related:
        out["relatedLocations"] = related
    if d.help:
        out["properties"] = {"help": d.help}
    if d.fix is not None and d.fix.edits:
        out["fixes"] = [{"description": {"text": d.fix.title}, "artifactChanges": [{
            "artifactLocation": {"uri": _uri(d.filename)},
            "replacements": [{"deletedRegion": {"startLine": e.start.row, "startColumn": e.start.column,
                                                "endLine": e.end.row, "endColumn": e.end.column},
                              "insertedContent": {"text": e.content}} for e in d.fix.edits]}]}]
    return out


def _uri(filename: str) -> str:
    """A relative (or absolute-path) URI reference: ``/`` separators, spaces and ``%`` escaped."""
    from urllib.parse import quote

    return quote(display_path(filename).replace(os.sep, "/"), safe="/:@!$&'()*+,;=-._~")


def problem_lines(problems: Iterable[FileProblem]) -> List[str]:
    return [f"{display_path(p.filename)}: {p.message}" for p in problems]
