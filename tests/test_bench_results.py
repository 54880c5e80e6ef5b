"""The published benchmark figures are generated from the raw ones: README.md's results section and
tests/benchmarks/results.md must equal the rendering of the committed tests/benchmarks/results.json.

No benchmark runs here: report.py only formats the JSON. After a run, `python tests/benchmarks/run_all.py`
rewrites all three files together."""
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import report  # noqa: E402

FIX = "run `python tests/benchmarks/run_all.py`, or `python tests/benchmarks/report.py` to re-render"


@pytest.fixture(scope="module")
def results():
    return json.loads((BENCH / "results.json").read_text())


def test_readme_section_is_the_rendering_of_results_json(results):
    current = report.readme_current(Path(report.README).read_text())
    assert current is not None, f"README.md lacks the {report.START} / {report.END} markers"
    assert current == report.readme_section(results), f"README.md results section is stale: {FIX}"


def test_results_md_is_the_rendering_of_results_json(results):
    assert (BENCH / "results.md").read_text() == report.full_markdown(results) + "\n", f"results.md is stale: {FIX}"


def test_readme_section_states_date_versions_cores_and_targets(results):
    section = report.readme_section(results)
    for fact in (results["date"], f"{results['machine']['cores']} cores", f"timm {results['versions']['timm']}",
                 f"transformers {results['versions']['transformers']}", "Targets ("):
        assert fact in section


def test_splice_replaces_only_the_marked_section(tmp_path, results):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{report.START}\nold figures\n{report.END}\n\nafter\n")
    report.splice_readme(results, str(readme))
    text = readme.read_text()
    assert text.startswith("# title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old figures" not in text
    assert report.readme_current(text) == report.readme_section(results)
    report.splice_readme(results, str(readme))
    assert readme.read_text() == text  # idempotent


def test_splice_without_markers_is_refused(tmp_path, results):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers\n")
    with pytest.raises(RuntimeError, match="markers"):
        report.splice_readme(results, str(readme))
    assert readme.read_text() == "# no markers\n"
