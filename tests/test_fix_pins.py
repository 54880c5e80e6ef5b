"""Pins are explicit opt-in, through the real CLI: `fxlint fix --pin Class.forward.input=None`
(repeatable) and `[tool.fxlint.fix] pin` in pyproject.toml. Without one, no fix removes an eager path:
a training call that passes `targets` still gets its loss after `fix --apply --unsafe-fixes`."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from fxlint.cli import main

REPO = Path(__file__).resolve().parent.parent
PIN_CASE = REPO / "fixtures" / "fix" / "pin_optional_input.py"
OPTION = "MaskedEncoder.forward.mask=None"

#: a detector-style model: training passes `targets` and gets a loss from a method of `self`
TRAINING_MODEL = '''\
import torch
from torch import nn


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Linear(4, 3)

    def loss(self, logits, targets):
        return nn.functional.cross_entropy(logits, targets)

    def forward(self, images, targets=None):
        logits = self.body(images)
        if targets is not None:
            return self.loss(logits, targets)
        return logits
'''


def run(cwd: Path, *args: str):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, ["fix", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def copy_case(tmp_path: Path) -> Path:
    path = tmp_path / "net.py"
    shutil.copy(PIN_CASE, path)
    return path


def test_unsafe_fixes_never_pin_and_name_the_option(tmp_path):
    path = copy_case(tmp_path)
    result = run(tmp_path, "--apply", "--unsafe-fixes", "--show-fixes", "net.py")
    assert "_fxlint_expect_none" not in path.read_text()
    assert f"`--pin {OPTION}`" in result.output  # the manual work (--show-fixes) names the exact option


def test_pin_option_pins_without_unsafe_fixes(tmp_path):
    path = copy_case(tmp_path)
    result = run(tmp_path, "--apply", "--pin", OPTION, "net.py")
    text = path.read_text()
    assert result.exit_code == 0, result.output
    assert '_fxlint_expect_none(mask, name="mask")\n        mask = None\n' in text
    assert f"`--pin {OPTION}`" not in result.output  # no longer manual work


def test_pin_from_pyproject(tmp_path):
    path = copy_case(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.fxlint.fix]\npin = {"MaskedEncoder.forward.mask" = "None"}\n')
    result = run(tmp_path, "--apply", "net.py")
    assert result.exit_code == 0, result.output
    assert '_fxlint_expect_none(mask, name="mask")' in path.read_text()


@pytest.mark.parametrize("pin", ["MaskedEncoder.forward", "MaskedEncoder.forward.mask=0", "mask=None"])
def test_malformed_pin_is_a_usage_error(tmp_path, pin):
    path = copy_case(tmp_path)
    before = path.read_bytes()
    result = run(tmp_path, "--apply", "--pin", pin, "net.py")
    assert result.exit_code == 2 and "--pin" in result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("toml", ['[tool.fxlint.fix]\npin = {"MaskedEncoder.forward.mask" = "Tensors"}\n',
                                  '[tool.fxlint.fix]\npins = {}\n',
                                  '[tool.fxlint.fix]\npin = ["MaskedEncoder.forward.mask"]\n'])
def test_malformed_pin_config_is_a_usage_error(tmp_path, toml):
    copy_case(tmp_path)
    (tmp_path / "pyproject.toml").write_text(toml)
    result = run(tmp_path, "--apply", "net.py")
    assert result.exit_code == 2 and "[tool.fxlint.fix]" in result.output


def test_a_pin_matching_no_input_is_reported(tmp_path):
    path = copy_case(tmp_path)
    result = run(tmp_path, "--apply", "--pin", "MaskedEncoder.forward.masks=None", "net.py")
    assert "pin `MaskedEncoder.forward.masks` matches no finding" in result.output
    assert "_fxlint_expect_none" not in path.read_text()


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_training_call_keeps_its_loss_unless_the_pin_is_named(tmp_path):
    torch = pytest.importorskip("torch")
    original, unpinned, pinned = (tmp_path / n for n in ("original.py", "unpinned.py", "pinned.py"))
    for path in (original, unpinned, pinned):
        path.write_text(TRAINING_MODEL)
    assert run(tmp_path, "--apply", "--unsafe-fixes", "unpinned.py").exit_code == 0
    assert "_fxlint_expect_none" not in unpinned.read_text()  # a hoist keeps both paths, or nothing changes
    assert run(tmp_path, "--apply", "--pin", "Detector.forward.targets=None", "pinned.py").exit_code == 0
    images, targets = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    models = {}
    for path in (original, unpinned, pinned):
        torch.manual_seed(0)
        models[path.stem] = _load(path, f"pins_{path.stem}").Detector()
    expected = models["original"](images, targets)
    assert torch.equal(models["unpinned"](images, targets), expected)
    assert torch.equal(models["pinned"](images), models["original"](images))
    with pytest.raises(ValueError, match="`targets` was pinned to None"):
        models["pinned"](images, targets)  # the named pin is loud, never silent
    graph = torch.fx.symbolic_trace(models["pinned"])
    assert torch.equal(graph(images), models["original"](images))
