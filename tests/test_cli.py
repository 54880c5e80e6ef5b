"""The `fxlint` command line: exit codes, selection, configuration, suppression, file discovery,
the result cache and bad input (each a one-line message, never a traceback)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import pytest
from click.testing import CliRunner

from fxlint import __version__
from fxlint.cli import main

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data" / "cli"
FINDING = re.compile(r"^(?P<path>[^\s:]+):(?P<row>\d+):(?P<col>\d+): (?P<code>TRC\d{3}) ", re.M)


# ------------------------------------------------------------------------ helpers
@pytest.fixture
def work(tmp_path, monkeypatch):
    """A scratch directory (the cwd) holding copies of tests/data/cli, with its own result cache."""
    for src in DATA.glob("*.py"):
        shutil.copy(src, tmp_path / src.name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FXLINT_CACHE_DIR", str(tmp_path / ".cache"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    return tmp_path


def cli(*args: str):
    """Run `fxlint ARGS` in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def codes(output: str) -> List[str]:
    return [m.group("code") for m in FINDING.finditer(output)]


def findings(output: str) -> List[tuple]:
    return [(Path(m.group("path")).name, int(m.group("row")), m.group("code")) for m in FINDING.finditer(output)]


def fxlint_subprocess(args: Sequence[str], cwd: Path, env: Optional[Dict[str, str]] = None,
                      timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, **(env or {}))
    full_env.pop("NO_COLOR", None)
    return subprocess.run([sys.executable, "-m", "fxlint", *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=timeout)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def assert_one_line_error(result, *needles: str) -> None:
    """Exit 2, exactly one line on stderr starting with `fxlint: error:`, no traceback, nothing on stdout."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fxlint: error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stdout == ""
    for needle in needles:
        assert needle in lines[0], lines[0]


HAZARD = ["TRC101", "TRC204"]


# ------------------------------------------------------------------------ help, version
def test_python_dash_m_help_and_version():
    out = subprocess.run([sys.executable, "-m", "fxlint", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    for command in ("check", "rules", "rule", "verify"):
        assert command in out.stdout
    out = subprocess.run([sys.executable, "-m", "fxlint", "--version"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and __version__ in out.stdout


def test_the_console_script_exits_without_teardown_but_delivers_everything():
    """``python -m fxlint`` (and the ``fxlint`` script) end with ``os._exit`` after flushing: the
    whole output arrives, with the exit code the in-process command gives."""
    models = REPO / "fixtures" / "models"
    proc = subprocess.run([sys.executable, "-m", "fxlint", "check", "--no-cache", str(models)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    in_process = cli("check", "--no-cache", str(models))
    assert proc.returncode == in_process.exit_code == 1, proc.stderr
    assert len(proc.stdout) > 65536  # more than a pipe holds: written while the reader reads
    assert proc.stdout == in_process.stdout and proc.stderr == ""
    assert subprocess.run([sys.executable, "-m", "fxlint", "rule", "TRC000"], capture_output=True,
                          timeout=60).returncode == 2
    skipped = ("import atexit, sys; atexit.register(print, 'torn down', file=sys.stderr); "
               "sys.argv = ['fxlint', 'rules']; from fxlint.cli import run; run()")
    proc = subprocess.run([sys.executable, "-c", skipped], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "TRC101" in proc.stdout and "torn down" not in proc.stderr


def test_a_closed_pipe_ends_quietly():
    """`fxlint check | head -1`: no "internal error" on stderr, the status `cat` would have (141)."""
    proc = subprocess.Popen([sys.executable, "-m", "fxlint", "check", "--no-cache", str(REPO / "fixtures" / "models")],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the output is larger than a pipe's buffer: the next write fails
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    assert b"TRC" in first and err == ""


@pytest.mark.parametrize("command", sorted(main.list_commands(None)))
def test_every_subcommand_help(command):
    result = cli(command, "--help")
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout and command in result.stdout


def test_short_help_flag():
    assert cli("-h").exit_code == 0
    assert cli("check", "-h").exit_code == 0


# ------------------------------------------------------------------------ exit codes
def test_exit_0_on_clean_file(work):
    result = cli("check", "clean.py")
    assert result.exit_code == 0
    assert "No traceability hazards found (1 file checked)." in result.stdout
    assert result.stderr == ""


def test_exit_1_on_findings(work):
    result = cli("check", "hazard.py")
    assert result.exit_code == 1
    assert findings(result.stdout) == [("hazard.py", 8, "TRC101"), ("hazard.py", 13, "TRC204")]
    assert "Found 2 hazards in 1 file (1 file checked)." in result.stdout


def test_exit_zero_flag_keeps_the_findings(work):
    result = cli("check", "--exit-zero", "hazard.py")
    assert result.exit_code == 0
    assert codes(result.stdout) == HAZARD


def test_directory_and_default_path(work):
    by_dir = cli("check", "--no-cache", ".")
    default = cli("check", "--no-cache")
    assert by_dir.exit_code == default.exit_code == 1
    assert by_dir.stdout == default.stdout
    assert {f[0] for f in findings(by_dir.stdout)} == {"hazard.py", "suppressed.py"}


def test_empty_directory_is_clean(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = cli("check", "empty")
    assert result.exit_code == 0
    assert "0 files checked" in result.stdout


@pytest.mark.parametrize("args", [
    ["check", "--format", "yaml", "x.py"],
    ["check", "--no-such-option"],
    ["check", "--jobs", "-3"],
    ["no-such-command"],
])
def test_exit_2_on_usage_errors(work, args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_quiet_prints_findings_only(work):
    result = cli("check", "-q", "hazard.py")
    assert result.exit_code == 1
    assert "Found" not in result.stdout and codes(result.stdout) == HAZARD


# ------------------------------------------------------------------------ rules / rule
def test_rules_and_rule(work):
    listing = cli("rules")
    assert listing.exit_code == 0
    assert re.search(r"^TRC101\s+tensor-dependent-branch\s", listing.stdout, re.M)
    by_code = cli("rule", "TRC101")
    by_name = cli("rule", "tensor-dependent-branch")
    lower = cli("rule", "trc101")
    assert by_code.exit_code == by_name.exit_code == lower.exit_code == 0
    assert by_code.stdout == by_name.stdout == lower.stdout
    assert "## Why is this bad?" in by_code.stdout
    assert_one_line_error(cli("rule", "TRC000"), "TRC000")


def test_rules_json_and_markdown(work):
    import json

    rows = json.loads(cli("rules", "--format", "json").stdout)
    assert {"code", "name", "hazard", "summary", "fix"} <= set(rows[0])
    table = cli("rules", "--format", "markdown").stdout
    assert table.count("\n| TRC") == len(rows)


# ------------------------------------------------------------------------ --select / --ignore
@pytest.mark.parametrize("args,expected", [
    ([], HAZARD),
    (["--select", "TRC1"], ["TRC101"]),
    (["--select", "trc2"], ["TRC204"]),
    (["--select", "TRC101,TRC204"], HAZARD),
    (["--select", "TRC101", "--select", "TRC204"], HAZARD),
    (["--select", "ALL"], HAZARD),
    (["--ignore", "TRC1"], ["TRC204"]),
    (["--ignore", "TRC"], []),
    (["--select", "TRC", "--ignore", "TRC204"], ["TRC101"]),
    # the most specific prefix wins (ruff): TRC204 beats TRC2 in either direction
    (["--select", "TRC204", "--ignore", "TRC2"], ["TRC204"]),
    (["--select", "TRC2", "--ignore", "TRC204"], []),
    (["--select", "TRC1", "--extend-select", "TRC204"], HAZARD),  # ruff: both on the command line add up
])
def test_select_and_ignore_prefixes(work, args, expected):
    result = cli("check", "--no-cache", *args, "hazard.py")
    assert codes(result.stdout) == expected
    assert result.exit_code == (1 if expected else 0)


def test_extend_select_adds_to_the_configured_selection(work):
    write(work / "pyproject.toml", """
        [tool.fxlint]
        select = ["TRC1"]
    """)
    assert codes(cli("check", "--no-cache", "hazard.py").stdout) == ["TRC101"]
    assert codes(cli("check", "--no-cache", "--extend-select", "TRC204", "hazard.py").stdout) == HAZARD
    assert codes(cli("check", "--no-cache", "--select", "TRC204", "hazard.py").stdout) == ["TRC204"]
    assert codes(cli("check", "--no-cache", "--ignore", "TRC101", "hazard.py").stdout) == []


# ------------------------------------------------------------------------ pyproject configuration
def test_pyproject_select_ignore_per_file_ignores_and_exclude(work):
    write(work / "pyproject.toml", """
        [project]
        name = "demo"

        [tool.fxlint]
        ignore = ["TRC5"]
        exclude = ["generated"]
        per-file-ignores = { "legacy/*.py" = ["TRC1"], "old_*.py" = ["TRC204"] }
    """)
    shutil.copy(work / "hazard.py", write(work / "legacy" / "net.py", ""))
    shutil.copy(work / "hazard.py", work / "old_net.py")
    shutil.copy(work / "hazard.py", write(work / "generated" / "net.py", ""))
    (work / "suppressed.py").unlink()
    result = cli("check", "--no-cache", ".")
    assert result.exit_code == 1
    got = sorted((str(Path(p)), code) for p, code in
                 ((m.group("path"), m.group("code")) for m in FINDING.finditer(result.stdout)))
    assert got == sorted([("hazard.py", "TRC101"), ("hazard.py", "TRC204"),
                          (os.path.join("legacy", "net.py"), "TRC204"),
                          ("old_net.py", "TRC101")])
    # an excluded file named explicitly is still checked (ruff's convention)
    assert codes(cli("check", "--no-cache", "generated/net.py").stdout) == HAZARD


def test_config_option_reads_another_file(work):
    write(work / "conf" / "fxlint.toml", """
        [tool.fxlint]
        select = ["TRC204"]
    """)
    result = cli("check", "--no-cache", "--config", "conf/fxlint.toml", "hazard.py")
    assert codes(result.stdout) == ["TRC204"]


def test_cli_exclude_option(work):
    result = cli("check", "--no-cache", "--exclude", "hazard.py", ".")
    assert "hazard.py" not in result.stdout


def test_pyproject_found_from_a_subdirectory(work):
    write(work / "pyproject.toml", """
        [tool.fxlint]
        ignore = ["TRC101"]
    """)
    shutil.copy(work / "hazard.py", write(work / "pkg" / "deep" / "net.py", ""))
    result = cli("check", "--no-cache", "pkg")
    assert codes(result.stdout) == ["TRC204"]


# ------------------------------------------------------------------------ suppression comments
def test_noqa_and_fxlint_ignore(work):
    result = cli("check", "--no-cache", "suppressed.py")
    # every `if` is suppressed except the one whose `# noqa: TRC204` names another code
    assert findings(result.stdout) == [("suppressed.py", 15, "TRC101")]
    assert result.exit_code == 1
    unsuppressed = work / "unsuppressed.py"
    unsuppressed.write_text(re.sub(r"  #.*", "", (work / "suppressed.py").read_text()))
    again = cli("check", "--no-cache", "unsuppressed.py")
    assert [f[2] for f in findings(again.stdout)] == ["TRC101"] * 5 + ["TRC204"]


def test_unknown_codes_in_suppression_comments_warn(work):
    result = cli("check", "--no-cache", "bad_noqa.py", "hazard.py")
    assert result.exit_code == 1  # the warning does not change the verdict
    warnings = [line for line in result.stderr.splitlines() if line.startswith("fxlint: warning:")]
    assert len(warnings) == 2, result.stderr
    assert "bad_noqa.py:7: unknown rule code TRC999 in `# noqa` comment" in warnings[0]
    assert "bad_noqa.py:9: unknown rule code NOPE42 in `# fxlint: ignore` comment" in warnings[1]
    # E501, XYZ123 belong to other linters (a shared `# noqa` names fxlint's codes as TRC...);
    # `# noqa` inside a string is not a comment
    assert "E501" not in result.stderr and "XYZ123" not in result.stderr and "QQQ1" not in result.stderr
    assert "warning" not in result.stdout


def test_unknown_noqa_code_unit():
    from fxlint.noqa_check import unknown_codes_in_text

    text = "a = 1  # noqa: TRC1, W291 trailing prose\nb = 2  # noqa:trc10l\nc = 3  # fxlint: ignore[TRC101]\n"
    assert unknown_codes_in_text(text, ["TRC101", "TRC204"]) == [(2, "# noqa", "TRC10L")]
    assert unknown_codes_in_text("def f(:  # noqa: TRCZ1\n", ["TRC101"]) == [(1, "# noqa", "TRCZ1")]


# ------------------------------------------------------------------------ file discovery
def _git(*args: str, cwd: Path) -> None:
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@t")
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, timeout=60)


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_gitignored_files_are_skipped(work):
    _git("init", "-q", ".", cwd=work)
    (work / ".gitignore").write_text("ignored_dir/\ngen_*.py\n")
    shutil.copy(work / "hazard.py", write(work / "ignored_dir" / "net.py", ""))
    shutil.copy(work / "hazard.py", work / "gen_model.py")
    shutil.copy(work / "hazard.py", write(work / "kept" / "net.py", ""))
    result = cli("check", "--no-cache", ".")
    files = {os.path.normpath(m.group("path")) for m in FINDING.finditer(result.stdout)}
    assert files == {"hazard.py", "suppressed.py", os.path.join("kept", "net.py")}
    # a git-ignored file named explicitly is checked
    assert codes(cli("check", "--no-cache", "gen_model.py").stdout) == HAZARD


def test_shebang_script_without_suffix_is_python(work):
    script = work / "train"
    script.write_text("#!/usr/bin/env python\n" + (work / "hazard.py").read_text())
    result = cli("check", "--no-cache", "train")
    assert codes(result.stdout) == HAZARD


def test_same_file_twice_is_checked_once(work):
    os.symlink(work / "hazard.py", work / "alias.py")
    result = cli("check", "--no-cache", "hazard.py", "alias.py", "./hazard.py")
    assert len(codes(result.stdout)) == 2
    assert "1 file checked" in result.stdout


# ------------------------------------------------------------------------ bad input
def test_broken_pyproject(work):
    (work / "pyproject.toml").write_text("[tool.fxlint\nselect = [\n")
    assert_one_line_error(cli("check", "hazard.py"), "pyproject.toml", "not valid TOML")


def test_unknown_key_in_tool_fxlint(work):
    write(work / "pyproject.toml", """
        [tool.fxlint]
        selct = ["TRC1"]
    """)
    assert_one_line_error(cli("check", "hazard.py"), "unknown key", "selct")


def test_wrong_type_in_tool_fxlint(work):
    write(work / "pyproject.toml", """
        [tool.fxlint]
        select = 3
    """)
    assert_one_line_error(cli("check", "hazard.py"), "select")


@pytest.mark.parametrize("args,bad", [
    (["--select", "TRC999"], "TRC999"),
    (["--select", "XYZ"], "XYZ"),
    (["--ignore", "TRC1,FOO"], "FOO"),
    (["--extend-select", "TRC8"], "TRC8"),
])
def test_unknown_rule_code_in_options(work, args, bad):
    assert_one_line_error(cli("check", *args, "hazard.py"), "unknown rule code", bad)


def test_unknown_rule_code_in_pyproject(work):
    write(work / "pyproject.toml", """
        [tool.fxlint]
        ignore = ["TRC77"]
    """)
    assert_one_line_error(cli("check", "hazard.py"), "TRC77")


@pytest.mark.parametrize("args,needles", [
    (["check", "--bogus", "hazard.py"], ["No such option '--bogus'", "check --help"]),
    (["fix", "--bogus", "hazard.py"], ["No such option '--bogus'", "fix --help"]),
    (["--bogus"], ["No such option '--bogus'"]),
    (["bogus"], ["No such command 'bogus'"]),
    (["check", "--format", "xml", "hazard.py"], ["Invalid value for '--format'", "'xml'"]),
    (["check", "--jobs", "-1", "hazard.py"], ["Invalid value for '--jobs'"]),
    (["verify", "no_such_model.py"], ["'no_such_model.py' does not exist", "verify --help"]),
    (["verify"], ["Missing argument 'PATHS...'"]),
])
def test_usage_errors_are_one_line(work, args, needles):
    """click prints usage, a hint and the error on three lines; fxlint prints one, like its other errors."""
    assert_one_line_error(cli(*args), *needles)


def test_usage_error_names_the_real_command(work):
    proc = fxlint_subprocess(["check", "--selct", "TRC1", "hazard.py"], cwd=work)
    assert proc.returncode == 2 and proc.stdout == ""
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("fxlint: error: No such option '--selct'.") and "'--select'" in line  # click's suggestion
    assert line.endswith("(see `python -m fxlint check --help`)")


def test_bare_command_still_prints_the_help(work):
    result = cli()
    assert "Usage:" in result.output and "check" in result.output and "fxlint: error" not in result.output


def test_missing_config_file(work):
    result = CliRunner().invoke(main, ["check", "--config", "nope.toml", "hazard.py"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_path_that_does_not_exist(work):
    result = cli("check", "hazard.py", "no_such_dir/model.py")
    assert_one_line_error(result, "no_such_dir/model.py", "no such file")


def test_path_that_is_not_python(work):
    (work / "notes.txt").write_text("hello\n")
    assert_one_line_error(cli("check", "notes.txt"), "notes.txt", "not a Python file")
    # non-Python files inside a directory are simply not collected
    assert cli("check", "--no-cache", "--select", "TRC1", ".").exit_code == 1


@pytest.mark.parametrize("command", ["check", "fix", "verify"])
def test_bad_paths_in_every_command(work, command):
    """A path that is not Python, or does not exist: one line, exit 2, in every command that takes paths."""
    (work / "notes.txt").write_text("hello\n")
    assert_one_line_error(cli(command, "notes.txt"), "notes.txt", "not a Python file")
    assert_one_line_error(cli(command, "no_such_model.py"), "no_such_model.py")


@pytest.mark.parametrize("command", ["check", "fix"])
def test_broken_pyproject_in_every_command(work, command):
    (work / "pyproject.toml").write_text("[tool.fxlint\nselect = [\n")
    assert_one_line_error(cli(command, "hazard.py"), "pyproject.toml", "not valid TOML")


def test_broken_pyproject_in_verify(work):
    (work / "pyproject.toml").write_text("[tool.fxlint\nselect = [\n")
    assert_one_line_error(cli("verify", "hazard.py"), "pyproject.toml")


@pytest.mark.parametrize("command", ["check", "fix"])
def test_unknown_rule_code_in_select_of_every_command(work, command):
    assert_one_line_error(cli(command, "--select", "TRC999", "hazard.py"), "TRC999")


def test_non_utf8_and_binary_files_are_skipped_with_a_message(work):
    (work / "latin1.py").write_bytes(b"# caf\xe9\nx = 1\n")
    (work / "blob.py").write_bytes(b"\x7fELF\x00\x00\x01binary")
    result = cli("check", "--no-cache", "latin1.py", "blob.py", "clean.py")
    assert result.exit_code == 0
    err = result.stderr.splitlines()
    assert any(line.startswith("fxlint: latin1.py: skipped: not UTF-8") for line in err), err
    assert any(line.startswith("fxlint: blob.py: skipped: binary file") for line in err), err
    assert "Traceback" not in result.stderr
    assert "skipped" not in result.stdout  # stdout keeps the findings and the summary only


def test_syntax_error_is_trc901_and_other_files_are_still_checked(work):
    (work / "broken.py").write_text("import torch\n\ndef f(:\n    pass\n")
    result = cli("check", "--no-cache", "broken.py", "hazard.py")
    assert result.exit_code == 1
    assert [(f[0], f[2]) for f in findings(result.stdout)] == [
        ("broken.py", "TRC901"), ("hazard.py", "TRC101"), ("hazard.py", "TRC204")]
    assert "Traceback" not in result.stdout + result.stderr


def test_huge_file_is_skipped_with_a_message(work):
    from fxlint.engine import MAX_FILE_BYTES

    big = work / "big.py"
    line = "x = 1  # padding padding padding padding padding\n"
    big.write_text(line * (MAX_FILE_BYTES // len(line) + 10))
    result = cli("check", "--no-cache", "big.py", "hazard.py")
    assert result.exit_code == 1
    assert any(line.startswith("fxlint: big.py: skipped:") and "MB" in line for line in result.stderr.splitlines())
    assert codes(result.stdout) == HAZARD


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_symlink_loops_do_not_hang(work):
    sub = work / "pkg" / "sub"
    sub.mkdir(parents=True)
    os.symlink("..", sub / "up")            # directory loop
    os.symlink("loop.py", work / "loop.py")  # a link to itself
    os.symlink("b.py", work / "a.py")
    os.symlink("a.py", work / "b.py")        # two links to each other
    shutil.copy(work / "hazard.py", sub / "net.py")
    proc = fxlint_subprocess(["check", "--no-cache", "."], cwd=work, timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    paths = [os.path.normpath(m.group("path")) for m in FINDING.finditer(proc.stdout) if m.group("code") == "TRC204"]
    assert paths == ["hazard.py", os.path.join("pkg", "sub", "net.py")]  # each once, not again through up/
    named = fxlint_subprocess(["check", "--no-cache", "loop.py", "clean.py"], cwd=work, timeout=60)
    assert "Traceback" not in named.stderr
    assert named.returncode in (0, 2)
    assert "loop.py" in named.stderr


# ------------------------------------------------------------------------ result cache
def _strip_summary(stdout: str) -> List[str]:
    return [line for line in stdout.splitlines() if not line.startswith(("Found ", "No traceability"))]


@pytest.mark.slow
def test_second_run_comes_from_cache_with_the_same_output(work):
    cache = {"FXLINT_CACHE_DIR": str(work / ".cache")}
    first = fxlint_subprocess(["check", "."], cwd=work, env=cache)
    second = fxlint_subprocess(["check", "."], cwd=work, env=cache)
    assert first.returncode == second.returncode == 1
    assert "from cache" not in first.stdout
    assert "4 files checked, 4 from cache)." in second.stdout, second.stdout
    assert _strip_summary(first.stdout) == _strip_summary(second.stdout)
    # --no-cache neither reads nor reports the cache
    third = fxlint_subprocess(["check", "--no-cache", "."], cwd=work, env=cache)
    assert "from cache" not in third.stdout
    assert _strip_summary(third.stdout) == _strip_summary(first.stdout)
    # options applied after the cache (select) still work on cached results
    fourth = fxlint_subprocess(["check", "--select", "TRC204", "."], cwd=work, env=cache)
    assert "from cache" in fourth.stdout and set(codes(fourth.stdout)) == {"TRC204"}


def _package_of_models(root: Path, models: int = 8) -> Path:
    """A package checked by relative path whose helper files are reached from every model, and more files
    than `api.PARALLEL_THRESHOLD` (`-j 2` uses workers). ``pkg/a_model.py`` is checked before ``pkg/common.py``
    (no class: never indexed ahead) and imports it, so a process loads common.py as an import (an absolute
    path) before it checks it (as named: relative); the later models reach it after. Each helper finding is
    reported by every model's check, with that model's chain."""
    write(root / "pkg" / "__init__.py", "")
    write(root / "pkg" / "common.py", """
        def pad(x):
            if x.sum() > 0:
                return x
            return x * 2


        def half(x):
            return x[: len(x) // 2]


        def late(x):
            while x.max() > 1:
                x = x / 2
            return x
    """)
    write(root / "pkg" / "layers" / "__init__.py", "")
    write(root / "pkg" / "layers" / "block.py", """
        import torch

        from pkg.common import half, pad


        class Block(torch.nn.Module):
            def forward(self, x):
                n = x.shape[0]
                for i in range(n):
                    x = pad(x)
                return half(x)
    """)
    write(root / "pkg" / "a_model.py", """
        import torch

        from pkg.common import pad


        class ANet(torch.nn.Module):
            def forward(self, x):
                return pad(x) + 0
    """)
    for i in range(models):
        write(root / "pkg" / f"model_{i}.py", f"""
            import torch

            from pkg.common import late, pad
            from pkg.layers.block import Block


            class Net{i}(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.block = Block()

                def forward(self, x):
                    if x.mean() > {i}:
                        x = pad(x)
                    return self.block(late(x)) + {i}
        """)
    return root / "pkg"


_FROM_CACHE = re.compile(r"(\d+ files? checked), \d+ from cache\)")


def _without_cache_count(stdout: str) -> str:
    """A warm run says how many files came from the cache (text summary, --statistics JSON): nothing else
    of its output may differ from a cold run's."""
    return re.sub(r'"files_cached": \d+', '"files_cached": N', _FROM_CACHE.sub(r"\1)", stdout))


@pytest.mark.slow
def test_output_is_byte_identical_across_jobs_cache_and_hash_seeds(tmp_path, monkeypatch):
    """Issue 17: the same bytes from `-j 1` and `-j 2`, cold and warm, whatever the hash seed, in every format.
    Checked by relative path, a model's helper is reached by an absolute path: before, which spelling a
    helper's finding carried depended on which worker reported it first, so the order of the findings (sorted
    on that spelling) and the "in N files" count changed from run to run."""
    _package_of_models(tmp_path)
    cache = str(tmp_path / ".cache")

    def run(*args: str, seed: str = "0", cached: bool = False) -> str:
        env = {"PYTHONHASHSEED": seed, "FXLINT_CACHE_DIR": cache}
        proc = fxlint_subprocess(["check", *args, *(() if cached else ("--no-cache",)), "pkg"], cwd=tmp_path, env=env)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        return _without_cache_count(proc.stdout)

    json_cold = run("--format", "json", "-j", "1", seed="0")
    rows = json.loads(json_cold)
    place = [(r["filename"], r["location"]["row"], r["location"]["column"], r["code"]) for r in rows]
    assert place == sorted(set(place)) and all(os.path.isabs(r["filename"]) for r in rows)
    assert {Path(r["filename"]).name for r in rows} >= {"common.py", "block.py", "model_0.py"}
    assert max(len(r["entries"]) for r in rows) == 9  # `pad` is reached from every model
    text_cold = run("-j", "1", seed="1")
    assert "in 10 files" in text_cold and "pkg/common.py:" in text_cold and str(tmp_path) not in text_cold
    assert run("--format", "json", "-j", "2", seed="1") == json_cold
    assert run("--format", "json", "-j", "2", seed="2") == json_cold
    assert run("-j", "2", seed="3") == text_cold
    # the cache: filled by a parallel run, read by a single-process one and a parallel one
    assert run("--format", "json", "-j", "2", seed="4", cached=True) == json_cold
    assert run("--format", "json", "-j", "1", seed="5", cached=True) == json_cold
    assert run("-j", "2", seed="6", cached=True) == text_cold
    # every other rendering: cold in one process (in process), warm in parallel from the cache
    monkeypatch.chdir(tmp_path)
    for fmt in (("--statistics",), ("--format", "json", "--statistics"), ("--format", "concise"),
                ("--format", "full"), ("--format", "sarif"), ("--format", "github")):
        cold = cli("check", "--no-cache", "-j", "1", *fmt, "pkg")
        assert cold.exit_code == 1 and "TRC" in cold.stdout, fmt
        assert run(*fmt, "-j", "2", seed="7", cached=True) == _without_cache_count(cold.stdout), fmt
    # a partly warm run: the first model changed, so its reports of the helpers' findings come after the
    # cached ones; the chain shown must not depend on that (before: `ANet.forward -> pad` cold,
    # `Net0.forward -> pad` warm)
    model = tmp_path / "pkg" / "a_model.py"
    model.write_text(model.read_text().replace("+ 0", "+ 1"))
    changed = run("-j", "1", seed="8")
    assert "reached from ANet.forward -> pad" in changed
    assert run("-j", "2", seed="9", cached=True) == changed
    assert run("--format", "json", "-j", "1", seed="10", cached=True) == run("--format", "json", "-j", "2")


@pytest.mark.slow
def test_cache_is_invalidated_when_an_imported_helper_changes(tmp_path):
    write(tmp_path / "helpers.py", """
        def scale(x):
            return x * 2
    """)
    write(tmp_path / "model.py", """
        import torch

        from helpers import scale


        class Net(torch.nn.Module):
            def forward(self, x):
                return scale(x)
    """)
    env = {"FXLINT_CACHE_DIR": str(tmp_path / ".cache")}
    clean = fxlint_subprocess(["check", "model.py"], cwd=tmp_path, env=env)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    cached = fxlint_subprocess(["check", "model.py"], cwd=tmp_path, env=env)
    assert cached.returncode == 0 and "1 from cache" in cached.stdout
    # only the helper changes; model.py's own bytes are the same
    write(tmp_path / "helpers.py", """
        def scale(x):
            if x.sum() > 0:
                return x * 2
            return x
    """)
    stale = fxlint_subprocess(["check", "model.py"], cwd=tmp_path, env=env)
    assert stale.returncode == 1, stale.stdout
    assert "from cache" not in stale.stdout
    assert findings(stale.stdout) == [("helpers.py", 3, "TRC101")]
    assert "reached from Net.forward -> scale" in stale.stdout
    again = fxlint_subprocess(["check", "model.py"], cwd=tmp_path, env=env)
    assert "1 from cache" in again.stdout and _strip_summary(again.stdout) == _strip_summary(stale.stdout)


@pytest.mark.slow
def test_cache_lives_in_the_project_root_and_is_gitignored(tmp_path):
    write(tmp_path / "pyproject.toml", "[tool.fxlint]\n")
    shutil.copy(DATA / "hazard.py", write(tmp_path / "src" / "net.py", ""))
    env = dict(os.environ)
    env.pop("FXLINT_CACHE_DIR", None)
    proc = subprocess.run([sys.executable, "-m", "fxlint", "check", "."], cwd=tmp_path / "src", env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert (tmp_path / ".fxlint_cache" / ".gitignore").read_text() == "*\n"


# ------------------------------------------------------------------------ check --diff
def test_check_diff_prints_safe_fixes_and_writes_nothing(work):
    if "fix" not in main.list_commands(None):
        pytest.skip("`fxlint fix` is not available")
    before = (work / "hazard.py").read_text()
    result = cli("check", "--diff", "hazard.py", "clean.py")
    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/hazard.py\n+++ b/hazard.py\n")
    assert "-        return x[: len(x) // 2]\n+        return x[: x.size(0) // 2]\n" in result.stdout
    assert "Would fix 1 finding in 1 file" in result.stderr
    assert (work / "hazard.py").read_text() == before
    nothing = cli("check", "--diff", "clean.py")
    assert nothing.exit_code == 0 and nothing.stdout == ""
    assert cli("check", "--diff", "--exit-zero", "hazard.py").exit_code == 0
    # selection applies to the diff too
    assert cli("check", "--diff", "--ignore", "TRC204", "hazard.py").stdout == ""
