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
