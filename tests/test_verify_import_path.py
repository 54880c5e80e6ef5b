"""`fxlint verify` runs the user's code: the worker imports from the file's package root, then the
current directory, then the user's PYTHONPATH entries, and only then fxlint's own folder and
site-packages. Seen: a vendored library on PYTHONPATH lost to the installed one, and verify verified
that instead. fxlint's folder (this checkout, for an editable install) holds a `rules` package: a
vendored `rules` on PYTHONPATH used to be shadowed by it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

NET = '''\
"""A model whose factory checks where each of its libraries was imported from."""
import torch
from torch import nn

import lib_cwd
import lib_pp
import lib_root
import rules


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x)


def make():
    got = {m.__name__: getattr(m, "ORIGIN", m.__file__) for m in (lib_root, lib_cwd, lib_pp, rules)}
    want = {"lib_root": "package root", "lib_cwd": "current directory", "lib_pp": "PYTHONPATH",
            "rules": "PYTHONPATH"}
    if got != want:
        raise ImportError(f"wrong import path: {got}")
    return Net(), (torch.randn(2, 4),)
'''


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_verify_imports_the_users_code_first(tmp_path):
    vendor, work = tmp_path / "vendor", tmp_path / "work"
    for name in ("lib_root", "lib_cwd", "lib_pp"):
        write(vendor / f"{name}.py", 'ORIGIN = "PYTHONPATH"\n')
    write(vendor / "rules" / "__init__.py", 'ORIGIN = "PYTHONPATH"\n')  # fxlint's checkout has a `rules` too
    for name in ("lib_root", "lib_cwd"):
        write(work / f"{name}.py", 'ORIGIN = "current directory"\n')
    write(work / "src" / "lib_root.py", 'ORIGIN = "package root"\n')
    write(work / "src" / "pkg" / "__init__.py", "")
    write(work / "src" / "pkg" / "net.py", NET)
    env = {**os.environ, "PYTHONPATH": str(vendor)}
    proc = subprocess.run([sys.executable, "-m", "fxlint", "verify", "src/pkg/net.py", "--format", "json"],
                          cwd=str(work), env=env, capture_output=True, text=True, timeout=600)
    report = json.loads(proc.stdout)
    [model] = report["models"]
    errors = {stage: s["error"] for stage, s in model["stages"].items() if s["error"]}
    assert model["verdict"] == "pass", errors
    assert proc.returncode == 0


def test_a_rolled_back_failure_names_a_line_the_fix_wrote(tmp_path):
    """`fix --apply --verify` knows what it wrote: a failure blamed there is the fix's, and says so."""
    from fxlint.fix.api import FixResult
    from fxlint.fix.command import _written_by_fix
    from fxlint.verify.results import SourceLocation, StageResult

    path = str(tmp_path / "net.py")
    fixed = FixResult(path, "a = 1\nb = 2\nc = 3\n", "a = 1\nb = wrapped(2)\nc = 3\n")
    on_written = StageResult("fail", "TraceError: x", SourceLocation(path, 2))
    on_user_line = StageResult("fail", "TraceError: x", SourceLocation(path, 3))
    elsewhere = StageResult("fail", "TraceError: x", SourceLocation(str(tmp_path / "other.py"), 2))
    assert _written_by_fix(on_written, fixed) == " (line 2, which fix wrote)"
    assert _written_by_fix(on_user_line, fixed) == "" and _written_by_fix(elsewhere, fixed) == ""
    assert _written_by_fix(None, fixed) == ""
