"""The frozen values `fxlint verify` returns: one :class:`ModelReport` per model, in a :class:`VerifyReport`.

Nothing here imports torch; every value is plain data (strings, numbers, tuples) so the report can be
rendered as a table or JSON, compared in tests and cached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional, Tuple

Status = Literal["pass", "fail", "skipped"]
Verdict = Literal["pass", "fail", "skipped"]

#: the stages in pipeline order; `convert` is reported but never part of the verdict
STAGES: Tuple[str, ...] = ("import", "construct", "trace", "equivalence", "qat_prepare", "qat_run", "convert")
#: the stages a model must pass for `fxlint verify` to exit 0
VERDICT_STAGES: Tuple[str, ...] = STAGES[:-1]
#: the stages whose failures are FX hazards, so the static analysis is asked whether it flagged them
FX_STAGES: Tuple[str, ...] = ("trace", "equivalence", "qat_prepare", "qat_run")


@dataclass(frozen=True)
class SourceLocation:
    """A line in a file: where a failure happened or what fxlint flagged."""

    filename: str  #: relative to the working directory when under it, else absolute
    row: int  #: 1-based line


@dataclass(frozen=True)
class Blame:
    """What fxlint's static analysis said about the line a stage failed on."""

    #: the rule that covers the failure, e.g. "TRC101"; None when nothing matched or analysis was unavailable
    code: Optional[str]
    #: one line for the user, e.g. "TRC101 flagged this line" or "not flagged by fxlint: detection gap"
    note: str
    #: where the matching diagnostic is, when it is not the failing line itself (e.g. a caller)
    flagged_at: Optional[SourceLocation] = None


@dataclass(frozen=True)
class StageResult:
    """The outcome of one pipeline stage for one model."""

    status: Status
    #: "ExceptionType: first line of the message" on failure, or why the stage was skipped; "" on pass
    error: str = ""
    #: innermost frame inside the user's files when the stage raised; None otherwise
    location: Optional[SourceLocation] = None
    #: that frame's source line, stripped
    source_line: str = ""
    #: fxlint's static verdict on `location` (only for FX stages that failed)
    blame: Optional[Blame] = None
    #: extra facts, e.g. "eval mode, input B: out['logits'] differs (max abs diff 0.5)"
    details: Tuple[str, ...] = ()
    seconds: float = 0.0  #: wall time of the stage inside the worker (the torch work itself)

    @property
    def code(self) -> Optional[str]:
        return self.blame.code if self.blame else None


@dataclass(frozen=True)
class InputsInfo:
    """How the example inputs were obtained."""

    #: "factory" (a user function), "config" (pyproject), "inferred" (from the first layer), "none"
    how: str
    #: where they came from, e.g. "make() in net.py" or "Conv2d(3, ...) -> x: float32[2, 3, 32, 32]"
    source: str = ""
    first: str = ""  #: description of input A, e.g. "x: float32[2, 3, 32, 32]"
    second: str = ""  #: description of input B
    #: how input B was obtained: "alt factory make_alt()", "derived: new values, batch 3", ...
    second_how: str = ""


@dataclass(frozen=True)
class HiddenCall:
    """A `torch.fx.wrap`-ed call node that receives submodules: quantization cannot see inside it."""

    function: str  #: the wrapped function's name
    submodules: Tuple[str, ...]  #: qualified names of modules passed into it


@dataclass(frozen=True)
class Coverage:
    """How much of the network FX QAT preparation reached."""

    quantizable: int  #: Conv/Linear/ConvTranspose modules in the original model
    weight_fake_quant: int  #: of those, how many got a weight fake-quant after prepare_qat_fx
    activation_observed: int  #: of those, how many have an activation observer on their output
    activation_observers: int  #: activation fake-quant/observer modules inserted in total
    #: quantizable modules without weight fake-quant (not called in the graph, hidden, or skipped by the mapping)
    not_quantized: Tuple[str, ...] = ()
    hidden_in_wrapped_calls: Tuple[HiddenCall, ...] = ()


@dataclass(frozen=True)
class ModelReport:
    """Everything `fxlint verify` found out about one model."""

    file: str  #: the checked file (relative to the working directory when under it)
    class_name: str  #: the model's class, or "" when the file failed before a class was known
    target: str  #: how the model was specified, e.g. "net.py::Net" or "net.py::make()"
    inputs: InputsInfo
    stages: Tuple[Tuple[str, StageResult], ...]  #: one entry per name in STAGES, in that order
    coverage: Optional[Coverage] = None
    #: torch.ao deprecation warnings seen while preparing/converting (recorded, never shown in the table)
    warnings: Tuple[str, ...] = ()
    #: facts worth knowing that are not failures, e.g. "no output requires grad: backward not run"
    notes: Tuple[str, ...] = ()
    duration_s: float = 0.0

    def stage(self, name: str) -> StageResult:
        return dict(self.stages)[name]

    @property
    def verdict(self) -> Verdict:
        results = [self.stage(name) for name in VERDICT_STAGES]
        if any(r.status == "fail" for r in results):
            return "fail"
        if all(r.status == "pass" for r in results):
            return "pass"
        return "skipped"

    @property
    def first_failure(self) -> Optional[Tuple[str, StageResult]]:
        for name, result in self.stages:
            if result.status == "fail":
                return name, result
        return None


@dataclass(frozen=True)
class VerifyReport:
    """What :func:`fxlint.verify.api.verify_paths` returns."""

    models: Tuple[ModelReport, ...]
    backend: str
    wall_s: float = 0.0
    #: seconds spent starting worker processes (importing torch once per zygote)
    worker_startup_s: float = 0.0
    #: problems that concern no single model, e.g. "fxlint static analysis unavailable"
    messages: Tuple[str, ...] = field(default=())

    @property
    def exit_code(self) -> int:
        """0 when every verified model passes through qat_run, 1 when any fails."""
        return 1 if any(m.verdict == "fail" for m in self.models) else 0

    def count(self, verdict: Verdict) -> int:
        return sum(1 for m in self.models if m.verdict == verdict)
