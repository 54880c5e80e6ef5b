"""Render a :class:`~fxlint.verify.results.VerifyReport` as a table (for people) or JSON (for tools).

The table has one row per model (a verdict per stage and a one-line summary) followed by the details of
every model that did not pass: the failing stage, its error, the line in the user's file and what
fxlint's static analysis said about it. JSON carries everything, torch.ao warnings included.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from fxlint.verify.results import STAGES, Coverage, ModelReport, SourceLocation, StageResult, VerifyReport

_HEADERS = {"import": "import", "construct": "construct", "trace": "trace", "equivalence": "equiv",
            "qat_prepare": "qat_prep", "qat_run": "qat_run", "convert": "convert"}
_CELL = {"pass": "ok", "fail": "FAIL", "skipped": "-"}
JSON_VERSION = 1


# ---------------------------------------------------------------------------------------------- summaries
def model_summary(model: ModelReport) -> str:
    """One line: why a model failed or was skipped, or what QAT reached when it passed."""
    failure = model.first_failure
    if failure is not None and failure[0] != "convert":
        name, result = failure
        return f"{name}: {_short_error(result.error)}{_where(result)}"
    if model.verdict == "skipped":
        skipped = next(r for _, r in model.stages if r.status == "skipped")
        return f"skipped: {skipped.error}"
    parts = ["ok"]
    if model.coverage is not None:
        parts.append(coverage_summary(model.coverage))
    if model.inputs.how == "inferred":
        parts.append("inputs inferred")
    if model.stage("convert").status == "fail":
        parts.append("convert fails (not part of the verdict)")
    return "; ".join(parts)


def coverage_summary(coverage: Coverage) -> str:
    text = (f"{coverage.weight_fake_quant}/{coverage.quantizable} layers fake-quantized, "
            f"{coverage.activation_observed}/{coverage.quantizable} outputs observed")
    hidden = sum(len(h.submodules) for h in coverage.hidden_in_wrapped_calls)
    return text + (f", {hidden} submodule(s) hidden in wrapped calls" if hidden else "")


def _short_error(error: str, limit: int = 90) -> str:
    return error if len(error) <= limit else error[: limit - 3] + "..."


def _where(result: StageResult) -> str:
    parts = []
    if result.location is not None:
        parts.append(f" at {result.location.filename}:{result.location.row}")
    if result.blame is not None and (result.blame.code or result.location is not None):
        parts.append(f" ({result.blame.code})" if result.blame.code else " (not flagged by fxlint)")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------- table
def display_name(model: ModelReport) -> str:
    """`file::Class` once the class is known (a factory's target only names the factory)."""
    return f"{model.file}::{model.class_name}" if model.file and model.class_name else model.target


def render_table(report: VerifyReport) -> str:
    rows = [["model"] + [_HEADERS[s] for s in STAGES] + ["summary"]]
    rows += [[display_name(m)] + [_CELL[r.status] for _, r in m.stages] + [model_summary(m)] for m in report.models]
    lines = _align(rows) if report.models else ["no models found"]
    details = [block for m in report.models if (block := _details(m))]
    if details:
        lines += [""] + [line for block in details for line in block + [""]]
        lines.pop()
    lines += ["", _footer(report)] + [f"note: {m}" for m in report.messages]
    return "\n".join(lines) + "\n"


def _align(rows: List[List[str]]) -> List[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1] for row in rows]


def _details(model: ModelReport) -> List[str]:
    failed = [(name, r) for name, r in model.stages if r.status == "fail"]
    if not failed and model.verdict == "pass":
        return []
    lines = [f"{display_name(model)}  [{model.verdict}]  inputs: {_inputs_line(model)}"]
    for name, result in failed:
        lines.append(f"  {name}: {result.error}")
        if result.location is not None:
            lines.append(f"    at {result.location.filename}:{result.location.row}: {result.source_line}")
        if result.blame is not None:
            lines.append(f"    {result.blame.note}")
        lines += [f"    - {d}" for d in result.details[1:4]]
    if not failed:
        skipped = next(r for _, r in model.stages if r.status == "skipped")
        lines.append(f"  {skipped.error}")
    return lines


def _inputs_line(model: ModelReport) -> str:
    info = model.inputs
    if info.how == "none":
        construct = model.stage("construct")
        shown = info.source and not (construct.status == "skipped" and construct.error == info.source)
        return f"none ({info.source})" if shown else "none"
    text = f"{info.how} ({info.source}): {info.first}" if info.source else f"{info.how}: {info.first}"
    return text + (f"; B {info.second_how}: {info.second}" if info.second else "")


def _footer(report: VerifyReport) -> str:
    counts = ", ".join(f"{report.count(v)} {v}" for v in ("pass", "fail", "skipped"))
    return f"{len(report.models)} model(s): {counts} (QAT backend {report.backend}, {report.wall_s:.1f} s)"


# ---------------------------------------------------------------------------------------------- json
def to_json(report: VerifyReport) -> Dict[str, Any]:
    return {
        "version": JSON_VERSION,
        "backend": report.backend,
        "wall_s": report.wall_s,
        "worker_startup_s": report.worker_startup_s,
        "summary": {"models": len(report.models), **{v: report.count(v) for v in ("pass", "fail", "skipped")}},
        "messages": list(report.messages),
        "models": [_model_json(m) for m in report.models],
    }


def render_json(report: VerifyReport) -> str:
    return json.dumps(to_json(report), indent=2) + "\n"


def _model_json(model: ModelReport) -> Dict[str, Any]:
    info = model.inputs
    return {
        "file": model.file, "class": model.class_name, "target": model.target, "verdict": model.verdict,
        "summary": model_summary(model),
        "inputs": {"how": info.how, "source": info.source, "first": info.first, "second": info.second,
                   "second_how": info.second_how},
        "stages": {name: _stage_json(result) for name, result in model.stages},
        "coverage": _coverage_json(model.coverage), "warnings": list(model.warnings), "notes": list(model.notes),
        "duration_s": model.duration_s,
    }


def _stage_json(result: StageResult) -> Dict[str, Any]:
    blame = result.blame
    return {"status": result.status, "error": result.error or None, "location": _location_json(result.location),
            "code": result.code, "source_line": result.source_line or None,
            "blame": blame.note if blame else None,
            "flagged_at": _location_json(blame.flagged_at) if blame else None, "details": list(result.details),
            "seconds": result.seconds}


def _location_json(location: Optional[SourceLocation]) -> Optional[Dict[str, Any]]:
    return {"filename": location.filename, "row": location.row} if location else None


def _coverage_json(coverage: Optional[Coverage]) -> Optional[Dict[str, Any]]:
    if coverage is None:
        return None
    return {"quantizable": coverage.quantizable, "weight_fake_quant": coverage.weight_fake_quant,
            "activation_observed": coverage.activation_observed,
            "activation_observers": coverage.activation_observers, "not_quantized": list(coverage.not_quantized),
            "hidden_in_wrapped_calls": [{"function": h.function, "submodules": list(h.submodules)}
                                        for h in coverage.hidden_in_wrapped_calls]}
