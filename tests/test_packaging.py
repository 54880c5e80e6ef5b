"""`pip wheel .` builds a wheel that carries the rules; installed into a fresh virtual environment (no
system site-packages, libcst and click from the package index, no torch) `fxlint` works from there."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path
from typing import Dict, Optional

import pytest

from fxlint import __version__, registry

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data" / "cli"
#: what the wheel is built from; copied, so a build never writes build/ or *.egg-info into the checkout
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "fxlint", "rules")
TIMEOUT = 900


def _env(**extra: str) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "NO_COLOR", "FXLINT_CACHE_DIR")}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", **extra)
    return env


def _run(cmd, cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                          timeout=kwargs.pop("timeout", TIMEOUT), env=kwargs.pop("env", _env()), **kwargs)


def _setuptools_is_usable() -> bool:
    try:
        import setuptools
    except ImportError:
        return False
    major, minor = (int(part) for part in setuptools.__version__.split(".")[:2])
    if (major, minor) >= (70, 1):
        return True  # bdist_wheel is part of setuptools from 70.1 on
    try:
        import wheel  # noqa: F401 - setuptools 64..70.0 builds wheels with it
    except ImportError:
        return False
    return major >= 64


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy(path, src / name)
    dist = tmp_path_factory.mktemp("dist")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", ".", "-w", dist]
    if _setuptools_is_usable():
        cmd.insert(5, "--no-build-isolation")  # the build backend is already here: no download needed
    proc = _run(cmd, cwd=src)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    wheels = list(dist.glob("fxlint-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.mark.slow
def test_wheel_carries_the_rules_and_nothing_else(wheel):
    assert wheel.name == f"fxlint-{__version__}-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(Path(n).name for n in names if re.match(r"fxlint/rules/trc\d{3}_\w+\.py$", n))
    expected = sorted(p.name for p in (REPO / "rules").glob("trc*.py"))
    assert shipped == expected and len(shipped) == len(registry.all_rules())
    assert "fxlint/rules/__init__.py" in names
    for package in ("fxlint/analysis/__init__.py", "fxlint/verify/__init__.py", "fxlint/cli.py", "fxlint/py.typed"):
        assert package in names, package
    # every subpackage of the source tree is listed in [tool.setuptools] packages
    for init in sorted((REPO / "fxlint").glob("*/__init__.py")):
        assert f"fxlint/{init.parent.name}/__init__.py" in names, f"fxlint.{init.parent.name} is not packaged"
        modules = sorted(p.name for p in init.parent.glob("*.py"))
        assert modules == sorted(Path(n).name for n in names if n.startswith(f"fxlint/{init.parent.name}/")
                                 and n.endswith(".py")), init.parent.name
    assert not [n for n in names if n.startswith(("tests/", "fixtures/", "rules/"))]
    metadata = zipfile.ZipFile(wheel).read(f"fxlint-{__version__}.dist-info/METADATA").decode()
    requires = sorted(line.split(":", 1)[1].strip() for line in metadata.splitlines()
                      if line.startswith("Requires-Dist:") and "extra ==" not in line)
    assert [re.split(r"[<>=!~ ;]", r, maxsplit=1)[0].lower() for r in requires] == ["click", "libcst", "tomli"]
    assert requires[2].replace(" ", "").replace('"', "'").endswith("python_version<'3.11'"), requires[2]
    entry_points = zipfile.ZipFile(wheel).read(f"fxlint-{__version__}.dist-info/entry_points.txt").decode()
    assert "fxlint = fxlint.cli:run" in entry_points


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv_and_works(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    bin_dir = env_dir / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / ("python.exe" if os.name == "nt" else "python")
    fxlint = bin_dir / ("fxlint.exe" if os.name == "nt" else "fxlint")
    # libcst and click come from the package index (or the local pip cache)
    install = _run([python, "-m", "pip", "install", "--quiet", wheel], cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "work"  # outside the checkout: nothing can be imported from it
    work.mkdir()
    shutil.copy(DATA / "hazard.py", work / "model.py")
    shutil.copy(DATA / "clean.py", work / "clean.py")
    env = _env(FXLINT_CACHE_DIR=str(tmp_path / "cache"))

    where = _run([python, "-c", "import fxlint, fxlint.registry as r, importlib.util as u; "
                                "print(fxlint.__file__); print(r.rules_dir()); print(u.find_spec('torch') is None)"],
                 cwd=work, env=env)
    assert where.returncode == 0, where.stderr
    package_file, rules_dir, no_torch = where.stdout.split("\n")[:3]
    assert Path(package_file).resolve().is_relative_to(env_dir.resolve()), package_file
    assert Path(rules_dir).resolve() == Path(package_file).resolve().parent / "rules"
    assert no_torch == "True"  # a clean venv: check works without torch

    version = _run([fxlint, "--version"], cwd=work, env=env)
    assert version.returncode == 0 and __version__ in version.stdout, version.stdout + version.stderr

    rules = _run([fxlint, "rules"], cwd=work, env=env)
    assert rules.returncode == 0, rules.stderr
    assert re.findall(r"^(TRC\d{3})", rules.stdout, re.M) == [r.code for r in registry.all_rules()]

    one = _run([fxlint, "rule", "TRC101"], cwd=work, env=env)
    assert one.returncode == 0 and "# tensor-dependent-branch (TRC101)" in one.stdout, one.stderr

    check = _run([fxlint, "check", "model.py", "clean.py"], cwd=work, env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "model.py:8:12: TRC101" in check.stdout and "model.py:13:20: TRC204" in check.stdout
    assert "Traceback" not in check.stderr
    assert _run([fxlint, "check", "clean.py"], cwd=work, env=env).returncode == 0
    module = _run([python, "-m", "fxlint", "check", "--format", "json", "model.py"], cwd=work, env=env)
    assert module.returncode == 1 and '"code": "TRC101"' in module.stdout
    if (REPO / "fxlint" / "fix" / "command.py").exists():
        diff = _run([fxlint, "fix", "model.py"], cwd=work, env=env)  # dry run: a diff, nothing written
        assert diff.returncode == 1 and "+        return x[: x.size(0) // 2]" in diff.stdout, diff.stdout + diff.stderr
    # verify needs torch: without it, a clear message and a non-zero exit, never a traceback
    verify = _run([fxlint, "verify", "clean.py"], cwd=work, env=env, timeout=300)
    assert verify.returncode != 0
    assert "Traceback" not in verify.stdout + verify.stderr
    assert "torch" in (verify.stdout + verify.stderr).lower()


def _oldest_supported_python() -> Optional[str]:
    """An interpreter of the oldest Python that `requires-python` admits, if this machine has one (pyenv's too)."""
    import glob
    import tomllib

    floor = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    major, minor = re.fullmatch(r">=\s*(\d+)\.(\d+)", floor).groups()
    name = f"python{major}.{minor}"
    pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    for candidate in [shutil.which(name), *sorted(glob.glob(f"{pyenv}/versions/{major}.{minor}.*/bin/{name}"))]:
        if candidate is None:
            continue
        probe = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                               text=True, timeout=60, env=_env())
        if probe.returncode == 0 and probe.stdout.strip() == f"({major}, {minor})":
            return candidate
    return None


@pytest.mark.slow
def test_wheel_works_on_the_oldest_supported_python(wheel, tmp_path):
    """requires-python is a promise: on the oldest admitted Python (no tomllib there) check and fix work,
    with a [tool.fxlint] configuration read."""
    base = _oldest_supported_python()
    if base is None:
        pytest.skip("no interpreter of the oldest supported Python on this machine")
    env_dir = tmp_path / "venv"
    created = _run([base, "-m", "venv", env_dir], cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    install = _run([env_dir / "bin" / "python", "-m", "pip", "install", "--quiet", wheel], cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr

    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(DATA / "hazard.py", work / "model.py")
    (work / "pyproject.toml").write_text('[tool.fxlint]\nignore = ["TRC101"]\n')
    env = _env(FXLINT_CACHE_DIR=str(tmp_path / "cache"))
    check = _run([env_dir / "bin" / "fxlint", "check", "model.py"], cwd=work, env=env)
    assert check.returncode == 1, check.stdout + check.stderr
    assert "model.py:13:20: TRC204" in check.stdout and "TRC101" not in check.stdout  # the configuration applied
    fix = _run([env_dir / "bin" / "fxlint", "fix", "model.py"], cwd=work, env=env)
    assert fix.returncode == 1 and "x.size(0)" in fix.stdout, fix.stdout + fix.stderr
