"""`fxlint verify`'s pieces in-process: finding targets, blame matching, output comparison, example
inputs, coverage and rendering. No worker processes; torch only where the piece is torch's side."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

from fxlint.verify.blame import GAP, Blamer, match_row
from fxlint.verify.render import model_summary, render_json, render_table
from fxlint.verify.results import (STAGES, Blame, InputsInfo, ModelReport, SourceLocation, StageResult,
                                   VerifyReport)
from fxlint.verify.targets import VerifyUsageError, parse_factory, plan_targets

REPO = Path(__file__).resolve().parent.parent
BASIC = REPO / "tests" / "verify_cases" / "basic"
CONFIGURED = REPO / "tests" / "verify_cases" / "configured"


# ---------------------------------------------------------------------------------------------- targets
def test_parse_factory_forms(tmp_path):
    assert parse_factory("make", str(tmp_path)).function == "make"
    spec = parse_factory("pkg.mod:build", str(tmp_path))
    assert (spec.module, spec.function, spec.file) == ("pkg.mod", "build", "")
    (tmp_path / "f.py").write_text("def build(): pass\n")
    spec = parse_factory("f.py:build", str(tmp_path))
    assert spec.file == str(tmp_path / "f.py") and spec.module == ""
    for bad in ("a:b:c", "mod:", ":f", "1x:f", "missing.py:f"):
        with pytest.raises(VerifyUsageError):
            parse_factory(bad, str(tmp_path))


def test_make_and_make_alt_are_used_automatically():
    (target,) = plan_targets([str(BASIC / "kwargs_model.py")])
    assert (target.kind, target.how, target.factory.function, target.alt_factory.function) == \
        ("factory", "factory", "make", "make_alt")
    (target,) = plan_targets([str(BASIC / "inferred.py")])
    assert target.kind == "discover", "no make(): the worker lists the classes"


def test_cli_factory_per_file(tmp_path):
    (tmp_path / "a.py").write_text("def build(): pass\nclass A: pass\n")
    (tmp_path / "helper.py").write_text("class H: pass\n")
    targets = plan_targets([str(tmp_path)], factory="build")
    assert [(Path(t.file).name, t.kind) for t in targets] == [("a.py", "factory")], "helpers under a dir are ignored"
    (skip,) = plan_targets([str(tmp_path / "helper.py")], factory="build")
    assert skip.kind == "skip" and "no top-level `build`" in skip.skip_reason
    with pytest.raises(VerifyUsageError, match="defines `nothing`"):
        plan_targets([str(tmp_path)], factory="nothing")


def test_module_factory_is_one_target(tmp_path):
    (tmp_path / "a.py").write_text("class A: pass\n")
    (target,) = plan_targets([str(tmp_path / "a.py")], factory="pkg.mod:build", alt_factory="pkg.mod:alt")
    assert target.file == "" and target.factory.module == "pkg.mod" and target.alt_factory.function == "alt"


def test_pyproject_entries_win():
    targets = plan_targets([str(CONFIGURED / "models" / "net.py")])
    assert [(t.class_name, t.how, t.factory.label) for t in targets] == [
        ("Head", "config", "factories:make_head"), ("Body", "config", "factories:make_body")]
    assert targets[1].alt_factory.function == "make_body_alt"
    assert str(CONFIGURED) in targets[0].sys_path


def test_explicit_config_file_with_a_list_of_tables(tmp_path):
    (tmp_path / "m.py").write_text("class M: pass\n")
    (tmp_path / "elsewhere").mkdir()
    config = tmp_path / "elsewhere" / "verify.toml"
    config.write_text(f'[tool.fxlint.verify]\n"{tmp_path / "m.py"}" = [{{factory = "f:a", alt = "f:a_alt"}}, "f:b"]\n')
    targets = plan_targets([str(tmp_path / "m.py")], config=str(config))
    assert [(t.factory.label, t.alt_factory.label if t.alt_factory else None) for t in targets] == [
        ("f:a", "f:a_alt"), ("f:b", None)]
    assert str(tmp_path / "elsewhere") in targets[0].sys_path
    (tmp_path / "empty.toml").write_text("[tool.other]\n")
    with pytest.raises(VerifyUsageError, match="no \\[tool.fxlint.verify\\] table"):
        plan_targets([str(tmp_path / "m.py")], config=str(tmp_path / "empty.toml"))


def test_targets_usage_errors(tmp_path):
    with pytest.raises(VerifyUsageError, match="no Python files"):
        plan_targets([str(tmp_path)])
    (tmp_path / "a.py").write_text("")
    with pytest.raises(VerifyUsageError, match="--alt-factory needs --factory"):
        plan_targets([str(tmp_path / "a.py")], alt_factory="make_alt")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "pyproject.toml").write_text('[tool.fxlint.verify]\n"m.py::M" = 3\n')
    (bad / "m.py").write_text("class M: pass\n")
    with pytest.raises(VerifyUsageError, match="must be"):
        plan_targets([str(bad / "m.py")])


# ---------------------------------------------------------------------------------------------- blame
def diag(code, filename, row, end_row=None):
    return SimpleNamespace(code=code, filename=filename, location=SimpleNamespace(row=row),
                           end_location=SimpleNamespace(row=end_row or row), message="")


def frame(filename, row, end_row=None):
    return {"filename": filename, "row": row, "end_row": end_row or row, "line": ""}


def test_match_row_prefers_the_exact_line_and_ignores_other_files(tmp_path):
    f = str(tmp_path / "m.py")
    diagnostics = [diag("TRC201", f, 9, 12), diag("TRC101", f, 10), diag("TRC102", str(tmp_path / "x.py"), 10)]
    assert match_row(diagnostics, f, 10).code == "TRC101"
    assert match_row(diagnostics, f, 11).code == "TRC201", "a multi-line diagnostic covers its rows"
    assert match_row(diagnostics, f, 13) is None
    assert match_row(diagnostics, f, 13, end_row=14) is None
    assert match_row(diagnostics, f, 8, end_row=9).code == "TRC201", "a multi-line statement overlaps"


def fake_analysis(tmp_path, diagnostics):
    files = {}
    for d in diagnostics:
        files.setdefault(d.filename, []).append(d)
    for name in files:
        Path(name).write_text("x = 1\n" * 30)

    def check_source(source, filename):
        return files.get(filename, [])

    return Blamer(check_source)


def test_blame_innermost_line_then_callers_then_gap(tmp_path):
    model, helper = str(tmp_path / "model.py"), str(tmp_path / "helper.py")
    blamer = fake_analysis(tmp_path, [diag("TRC101", helper, 7), diag("TRC201", model, 20)])
    hit = blamer.blame_frames([frame(model, 20), frame(helper, 7)], model)
    assert hit == Blame("TRC101", "TRC101 flagged this line")
    caller = blamer.blame_frames([frame(model, 20), frame(helper, 8)], model)
    assert caller.code == "TRC201" and caller.flagged_at.row == 20 and "flagged the call at" in caller.note
    gap = blamer.blame_frames([frame(model, 3)], model)
    assert gap == Blame(None, GAP)
    assert "inside torch" in blamer.blame_frames([], model).note


def test_blame_for_a_mismatch_uses_silent_diagnostics(tmp_path):
    model = str(tmp_path / "model.py")
    blamer = fake_analysis(tmp_path, [diag("TRC101", model, 5), diag("TRC504", model, 25), diag("TRC503", model, 12)])
    blame = blamer.blame_mismatch(model, [10, 20])
    assert blame.code == "TRC503" and blame.flagged_at.row == 12, "inside the class span first"
    assert fake_analysis(tmp_path, [diag("TRC101", model, 5)]).blame_mismatch(model, None) == Blame(None, GAP)


def test_blame_without_static_analysis_says_so(tmp_path):
    blamer = Blamer(None, unavailable="fxlint static analysis unavailable (ImportError: x)")
    blame = blamer.blame_frames([frame(str(tmp_path / "m.py"), 3)])
    assert blame.code is None and blame.note.startswith("fxlint static analysis unavailable")


def test_blame_survives_a_crashing_analysis(tmp_path):
    (tmp_path / "m.py").write_text("x = 1\n")

    def broken(source, filename):
        raise RuntimeError("boom")

    blame = Blamer(broken).blame_frames([frame(str(tmp_path / "m.py"), 1)])
    assert blame.code is None and "failed on" in blame.note and "boom" in blame.note


# ---------------------------------------------------------------------------------------------- rendering
def report_of(*models):
    return VerifyReport(tuple(models), "x86", 1.5)


def model_with(stage_results, **kwargs):
    stages = tuple((name, stage_results.get(name, StageResult("pass"))) for name in STAGES)
    return ModelReport("m.py", "Net", "m.py::make()", InputsInfo("factory", "make() in m.py", "x: float32[2, 8]"),
                       stages, **kwargs)


def test_summary_and_exit_code_of_a_failure():
    failing = model_with({"trace": StageResult("fail", "TraceError: boom", SourceLocation("m.py", 7), "if x:",
                                               Blame("TRC101", "TRC101 flagged this line"))} |
                         {s: StageResult("skipped", "not run: trace failed") for s in STAGES[3:]})
    assert failing.verdict == "fail"
    assert model_summary(failing) == "trace: TraceError: boom at m.py:7 (TRC101)"
    assert report_of(failing).exit_code == 1
    table = render_table(report_of(failing))
    assert "m.py::Net" in table and "    at m.py:7: if x:" in table and "TRC101 flagged this line" in table


def test_convert_is_not_part_of_the_verdict():
    model = model_with({"convert": StageResult("fail", "AttributeError: x")})
    assert model.verdict == "pass" and report_of(model).exit_code == 0
    assert "convert fails" in model_summary(model)


def test_json_of_a_synthetic_report():
    model = model_with({"trace": StageResult("fail", "E: x", SourceLocation("m.py", 3), "y", Blame(None, GAP))})
    data = json.loads(render_json(report_of(model)))
    trace = data["models"][0]["stages"]["trace"]
    assert trace == {"status": "fail", "error": "E: x", "location": {"filename": "m.py", "row": 3}, "code": None,
                     "source_line": "y", "blame": GAP, "flagged_at": None, "details": [], "seconds": 0.0}
    assert data["models"][0]["stages"]["import"]["error"] is None


# ---------------------------------------------------------------------------------------------- torch side
torch = pytest.importorskip("torch")


def test_first_difference_reports_paths():
    from fxlint.verify.outputs import first_difference

    @dataclass
    class Out:
        a: torch.Tensor
        n: int

    t = torch.ones(2, 3)
    assert first_difference({"x": (t, Out(t, 2))}, {"x": (t.clone(), Out(t + 1e-7, 2))}) is None
    assert first_difference({"x": (t, Out(t, 2))}, {"x": (t, Out(t * 2, 2))}) == \
        "out['x'][1].a: values differ (max abs diff 1)"
    assert first_difference((t, 3), (t, 4)) == "out[1]: 4 instead of eager's 3"
    assert "requires_grad=True" in first_difference(t, t.clone().requires_grad_())
    assert "shape [3]" in first_difference(t, torch.ones(3))
    assert "dtype" in first_difference(t, t.double())
    assert "list instead of eager's tuple" in first_difference((t,), [t])
    assert first_difference(torch.tensor([float("nan")]), torch.tensor([float("nan")])) is None
    big = torch.full((2,), 1e6)
    assert first_difference(big, big + 1e-3) is None, "the tolerance scales with the output's magnitude"


def test_a_proxy_returned_by_a_graph_module_is_a_difference():
    import torch.fx
    from fxlint.verify.outputs import first_difference

    graph = torch.fx.Graph()
    proxy = torch.fx.Proxy(graph.placeholder("x"))
    assert "returned a Proxy" in first_difference(torch.ones(1), proxy)


def test_state_difference_sees_buffers_the_graph_never_updates():
    from fxlint.verify.outputs import buffer_snapshot, state_difference

    eager, traced = torch.nn.Module(), torch.nn.Module()
    eager.register_buffer("steps", torch.zeros(1))
    before = buffer_snapshot(eager)
    eager.steps += 1
    assert "updated by eager forward" in state_difference(eager, traced, before)
    traced.register_buffer("steps", torch.zeros(1))
    assert "values differ" in state_difference(eager, traced, before)


def test_derive_second_changes_batch_and_values():
    from fxlint.verify.example_inputs import Example, derive_second

    model = torch.nn.Linear(4, 2)
    ids_model = torch.nn.Embedding(10, 3)
    first = Example((torch.randn(2, 4),))
    second, how = derive_second(model, first)
    assert how == "derived: new values, batch 3" and second.args[0].shape == (3, 4)
    ids = Example((torch.tensor([[1, 5], [2, 7]]),))
    second, _ = derive_second(ids_model, ids)
    assert second.args[0].dtype == torch.int64 and int(second.args[0].min()) >= 1 and int(second.args[0].max()) <= 7


def test_derive_second_keeps_the_batch_when_the_model_needs_it():
    from fxlint.verify.example_inputs import Example, derive_second

    class FixedBatch(torch.nn.Module):
        def forward(self, x):
            return x.view(2, 4)

    second, how = derive_second(FixedBatch(), Example((torch.randn(2, 4),)))
    assert how == "derived: new values, same shapes" and second.args[0].shape == (2, 4)


def test_infer_example_explains_failure():
    from fxlint.verify.example_inputs import CannotInfer, infer_example

    with pytest.raises(CannotInfer, match="no Conv1d/2d/3d, Linear, Embedding or RNN layer"):
        infer_example(torch.nn.ReLU())
    example, source = infer_example(torch.nn.LSTM(5, 7, batch_first=True))
    assert example.args[0].shape == (2, 8, 5) and source == "LSTM `self`"


def test_split_factory_result_forms():
    from fxlint.verify.example_inputs import split_factory_result

    model = torch.nn.Linear(2, 2)
    x = torch.ones(1, 2)
    assert split_factory_result(model) == (model, None)
    assert split_factory_result((model, x))[1].args == (x,)
    assert split_factory_result((model, [x], {"k": 1}))[1].kwargs == {"k": 1}
    with pytest.raises(TypeError, match="must return a model"):
        split_factory_result((1, 2))


def test_module_classes_lists_constructibility():
    import types

    from fxlint.verify.stages import module_classes

    module = types.ModuleType("m")

    class A(torch.nn.Module):
        def __init__(self, dim, *, heads=2):
            super().__init__()

        def forward(self, x):
            return x

    class B(torch.nn.Module):
        def forward(self, x):
            return x

    A.__module__ = B.__module__ = "m"
    module.A, module.B = A, B
    module.Linear = torch.nn.Linear  # imported, not defined here
    assert module_classes(module) == [
        {"name": "A", "constructible": False, "reason": "needs constructor arguments (dim)", "required": ["dim"]},
        {"name": "B", "constructible": True, "reason": "", "required": []}]


def test_frame_filter_treats_torch_and_fxlint_as_library(tmp_path):
    from fxlint.verify.loading import FrameFilter

    frames = FrameFilter([str(tmp_path)])
    assert frames.is_user_file(str(tmp_path / "m.py"))
    assert not frames.is_user_file(torch.__file__)
    assert not frames.is_user_file(os.__file__)
    assert not frames.is_user_file("<eval_with_key>.3")
    assert not FrameFilter([str(REPO)]).is_user_file(str(REPO / "fxlint" / "verify" / "stages.py"))
