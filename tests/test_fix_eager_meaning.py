"""A hoist keeps eager meaning: every fix golden that declares ``eager_cases()`` (model, args pairs
chosen to take every branch, configurations included) is imported twice, as written and as fixed,
and both run eagerly on the same weights and inputs, in train and eval mode. Outputs must be
bit-identical (torch.equal); a case the original rejects with an exception must be rejected by the
fixed code with the same exception type. Real torch, CPU, in this process (eager needs no tracing,
so the process-global torch.fx.wrap registry does not matter)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "fix"
CASES = sorted(p for p in CASES_DIR.glob("*.py") if not p.name.endswith(".fixed.py")
               and "def eager_cases(" in p.read_text())


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(model, args):
    try:
        return model(*args), None
    except Exception as exc:  # the original's own rejection of an input is part of its meaning
        return None, type(exc)


def _same(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def test_cases_found():
    assert len(CASES) >= 5


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_fixed_code_matches_original_eagerly(case: Path, mode: str, tmp_path: Path) -> None:
    import torch

    copy = tmp_path / f"{case.stem}_fixed.py"
    copy.write_bytes(case.with_name(case.stem + ".fixed.py").read_bytes())
    original = _load(case, f"{case.stem}_original_{mode}").eager_cases()
    fixed = _load(copy, f"{case.stem}_fixed_{mode}").eager_cases()
    assert len(original) == len(fixed) >= 2
    outcomes = set()
    for (m_orig, args), (m_fixed, args_fixed) in zip(original, fixed):
        for (k, v), (k2, v2) in zip(m_orig.state_dict().items(), m_fixed.state_dict().items()):
            assert k == k2 and torch.equal(v, v2)  # same seed, same weights
        getattr(m_orig, mode)()
        getattr(m_fixed, mode)()
        with torch.no_grad():
            out, err = _run(m_orig, args)
            out_fixed, err_fixed = _run(m_fixed, args_fixed)
        assert err_fixed is err, (err, err_fixed)
        if err is None:
            assert _same(out, out_fixed)
        outcomes.add(err)
    assert None in outcomes  # the cases run the model, not only its rejections
