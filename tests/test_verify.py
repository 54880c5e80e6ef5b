"""`fxlint verify` end to end, with real torch on CPU: stage verdicts, blame, inputs, coverage, bad input,
JSON shape and exit codes. Models live in tests/verify_cases (lines marked `# HAZARD`, `# RAISES`,
`# HANGS` are where the blame must land).

Every run starts one worker zygote (~4 s to import torch), so models are verified in as few runs as
possible: one module-scoped run covers tests/verify_cases/basic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")

from fxlint.verify.api import VerifyOptions, verify_paths  # noqa: E402
from fxlint.verify.command import verify  # noqa: E402
from fxlint.verify.render import render_json, render_table  # noqa: E402
from fxlint.verify.results import STAGES, HiddenCall  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.slow]

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "tests" / "verify_cases"
BASIC = CASES / "basic"


def marker_row(path: Path, marker: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"no {marker} in {path}")


def statuses(model) -> dict:
    return {name: result.status for name, result in model.stages}


@pytest.fixture(scope="module")
def basic():
    """One verify run over tests/verify_cases/basic: {(file name, class): ModelReport}."""
    report = verify_paths([str(BASIC)], VerifyOptions(timeout=60))
    return report, {(Path(m.file).name, m.class_name): m for m in report.models}


def test_importing_verify_does_not_import_torch():
    code = ("import sys, fxlint.verify.command, fxlint.verify.api, fxlint.verify.render, fxlint.verify.blame, "
            "fxlint.verify.pool, fxlint.verify.targets; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_clean_model_passes_every_stage(basic):
    _, models = basic
    model = models[("clean.py", "ConvNet")]
    assert statuses(model) == {name: "pass" for name in STAGES}
    assert model.verdict == "pass"
    assert model.inputs.how == "factory" and model.inputs.first == "x: float32[2, 3, 16, 16]"
    assert model.inputs.second_how == "derived: new values, batch 3"
    assert (model.coverage.quantizable, model.coverage.weight_fake_quant, model.coverage.activation_observed) == (2, 2, 2)
    assert any("torch.ao" in w for w in model.warnings), "torch.ao deprecations are recorded"


def test_error_kind_fails_at_trace_with_blame(basic):
    _, models = basic
    model = models[("error_kind.py", "Gate")]
    trace = model.stage("trace")
    assert statuses(model)["construct"] == "pass" and trace.status == "fail"
    assert trace.error.startswith("TraceError: symbolically traced variables cannot be used as inputs to control flow")
    assert trace.location.row == marker_row(BASIC / "error_kind.py", "# HAZARD")
    assert Path(trace.location.filename).name == "error_kind.py"
    assert trace.source_line.startswith("if y.sum() > 0:")
    assert trace.blame is not None and trace.blame.note
    if trace.code is not None:  # the static analysis is written separately; when present it must cover this line
        assert trace.code == "TRC101" and trace.blame.note == "TRC101 flagged this line"
    assert [statuses(model)[s] for s in STAGES[3:]] == ["skipped"] * 4
    assert model.verdict == "fail"


def test_silent_kind_fails_at_equivalence(basic):
    _, models = basic
    model = models[("silent_kind.py", "Jitter")]
    equivalence = model.stage("equivalence")
    assert statuses(model)["trace"] == "pass" and equivalence.status == "fail"
    assert "values differ" in equivalence.error
    assert equivalence.location is None  # a mismatch has no frame; blame comes from the static analysis
    assert any(d.startswith("eval mode") for d in equivalence.details)
    assert statuses(model)["qat_run"] == "pass", "QAT stages still run after an equivalence failure"


def test_helper_hazard_in_package_is_blamed_on_the_helper_line(basic):
    _, models = basic
    trace = models[("model.py", "Packaged")].stage("trace")
    assert trace.status == "fail"
    assert Path(trace.location.filename).name == "helpers.py"
    assert trace.location.row == marker_row(BASIC / "pkg" / "helpers.py", "# HAZARD")


def test_import_failure_is_reported_per_file(basic):
    _, models = basic
    model = models[("import_error.py", "")]
    imported = model.stage("import")
    assert imported.status == "fail" and imported.error.startswith("ModuleNotFoundError")
    assert imported.location.row == marker_row(BASIC / "import_error.py", "# RAISES")
    assert imported.blame is None, "import failures are not FX hazards: no static blame"
    assert all(r.status == "skipped" for _, r in model.stages[1:])


def test_raising_constructor(basic):
    _, models = basic
    construct = models[("raising_ctor.py", "Broken")].stage("construct")
    assert construct.status == "fail" and construct.error == "RuntimeError: this constructor always fails"
    assert construct.location.row == marker_row(BASIC / "raising_ctor.py", "# RAISES")


def test_models_that_need_configuration_are_skipped_with_a_how_to(basic):
    _, models = basic
    block = models[("needs_args.py", "Block")]
    assert block.verdict == "skipped"
    assert "needs constructor arguments (dim)" in block.stage("construct").error
    assert "[tool.fxlint.verify]" in block.stage("construct").error
    two_inputs = models[("needs_args.py", "TwoInputs")]
    assert statuses(two_inputs)["trace"] == "pass", "tracing needs no example input"
    assert two_inputs.stage("equivalence").status == "skipped"
    assert "no example input" in two_inputs.stage("equivalence").error
    assert two_inputs.verdict == "skipped"
    assert ("needs_args.py", "_Base") not in models, "a class without forward is not a model"


def test_nested_and_non_tensor_outputs(basic):
    _, models = basic
    assert models[("nested_outputs.py", "MultiOut")].verdict == "pass"


def test_kwargs_from_the_factory_and_alt_factory(basic):
    _, models = basic
    model = models[("kwargs_model.py", "FiLM")]
    assert model.verdict == "pass"
    assert model.inputs.first == "x: float32[2, 8], gamma=float32[2, 8], beta=float32[2, 8]"
    assert model.inputs.second_how == "alt factory make_alt()"


@pytest.mark.parametrize("cls, first", [("Conv1dNet", "x: float32[2, 4, 64]"), ("Conv2dNet", "x: float32[2, 3, 32, 32]"),
                                        ("LinearNet", "x: float32[2, 12]"), ("EmbeddingNet", "ids: int64[2, 8]")])
def test_inputs_inferred_from_the_first_layer(basic, cls, first):
    _, models = basic
    model = models[("inferred.py", cls)]
    assert model.inputs.how == "inferred" and model.inputs.first == first
    assert model.inputs.second_how.startswith("derived: new values")
    assert statuses(model)["equivalence"] == "pass"


def test_embedding_gets_the_embedding_qat_qconfig(basic):
    # the plain default mapping makes prepare_qat_fx assert "Embedding weights requires a qscheme of
    # torch.per_channel_affine_float_qparams"; verify uses PyTorch's embedding QAT qconfig for it
    _, models = basic
    model = models[("inferred.py", "EmbeddingNet")]
    assert model.stage("qat_prepare").status == "pass"
    assert model.stage("qat_run").status == "pass"


def test_coverage_lists_submodules_hidden_in_wrapped_calls(basic):
    _, models = basic
    model = models[("wrapped_call.py", "Hoisted")]
    assert model.verdict == "pass"
    assert model.coverage.hidden_in_wrapped_calls == (HiddenCall("apply_if_positive", ("inner",)),)
    assert (model.coverage.weight_fake_quant, model.coverage.activation_observed) == (2, 1)
    assert model.stage("convert").status == "fail", "a module inside a wrapped call breaks convert_fx"
    assert "apply_if_positive" in model.stage("trace").details[0]


def test_bad_factory_result(basic):
    _, models = basic
    construct = models[("bad_factory.py", "")].stage("construct")
    assert construct.status == "fail" and "must return a model" in construct.error


def test_crashing_worker_is_charged_to_the_running_stage(basic):
    _, models = basic
    model = models[("crash.py", "Crasher")]
    assert model.stage("trace").status == "fail" and "crashed (SIGSEGV)" in model.stage("trace").error
    assert model.stage("equivalence").status == "skipped"


def test_sys_exit_in_user_code_is_a_stage_failure(basic):
    _, models = basic
    trace = models[("exits.py", "Quitter")].stage("trace")
    assert trace.status == "fail" and trace.error == "SystemExit: 3"
    assert trace.location.row == marker_row(BASIC / "exits.py", "# RAISES")


def test_report_verdicts_and_exit_code(basic):
    report, models = basic
    assert report.exit_code == 1
    assert report.count("pass") == 8 and report.count("skipped") == 2  # EmbeddingNet passes too
    assert report.count("fail") == len(models) - 10


def test_json_shape(basic):
    report, _ = basic
    data = json.loads(render_json(report))
    assert set(data) >= {"version", "backend", "summary", "models"} and data["backend"] == "x86"
    for model in data["models"]:
        assert set(model) >= {"file", "class", "inputs", "stages", "coverage", "verdict", "summary", "warnings"}
        assert list(model["stages"]) == list(STAGES)
        for stage in model["stages"].values():
            assert stage["status"] in ("pass", "fail", "skipped")
            assert set(stage) >= {"status", "error", "location", "code"}
            assert stage["location"] is None or set(stage["location"]) == {"filename", "row"}
    gate = next(m for m in data["models"] if m["class"] == "Gate")
    assert gate["stages"]["trace"]["location"]["row"] == marker_row(BASIC / "error_kind.py", "# HAZARD")
    assert gate["inputs"]["how"] == "factory"


def test_table_has_a_row_and_details_per_model(basic):
    report, _ = basic
    table = render_table(report)
    assert "tests/verify_cases/basic/error_kind.py::Gate" in table
    assert "  trace: TraceError: symbolically traced variables" in table
    assert "torch.ao" not in table, "deprecation warnings are recorded, not shown"


# ---------------------------------------------------------------------------------------------- runs of their own
def test_timeouts_interrupt_python_and_kill_stuck_workers():
    started = time.monotonic()
    report = verify_paths([str(CASES / "hang")], VerifyOptions(timeout=2))
    models = {m.class_name: m for m in report.models}
    spinner = models["Spinner"].stage("trace")
    assert spinner.status == "fail" and spinner.error == "timed out after 2 s"
    assert spinner.location.row == marker_row(CASES / "hang" / "hanging.py", "# HANGS")
    stuck = models["Stuck"].stage("trace")
    assert stuck.status == "fail" and stuck.error.startswith("timed out: killed")
    assert time.monotonic() - started < 60, "2 s timeouts plus one worker start-up"


def test_pyproject_factories(monkeypatch):
    monkeypatch.chdir(CASES / "configured")
    # --python: the workers may run in another environment's interpreter (here: the same one, named)
    report = verify_paths(["models/net.py"], VerifyOptions(timeout=60, python=sys.executable))
    models = {m.class_name: m for m in report.models}
    assert set(models) == {"Head", "Body"}, "a file with config entries verifies exactly those"
    assert models["Head"].verdict == "pass" and models["Head"].inputs.how == "config"
    body = models["Body"]
    assert body.inputs.second_how == "alt factory make_body_alt()"
    assert body.stage("trace").location == type(body.stage("trace").location)("models/net.py", marker_row(
        CASES / "configured" / "models" / "net.py", "# HAZARD"))


def test_factory_given_as_file_and_function_without_fork():
    factory_file = BASIC / "kwargs_model.py"
    report = verify_paths([str(BASIC / "kwargs_model.py")],
                          VerifyOptions(factory=f"{factory_file}:make", alt_factory=f"{factory_file}:make_alt",
                                        timeout=120, use_fork=False))
    (model,) = report.models
    assert model.class_name == "FiLM" and model.verdict == "pass"


# ---------------------------------------------------------------------------------------------- command line
def test_cli_json_and_exit_0(monkeypatch):
    monkeypatch.chdir(BASIC)
    result = CliRunner().invoke(verify, ["clean.py", "--factory", "make", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [(m["class"], m["verdict"]) for m in data["models"]] == [("ConvNet", "pass")]
    assert data["summary"] == {"models": 1, "pass": 1, "fail": 0, "skipped": 0}


@pytest.mark.parametrize("args", [["missing.py"], ["clean.py", "--factory", "a:b:c"], ["clean.py", "--alt-factory", "x"],
                                  ["clean.py", "--qat-backend", "nope"], ["clean.py", "--timeout", "0"],
                                  ["clean.py", "--factory", "no_such_file.py:make"]])
def test_cli_usage_errors_exit_2(monkeypatch, args):
    monkeypatch.chdir(BASIC)
    result = CliRunner().invoke(verify, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output


def test_cli_as_a_new_user_runs_it(tmp_path):
    """A model file with make(): one command, verdicts out, no configuration."""
    model = tmp_path / "my_model.py"
    model.write_text((BASIC / "error_kind.py").read_text())
    env = dict(os.environ, PYTHONPATH=str(REPO))
    code = ("import sys; from fxlint.verify.command import verify\n"
            "code = verify.main(['my_model.py'], standalone_mode=False)\n"
            "assert 'torch' not in sys.modules, 'the parent process imported torch'\n"
            "sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "my_model.py::Gate" in proc.stdout and "FAIL" in proc.stdout
    assert f"at my_model.py:{marker_row(model, '# HAZARD')}: if y.sum() > 0:" in proc.stdout
    assert "Traceback" not in proc.stderr and not proc.stderr.strip(), "no progress or noise when not a terminal"


def test_a_model_that_kills_the_worker_is_reported_and_the_run_goes_on():
    report = verify_paths([str(CASES / "lost")], VerifyOptions(timeout=60, jobs=1))
    models = {m.class_name: m for m in report.models}
    trace = models["Assassin"].stage("trace")
    assert statuses(models["Assassin"])["construct"] == "pass", "messages sent before the loss are kept"
    assert trace.status == "fail" and "worker process died" in trace.error
    assert models["Survivor"].verdict == "pass", "a fresh zygote takes over"


def test_missing_torch_is_a_usage_error(tmp_path, monkeypatch):
    fake = tmp_path / "fake"
    (fake / "torch").mkdir(parents=True)
    (fake / "torch" / "__init__.py").write_text("raise ImportError('no torch here')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake))
    result = CliRunner().invoke(verify, [str(BASIC / "clean.py")])
    assert result.exit_code == 2, result.output
    assert "could not start (is torch installed?)" in result.output and "no torch here" in result.output


def test_progress_rewrites_one_stderr_line():
    import io

    from fxlint.verify import command

    stream = io.StringIO()
    progress = command._Progress(stream)
    progress(1, 3, "a.py::Net")
    progress(2, 3, "b.py::N")
    progress.clear()
    assert stream.getvalue().startswith("\r[1/3] a.py::Net\r[2/3] b.py::N  ")
