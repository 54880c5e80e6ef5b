"""The pre-commit hooks in .pre-commit-hooks.yaml, run by the real `pre-commit` from PyPI.

`pre-commit try-repo <this checkout>` clones the checkout (with its uncommitted changes to tracked files), builds
the hook's virtual environment from PyPI (libcst + click, never torch) and runs the hook in a scratch git
repository: it must fail on a file with a hazard and pass on a clean one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "cli"
MANIFEST = REPO / ".pre-commit-hooks.yaml"
#: building a hook environment downloads libcst and click; generous, so a slow mirror does not fail the test
TRY_REPO_TIMEOUT = 900


def _clean_env(**extra: str) -> Dict[str, str]:
    """os.environ without git's hook variables (pytest may itself run inside a git hook) or colour."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("GIT_") and k not in ("PRE_COMMIT", "PRE_COMMIT_HOME", "SKIP", "NO_COLOR")}
    env.update(GIT_AUTHOR_NAME="fxlint-test", GIT_AUTHOR_EMAIL="test@example.invalid",
               GIT_COMMITTER_NAME="fxlint-test", GIT_COMMITTER_EMAIL="test@example.invalid",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def pre_commit() -> List[str]:
    """The command that runs pre-commit; installs it from PyPI when missing, skips only if that fails."""
    cmd = [sys.executable, "-m", "pre_commit"]
    probe = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        install = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "pre-commit"],
                                 capture_output=True, text=True, timeout=600)
        probe = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            pytest.skip(f"pre-commit is not installed and `pip install pre-commit` failed: "
                        f"{(install.stderr or install.stdout).strip().splitlines()[-1:]}")
    return cmd


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def user_repo(tmp_path) -> Path:
    """A scratch git repository holding one file with hazards and one clean file."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    repo = tmp_path / "user-repo"
    repo.mkdir()
    shutil.copy(DATA / "hazard.py", repo / "hazard.py")
    shutil.copy(DATA / "clean.py", repo / "clean.py")
    for args in (["init", "-q", "."], ["add", "."], ["commit", "-q", "-m", "models"]):
        subprocess.run(["git", *args], cwd=repo, env=_clean_env(), check=True, capture_output=True, timeout=60)
    return repo


def _checkout_is_git() -> bool:
    return shutil.which("git") is not None and subprocess.run(
        ["git", "rev-parse", "--verify", "HEAD"], cwd=REPO, capture_output=True, timeout=60).returncode == 0


def try_repo(pre_commit: List[str], home: Path, cwd: Path, hook: str, *args: str) -> subprocess.CompletedProcess:
    if not _checkout_is_git():
        pytest.skip("this checkout is not a git repository with a commit, so pre-commit cannot clone it")
    proc = subprocess.run([*pre_commit, "try-repo", str(REPO), hook, "--color", "never", *args], cwd=cwd,
                          env=_clean_env(PRE_COMMIT_HOME=str(home)), capture_output=True, text=True,
                          timeout=TRY_REPO_TIMEOUT)
    proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
    return proc


# ------------------------------------------------------------------------ the manifest
def _load_manifest() -> list:
    yaml = pytest.importorskip("yaml")  # pre-commit depends on PyYAML
    return yaml.safe_load(MANIFEST.read_text())


def test_manifest_validates(pre_commit):
    proc = subprocess.run([*pre_commit, "validate-manifest", str(MANIFEST)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_manifest_declares_the_three_hooks(pre_commit):
    hooks = {h["id"]: h for h in _load_manifest()}
    assert set(hooks) == {"fxlint-check", "fxlint-fix", "fxlint-verify"}
    check, fix, verify = hooks["fxlint-check"], hooks["fxlint-fix"], hooks["fxlint-verify"]
    assert check["language"] == "python" and check["entry"] == "fxlint check" and check["types"] == ["python"]
    assert fix["language"] == "python" and fix["entry"] == "fxlint fix --apply" and fix["types"] == ["python"]
    assert verify["language"] == "system" and verify["entry"].startswith("fxlint verify")
    assert verify["stages"] == ["manual"]
    # the isolated environments install fxlint's own dependencies only: no torch, no extras
    for hook in (check, fix):
        assert "additional_dependencies" not in hook


def test_hook_environment_needs_only_libcst_and_click():
    """pre-commit installs the package with `pip install .`: its dependencies are what the hook env gets."""
    import re
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dependencies = project["dependencies"]
    names = sorted(re.split(r"[<>=!~\[; ]", dep, maxsplit=1)[0].lower() for dep in dependencies if ";" not in dep)
    assert names == ["click", "libcst"]
    # and, on Python < 3.11 only, tomli: the standard library's tomllib backported
    assert [dep for dep in dependencies if ";" in dep] == ["tomli>=1.1; python_version < '3.11'"]


# ------------------------------------------------------------------------ running the hooks
@pytest.mark.slow
def test_fxlint_check_hook_fails_on_a_hazard_and_passes_on_a_clean_file(pre_commit, pre_commit_home, user_repo):
    bad = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-check", "--files", "hazard.py")
    assert bad.returncode == 1, bad.output
    assert "fxlint check" in bad.output and "Failed" in bad.output
    assert "hazard.py:8:12: TRC101" in bad.output and "hazard.py:13:20: TRC204" in bad.output
    good = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-check", "--files", "clean.py")
    assert good.returncode == 0, good.output
    assert "Passed" in good.output


@pytest.mark.slow
def test_hooks_from_a_pre_commit_config_at_head(pre_commit, pre_commit_home, user_repo):
    """What a user does: `.pre-commit-config.yaml` pointing at a revision, then `pre-commit run`.

    Uses the checkout's HEAD (committed state); the hook environment is built once and reused.
    """
    if not _checkout_is_git():
        pytest.skip("this checkout is not a git repository with a commit")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=60,
                          env=_clean_env()).stdout.strip()
    (user_repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO.as_posix()}\n    rev: {head}\n    hooks:\n      - id: fxlint-check\n")
    (user_repo / "notes.txt").write_text("not python\n")
    subprocess.run(["git", "add", "."], cwd=user_repo, env=_clean_env(), check=True, timeout=60)
    env = _clean_env(PRE_COMMIT_HOME=str(pre_commit_home))

    def run(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([*pre_commit, "run", "--color", "never", *args], cwd=user_repo, env=env,
                              capture_output=True, text=True, timeout=TRY_REPO_TIMEOUT)
        proc.output = proc.stdout + proc.stderr  # type: ignore[attr-defined]
        return proc

    everything = run("--all-files")
    assert everything.returncode == 1, everything.output
    # every tracked Python file (types: [python]) goes to one fxlint run (require_serial); notes.txt does not
    assert "Found 2 hazards in 1 file (2 files checked" in everything.output
    assert "notes.txt" not in everything.output
    clean = run("--files", "clean.py")
    assert clean.returncode == 0 and "Passed" in clean.output, clean.output
    assert "Installing environment" not in clean.output  # built once, reused
    # the hook environment has libcst, click and fxlint, and no torch
    pythons = sorted(pre_commit_home.glob("repo*/py_env-*/bin/python")) + \
        sorted(pre_commit_home.glob("repo*/py_env-*/Scripts/python.exe"))
    assert pythons, sorted(p.name for p in pre_commit_home.iterdir())
    for python in pythons:
        probe = subprocess.run(
            [str(python), "-c", "import importlib.util as u, libcst, click, fxlint; "
                                "print(u.find_spec('torch') is None)"],
            capture_output=True, text=True, timeout=120, env=_clean_env())
        assert probe.stdout.strip() == "True", probe.stdout + probe.stderr


@pytest.mark.slow
def test_fxlint_verify_hook_runs_only_in_the_manual_stage(pre_commit, pre_commit_home, user_repo):
    default_stage = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-verify", "--files", "hazard.py")
    assert default_stage.returncode != 0
    assert "No hook with id `fxlint-verify` in stage" in default_stage.output
    pytest.importorskip("torch")
    if shutil.which("fxlint") is None:
        pytest.skip("`fxlint` is not on PATH (language: system runs the user's own fxlint)")
    manual = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-verify", "--hook-stage", "manual",
                      "--files", "hazard.py", "clean.py")
    assert manual.returncode == 1, manual.output
    assert "hazard.py::Net" in manual.output and "TraceError" in manual.output
    assert "1 pass, 1 fail" in manual.output


@pytest.mark.slow
def test_fxlint_fix_hook_changes_files_and_fails(pre_commit, pre_commit_home, user_repo):
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", "fxlint/fix/command.py"], cwd=REPO,
                             capture_output=True, timeout=60, env=_clean_env())
    if shutil.which("git") is None or tracked.returncode != 0:
        pytest.skip("`fxlint fix` is not in this checkout's git tree yet; the fxlint-fix hook is declared for it")
    before = (user_repo / "hazard.py").read_text()
    clean = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-fix", "--files", "clean.py")
    assert clean.returncode == 0, clean.output
    proc = try_repo(pre_commit, pre_commit_home, user_repo, "fxlint-fix", "--files", "hazard.py")
    assert proc.returncode == 1, proc.output
    assert "files were modified by this hook" in proc.output
    after = (user_repo / "hazard.py").read_text()
    assert after != before and "x.size(0)" in after and "len(x)" not in after  # the safe fix only
    assert "if t > 0:" in after  # TRC101 has no safe fix: left for review
