"""Ground truth of the fixture corpus: every ``fixtures/models/**/*.py`` with ``FXLINT_EXPECT`` really
behaves that way under ``torch.fx.symbolic_trace``.

Each fixture is measured in its own process (``fixture_support.run_isolated``: one runner subprocess
imports torch once and forks one child per fixture, 60 s timeout each), because tracing can poison
process-global torch.fx state. For "error" fixtures the innermost traceback frame inside the fixture
file (or ``FXLINT_HAZARD_FILE``) must be one of ``FXLINT_HAZARD_LINES``.
"""
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fixture_support as fs  # noqa: E402

pytestmark = pytest.mark.torch

FIXTURES = fs.discover()
IDS = [p.relative_to(fs.FIXTURE_ROOT).as_posix() for p in FIXTURES]
META = {rel: fs.read_meta(p) for rel, p in zip(IDS, FIXTURES)}
HAZARD_GROUPS = ("control_flow", "shape", "foreign", "containers", "silent")
JOBS = max(1, min(4, os.cpu_count() or 1))


def _selected_rels(session):
    rels = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and getattr(item, "originalname", None) == "test_fixture_truth":
            rels.append(callspec.params["rel"])
    return rels or IDS


@pytest.fixture(scope="module")
def truth(request):
    """Measure all selected fixtures in one runner subprocess (a forked child per fixture)."""
    rels = _selected_rels(request.session)
    paths = [str(fs.FIXTURE_ROOT / r) for r in rels]
    timeout = 60 * (len(paths) // JOBS + 2)
    proc = subprocess.run([sys.executable, fs.__file__, "-j", str(JOBS), *paths], capture_output=True,
                          text=True, timeout=timeout, cwd=str(fs.REPO))
    assert proc.returncode == 0, f"fixture runner failed:\n{proc.stderr[-4000:]}"
    raw = json.loads(proc.stdout)
    return {Path(p).relative_to(fs.FIXTURE_ROOT).as_posix(): r for p, r in raw.items()}


@pytest.mark.parametrize("rel", IDS, ids=IDS)
def test_fixture_truth(rel, truth):
    meta = META[rel]
    res = truth[rel]
    expect = meta["FXLINT_EXPECT"]
    context = f"{rel}: measured {res['outcome']} ({res['detail']})\n{res.get('traceback', '')[-3000:]}"
    # a "qat" fixture is trace-correct: symbolic_trace measures it clean (verify sees the QAT crash)
    assert res["outcome"] == ("clean" if expect == "qat" else expect), context
    if expect == "error":
        hazard_file = meta.get("FXLINT_HAZARD_FILE", Path(rel).name)
        lines = [ln for f, ln in res["frames"] if f == hazard_file]
        assert lines, f"no traceback frame in {hazard_file}: {context}"
        assert lines[-1] in meta["FXLINT_HAZARD_LINES"], (
            f"trace failed at {hazard_file}:{lines[-1]}, not at FXLINT_HAZARD_LINES "
            f"{meta['FXLINT_HAZARD_LINES']}: {context}")


@pytest.mark.parametrize("rel", IDS, ids=IDS)
def test_fixture_declaration(rel):
    """Static contract of a fixture file (no import)."""
    meta = META[rel]
    path = fs.FIXTURE_ROOT / rel
    assert meta["docstring"], "module docstring missing"
    assert meta["FXLINT_EXPECT"] in fs.EXPECT_VALUES
    assert "make" in meta["functions"]
    if meta["FXLINT_EXPECT"] == "clean":
        assert not meta.get("FXLINT_HAZARD_LINES"), "clean fixtures declare no hazard lines"
        return
    lines = meta.get("FXLINT_HAZARD_LINES")
    assert isinstance(lines, list) and lines and all(isinstance(n, int) for n in lines)
    if meta["FXLINT_EXPECT"] == "silent":
        assert "make_alt" in meta["functions"], "silent fixtures need make_alt() to expose the divergence"
    hazard_path = path.parent / meta.get("FXLINT_HAZARD_FILE", path.name)
    src = hazard_path.read_text(encoding="utf-8").splitlines()
    for n in lines:
        assert 1 <= n <= len(src), f"hazard line {n} outside {hazard_path.name}"
        code = src[n - 1].strip()
        assert code and not code.startswith("#"), f"hazard line {n} of {hazard_path.name} is blank/comment"


def test_corpus_coverage():
    groups = Counter(Path(rel).parts[0] for rel in IDS)
    for g in HAZARD_GROUPS:
        assert groups[g] >= 6, f"group {g} has {groups[g]} fixtures"
    assert groups["clean"] >= 12
    expects = Counter(m["FXLINT_EXPECT"] for m in META.values())
    assert expects["error"] and expects["silent"] and expects["clean"] >= 12
    # unique file stems: every plain fixture can be imported by module name from its folder
    stems = Counter(Path(rel).stem for rel in IDS if not rel.startswith("pkg_helpers/"))
    assert not [s for s, n in stems.items() if n > 1]
