"""`fxlint fix` on files: dry run, --apply, atomic writes, --select/--ignore, --verify roll-back."""
from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from click.testing import CliRunner

from fxlint.cli import main

REPO = Path(__file__).resolve().parent.parent
FIX_CASES = REPO / "fixtures" / "fix"
MODELS = REPO / "fixtures" / "models"

CLEAN = "import torch\n\n\nclass M(torch.nn.Module):\n    def forward(self, x):\n        return x * 2\n"


def run(*args: str):
    return CliRunner().invoke(main, ["fix", *args], catch_exceptions=False)


def setup_files(tmp_path: Path) -> dict:
    files = {"safe": tmp_path / "zeros_varargs.py", "unsafe": tmp_path / "where_select.py",
             "clean": tmp_path / "clean.py", "broken": tmp_path / "broken.py"}
    shutil.copy(FIX_CASES / "zeros_varargs.py", files["safe"])
    shutil.copy(FIX_CASES / "where_select.py", files["unsafe"])
    files["clean"].write_text(CLEAN)
    files["broken"].write_text("def forward(self, x:\n    return x\n")
    return files


def snapshot(files: dict) -> dict:
    return {k: p.read_bytes() for k, p in files.items()}


def test_dry_run_prints_diff_and_touches_nothing(tmp_path):
    files = setup_files(tmp_path)
    before = snapshot(files)
    result = run(str(tmp_path))
    assert result.exit_code == 1
    assert "+++ b/" in result.output and "torch.zeros((x.size(0), self.hidden)" in result.output
    assert snapshot(files) == before
    assert "Skipped as unsafe" in result.output and "TRC101" in result.output


def test_apply_writes_safe_fixes_only_and_keeps_permissions(tmp_path):
    files = setup_files(tmp_path)
    os.chmod(files["safe"], 0o640)
    before = snapshot(files)
    clean_mtime = files["clean"].stat().st_mtime_ns
    result = run(str(tmp_path), "--apply")
    assert result.exit_code == 1  # the unparseable file is reported
    assert "broken.py" in result.output and "does not parse" in result.output
    assert files["safe"].read_bytes() != before["safe"]
    assert b"torch.zeros((x.size(0), self.hidden), dtype=x.dtype)" in files["safe"].read_bytes()
    assert stat.S_IMODE(files["safe"].stat().st_mode) == 0o640
    assert files["unsafe"].read_bytes() == before["unsafe"]  # unsafe fixes need --unsafe-fixes
    assert files["clean"].read_bytes() == before["clean"]
    assert files["clean"].stat().st_mtime_ns == clean_mtime
    assert files["broken"].read_bytes() == before["broken"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".fxlint-fix-")]


def test_apply_unsafe_then_nothing_pending(tmp_path):
    files = setup_files(tmp_path)
    files["broken"].unlink()
    result = run(str(tmp_path), "--apply", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    assert "torch.where" in files["unsafe"].read_text()
    again = run(str(tmp_path), "--unsafe-fixes")
    assert again.exit_code == 0 and "+++" not in again.output


def test_select_and_ignore(tmp_path):
    files = setup_files(tmp_path)
    files.pop("broken").unlink()
    before = snapshot(files)
    run(str(tmp_path), "--apply", "--unsafe-fixes", "--select", "TRC207")
    assert files["unsafe"].read_bytes() == before["unsafe"]
    assert files["safe"].read_bytes() != before["safe"]
    shutil.copy(FIX_CASES / "zeros_varargs.py", files["safe"])
    run(str(tmp_path), "--apply", "--ignore", "TRC2")
    assert files["safe"].read_bytes() == before["safe"]


def test_usage_errors(tmp_path):
    assert run(str(tmp_path), "--verify").exit_code == 2
    assert run(str(tmp_path), "--select", "NOPE1").exit_code == 2


def test_verify_keeps_good_fix_and_rolls_back_failing_one(tmp_path):
    good = tmp_path / "pad_guard.py"
    shutil.copy(FIX_CASES / "pad_guard.py", good)
    # the fix traces, but prepare_qat_fx fake-quantizes `+ 1` on lengths computed from the int64
    # attention_mask input (a forward input's dtype is unknown to fxlint): qat_run fails (the model's)
    bad = tmp_path / "aud_wav2vec_feature_mask.py"
    shutil.copy(MODELS / "zoo_audio" / "aud_wav2vec_feature_mask.py", bad)
    original = bad.read_bytes()
    result = run(str(tmp_path), "--apply", "--unsafe-fixes", "--verify")
    assert result.exit_code == 1, result.output
    assert "Rolled back" in result.output and "aud_wav2vec_feature_mask.py" in result.output
    assert bad.read_bytes() == original
    assert "F.pad(x, (0, pad_w, 0, pad_h))" in good.read_text() and "        if pad_h > 0" not in good.read_text()
