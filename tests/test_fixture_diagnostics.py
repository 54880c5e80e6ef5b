"""fxlint's diagnostics on the fixture corpus: golden files, and agreement with torch's ground truth.

Each ``fixtures/models/**/<case>.py`` has a golden ``<case>.expected``: the diagnostics fxlint
reports for that model (in the file and in helper files it reaches), one per line as
``path:row:col: CODE message``. Regenerate after an intended change and review the diff:

    FXLINT_UPDATE_GOLDENS=1 python -m pytest tests/test_fixture_diagnostics.py

The ground-truth checks below do not depend on the goldens: every fixture that torch shows to
fail or diverge (FXLINT_EXPECT, measured by tests/test_fixture_truth.py) must be flagged on one
of its hazard lines, and every clean fixture must produce no diagnostic at all.
"""

import os
from pathlib import Path

import pytest

from fixture_support import FIXTURE_ROOT, REPO, discover, read_meta
from fxlint.api import check_paths
from fxlint.config import Config

UPDATE = os.environ.get("FXLINT_UPDATE_GOLDENS") == "1"
FIXTURES = discover()


@pytest.fixture(scope="module")
def corpus_result():
    return check_paths([FIXTURE_ROOT], Config(root=REPO), jobs=1, use_cache=False)


def _rendered(result, fixture: Path):
    """Diagnostics attributed to one fixture: in its own file, or in its package's helper files."""
    own_dir = fixture.parent
    lines = []
    for d in result.diagnostics:
        path = Path(d.filename).resolve()
        is_own = path == fixture.resolve()
        is_pkg_helper = (own_dir / "__init__.py").exists() and path.parent == own_dir.resolve() and path != fixture
        if is_own or is_pkg_helper:
            rel = path.relative_to(REPO).as_posix()
            lines.append(f"{rel}:{d.location.row}:{d.location.column}: {d.code} {d.message}")
    return lines


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.relative_to(FIXTURE_ROOT).as_posix() for p in FIXTURES])
def test_golden(fixture, corpus_result):
    golden = fixture.with_suffix(".expected")
    actual = "\n".join(_rendered(corpus_result, fixture)) + "\n"
    if UPDATE:
        golden.write_text(actual)
    assert golden.exists(), f"missing {golden.name}: run with FXLINT_UPDATE_GOLDENS=1 and review"
    assert actual == golden.read_text(), f"{golden.name} differs (regenerate with FXLINT_UPDATE_GOLDENS=1)"


@pytest.mark.parametrize("fixture", FIXTURES, ids=[p.relative_to(FIXTURE_ROOT).as_posix() for p in FIXTURES])
def test_agrees_with_torch(fixture, corpus_result):
    meta = read_meta(fixture)
    target = (fixture.parent / meta.get("FXLINT_HAZARD_FILE", fixture.name)).resolve()
    rows = {d.location.row for d in corpus_result.diagnostics if Path(d.filename).resolve() == target}
    if meta["FXLINT_EXPECT"] == "clean":
        own = [d for d in corpus_result.diagnostics if Path(d.filename).resolve() == fixture.resolve()]
        assert own == [], [f"{d.location.row}: {d.code} {d.message}" for d in own]
    else:
        assert rows & set(meta["FXLINT_HAZARD_LINES"]), (
            f"torch says {meta['FXLINT_EXPECT']} at lines {meta['FXLINT_HAZARD_LINES']}, fxlint flagged {sorted(rows)}")


def test_two_processes_find_what_one_finds(corpus_result):
    """In parallel the building-block references are read in worker processes and the index is
    built again by the checking workers; one process builds it once, while reading references."""
    parallel = check_paths([FIXTURE_ROOT], Config(root=REPO), jobs=2, use_cache=False)
    assert parallel.files_checked == corpus_result.files_checked > 100
    assert parallel.diagnostics == corpus_result.diagnostics and parallel.diagnostics
