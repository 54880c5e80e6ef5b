"""`fxlint verify` as a function: paths in, a :class:`~fxlint.verify.results.VerifyReport` out.

Never prints and never imports torch: models run in worker processes (:mod:`fxlint.verify.pool`),
whose messages are assembled here into frozen reports, with fxlint's static analysis consulted on
every FX failure (:mod:`fxlint.verify.blame`). Usage mistakes raise
:class:`~fxlint.verify.targets.VerifyUsageError`.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from fxlint.verify.blame import Blamer, CheckSource
from fxlint.verify.pool import run_jobs
from fxlint.verify.results import (FX_STAGES, STAGES, Blame, Coverage, HiddenCall, InputsInfo, ModelReport,
                                   SourceLocation, StageResult, VerifyReport)
from fxlint.verify.targets import (HOW_TO_CONFIGURE, Target, VerifyUsageError, display_path, plan_targets,
                                   user_roots)

#: backends accepted by `get_default_qat_qconfig_mapping`
BACKENDS = ("x86", "fbgemm", "qnnpack", "onednn")
#: Progress(done, total, label): called after each model; total grows while files are discovered
Progress = Callable[[int, int, str], None]

__all__ = ["BACKENDS", "VerifyOptions", "VerifyUsageError", "verify_paths"]


@dataclass(frozen=True)
class VerifyOptions:
    """The knobs of `fxlint verify` (the command line's options)."""

    factory: Optional[str] = None  #: NAME in the checked file, module:function or file.py:function
    alt_factory: Optional[str] = None  #: same forms; only its inputs are used (input B)
    backend: str = "x86"  #: the QAT backend for get_default_qat_qconfig_mapping
    timeout: float = 120.0  #: seconds per model, all stages together
    jobs: Optional[int] = None  #: models verified side by side; default: CPU count, at most 4
    use_fork: Optional[bool] = None  #: None = fork a zygote where the OS can; False = one process per model
    config: Optional[str] = None  #: a TOML file with [tool.fxlint.verify], instead of the nearest pyproject.toml
    python: Optional[str] = None  #: interpreter for the workers (an environment with torch); default: this one


def verify_paths(paths: Sequence[str], options: VerifyOptions = VerifyOptions(),
                 progress: Optional[Progress] = None, check_source: Optional[CheckSource] = None) -> VerifyReport:
    """Verify every model found in ``paths``; see :mod:`fxlint.verify.targets` for how models are found."""
    if options.backend not in BACKENDS:
        raise VerifyUsageError(f"unknown QAT backend {options.backend!r}; choose one of {', '.join(BACKENDS)}")
    if options.timeout <= 0:
        raise VerifyUsageError("--timeout must be positive")
    started = time.monotonic()
    targets = plan_targets(paths, options.factory, options.alt_factory, config=options.config)
    run = _Run(options, user_roots(paths), Blamer(check_source), progress)
    jobs = [job for index, target in enumerate(targets) for job in run.start(target, (index,))]
    startup_s = run_jobs(jobs, run.parallel, run.on_answer, options.use_fork, options.python) if jobs else 0.0
    messages = (run.blamer.unavailable,) if run.blamer.unavailable else ()
    return VerifyReport(tuple(run.ordered_reports()), options.backend, round(time.monotonic() - started, 2),
                        round(startup_s, 2), messages)


class _Run:
    """The state of one verify run: reports by position, discovery follow-ups, progress."""

    def __init__(self, options: VerifyOptions, roots: List[str], blamer: Blamer, progress: Optional[Progress]):
        self.options, self.roots, self.blamer, self.progress = options, roots, blamer, progress
        cpus = os.cpu_count() or 1
        self.parallel = max(1, options.jobs or min(cpus, 4))
        self.threads = max(1, cpus // self.parallel)
        self.reports: Dict[Tuple[int, ...], ModelReport] = {}
        self.total = 0
        self.done = 0

    def ordered_reports(self) -> List[ModelReport]:
        return [self.reports[key] for key in sorted(self.reports)]

    def start(self, target: Target, key: Tuple[int, ...]) -> List[Dict[str, Any]]:
        """The jobs for a target, or none when it is settled without a worker (skips)."""
        if target.kind == "skip":
            self._store(key, skipped_report(target, target.skip_reason, imported=False))
            return []
        if target.kind != "discover":
            self.total += 1
        return [self._job(target, key)]

    def _job(self, target: Target, key: Tuple[int, ...]) -> Dict[str, Any]:
        return {"key": list(key), "kind": target.kind, "file": target.file, "class": target.class_name,
                "how": target.how, "label": _input_source(target), "target_label": target.label,
                "factory": target.factory.to_json() if target.factory else None,
                "alt_factory": target.alt_factory.to_json() if target.alt_factory else None,
                "sys_path": list(target.sys_path), "user_roots": self.roots, "explicit": target.explicit,
                "backend": self.options.backend, "timeout": self.options.timeout, "threads": self.threads}

    def on_answer(self, job: Dict[str, Any], answer: Dict[str, Any]) -> List[Dict[str, Any]]:
        key = tuple(job["key"])
        if job["kind"] == "discover":
            return self._discovered(job, answer, key)
        self._store(key, assemble_report(job, answer, self.blamer))
        return []

    def _discovered(self, job: Dict[str, Any], answer: Dict[str, Any], key: Tuple[int, ...]) -> List[Dict[str, Any]]:
        found = next((m["classes"] for m in answer["messages"] if m.get("type") == "discovered"), None)
        if found is None:  # the import failed (or the worker died): one report for the file
            self.total += 1
            self._store(key, assemble_report(job, answer, self.blamer))
            return []
        target = Target("class", job["file"], "inferred", sys_path=tuple(job["sys_path"]), explicit=job["explicit"])
        follow_ups = []
        for index, cls in enumerate(found):
            class_target = Target("class", target.file, "inferred", cls["name"], sys_path=target.sys_path)
            if cls["constructible"]:
                follow_ups.extend(self.start(class_target, key + (index,)))
            elif cls["reason"] != "defines no forward":
                how_to = HOW_TO_CONFIGURE.format(file=display_path(target.file), cls=cls["name"])
                self._store(key + (index,), skipped_report(class_target, f"{cls['reason']}: {how_to}", imported=True))
        if not found and job["explicit"]:
            self._store(key, skipped_report(target, "no nn.Module class in this file", imported=True))
        return follow_ups

    def _store(self, key: Tuple[int, ...], report: ModelReport) -> None:
        self.reports[key] = report
        self.done += 1
        self.total = max(self.total, self.done)
        if self.progress is not None:
            self.progress(self.done, self.total, report.target)


def _input_source(target: Target) -> str:
    if target.factory is None:
        return ""
    in_checked_file = target.file and not (target.factory.module or target.factory.file)
    return f"{target.factory.label}()" + (f" in {display_path(target.file)}" if in_checked_file else "")


# ---------------------------------------------------------------------------------------------- assembly
def skipped_report(target: Target, reason: str, imported: bool) -> ModelReport:
    stages = []
    for name in STAGES:
        if name == "import" and imported:
            stages.append((name, StageResult("pass")))
        elif name == "construct" or (name == "import" and not imported):
            stages.append((name, StageResult("skipped", reason)))
        else:
            stages.append((name, StageResult("skipped", "not run: nothing to construct")))
    return ModelReport(display_path(target.file), target.class_name, target.label, InputsInfo("none", reason),
                       tuple(stages))


def assemble_report(job: Dict[str, Any], answer: Dict[str, Any], blamer: Blamer) -> ModelReport:
    """One ModelReport from a worker's messages, charging a crash or kill to the stage that was running."""
    messages = answer.get("messages", [])
    by_type: Dict[str, Dict[str, Any]] = {}
    for message in messages:
        by_type.setdefault(message.get("type", ""), message)
    model = by_type.get("model", {})
    model_file = model.get("class_file") or job["file"]
    results = {m["stage"]: m for m in messages if m.get("type") == "stage"}
    stages = _stage_results(results, _started(messages), _stop_reason(answer, by_type), model, model_file, blamer)
    extras = by_type.get("extras", {})
    return ModelReport(
        file=display_path(job["file"] or model_file), class_name=model.get("class") or job.get("class", ""),
        target=job["target_label"], inputs=_inputs_info(by_type.get("inputs")), stages=tuple(stages),
        coverage=_coverage(by_type.get("coverage")), warnings=tuple(extras.get("warnings", ())),
        notes=tuple(extras.get("notes", ())), duration_s=float(answer.get("elapsed", 0.0)))


def _started(messages: List[Dict[str, Any]]) -> List[str]:
    return [m["stage"] for m in messages if m.get("type") == "start"]


def _stage_results(results: Dict[str, Dict[str, Any]], started: List[str], stop_reason: str,
                   model: Dict[str, Any], model_file: str, blamer: Blamer) -> List[Tuple[str, StageResult]]:
    interrupted = next((s for s in reversed(started) if s not in results), None)
    if interrupted is None and not results:
        interrupted = "import"  # the worker died before the first stage
    out = []
    for name in STAGES:
        if name in results:
            out.append((name, _stage_result(name, results[name], model, model_file, blamer)))
        elif name == interrupted:
            out.append((name, StageResult("fail", stop_reason)))
        else:
            reason = "not run: the worker stopped" if interrupted else "not run"
            out.append((name, StageResult("skipped", reason)))
    return out


def _stage_result(name: str, message: Dict[str, Any], model: Dict[str, Any], model_file: str,
                  blamer: Blamer) -> StageResult:
    frames = message.get("frames") or []
    innermost = frames[-1] if frames else None
    location = SourceLocation(display_path(innermost["filename"]), innermost["row"]) if innermost else None
    blame: Optional[Blame] = None
    if message["status"] == "fail" and name in FX_STAGES and message.get("blame", True):
        if frames or name != "equivalence":
            blame = blamer.blame_frames(frames, model_file)
        if name == "equivalence" and (blame is None or blame.code is None):
            # a silent hazard shows up as a mismatch with no frame, or as a crash lines after its cause
            # (`if mask is not None` baked in, `mask[...]` raises): look for one in the model's file
            fallback = blamer.blame_mismatch(model_file, model.get("class_span"))
            blame = fallback if fallback.code is not None or blame is None else blame
    return StageResult(message["status"], message.get("error", ""), location,
                       innermost["line"] if innermost else "", blame, tuple(message.get("details", ())),
                       float(message.get("seconds", 0.0)))


def _stop_reason(answer: Dict[str, Any], by_type: Dict[str, Dict[str, Any]]) -> str:
    tail = _last_line(answer.get("output_tail", ""))
    if answer.get("timed_out"):
        return "timed out: killed after the deadline (stuck where Python could not interrupt it)"
    if answer.get("worker_lost"):
        return f"the verify worker process died (killed from outside, or by the model){': ' + tail if tail else ''}"
    if "internal" in by_type:
        return f"internal error in fxlint verify: {by_type['internal']['error']}"
    code = answer.get("exit", 0)
    if code and code < 0:
        return f"the worker crashed ({_signal_name(-code)}){': ' + tail if tail else ''}"
    return f"the worker exited with code {code}{': ' + tail if tail else ''}"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_line(text: str) -> str:
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip()[:200] if lines else ""


def _inputs_info(message: Optional[Dict[str, Any]]) -> InputsInfo:
    if not message:
        return InputsInfo("none")
    return InputsInfo(message.get("how", "none"), message.get("source", ""), message.get("first", ""),
                      message.get("second", ""), message.get("second_how", ""))


def _coverage(message: Optional[Dict[str, Any]]) -> Optional[Coverage]:
    if not message:
        return None
    hidden = tuple(HiddenCall(h["function"], tuple(h["submodules"])) for h in message.get("hidden_in_wrapped_calls", ()))
    return Coverage(message["quantizable"], message["weight_fake_quant"], message["activation_observed"],
                    message["activation_observers"], tuple(message.get("not_quantized", ())), hidden)
