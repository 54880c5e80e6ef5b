"""Every command shown in README.md runs as written, in a new user's project, with the real tools.

The commands are extracted from the README's ```sh blocks and from its YAML snippets (`- run:` steps and commands
quoted in comments). `test_every_readme_command_is_covered` fails when a command is added, changed or removed
without updating the walkthrough below, so a README edit that breaks a command breaks a test.

The walkthrough follows the README like a new user: in an empty directory it creates the virtual environment with
the README's command, installs fxlint from a clone (`/path/to/fxlint` in the README is a git repository made from this
checkout's files, uncommitted changes included), copies the shipped examples, checks, verifies and fixes them, then,
in a second project that is a git repository, writes `.pre-commit-config.yaml` from the README's snippet and runs the
real `pre-commit` (hook environments built from the package index), checks that `git commit` runs the hooks, and
builds the wheel the GitHub Actions steps install, which then run on a fresh "runner": a new virtual environment.

Stand-ins, and why:
* `. .venv/bin/activate` cannot outlive a subprocess: the runner does what activation does (VIRTUAL_ENV, PATH).
* `pip install torch==2.13.0` runs for real, but torch is not downloaded again: right after the venv is created
  the runner adds the test environment's site-packages to it with a `.pth` file (after the venv's own, so
  `pip install /path/to/fxlint` still installs fxlint into the venv), and pip finds torch already satisfied.
* The two set-up commands of "The two commands" are not re-run here (they install into the developer's
  environment): .ci/run runs the test command, which test_ci_runs_the_readme_test_command checks, and the `fxlint
  check fixtures/models` part of the first one runs for real in test_main_job_command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import venv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
CHECKOUT = "/path/to/fxlint"  # the README's placeholder for a clone of this repository
TIMEOUT = 900  # pip and pre-commit build environments from the package index


# ------------------------------------------------------------------------ reading the README
@dataclass(frozen=True)
class Snippet:
    section: str  # the `## ` heading it sits under
    lang: str  # the fence's info string: sh, yaml, text, toml, ...
    text: str


def readme_snippets(text: str) -> List[Snippet]:
    snippets, section, lang, body = [], "", None, []
    for line in text.splitlines():
        if lang is None and line.startswith("## "):
            section = line[3:].strip()
        elif lang is None and line.startswith("```"):
            lang, body = line[3:].strip(), []
        elif lang is not None and line.startswith("```"):
            snippets.append(Snippet(section, lang, "\n".join(body) + "\n"))
            lang = None
        elif lang is not None:
            body.append(line)
    return snippets


def _without_comment(line: str) -> str:
    # no README command contains a `#` of its own; a trailing comment starts with whitespace + `#`
    return re.split(r"(?:^|\s)#", line, maxsplit=1)[0].strip()


def commands_of(snippet: Snippet) -> List[str]:
    """The shell commands a snippet shows: every line of a sh block; `run:` steps and `quoted` commands in YAML."""
    if snippet.lang == "sh":
        return [c for c in map(_without_comment, snippet.text.splitlines()) if c]
    if snippet.lang == "yaml":
        found = []
        for line in snippet.text.splitlines():
            run = re.match(r"\s*(?:-\s*)?run:\s*(.+)$", line)
            if run:
                found.append(_without_comment(run.group(1)))
            found += re.findall(r"`((?:fxlint|pre-commit|pip|python) [^`]+)`", line)
        return found
    return []


def readme_commands() -> List[Tuple[str, str]]:
    return [(s.section, c) for s in readme_snippets(README.read_text()) for c in commands_of(s)]


def snippet(section: str, lang: str, containing: str = "") -> str:
    found = [s.text for s in readme_snippets(README.read_text())
             if s.section == section and s.lang == lang and containing in s.text]
    assert len(found) == 1, f"expected one {lang} block in README section {section!r} containing {containing!r}"
    return found[0]


# ------------------------------------------------------------------------ running a command
@dataclass
class Shell:
    """Runs README commands with bash in a project directory, with the README's virtual environment active."""
    cwd: Path
    env: Dict[str, str]
    clone: Path

    def run(self, command: str) -> subprocess.CompletedProcess:
        proc = subprocess.run(["bash", "-c", command.replace(CHECKOUT, str(self.clone))], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=TIMEOUT)
        proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
        return proc

    def activate(self, venv: Path) -> None:
        """What `. .venv/bin/activate` does; pre-commit (from the test environment) stays reachable after it."""
        self.env["VIRTUAL_ENV"] = str(venv)
        self.env["PATH"] = os.pathsep.join([str(venv / "bin"), self.env["PATH"]])


def _base_env(tmp: Path) -> Dict[str, str]:
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NO_COLOR", "FXLINT_CACHE_DIR", "PRE_COMMIT", "SKIP")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
               PRE_COMMIT_HOME=str(tmp / "pre-commit-home"), PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1",
               GIT_AUTHOR_NAME="fxlint-test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="fxlint-test", GIT_COMMITTER_EMAIL="test@example.invalid",
               GIT_CONFIG_GLOBAL=str(tmp / "gitconfig"), GIT_CONFIG_NOSYSTEM="1")
    return env


def _git(cwd: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=_base_env(cwd.parent))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def _make_clone(dest: Path) -> Path:
    """A git repository holding this checkout's files as they are now (what `git clone` of it would give)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, timeout=120)
    if shutil.which("git") is None or listed.returncode != 0:
        pytest.skip("needs git and a git checkout of fxlint")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    _git(dest, "init", "-q", ".")
    _git(dest, "add", "-A")
    _git(dest, "commit", "-q", "-m", "fxlint")
    return dest


def _parent_site_packages() -> List[str]:
    return [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]


# ------------------------------------------------------------------------ the walkthrough
@dataclass(frozen=True)
class Step:
    section: str
    command: str
    exit_code: int
    expect: Tuple[str, ...] = ()  # substrings of stdout + stderr
    then: Optional[Callable[["Shell", subprocess.CompletedProcess], None]] = None  # further checks


def _venv_created(sh: Shell, _proc) -> None:
    env_dir = sh.cwd / ".venv"
    assert (env_dir / "bin" / "activate").is_file()
    # stands in for downloading torch again (see the module docstring): the test environment's packages, after
    # the venv's own site-packages
    site = next((env_dir / "lib").glob("python3*/site-packages"))
    (site / "_test_environment.pth").write_text("\n".join(_parent_site_packages()) + "\n")
    sh.activate(env_dir)


def _fxlint_from_the_venv(sh: Shell, _proc) -> None:
    where = sh.run("command -v fxlint && python -c 'import fxlint, importlib.util as u; print(fxlint.__file__)'")
    assert where.returncode == 0, where.output
    for line in where.stdout.split():
        assert Path(line).resolve().is_relative_to((sh.cwd / ".venv").resolve()), where.stdout


def _models_copied(sh: Shell, _proc) -> None:
    assert (sh.cwd / "models" / "net.py").is_file() and (sh.cwd / "models" / "gate.py").is_file()


def _reading_a_diagnostic_is_real(sh: Shell, proc) -> None:
    shown = snippet("Reading a diagnostic", "text")
    for line in shown.splitlines():
        assert line in proc.stdout.splitlines(), f"README shows a line fxlint does not print:\n{line}\n{proc.stdout}"


PAD_GUARD = "\n        if pad_h > 0 or pad_w > 0:\n"  # the statement in forward(), not the docstring's mention
GATE_GUARD = "\n        act = torch.tanh(y) if y.mean() > 0 else torch.sigmoid(y)\n"


def _nothing_written(sh: Shell, _proc) -> None:
    assert PAD_GUARD in (sh.cwd / "models" / "net.py").read_text()
    assert GATE_GUARD in (sh.cwd / "models" / "gate.py").read_text()


def _safe_fix_written(sh: Shell, _proc) -> None:
    net = (sh.cwd / "models" / "net.py").read_text()
    assert PAD_GUARD not in net and "\n        x = F.pad(x, (0, pad_w, 0, pad_h))\n" in net
    assert GATE_GUARD in (sh.cwd / "models" / "gate.py").read_text()  # unsafe: needs --unsafe-fixes


def _unsafe_fix_written(sh: Shell, _proc) -> None:
    gate = (sh.cwd / "models" / "gate.py").read_text()
    assert GATE_GUARD not in gate and "act = torch.where(y.mean() > 0, torch.tanh(y), torch.sigmoid(y))" in gate


def _rev_pinned(sh: Shell, _proc) -> None:
    config = (sh.cwd / ".pre-commit-config.yaml").read_text()
    assert re.search(rf"rev: {_git(sh.clone, 'rev-parse', 'HEAD')}\b", config), config


def _git_hook_installed(sh: Shell, _proc) -> None:
    assert (sh.cwd / ".git" / "hooks" / "pre-commit").is_file()


def _hooks_ran(sh: Shell, _proc) -> None:
    _safe_fix_written(sh, _proc)  # by the fxlint-fix hook
    # `pre-commit install` made `git commit` run the hooks on the staged files: net.py, fixed, passes ...
    _git(sh.cwd, "add", "-A")
    commit = sh.run("git commit -q -m 'safe fixes'")
    assert commit.returncode == 0 and re.search(r"fxlint check\.+Passed", commit.output), commit.output
    # ... and a change to gate.py, whose hazard has no safe fix, is refused
    with open(sh.cwd / "models" / "gate.py", "a") as gate:
        gate.write("\n# edited\n")
    _git(sh.cwd, "add", "-A")
    refused = sh.run("git commit -q -m 'edit gate'")
    assert refused.returncode == 1 and "models/gate.py:20:32: TRC101" in refused.output, refused.output


def _runner_used_the_wheel(sh: Shell, _proc) -> None:
    where = sh.run("command -v fxlint")
    assert Path(where.stdout.strip()).resolve().is_relative_to((sh.cwd.parent / "runner").resolve()), where.stdout


def _wheel_built(sh: Shell, _proc) -> None:
    assert (sh.cwd / "ci" / "fxlint-0.1.0-py3-none-any.whl").is_file(), sorted((sh.cwd / "ci").iterdir())


QUICKSTART, VERIFY, FIX, CI = "Quickstart", "Verify", "Fix", "pre-commit and CI"
COPY_NET = f"cp {CHECKOUT}/fixtures/models/shape/shape_pad_to_multiple_if.py models/net.py"
COPY_GATE = f"cp {CHECKOUT}/fixtures/models/control_flow/cf_ternary_activation.py models/gate.py"
SETUP_MODELS = ("mkdir -p models", COPY_NET, COPY_GATE)
TRACE_ERROR = "TraceError: symbolically traced variables cannot be used as inputs to control flow"

#: the user's first project: install, check, verify, fix
FIRST_PROJECT = (
    Step(QUICKSTART, "python -m venv .venv && . .venv/bin/activate", 0, then=_venv_created),
    Step(QUICKSTART, f"pip install {CHECKOUT}", 0, ("Successfully installed",), then=_fxlint_from_the_venv),
    Step(QUICKSTART, "pip install torch==2.13.0", 0, ("Requirement already satisfied: torch==2.13.0",)),
    Step(QUICKSTART, "mkdir -p models", 0),
    Step(QUICKSTART, COPY_NET, 0),
    Step(QUICKSTART, COPY_GATE, 0, then=_models_copied),
    Step(QUICKSTART, "fxlint check models/", 1,
         ("models/net.py:24:12: TRC201", "models/gate.py:20:32: TRC101", "Found 2 hazards in 2 files"),
         then=_reading_a_diagnostic_is_real),
    Step(QUICKSTART, "fxlint check models/ --format full", 1,
         ("   24 |         if pad_h > 0 or pad_w > 0:", "fix (safe): Pad unconditionally")),
    Step(QUICKSTART, "fxlint check models/ --statistics", 1, ("1  TRC101", "1  TRC201")),
    Step(QUICKSTART, "fxlint rules", 0, ("TRC201  shape-dependent-branch",)),
    Step(QUICKSTART, "fxlint rule TRC201", 0, ("# shape-dependent-branch (TRC201)",)),
    Step(VERIFY, "fxlint verify models/net.py", 1,
         (TRACE_ERROR, "at models/net.py:24", "TRC201 flagged this line", "0 pass, 1 fail")),
    Step(FIX, "fxlint check models/ --diff", 1, ("+        x = F.pad(x, (0, pad_w, 0, pad_h))",),
         then=_nothing_written),
    Step(FIX, "fxlint fix models/", 1, ("+        x = F.pad(x, (0, pad_w, 0, pad_h))",), then=_nothing_written),
    Step(FIX, "fxlint fix models/ --apply", 0, ("Fixed 1 finding(s) in 1 file(s) (1 safe, 0 unsafe)",),
         then=_safe_fix_written),
    Step(FIX, "fxlint fix models/ --apply --unsafe-fixes --verify", 0,
         ("Fixed 1 finding(s) in 1 file(s) (0 safe, 1 unsafe)",), then=_unsafe_fix_written),
    Step(FIX, "fxlint check models/", 0, ("No traceability hazards found (2 files checked",)),
    Step(FIX, "fxlint verify models/", 0, ("2 pass, 0 fail",)),
)

#: a second project, a git repository with the examples as they were shipped: pre-commit, then CI
SECOND_PROJECT = (
    Step(CI, "pip install pre-commit", 0, ("Requirement already satisfied: pre-commit",)),
    Step(CI, "pre-commit autoupdate", 0, then=_rev_pinned),
    Step(CI, "pre-commit install", 0, ("pre-commit installed at .git/hooks/pre-commit",), then=_git_hook_installed),
    Step(CI, "pre-commit run --all-files", 1,
         ("fxlint check", "Failed", "models/gate.py:20:32: TRC101", "files were modified by this hook"),
         then=_hooks_ran),
    Step(CI, "pre-commit run --hook-stage manual fxlint-verify --all-files", 1,
         ("fxlint verify", "models/gate.py::AdaptiveActivationMLP", TRACE_ERROR, "1 pass, 1 fail")),
    Step(CI, f"pip wheel --no-deps {CHECKOUT} -w ci/", 0, then=_wheel_built),
)

#: the GitHub Actions steps, on a fresh runner: a new virtual environment without fxlint, in the same project
CI_RUNNER = (
    Step(CI, "pip install ci/fxlint-0.1.0-py3-none-any.whl", 0, ("Successfully installed",)),
    Step(CI, "fxlint check models/ --format github", 1,
         ("::error title=fxlint (TRC101),file=models/gate.py,line=20,col=32,",), then=_runner_used_the_wheel),
)

#: set-up commands that install into the developer's own environment; see the module docstring
SET_UP = {
    ("The two commands", "pip install -e . && fxlint check fixtures/models"): "test_main_job_command",
    ("The two commands", 'pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest'):
        "test_ci_runs_the_readme_test_command",
}


def test_every_readme_command_is_covered():
    shown = set(readme_commands())
    covered = {(s.section, s.command) for s in FIRST_PROJECT + SECOND_PROJECT + CI_RUNNER} | set(SET_UP)
    assert shown - covered == set(), "README commands that no test runs: add them to the walkthrough"
    assert covered - shown == set(), "the walkthrough runs commands the README no longer shows"


def test_readme_commands_are_extracted():
    """The extractor itself: sh lines without comments, YAML `run:` steps and commands quoted in YAML comments."""
    assert commands_of(Snippet("s", "sh", "a b  # c\n\n# only a comment\nd -x\n")) == ["a b", "d -x"]
    yaml = "- run: pip install x   # later\n  stages: [manual]  # run with `pre-commit run a --all-files`\n"
    assert commands_of(Snippet("s", "yaml", yaml)) == ["pip install x", "pre-commit run a --all-files"]
    assert commands_of(Snippet("s", "toml", "select = []\n")) == []
    assert ("pre-commit and CI", "fxlint check models/ --format github") in readme_commands()


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    return _make_clone(tmp_path_factory.mktemp("fxlint-clone"))


def _run_steps(sh: Shell, steps) -> None:
    for step in steps:
        started = time.monotonic()
        proc = sh.run(step.command)
        print(f"{time.monotonic() - started:6.1f} s  {step.command}")  # shown with -s or on failure
        where = f"README {step.section!r}: `{step.command}` exited {proc.returncode}"
        assert proc.returncode == step.exit_code, f"{where}, expected {step.exit_code}\n{proc.output}"
        assert "Traceback" not in proc.output, f"{where}\n{proc.output}"
        for needle in step.expect:
            assert needle in proc.output, f"{where}: {needle!r} not in its output\n{proc.output}"
        if step.then:
            step.then(sh, proc)


@pytest.mark.slow
@pytest.mark.torch
def test_new_user_walkthrough(clone, tmp_path):
    """Quickstart -> Verify -> Fix -> pre-commit and CI, every command as the README writes it."""
    pytest.importorskip("torch")
    pytest.importorskip("pre_commit")
    base = _base_env(tmp_path)
    (tmp_path / "gitconfig").write_text("[init]\n\tdefaultBranch = main\n")

    first = tmp_path / "project"
    first.mkdir()
    sh = Shell(first, dict(base), clone)
    _run_steps(sh, FIRST_PROJECT)

    second = tmp_path / "project-with-git"
    second.mkdir()
    sh2 = Shell(second, dict(sh.env), clone)  # the same virtual environment, still active
    _git(second, "init", "-q", ".")
    _run_steps(sh2, [Step(QUICKSTART, c, 0) for c in SETUP_MODELS])
    (second / ".pre-commit-config.yaml").write_text(
        snippet(CI, "yaml", ".pre-commit-config.yaml").replace(CHECKOUT, str(clone)))
    _git(second, "add", "-A")
    _git(second, "commit", "-q", "-m", "models and the README's pre-commit configuration")
    _run_steps(sh2, SECOND_PROJECT)

    runner = Shell(second, dict(base), clone)  # a fresh CI runner: its own environment, nothing installed
    venv.EnvBuilder(with_pip=True, clear=True).create(tmp_path / "runner")
    runner.activate(tmp_path / "runner")
    _run_steps(runner, CI_RUNNER)


# ------------------------------------------------------------------------ the two set-up commands
def test_main_job_command(tmp_path):
    """`pip install -e . && fxlint check fixtures/models`: the check part, for real, in this checkout."""
    [command] = [c for s, c in readme_commands() if s == "The two commands" and "fixtures/models" in c]
    install, check = command.split(" && ")
    assert install == "pip install -e ."  # installs into the developer's environment: what the tests run in
    env = {**os.environ, "FXLINT_CACHE_DIR": str(tmp_path / "cache"),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    env.pop("NO_COLOR", None)
    proc = subprocess.run(["bash", "-c", check], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the shipped examples have hazards
    summary = re.search(r"Found (\d+) hazards in (\d+) files \((\d+) files checked", proc.stdout)
    assert summary and int(summary.group(1)) > 0, proc.stdout[-2000:]
    assert "Traceback" not in proc.stderr


def test_ci_runs_the_readme_test_command():
    """.ci/run runs the README's test command (quiet flags aside) in a fresh virtual environment."""
    readme = [c for s, c in readme_commands() if s == "The two commands" and "pytest" in c]
    assert readme == ['pip install torch==2.13.0 && pip install -e ".[test]" && python -m pytest']
    ci_lines = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if "pytest" in line
                and not line.lstrip().startswith("#")]
    assert len(ci_lines) == 1, ci_lines
    normalised = re.sub(r" (--quiet|-q|-p no:cacheprovider)\b", "", ci_lines[0]).strip()
    assert normalised == readme[0]


def test_readme_configuration_is_accepted(tmp_path):
    """The `[tool.fxlint]` example in the README is a configuration fxlint accepts (unknown keys would exit 2)."""
    from fxlint.config import load_config

    (tmp_path / "pyproject.toml").write_text(snippet("Configuration", "toml"))
    config = load_config(tmp_path)
    assert config.source == tmp_path / "pyproject.toml"
    assert config.select == ("TRC",) and config.ignore == ("TRC507",) and "legacy/" in config.exclude
    assert config.per_file_ignores == (("tests/*", ("TRC5",)),)
    assert config.verify == {"models/net.py::Net": "models.testing:make_net"}
    assert config.fix_pins == (("Net.forward.mask", "None"),)
