"""`fxlint check --format text|concise|full|json|sarif|github`, `--statistics`, `--show-fixes`, `--exit-zero`,
and colour (only on a terminal, never with NO_COLOR). SARIF is validated against the official SARIF 2.1.0
JSON schema, vendored in tests/data (OASIS errata01 schema, see tests/data/README.md)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from fxlint import __version__, registry
from fxlint.cli import main
from fxlint.diagnostics import (Applicability, CheckResult, Diagnostic, Edit, FileProblem, Fix, Hazard, Location,
                                Step)
from fxlint.render import render_github, render_sarif

DATA = Path(__file__).resolve().parent / "data"
SCHEMA_PATH = DATA / "sarif-schema-2.1.0.json"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def work(tmp_path, monkeypatch):
    for src in (DATA / "cli").glob("*.py"):
        shutil.copy(src, tmp_path / src.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FXLINT_CACHE_DIR", str(tmp_path / ".cache"))
    return tmp_path


def check(*args: str):
    return CliRunner().invoke(main, ["check", "--no-cache", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def sarif_validator():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["id"].endswith("/sarif-schema-2.1.0.json")  # the official schema, not a stand-in
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)


def assert_valid_sarif(validator, doc) -> None:
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


# ------------------------------------------------------------------------ text formats
def test_text_is_ruff_like_with_provenance(work):
    result = check("hazard.py")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hazard.py:8:12: TRC101 `if` condition `t > 0` depends on the values of forward input")
    assert lines[1] == "    from `x`: line 6 `s = x.sum()` -> line 7 `t = s * 2`"
    assert lines[2].startswith("hazard.py:13:20: TRC204 `len(x)`")
    assert lines[3] == "    reached from Net.forward -> Net.shrink"
    assert lines[4] == "Found 2 hazards in 1 file (1 file checked)."
    assert "help:" not in result.stdout and "^" not in result.stdout


def test_concise_is_one_line_per_finding(work):
    result = check("--format", "concise", "hazard.py", "suppressed.py")
    body = result.stdout.splitlines()[:-1]
    assert len(body) == 3 and all(re.match(r"^\S+\.py:\d+:\d+: TRC\d{3} ", line) for line in body)
    assert result.stdout.splitlines()[-1].startswith("Found 3 hazards in 2 files")


def test_concise_keeps_multi_line_source_on_one_line(work):
    (work / "multi.py").write_text(
        "import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x):\n"
        "        if (x.max()\n                > 0):\n            return x\n        return -x\n")
    result = check("--format", "concise", "multi.py")
    assert result.stdout.splitlines()[0].startswith("multi.py:6:12: TRC101 `if` condition `(x.max() > 0)` depends")
    assert len(result.stdout.splitlines()) == 2


def test_full_shows_source_caret_provenance_and_help(work):
    result = check("--format", "full", "hazard.py")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("hazard.py:8:12: TRC101")
    assert lines[1] == "    8 |         if t > 0:"
    caret = lines[2]
    assert caret.strip() == "^^^^^"  # under `t > 0` (columns 12..16)
    assert caret.index("^") == lines[1].index("t > 0")
    assert lines[3] == "    from `x`: line 6 `s = x.sum()` -> line 7 `t = s * 2`"
    if "fix" in main.list_commands(None):  # the branch's tail is hoisted with `self.shrink` copied in
        assert lines[4].startswith("    fix (unsafe): Hoist lines 8-10") and "copies `self.shrink`" in lines[4]
    else:
        assert lines[4].startswith("    help: ") and "torch.where" in lines[4]
    assert lines[5].startswith("hazard.py:13:20: TRC204")
    assert lines[6] == "   13 |         return x[: len(x) // 2]"
    assert lines[7].index("^") == lines[6].index("len(x)") and lines[7].strip() == "^" * len("len(x)")
    assert lines[8] == "    reached from Net.forward -> Net.shrink"
    if "fix" in main.list_commands(None):  # the fix `fxlint fix` would make, with its safety, instead of the guidance
        assert lines[9].startswith("    fix (safe): Replace `len(x)`"), lines[9]
        assert lines[-2:] == ["1 fixable with `fxlint fix --apply`.",
                              "1 more fixable with `fxlint fix --apply --unsafe-fixes` (review them)."]
    else:
        assert lines[9].startswith("    help: ") and "x.size(0)" in lines[9]


def test_full_shows_the_fix_title_when_a_fix_exists():
    from fxlint.render import Style, render_text

    d = _diagnostic_with_fix(str(DATA / "cli" / "hazard.py"))
    text = render_text(CheckResult((d,), (), 1), Style(False), "full")
    assert "    fix (safe): Replace `len(x)` with `x.size(0)`" in text.splitlines()


def test_show_fixes_adds_guidance_without_the_excerpt(work):
    # a Python counter has no automatic fix (it would have to become a buffer): guidance instead
    (work / "counter.py").write_text("import torch\n\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n"
                                     "        super().__init__()\n        self.calls = 0\n\n    def forward(self, x):\n"
                                     "        self.calls += 1\n        return x.sum() * 2\n")
    result = check("--show-fixes", "hazard.py", "counter.py")
    assert result.stdout.count("    help: ") + result.stdout.count("    fix (") == 3
    assert "    help: keep the state in a buffer" in result.stdout
    assert " | " not in result.stdout and "^" not in result.stdout
    assert "from `x`" in result.stdout  # provenance stays


def test_show_fixes_marks_unsafe_fixes(work):
    if "fix" not in main.list_commands(None):
        pytest.skip("`fxlint fix` is not available")
    (work / "branch.py").write_text("import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x: torch.Tensor):\n"
                                    "        if x.sum() > 0:\n            x = x * 2\n        return x\n")
    lines = check("--show-fixes", "branch.py").stdout.splitlines()
    assert lines[1].startswith("    fix (unsafe): "), lines
    assert lines[-1] == "1 fixable with `fxlint fix --apply --unsafe-fixes` (review them)."


def test_statistics(work):
    result = check("--statistics", "hazard.py", "suppressed.py")
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["2", "TRC101", "tensor-dependent-branch"]
    assert lines[1].split() == ["1", "TRC204", "len-of-proxy"]
    assert lines[2].startswith("Found 3 hazards")
    assert result.exit_code == 1
    assert check("--statistics", "--exit-zero", "hazard.py").exit_code == 0


def test_exit_zero_in_every_format(work):
    for fmt in ("text", "concise", "full", "json", "sarif", "github"):
        result = check("--exit-zero", "--format", fmt, "hazard.py")
        assert result.exit_code == 0, fmt
        assert "TRC101" in result.stdout, fmt
        assert check("--format", fmt, "hazard.py").exit_code == 1


# ------------------------------------------------------------------------ json
def test_json(work):
    result = check("--format", "json", "hazard.py", "clean.py")
    rows = json.loads(result.stdout)  # stdout is pure JSON: no summary
    assert [r["code"] for r in rows] == ["TRC101", "TRC204"]
    first = rows[0]
    assert first["name"] == "tensor-dependent-branch"
    assert first["filename"] == str(work / "hazard.py")
    assert first["location"] == {"row": 8, "column": 12} and first["end_location"] == {"row": 8, "column": 17}
    assert first["url"].endswith("#rule-trc101")
    assert first["hazard"] == "data-dependent-control-flow"
    assert first["source"] == "x"
    assert [s["row"] for s in first["provenance"]] == [6, 7]
    assert rows[1]["reached_from"] == ["Net.forward", "Net.shrink"]
    assert json.loads(check("--format", "json", "clean.py").stdout) == []


def test_json_with_statistics_carries_a_summary(work):
    (work / "blob.py").write_bytes(b"\x00\x01\x02")
    result = check("--format", "json", "--statistics", "hazard.py", "clean.py", "blob.py")
    doc = json.loads(result.stdout)
    plain = json.loads(check("--format", "json", "hazard.py", "clean.py", "blob.py").stdout)
    assert doc["diagnostics"] == plain  # the same rows, fields unchanged
    summary = doc["summary"]
    assert summary["files_checked"] == 3 and summary["files_with_findings"] == 1  # blob.py counted, skipped
    assert summary["findings"] == 2 and summary["by_code"] == {"TRC101": 1, "TRC204": 1}
    [skipped] = summary["files_not_checked"]
    assert skipped["filename"] == str(work / "blob.py") and skipped["kind"] == "binary"
    assert skipped["reason"].startswith("skipped: binary file")


def test_machine_formats_keep_stdout_clean_when_files_are_skipped(work, sarif_validator):
    (work / "blob.py").write_bytes(b"\x00\x01\x02")
    for fmt in ("json", "sarif"):
        result = check("--format", fmt, "hazard.py", "blob.py")
        doc = json.loads(result.stdout)
        assert "blob.py: skipped: binary file" in result.stderr
        if fmt == "sarif":
            assert_valid_sarif(sarif_validator, doc)
            notes = doc["runs"][0]["invocations"][0]["toolExecutionNotifications"]
            assert notes[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "blob.py"
            assert notes[0]["descriptor"]["id"] == "binary"


# ------------------------------------------------------------------------ sarif
def test_sarif_validates_against_the_official_schema(work, sarif_validator):
    (work / "broken.py").write_text("def f(:\n")
    result = check("--format", "sarif", "hazard.py", "suppressed.py", "broken.py")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert_valid_sarif(sarif_validator, doc)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "fxlint" and driver["version"] == __version__
    # one rule per code, with short and full description and a help URI
    all_codes = [r.code for r in registry.all_rules()]
    assert [r["id"] for r in driver["rules"]] == all_codes
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"] and rule["fullDescription"]["text"]
        assert rule["helpUri"].startswith("https://") and rule["helpUri"].endswith(rule["id"].lower())
        assert "##" not in rule["fullDescription"]["text"]
    results = run["results"]
    assert [(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]) for r in results] == [
        ("TRC901", "broken.py"), ("TRC101", "hazard.py"), ("TRC204", "hazard.py"),
        ("TRC101", "suppressed.py")]
    for r in results:
        assert driver["rules"][r["ruleIndex"]]["id"] == r["ruleId"]
        region = r["locations"][0]["physicalLocation"]["region"]
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    hazard_if = results[1]
    assert hazard_if["locations"][0]["physicalLocation"]["region"] == {
        "startLine": 8, "startColumn": 12, "endLine": 8, "endColumn": 17}
    assert [loc["physicalLocation"]["region"]["startLine"] for loc in hazard_if["relatedLocations"]] == [6, 7]


def test_sarif_clean_run_and_negative_control(work, sarif_validator):
    doc = json.loads(check("--format", "sarif", "clean.py").stdout)
    assert_valid_sarif(sarif_validator, doc)
    assert doc["runs"][0]["results"] == []
    # the validator does reject broken documents
    broken = json.loads(json.dumps(doc))
    broken["runs"][0]["results"] = [{"ruleId": "TRC101", "level": "fatal", "message": {"text": "x"}}]
    assert list(sarif_validator.iter_errors(broken))
    del broken["version"]
    assert list(sarif_validator.iter_errors(broken))


def _apply_edit(text: str, start: dict, end: dict, content: str) -> str:
    """Apply one edit given in 1-based rows/columns (end exclusive) to ``text``."""
    starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
    a = starts[start["row"] - 1] + start["column"] - 1
    b = starts[end["row"] - 1] + end["column"] - 1
    return text[:a] + content + text[b:]


def test_sarif_and_json_carry_the_fix_edits_of_a_real_run(work, sarif_validator):
    if "fix" not in main.list_commands(None):
        pytest.skip("`fxlint fix` is not available")
    (work / "branch.py").write_text("import torch\n\n\nclass Net(torch.nn.Module):\n    def forward(self, x: torch.Tensor):\n"
                                    "        if x.sum() > 0:\n            x = x * 2\n        return x\n")
    doc = json.loads(check("--format", "sarif", "hazard.py", "branch.py").stdout)
    assert_valid_sarif(sarif_validator, doc)
    by_rule = {(r["ruleId"], r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]): r
               for r in doc["runs"][0]["results"]}
    len_fix = by_rule[("TRC204", "hazard.py")]["fixes"][0]
    assert len_fix["description"]["text"].startswith("Replace `len(x)`")
    replacement = len_fix["artifactChanges"][0]["replacements"][0]
    assert replacement["deletedRegion"] == {"startLine": 13, "startColumn": 20, "endLine": 13, "endColumn": 26}
    assert replacement["insertedContent"]["text"] == "x.size(0)"
    assert "copies `self.shrink`" in by_rule[("TRC101", "hazard.py")]["fixes"][0]["description"]["text"]
    assert "torch.where" in by_rule[("TRC101", "branch.py")]["fixes"][0]["description"]["text"]
    # JSON carries the same edits with --show-fixes; applying one edit alone gives valid Python
    rows = json.loads(check("--format", "json", "--show-fixes", "hazard.py", "branch.py").stdout)
    assert [r["fix"] is not None for r in rows] == [True, True, True]
    for row in rows:
        if row["fix"] is None:
            continue
        text = Path(row["filename"]).read_text()
        for edit in row["fix"]["edits"]:
            fixed = _apply_edit(text, edit["location"], edit["end_location"], edit["content"])
            compile(fixed, row["filename"], "exec")
            assert fixed != text
    assert [r["fix"]["applicability"] for r in rows] == ["unsafe", "unsafe", "safe"]
    # without --show-fixes the JSON stays as fast as the check: no fix planning
    assert all(r["fix"] is None for r in json.loads(check("--format", "json", "hazard.py").stdout))


def _diagnostic_with_fix(filename: str) -> Diagnostic:
    return Diagnostic(
        "TRC204", "len-of-proxy", Hazard.SHAPE, "`len(x)` of a Proxy", filename, Location(13, 20), Location(13, 26),
        provenance=(Step(6, "s = x.sum()"),), reached_from=("Net.forward", "Net.shrink"), source="x",
        fix=Fix("Replace `len(x)` with `x.size(0)`", Applicability.SAFE,
                (Edit(Location(13, 20), Location(13, 26), "x.size(0)"),)))


def test_sarif_fixes_and_odd_paths(sarif_validator, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    d = _diagnostic_with_fix("dir with space/m%odel.py")
    problem = FileProblem("big file.py", "too-large", "skipped: 3.0 MB is over the 2 MB limit")
    doc = json.loads(render_sarif(CheckResult((d,), (problem,), 2), registry.all_rules()))
    assert_valid_sarif(sarif_validator, doc)
    result = doc["runs"][0]["results"][0]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "dir%20with%20space/m%25odel.py"
    fix = result["fixes"][0]
    assert fix["description"]["text"] == "Replace `len(x)` with `x.size(0)`"
    replacement = fix["artifactChanges"][0]["replacements"][0]
    assert replacement["deletedRegion"] == {"startLine": 13, "startColumn": 20, "endLine": 13, "endColumn": 26}
    assert replacement["insertedContent"]["text"] == "x.size(0)"


# ------------------------------------------------------------------------ github
def test_github_annotations(work):
    result = check("--format", "github", "hazard.py")
    lines = result.stdout.splitlines()
    assert len(lines) == 2  # annotations only, no summary
    assert lines[0].startswith("::error title=fxlint (TRC101),file=hazard.py,line=8,col=12,endLine=8,endColumn=17::"
                               "hazard.py:8:12: TRC101 ")
    assert re.match(r"^::error title=fxlint \(TRC204\),file=hazard\.py,line=13,col=20,endLine=13,endColumn=26::",
                    lines[1])
    assert check("--format", "github", "clean.py").stdout == ""


def test_github_escaping():
    d = _diagnostic_with_fix("a,b:c.py")
    d = Diagnostic(d.code, d.rule, d.hazard, "50% of\nthe time", d.filename, d.location, d.end_location)
    problem = FileProblem("odd,name.py", "binary", "skipped: binary\nfile")
    out = render_github(CheckResult((d,), (problem,), 1)).splitlines()
    assert out[0].startswith("::error title=fxlint (TRC204),file=a%2Cb%3Ac.py,line=13,")
    assert out[0].endswith("::a,b:c.py:13:20: TRC204 50%25 of the time")
    assert out[1] == "::warning title=fxlint,file=odd%2Cname.py::skipped: binary%0Afile"


# ------------------------------------------------------------------------ colour
def _run_on_pty(args, cwd: Path, env_extra: dict) -> str:
    """Run `python -m fxlint ARGS` with stdout on a pseudo-terminal; return what it printed."""
    pty = pytest.importorskip("pty")
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm"
    env.update(env_extra)
    proc = subprocess.Popen([sys.executable, "-m", "fxlint", *args], cwd=cwd, env=env, stdout=slave,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
def test_colour_only_on_a_terminal_and_never_with_no_color(work):
    on_tty = _run_on_pty(["check", "--no-cache", "hazard.py"], work, {})
    assert ANSI.search(on_tty), on_tty
    assert "\x1b[1;31mTRC101\x1b[0m" in on_tty
    assert ANSI.sub("", on_tty).replace("\r\n", "\n").startswith("hazard.py:8:12: TRC101")
    no_color = _run_on_pty(["check", "--no-cache", "hazard.py"], work, {"NO_COLOR": "1"})
    assert "TRC101" in no_color and not ANSI.search(no_color)
    dumb = _run_on_pty(["check", "--no-cache", "hazard.py"], work, {"TERM": "dumb"})
    assert "TRC101" in dumb and not ANSI.search(dumb)
    # piped output never has colour
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    piped = subprocess.run([sys.executable, "-m", "fxlint", "check", "--no-cache", "hazard.py"], cwd=work, env=env,
                           capture_output=True, text=True, timeout=120)
    assert "TRC101" in piped.stdout and not ANSI.search(piped.stdout)
    # machine formats never have colour, even on a terminal
    sarif_on_tty = _run_on_pty(["check", "--no-cache", "--format", "json", "hazard.py"], work, {})
    assert not ANSI.search(sarif_on_tty)


SHARED_HELPER = {
    "helpers.py": """
        import torch


        def window_pad(x, ws):
            H = x.shape[-1]
            if H % ws != 0:
                x = torch.nn.functional.pad(x, (0, ws - H % ws))
            return x
    """,
    "a.py": """
        import torch.nn as nn
        from helpers import window_pad


        class NetA(nn.Module):
            def forward(self, x):
                return window_pad(x, 4)


        class NetB(nn.Module):
            def forward(self, x):
                return window_pad(x, 8) * 2
    """,
    "b.py": """
        import torch.nn as nn
        from helpers import window_pad


        class NetC(nn.Module):
            def forward(self, x):
                return window_pad(x, 2)


        class Lonely(nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    return x
                return -x
    """,
}


def test_root_causes_rank_lines_by_the_models_reaching_them(tmp_path):
    """Issue 17: a shared helper's line blocks every model that reaches it; it is reported once,
    with all of them (across files, in one and in two processes), and `--statistics` ranks it."""
    import textwrap

    from fxlint.api import check_paths
    from fxlint.config import Config
    from fxlint.render import root_causes

    for name, text in SHARED_HELPER.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    results = [check_paths([tmp_path], Config(), jobs=jobs, use_cache=False) for jobs in (1, 2)]
    assert results[0].diagnostics == results[1].diagnostics
    by_line = {(Path(d.filename).name, d.location.row): d for d in results[0].diagnostics}
    shared = by_line[("helpers.py", 7)]
    assert shared.entries == ("a.NetA", "a.NetB", "b.NetC")
    assert by_line[("b.py", 13)].entries == ("b.Lonely",)
    causes = root_causes(results[0])
    assert len(causes) == 2 and causes[1].split()[:2] == ["3", "models"] and "helpers.py:7" in causes[1]
