"""Worker side (imports torch): the verification pipeline of one model, stage by stage.

Runs inside a throw-away child process (see :mod:`fxlint.verify.worker`) and reports through ``emit``,
one JSON-able message per event, so that whatever happened before a crash or a kill is not lost:

* ``{"type": "start", "stage": S}`` before a stage runs (a crash or timeout is charged to it);
* ``{"type": "stage", "stage": S, "status": ..., "error": ..., "frames": [...], "details": [...]}``;
* ``{"type": "model", ...}``, ``{"type": "inputs", ...}``, ``{"type": "coverage", ...}``,
  ``{"type": "extras", "notes": [...], "warnings": [...]}`` and, for discovery jobs,
  ``{"type": "discovered", "classes": [...]}``.

``frames`` are the user's frames of the exception (innermost last); the parent matches them against
fxlint's static diagnostics (:mod:`fxlint.verify.blame`).
"""

from __future__ import annotations

import copy
import inspect
import os
import random
import re
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.fx
import torch.nn as nn

from fxlint.verify import coverage as coverage_mod
from fxlint.verify.example_inputs import (CannotInfer, Example, derive_second, describe_example, first_line,
                                          infer_example, iter_tensors, split_factory_result)
from fxlint.verify.loading import FrameFilter, import_file, prepend_sys_path, resolve_factory
from fxlint.verify.outputs import buffer_snapshot, first_difference, state_difference

Emit = Callable[[Dict[str, Any]], None]
#: the seed set before tracing: differs from the seeds of the compared calls, so that randomness frozen
#: into the graph at trace time shows up as a difference
TRACE_SEED = 98765
_MAX_PROBLEMS = 6


class VerifyTimeout(BaseException):
    """Raised by the worker's alarm in whatever user code is running (BaseException: survives `except Exception`)."""


class Skip(Exception):
    """The stage cannot run; the message says why (and how to make it run)."""


class StageFailure(Exception):
    """A failure that is not simply an exception of the stage's own call (e.g. an output mismatch)."""

    def __init__(self, error: str, frames: Optional[List[dict]] = None, details: Tuple[str, ...] = (),
                 blame: bool = True):
        super().__init__(error)
        self.error, self.frames, self.details, self.blame = error, frames or [], details, blame


@dataclass
class Problem:
    text: str
    frames: List[dict]


class Pipeline:
    """The stages of issue 3 for one job: import, construct, trace, equivalence, qat_prepare, qat_run, convert."""

    def __init__(self, job: Dict[str, Any], emit: Emit):
        self.job, self.emit = job, emit
        self.frame_filter = FrameFilter(job.get("user_roots", ()))
        self.statuses: Dict[str, str] = {}
        self.aborted = ""
        self.stage_started = 0.0
        self.notes: List[str] = []
        self.ao_warnings: Dict[str, None] = {}
        self.module: Any = None
        self.model: Optional[nn.Module] = None
        self.a: Optional[Example] = None
        self.b: Optional[Example] = None
        self.no_input_reason = ""
        self.b_how = ""
        self.graph_module: Optional[torch.fx.GraphModule] = None
        self.prepared: Optional[torch.fx.GraphModule] = None

    # ------------------------------------------------------------------------------------------ driver
    def run(self) -> None:
        steps = [("import", self.do_import, ()), ("construct", self.do_construct, ("import",)),
                 ("trace", self.do_trace, ("construct",)), ("equivalence", self.do_equivalence, ("trace",)),
                 ("qat_prepare", self.do_qat_prepare, ("trace",)), ("qat_run", self.do_qat_run, ("qat_prepare",)),
                 ("convert", self.do_convert, ("qat_run",))]
        for name, step, needs in steps:
            unmet = [n for n in needs if self.statuses.get(n) != "pass"]
            if self.aborted:
                self.report(name, "skipped", self.aborted)
            elif unmet:
                self.report(name, "skipped", f"not run: {unmet[0]} {self._past(self.statuses.get(unmet[0]))}")
            else:
                self.run_stage(name, step)
        self.emit({"type": "extras", "notes": self.notes, "warnings": list(self.ao_warnings)})

    def discover(self) -> None:
        """Import the file and list its nn.Module classes (for files without a factory)."""
        self.run_stage("import", self.do_import)
        if self.statuses.get("import") == "pass":
            self.emit({"type": "discovered", "classes": module_classes(self.module)})

    @staticmethod
    def _past(status: Optional[str]) -> str:
        return {"fail": "failed", "skipped": "was skipped"}.get(status or "", "did not run")

    def run_stage(self, name: str, step: Callable[[], Optional[List[str]]]) -> None:
        self.emit({"type": "start", "stage": name})
        self.stage_started = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = self._attempt(step)
        self._record_ao_warnings(caught)
        self.report(name, **outcome)

    def _attempt(self, step: Callable[[], Optional[List[str]]]) -> Dict[str, Any]:
        """Run a stage's step; its outcome as keyword arguments of :meth:`report`."""
        try:
            return {"status": "pass", "details": step() or []}
        except Skip as skip:
            return {"status": "skipped", "error": str(skip)}
        except StageFailure as failure:
            return {"status": "fail", "error": failure.error, "frames": failure.frames, "details": failure.details,
                    "blame": failure.blame}
        except VerifyTimeout as timeout:
            self.aborted = "not run: the model timed out"
            # where it was stuck is worth showing, but a slow model is no FX hazard: no static blame
            return {"status": "fail", "error": str(timeout), "frames": self.frame_filter.user_frames(timeout),
                    "blame": False}
        except BaseException as exc:  # noqa: BLE001 - user code may raise anything, SystemExit included
            return {"status": "fail", "error": first_line(exc), "frames": self.frame_filter.user_frames(exc)}

    def report(self, name: str, status: str, error: str = "", frames: Optional[List[dict]] = None,
               details: Any = (), blame: bool = True) -> None:
        self.statuses[name] = status
        seconds = time.perf_counter() - self.stage_started if self.stage_started else 0.0
        self.stage_started = 0.0
        self.emit({"type": "stage", "stage": name, "status": status, "error": error, "frames": frames or [],
                   "details": list(details), "blame": blame, "seconds": round(seconds, 4)})

    def _record_ao_warnings(self, caught: List[warnings.WarningMessage]) -> None:
        # torch.ao deprecations are recorded for the JSON report, never shown (issue 3)
        for w in caught:
            text = str(w.message).strip().splitlines()[0] if str(w.message).strip() else ""
            if "torch/ao" in w.filename.replace("\\", "/") or "torch.ao" in text or "deprecat" in text.lower():
                self.ao_warnings.setdefault(f"{w.category.__name__}: {text}", None)

    # ------------------------------------------------------------------------------------------ stages
    def do_import(self) -> None:
        prepend_sys_path(self.job.get("sys_path", ()))
        # a factory module outside the checked file comes first: it may prepare the environment the
        # model's package needs (sys.path entries, shims), as a test harness would
        for key in ("factory", "alt_factory"):
            spec = self.job.get(key)
            if spec and (spec.get("module") or spec.get("file")):
                resolve_factory(spec, None)
        if self.job.get("file"):
            self.module = import_file(self.job["file"])

    def do_construct(self) -> None:
        seed_everything(0)
        if self.job["kind"] == "class":
            model, example = getattr(self.module, self.job["class"])(), None
        else:
            model, example = split_factory_result(resolve_factory(self.job["factory"], self.module)())
        if not isinstance(model, nn.Module):
            raise TypeError(f"the model is a {type(model).__name__}, not an nn.Module")
        self.model = model
        self.emit(dict(type="model", **class_facts(model)))
        self._prepare_inputs(example)

    def _prepare_inputs(self, example: Optional[Example]) -> None:
        how, source = self.job.get("how", "factory"), self.job.get("label", "")
        if example is None:
            how, (example, source) = "inferred", self._inferred_input()
        self.a = example
        if self.a is None:
            self.emit({"type": "inputs", "how": "none", "source": self.no_input_reason})
            return
        self.b, self.b_how = self._second_input()
        self.emit({"type": "inputs", "how": how, "source": source, "first": describe_example(self.model, self.a),
                   "second": describe_example(self.model, self.b) if self.b else "", "second_how": self.b_how})

    def _inferred_input(self) -> Tuple[Optional[Example], str]:
        try:
            return infer_example(self.model)
        except CannotInfer as exc:
            self.no_input_reason = str(exc)
            return None, ""

    def _second_input(self) -> Tuple[Optional[Example], str]:
        """Input B: the alt factory's inputs (its model is ignored), else derived from input A."""
        spec = self.job.get("alt_factory")
        if not spec:
            return derive_second(self.model, self.a)
        _, example = split_factory_result(resolve_factory(spec, self.module)())
        if example is None:
            raise TypeError(f"the alt factory {spec['function']}() returned no inputs")
        return example, f"alt factory {spec['function']}()"

    def do_trace(self) -> List[str]:
        seed_everything(TRACE_SEED)
        self.graph_module = torch.fx.symbolic_trace(copy.deepcopy(self.model))
        wrapped = coverage_mod.wrapped_functions(self.graph_module)
        return [f"wrapped calls (opaque to quantization): {', '.join(wrapped)}"] if wrapped else []

    def do_equivalence(self) -> List[str]:
        self._require_inputs()
        problems: List[Problem] = []
        for mode in ("train", "eval"):
            problems += self._compare_mode(mode)
        if problems:
            raise StageFailure(problems[0].text, problems[0].frames,
                               tuple(p.text for p in problems[:_MAX_PROBLEMS]))
        return [f"train and eval mode, {1 + (self.b is not None)} inputs, fresh copies and repeated calls"]

    def do_qat_prepare(self) -> List[str]:
        self._require_inputs()
        from torch.ao.quantization.quantize_fx import prepare_qat_fx

        seed_everything(0)
        mapping = qat_mapping(self.job.get("backend", "x86"))
        self.prepared = prepare_qat_fx(copy.deepcopy(self.model).train(), mapping, copy.deepcopy(self.a.args))
        try:
            self.emit(dict(type="coverage", **coverage_mod.coverage(self.model, self.prepared, self.graph_module)))
        except Exception as exc:  # noqa: BLE001 - coverage is a report, never a verdict
            self.notes.append(f"coverage could not be computed: {first_line(exc)}")
        return []

    def do_qat_run(self) -> List[str]:
        pristine = copy.deepcopy(self.prepared)
        try:
            output = call(self.prepared, self.a, 0)
        except Exception as exc:  # noqa: BLE001
            raise StageFailure(first_line(exc), self._frames_in_graph(exc, pristine, self.a, 0)) from exc
        details = [self._backward(output)]
        if self.b is not None:
            try:
                call(self.prepared, self.b, 1)
            except Exception as exc:  # noqa: BLE001 - say which input: A already passed
                raise StageFailure(first_line(exc), self._frames_in_graph(exc, pristine, self.b, 1),
                                   (f"input B ({self.b_how}) fails; input A passed forward and backward",)) from exc
            details.append("forward on input B ok")
        return details

    def _frames_in_graph(self, exc: BaseException, graph_module: torch.fx.GraphModule, example: Example,
                         seed: int) -> List[dict]:
        return self.frame_filter.user_frames(exc) or self._failing_node_frames(graph_module, example, seed)

    def _failing_node_frames(self, graph_module: torch.fx.GraphModule, example: Example, seed: int) -> List[dict]:
        """The user's line behind the graph node that raised.

        A GraphModule re-raises errors of its generated code with the traceback cut off, so the node is
        found by replaying the graph node by node; its source line comes from the stack trace recorded
        at trace time (prepare_qat_fx records them; verify's own comparison traces do too).
        """
        node = failing_node(graph_module, example, seed)
        return node_frames(node, self.frame_filter) if node is not None else []

    def _backward(self, output: Any) -> str:
        differentiable = [t for t in iter_tensors(output) if t.requires_grad]
        if not differentiable:
            self.notes.append("no output of the QAT-prepared model requires grad: backward not run")
            return "forward ok, backward not run (no output requires grad)"
        loss = sum((t.abs() if t.is_complex() else t).float().sum() for t in differentiable)
        loss.backward()
        params = [p for p in self.prepared.parameters() if p.requires_grad]
        with_grad = sum(1 for p in params if p.grad is not None)
        return f"forward and backward ok ({with_grad}/{len(params)} parameters got gradients)"

    def do_convert(self) -> List[str]:
        from torch.ao.quantization.quantize_fx import convert_fx

        converted = convert_fx(copy.deepcopy(self.prepared).eval())
        with torch.no_grad():
            call(converted, self.a, 0)
        return []

    # ------------------------------------------------------------------------------------------ helpers
    def _require_inputs(self) -> None:
        if self.a is None:
            raise Skip(f"no example input: {self.no_input_reason}")

    def _compare_mode(self, mode: str) -> List[Problem]:
        base = copy.deepcopy(self.model).train(mode == "train")
        inputs = [("A", self.a, 0)] + ([("B", self.b, 1)] if self.b is not None else [])
        eager = {tag: self._eager(base, example, seed, f"input {tag} in {mode} mode") for tag, example, seed in inputs}
        try:
            seed_everything(TRACE_SEED)
            graph_module = trace_recording_stacks(copy.deepcopy(base))
        except Exception as exc:  # noqa: BLE001
            return [Problem(f"{mode} mode: tracing raised {first_line(exc)}", self.frame_filter.user_frames(exc))]
        problems = []
        for tag, example, seed in inputs:
            problems += self._compare_call(eager[tag], copy.deepcopy(graph_module), example, seed,
                                           f"{mode} mode, input {tag}")
        return problems or self._compare_sequential(base, graph_module, inputs, mode)

    def _eager(self, model: nn.Module, example: Example, seed: int, what: str) -> Any:
        try:
            return call(copy.deepcopy(model), example, seed)
        except Exception as exc:  # noqa: BLE001 - the example does not run even without FX
            raise StageFailure(f"eager forward raised on {what}: {first_line(exc)}", self.frame_filter.user_frames(exc),
                               blame=False) from exc

    def _compare_call(self, reference: Any, graph_module: nn.Module, example: Example, seed: int,
                      what: str) -> List[Problem]:
        pristine = copy.deepcopy(graph_module)
        try:
            output = call(graph_module, example, seed)
        except Exception as exc:  # noqa: BLE001
            frames = self.frame_filter.user_frames(exc) or self._failing_node_frames(pristine, example, seed)
            return [Problem(f"{what}: the GraphModule raised {first_line(exc)}", frames)]
        diff = first_difference(reference, output)
        return [Problem(f"{what}: {diff}", [])] if diff else []

    def _compare_sequential(self, base: nn.Module, graph_module: nn.Module, inputs: list, mode: str) -> List[Problem]:
        """A second call on the same instance exposes state that eager updates and the graph froze."""
        eager_model, traced = copy.deepcopy(base), copy.deepcopy(graph_module)
        before = buffer_snapshot(eager_model)
        sequence = inputs if len(inputs) > 1 else inputs * 2
        for index, (tag, example, seed) in enumerate(sequence, start=1):
            reference = self._eager_in_place(eager_model, example, seed, f"call {index} on one instance in {mode} mode")
            problems = self._compare_call(reference, traced, example, seed,
                                          f"{mode} mode, call {index} on the same instance (input {tag})")
            if problems:
                return problems
        diff = state_difference(eager_model, traced, before)
        return [Problem(f"{mode} mode, after repeated calls: {diff}", [])] if diff else []

    def _eager_in_place(self, model: nn.Module, example: Example, seed: int, what: str) -> Any:
        try:
            return call(model, example, seed)
        except Exception as exc:  # noqa: BLE001
            raise StageFailure(f"eager forward raised on {what}: {first_line(exc)}", self.frame_filter.user_frames(exc),
                               blame=False) from exc


# ---------------------------------------------------------------------------------------------- module-level
def trace_recording_stacks(model: nn.Module) -> torch.fx.GraphModule:
    """What ``torch.fx.symbolic_trace`` builds, plus each node's source line in ``node.meta``."""
    tracer = torch.fx.Tracer()
    tracer.record_stack_traces = True
    graph = tracer.trace(model)
    return torch.fx.GraphModule(tracer.root, graph, type(model).__name__)


class _NodeRecorder(torch.fx.Interpreter):
    current: Optional[torch.fx.Node] = None

    def run_node(self, n: torch.fx.Node) -> Any:
        self.current = n
        return super().run_node(n)


def failing_node(graph_module: torch.fx.GraphModule, example: Example, seed: int) -> Optional[torch.fx.Node]:
    """Replay the graph with an Interpreter; the node that raises, or None when the replay passes."""
    args = _placeholder_values(graph_module, example)
    if args is None:
        return None
    recorder = _NodeRecorder(graph_module)
    seed_everything(seed)
    try:
        with torch.enable_grad():
            recorder.run(*args)
    except Exception:  # noqa: BLE001 - the failure being located
        return recorder.current
    return None


def _placeholder_values(graph_module: torch.fx.GraphModule, example: Example) -> Optional[list]:
    """Interpreter.run takes positional values only: line keyword arguments up with the placeholders."""
    values = list(copy.deepcopy(example.args))
    kwargs = copy.deepcopy(example.kwargs)
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"][len(values):]
    for node in placeholders:
        if node.target in kwargs:
            values.append(kwargs.pop(node.target))
        elif node.args:  # a default value
            values.append(node.args[0])
        else:
            return None  # **kwargs / *args placeholders: not replayable this way
    return values


_STACK_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<row>\d+), in \S+\n[ \t]*(?P<line>[^\n]*)')


def node_frames(node: torch.fx.Node, frames: FrameFilter, depth: int = 4) -> List[dict]:
    """User frames from the node's recorded stack trace, outermost first; nodes that quantization
    inserted (observers) have none, so their first input's is used."""
    current: Optional[torch.fx.Node] = node
    for _ in range(depth):
        if current is None:
            break
        found = [{"filename": os.path.realpath(m["file"]), "row": int(m["row"]), "end_row": int(m["row"]),
                  "line": m["line"].strip()}
                 for m in _STACK_FRAME.finditer(current.meta.get("stack_trace") or "")
                 if frames.is_user_file(m["file"])]
        if found:
            return found
        inputs = current.all_input_nodes
        current = inputs[0] if inputs else None
    return []


def call(model: Any, example: Example, seed: int) -> Any:
    """One forward with fresh copies of the inputs (models may modify them) and every RNG seeded."""
    seed_everything(seed)
    with torch.enable_grad():
        return model(*copy.deepcopy(example.args), **copy.deepcopy(example.kwargs))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(seed)


def class_facts(model: nn.Module) -> Dict[str, Any]:
    """The model's class name, the file that defines it and the class's line span (for blame)."""
    cls = type(model)
    facts: Dict[str, Any] = {"class": cls.__name__, "class_file": "", "class_span": None}
    try:
        facts["class_file"] = inspect.getsourcefile(cls) or ""
        lines, start = inspect.getsourcelines(cls)
        facts["class_span"] = [start, start + len(lines) - 1]
    except (OSError, TypeError):
        pass
    return facts


def module_classes(module: Any) -> List[Dict[str, Any]]:
    """nn.Module classes defined in the module, in definition order, with whether `Class()` works."""
    found = []
    for name, obj in vars(module).items():
        if isinstance(obj, type) and issubclass(obj, nn.Module) and obj.__module__ == module.__name__:
            found.append({"name": name, **_constructibility(obj)})
    return found


def _constructibility(cls: type) -> Dict[str, Any]:
    if inspect.isabstract(cls) or cls.forward is nn.Module.forward:
        return {"constructible": False, "reason": "defines no forward", "required": []}
    try:
        params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    except (TypeError, ValueError):
        return {"constructible": True, "reason": "", "required": []}
    required = [p.name for p in params if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY,
                                                                               p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    reason = f"needs constructor arguments ({', '.join(required)})" if required else ""
    return {"constructible": not required, "reason": reason, "required": required}


def qat_mapping(backend: str):
    """The backend's default QAT mapping, with PyTorch's embedding QAT qconfig for ``nn.Embedding``
    (the default one is per-tensor affine, which ``prepare_qat_fx`` rejects for embedding weights:
    "Embedding weights requires a qscheme of torch.per_channel_affine_float_qparams"). This is the
    configuration PyTorch documents for QAT of models with embeddings."""
    import torch.nn as nn
    from torch.ao.quantization import default_embedding_qat_qconfig, get_default_qat_qconfig_mapping

    return get_default_qat_qconfig_mapping(backend).set_object_type(nn.Embedding, default_embedding_qat_qconfig)
