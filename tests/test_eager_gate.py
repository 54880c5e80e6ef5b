"""The differential eager gate: `fxlint fix --apply --unsafe-fixes` must keep every fixture model's eager
behaviour bit for bit (eager behaviour is sacred; a pin, which removes a path, is never implied).

The whole ``fixtures/models`` tree is copied and fixed once; then one subprocess runs the original
models and one the fixed ones (tests/eager_gate_support.py: each fixture in a forked child, same
weights, same seeds, train and eval mode, make() and make_alt() inputs of different shapes, optional
inputs given and omitted), and each fixture's records are compared here: every tensor leaf with
`torch.equal` (and the same dtype, shape and requires_grad), the same exception type where the
original raised, the same inputs after the call and the same state dict after the calls.
Files with nothing to fix stay byte-identical, and the fixed tree gets no finding the original did
not have. Known failures caused outside the pins (in-graph rewrites, hoists) are strict xfails
naming their cause, to be lifted when that cause is fixed.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_support as fs  # noqa: E402

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

SUPPORT = Path(__file__).resolve().parent / "eager_gate_support.py"
FIXTURES = fs.discover()
RELS = [p.relative_to(fs.FIXTURE_ROOT).as_posix() for p in FIXTURES]

#: fixture -> why its fixed model is known to change eager behaviour (a cause outside this branch)
KNOWN: dict = {}  # none since the eager proofs (fxlint/fix/eager.py) gate the TRC502 `hasattr` rewrite


def _param(rel: str):
    reason = KNOWN.get(rel)
    return pytest.param(rel, id=rel, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else \
        pytest.param(rel, id=rel)


def _run(args, cwd: Path, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.run(args, cwd=str(cwd), capture_output=True, text=True, timeout=timeout, env=env)
    return proc


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """{"fixed": fixed tree, "original": {rel: records}, "after": {rel: records}, "fix": fix output}."""
    work = tmp_path_factory.mktemp("eager_gate")
    fixed = work / "models"
    shutil.copytree(fs.FIXTURE_ROOT, fixed, ignore=shutil.ignore_patterns("__pycache__", "*.expected"))
    fix = _run([sys.executable, "-m", "fxlint", "fix", "--apply", "--unsafe-fixes", "-q", "."], fixed, 600)
    assert fix.returncode in (0, 1), fix.stderr[-3000:]
    original, after = work / "original.pt", work / "fixed.pt"
    run = _run([sys.executable, str(SUPPORT), str(fs.FIXTURE_ROOT), str(original), *RELS], fs.REPO, 600)
    assert run.returncode == 0, run.stderr[-3000:]
    run = _run([sys.executable, str(SUPPORT), str(fixed), str(after), "--state", str(original), *RELS], fs.REPO, 600)
    assert run.returncode == 0, run.stderr[-3000:]
    return {"fixed": fixed, "fix": fix.stdout + fix.stderr,
            "original": torch.load(original, weights_only=False), "after": torch.load(after, weights_only=False)}


def first_difference(a, b, where: str = "output"):
    """Where two canonical records (eager_gate_support.canon) first differ, or None."""
    if a[0] != b[0]:
        return f"{where}: {a[0]} != {b[0]}"
    kind = a[0]
    if kind == "tensor":
        (_, x, grad_x), (_, y, grad_y) = a, b
        if x.dtype != y.dtype or x.shape != y.shape or grad_x != grad_y:
            return (f"{where}: Tensor{tuple(x.shape)} {x.dtype} requires_grad={grad_x} != "
                    f"Tensor{tuple(y.shape)} {y.dtype} requires_grad={grad_y}")
        if not torch.equal(x, y) and not (x.is_floating_point() and torch.equal(x.isnan(), y.isnan())
                                          and torch.equal(x.nan_to_num(), y.nan_to_num())):
            changed = (x != y).sum().item()
            return f"{where}: {changed} of {x.numel()} values differ (max |diff| {(x - y).abs().max().item():.3g})"
        return None
    if kind in ("list", "tuple"):
        if len(a[1]) != len(b[1]):
            return f"{where}: {kind} of {len(a[1])} != {len(b[1])}"
        return next((d for i, (u, v) in enumerate(zip(a[1], b[1]))
                     if (d := first_difference(u, v, f"{where}[{i}]")) is not None), None)
    if kind == "dict":
        if [k for k, _ in a[1]] != [k for k, _ in b[1]]:
            return f"{where}: keys {[k for k, _ in a[1]]} != {[k for k, _ in b[1]]}"
        return next((d for (k, u), (_, v) in zip(a[1], b[1])
                     if (d := first_difference(u, v, f"{where}[{k}]")) is not None), None)
    return None if a == b else f"{where}: {a[1:]} != {b[1:]}"


def differences(original: dict, after: dict) -> list:
    """Every (mode, input, what, difference) where the fixed model's eager behaviour differs."""
    if after["error"] or original["error"]:
        return [("-", "-", "build", f"original: {original['error'] or 'ok'}; fixed: {after['error'] or 'ok'}")]
    found = []
    labels = [c[:3] for c in original["calls"]]
    if labels != [c[:3] for c in after["calls"]]:
        for mine, theirs in zip(original["calls"], after["calls"]):
            if mine[:3] != theirs[:3]:
                return [(mine[0], mine[1], "outcome", f"original {mine[2]} {mine[3] if mine[2] == 'raised' else ''}"
                         f"; fixed {theirs[2]} {theirs[3] if theirs[2] == 'raised' else ''}")]
    for (mode, label, what, value), (_, _, _, other) in zip(original["calls"], after["calls"]):
        if what == "raised":
            if value[0] != other[0]:
                found.append((mode, label, what, f"{value[0]} != {other[0]}"))
            continue
        diff = first_difference(value, other, "inputs" if what.startswith("inputs") else
                                "state" if what == "state dict" else "output")
        if diff is not None:
            found.append((mode, label, what, diff))
    return found


@pytest.mark.parametrize("rel", [_param(r) for r in RELS])
def test_fixed_model_keeps_eager_behaviour(rel, gate):
    original, after = gate["original"][rel], gate["after"][rel]
    assert not original["error"], f"{rel}: the original fixture does not build: {original['error']}"
    assert original["calls"], rel
    found = differences(original, after)
    assert not found, f"{rel}: eager behaviour changed; first: mode {found[0][0]}, input {found[0][1]}, " \
                      f"{found[0][2]}: {found[0][3]} ({len(found)} difference(s))"


def test_the_gate_covers_modes_shapes_and_optional_inputs(gate):
    """The gate compares what it claims: two modes, two input shapes, and optional inputs both ways."""
    for rel in RELS:
        calls = gate["original"][rel]["calls"]
        assert {c[0] for c in calls} == {"train", "eval"}, rel
        assert {c[1] for c in calls} >= {"make", "make_alt"}, rel
    labels = {c[1] for c in gate["original"]["silent/silent_optional_mask_attention.py"]["calls"]}
    assert {"make without mask", "make_alt without mask"} <= labels
    labels = {c[1] for c in gate["original"]["zoo_nlp/nlp_t5_position_bias_optional.py"]["calls"]}
    assert "make with position_bias" in labels


def test_the_gate_catches_a_removed_path(tmp_path):
    """The gate fails when a fix takes a path away: T5's `position_bias` pinned to None by name
    (`--pin`) makes the call that passes it raise, which the comparison reports."""
    rel = "zoo_nlp/nlp_t5_position_bias_optional.py"
    (tmp_path / "tree" / "zoo_nlp").mkdir(parents=True)
    shutil.copy(fs.FIXTURE_ROOT / rel, tmp_path / "tree" / rel)
    fix = _run([sys.executable, "-m", "fxlint", "fix", "--apply", "--pin", "T5Attention.forward.position_bias=None",
                "."], tmp_path / "tree", 300)
    assert "_fxlint_expect_none(position_bias" in (tmp_path / "tree" / rel).read_text(), fix.stdout + fix.stderr
    original, after = tmp_path / "original.pt", tmp_path / "fixed.pt"
    assert _run([sys.executable, str(SUPPORT), str(fs.FIXTURE_ROOT), str(original), rel], fs.REPO, 300).returncode == 0
    assert _run([sys.executable, str(SUPPORT), str(tmp_path / "tree"), str(after), "--state", str(original), rel],
                fs.REPO, 300).returncode == 0
    found = differences(torch.load(original, weights_only=False)[rel], torch.load(after, weights_only=False)[rel])
    assert found and found[0][1] == "make with position_bias" and "raised" in found[0][3], found


def findings_by_file(root: Path) -> dict:
    """{path relative to root: [Diagnostic]} of one `check` of the tree."""
    from fxlint.api import check_paths
    from fxlint.config import Config

    out: dict = {}
    for d in check_paths([root], Config(root=root), jobs=1, use_cache=False).diagnostics:
        out.setdefault(Path(d.filename).resolve().relative_to(root.resolve()).as_posix(), []).append(d)
    return out


@pytest.fixture(scope="module")
def original_findings():
    return findings_by_file(fs.FIXTURE_ROOT)


def test_files_with_nothing_to_fix_are_byte_identical(gate, original_findings):
    untouched = [p for p in sorted(fs.FIXTURE_ROOT.rglob("*.py"))
                 if p.relative_to(fs.FIXTURE_ROOT).as_posix() not in original_findings]
    assert len(untouched) >= 12  # the clean fixtures at least
    changed = [p.relative_to(fs.FIXTURE_ROOT).as_posix() for p in untouched
               if (gate["fixed"] / p.relative_to(fs.FIXTURE_ROOT)).read_bytes() != p.read_bytes()]
    assert not changed, f"fix changed files without findings: {changed}"


def test_fixed_tree_adds_no_finding(gate, original_findings):
    """Code the fixer wrote passes `check`: the findings on the fixed tree are (per file, by code and
    source line) a subset of the original's, and none sits on a line the fixer wrote."""
    from test_fix_goldens import written_lines

    before, after = original_findings, findings_by_file(gate["fixed"])
    new = []
    for rel, found in sorted(after.items()):
        old_text = (fs.FIXTURE_ROOT / rel).read_text()
        new_text = (gate["fixed"] / rel).read_text()
        old_lines, new_lines = old_text.splitlines(), new_text.splitlines()
        had = {(d.code, old_lines[d.location.row - 1].strip()) for d in before.get(rel, [])}
        written = written_lines(old_text, new_text)
        new += [f"{rel}:{d.location.row}: {d.code} {new_lines[d.location.row - 1].strip()}" for d in found
                if d.location.row in written or (d.code, new_lines[d.location.row - 1].strip()) not in had]
    assert not new, "findings the fix introduced:\n" + "\n".join(new)
