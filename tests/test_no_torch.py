"""`fxlint check` must never import torch (it runs where torch is absent, e.g. a pre-commit env)."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys
from fxlint.cli import main
try:
    main(["check", "--no-cache", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
assert "torch" not in sys.modules, "fxlint check imported torch"
print("exit", code)
"""


def test_check_does_not_import_torch():
    target = REPO / "fixtures" / "models" / "shape" / "shape_gpt_causal_mask.py"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(target)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "exit 1" in proc.stdout  # the fixture has a hazard: findings were reported without torch


WARM = """
import sys
from fxlint.cli import main
assert "fxlint.verify.api" not in sys.modules, "importing the CLI imported verify"
try:
    main(["check", "--format", "json", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
assert "libcst" not in sys.modules, "a check answered from the cache imported libcst"
print("exit", code)
"""


def test_check_answered_from_the_cache_does_not_import_libcst(tmp_path):
    source = (REPO / "fixtures" / "models" / "shape" / "shape_gpt_causal_mask.py").read_text()
    target = tmp_path / "model.py"
    target.write_text(source + "\nx = 1  # noqa: TRC101\n")  # a suppression comment: its codes are checked too
    env = {**__import__("os").environ, "FXLINT_CACHE_DIR": str(tmp_path / "cache")}
    cold = subprocess.run([sys.executable, "-m", "fxlint", "check", "--format", "json", str(target)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert cold.returncode == 1, cold.stderr
    warm = subprocess.run([sys.executable, "-c", WARM, str(target)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert "exit 1" in warm.stdout  # the findings came back from the cache
    assert warm.stdout.replace("exit 1", "").strip() == cold.stdout.strip()
