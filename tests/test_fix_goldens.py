"""Golden before -> after pairs for `fxlint fix` (fixtures/fix/<case>.py -> <case>.fixed.py).

Regenerate the goldens with ``FXLINT_UPDATE_GOLDENS=1 python -m pytest tests/test_fix_goldens.py``
and review them in the diff; never edit them by hand. Each case declares ``FXLINT_FIX_UNSAFE``: a
case fixed without it claims its rewrites are SAFE, and the torch test below checks that claim by
tracing (the fixed model must match eager on make() and make_alt() inputs).

The torch checks use `fxlint verify`, which runs every model in its own worker process (the
torch.fx.wrap registry is process-global): import, construct, symbolic_trace, eager equivalence on
inputs A and B, prepare_qat_fx(model.train(), get_default_qat_qconfig_mapping("x86"), args), and a
forward/backward of the prepared model.
"""
from __future__ import annotations

import ast
import difflib
import os
from pathlib import Path

import pytest

from fxlint.api import check_source
from fxlint.diagnostics import Applicability
from fxlint.fix import fix_source
from fxlint.fix.tree import Tree
from fxlint.fix.wrapped import wrapped_spans

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "fix"
CASES = sorted(p for p in CASES_DIR.glob("*.py") if not p.name.endswith(".fixed.py"))
UPDATE = os.environ.get("FXLINT_UPDATE_GOLDENS") == "1"


def golden_of(case: Path) -> Path:
    return case.with_name(case.stem + ".fixed.py")


def unsafe_of(case: Path) -> bool:
    tree = ast.parse(case.read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "FXLINT_FIX_UNSAFE":
            return bool(ast.literal_eval(node.value))
    raise AssertionError(f"{case.name} must declare FXLINT_FIX_UNSAFE")


def _declared(case: Path, name: str, default):
    for node in ast.parse(case.read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == name:
            return ast.literal_eval(node.value)
    return default


def manual_of(case: Path) -> tuple:
    """Codes of findings the case expects fix to leave, reported as manual work (a hoist declined
    for a reason the case demonstrates): ``FXLINT_FIX_MANUAL``, default none."""
    return tuple(_declared(case, "FXLINT_FIX_MANUAL", ()))


def qat_of(case: Path) -> bool:
    """``FXLINT_FIX_QAT = False``: the fixed model traces and matches eager, but its QAT-prepared model
    is not expected to run, for a reason the case states (a `list[Tensor]` / `*args` forward input is
    a placeholder `prepare_qat_fx` fake-quantizes; a number a wrapped call returns meets a quantized
    `mul`). Default True."""
    return bool(_declared(case, "FXLINT_FIX_QAT", True))


def pins_of(case: Path) -> dict:
    """FXLINT_FIX_PINS: the pins a case names (as `--pin`); fix pins nothing else."""
    return dict(_declared(case, "FXLINT_FIX_PINS", {}))


def fixed(case: Path):
    return fix_source(case.read_text(), str(case), unsafe=unsafe_of(case), pins=pins_of(case))


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_golden(case: Path) -> None:
    result = fixed(case)
    assert result.applied, "the case must exercise a fix"
    golden = golden_of(case)
    if UPDATE:
        golden.write_text(result.text)
    assert golden.exists(), f"missing golden; run with FXLINT_UPDATE_GOLDENS=1"
    assert result.text == golden.read_text()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_applicability_claim(case: Path) -> None:
    result = fixed(case)
    kinds = {a[3] for a in result.applied}
    if unsafe_of(case):
        assert Applicability.UNSAFE in kinds
    else:
        assert kinds == {Applicability.SAFE}
        assert fix_source(case.read_text(), str(case), unsafe=False, pins=pins_of(case)).text == result.text


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_idempotent_and_clean(case: Path) -> None:
    result = fixed(case)
    again = fix_source(result.text, str(case), unsafe=True, pins=pins_of(case))
    assert again.text == result.text and not again.applied
    fixed_codes = {a[0] for a in result.applied}
    spans = wrapped_spans(Tree(result.text))
    # inside @torch.fx.wrap bodies FX does not trace; fxlint's analysis does not know that yet
    left = [d for d in check_source(result.text, str(case))
            if not any(a <= d.location.row <= b for a, b in spans)]
    expected = manual_of(case)
    assert sorted(d.code for d in left) == sorted(expected), left
    assert sorted(m[0] for m in result.manual) == sorted(expected), result.manual
    if not expected:
        assert not [d for d in left if d.code in fixed_codes], left


@pytest.fixture(scope="module")
def verify_reports(tmp_path_factory):
    """{"before"/"after": {case stem: ModelReport}}; goldens are verified as `<case>_fixed.py`
    copies because a module name cannot contain the dot of `<case>.fixed.py`."""
    from fxlint.verify.api import VerifyOptions, verify_paths

    folder = tmp_path_factory.mktemp("goldens")
    copies = []
    for case in CASES:
        copy = folder / f"{case.stem}_fixed.py"
        copy.write_bytes(golden_of(case).read_bytes())
        copies.append(str(copy))
    report = verify_paths([str(c) for c in CASES] + copies, VerifyOptions(timeout=180))
    out = {"before": {}, "after": {}}
    for model in report.models:
        stem = Path(model.file).stem
        out["after" if stem.endswith("_fixed") else "before"][stem.removesuffix("_fixed")] = model
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_before_fails_after_traces_matches_and_runs_qat(case: Path, verify_reports) -> None:
    before = verify_reports["before"][case.stem]
    stage, _ = before.first_failure
    # a QAT fix (TRC6xx) targets code that traces and matches eager but whose prepared model crashes
    qat_case = any(code.startswith("TRC6") for code, *_ in fixed(case).applied)
    assert stage in (("trace", "equivalence") + (("qat_run",) if qat_case else ())), before.first_failure
    after = verify_reports["after"][case.stem]
    if not _declared(case, "FXLINT_FIX_TRACES", True):
        # a declined fix (declared in FXLINT_FIX_MANUAL) leaves code FX cannot trace: only that
        assert manual_of(case) and after.first_failure[0] == "trace", after.first_failure
        return
    assert after.stage("equivalence").status == "pass", after.first_failure
    if not qat_of(case):
        assert after.stage("qat_run").status == "fail", "the case says QAT does not run: update FXLINT_FIX_QAT"
        return
    assert after.verdict == "pass", after.first_failure
    assert after.stage("qat_run").status == "pass"
    assert "backward ok" in " ".join(after.stage("qat_run").details) or \
        "forward and backward" in " ".join(after.stage("qat_run").details), after.stage("qat_run").details


def test_hoisted_buffer_cache_refills_when_the_traced_model_meets_another_size(tmp_path) -> None:
    """The claim of fixtures/fix/hoist_buffer_cache_method.py: traced at 5 tokens, the fixed model
    called with 9 tokens rebuilds the buffer its graph reads and matches the original eager model."""
    import importlib.util

    import torch

    def load(path: Path, name: str):
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    case = CASES_DIR / "hoist_buffer_cache_method.py"
    copy = tmp_path / "buffer_cache_fixed.py"
    copy.write_bytes(golden_of(case).read_bytes())
    fixed_model, args = load(copy, "buffer_cache_fixed").make()
    original, _ = load(case, "buffer_cache_original").make()
    graph = torch.fx.symbolic_trace(fixed_model)
    for tokens in (5, 9, 5):
        x = torch.randn(2, tokens, 8)
        torch.testing.assert_close(graph(x), original(x))
        assert graph.rel.shape[1] == tokens


def written_lines(before: str, after: str) -> set:
    """1-based rows of ``after`` that the fixer inserted or changed."""
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    return {j + 1 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal" for j in range(j1, j2)}


def new_findings(before: str, after: str, filename: str) -> list:
    """Findings of `check` on the fixed text that the original did not have (same code on the same
    source line), or that sit on a line the fixer wrote: code the fixer writes must pass `check`."""
    old_lines, new_lines = before.splitlines(), after.splitlines()
    had = {(d.code, old_lines[d.location.row - 1].strip()) for d in check_source(before, filename)}
    written = written_lines(before, after)
    return [(d.code, d.location.row, new_lines[d.location.row - 1].strip()) for d in check_source(after, filename)
            if d.location.row in written or (d.code, new_lines[d.location.row - 1].strip()) not in had]


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_fixed_code_adds_no_finding(case: Path) -> None:
    """The findings on the fixed output are a subset of those on the original, and none is on a line
    the fixer wrote (seen: a pin made `for i in range(images.size(0))` the new trace failure)."""
    assert new_findings(case.read_text(), golden_of(case).read_text(), str(case)) == []
