"""bench_timm.evaluate with configuration variants, on a synthetic tree (no torch, no benchmark run): variants add
their failing lines to recall and take a flagged line on which one fails out of the by-module false positives, and
they never change the default-config figures."""
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_timm  # noqa: E402

SRC = "def f(x):\n    if x:\n        return 1\n    y = 2\n    return y\n"


def _rec(model, module, lib_frame=None, **extra):
    plain = {"ok": False, "lib_frame": lib_frame} if lib_frame else {"ok": True, "check": {"match": True}}
    return {"model": model, "module": module, "plain": plain, **extra}


def _diag(rel, row, code="TRC201"):
    return {"filename": rel, "location": {"row": row}, "code": code, "message": "m"}


def test_variants_add_recall_and_excuse_only_the_lines_they_fail_at(tmp_path):
    for mod in ("a", "b", "c", "d"):
        p = tmp_path / "timm" / "models" / f"{mod}.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(SRC)
    records = [_rec("a1", "a"), _rec("b1", "b", "timm/models/b.py:2"), _rec("d1", "d")]
    diags = [_diag("timm/models/a.py", 2), _diag("timm/models/a.py", 4), _diag("timm/models/b.py", 2),
             _diag("timm/models/d.py", 4)]
    variants = [_rec("a1", "a", "timm/models/a.py:2", id="a1+sw", switch="sw"),
                _rec("d1", "d", "timm/models/d.py:4", id="d1+sw", switch="sw"),
                _rec("b1", "b", "timm/models/c.py:5", id="b1+sw", switch="sw"),   # fails where nothing is flagged
                _rec("a1", "a", id="a1+other", switch="other")]                    # passes
    before = bench_timm.evaluate(records, diags, str(tmp_path), False)
    after = bench_timm.evaluate(records, diags, str(tmp_path), False, variants)

    for key in ("recall", "false_positives_by_module", "n_passing", "n_failing", "true_positive_lines"):
        assert after[key] == before[key]
    assert (before["recall"]["flagged"], before["recall"]["failing_lines"]) == (1, 1)
    assert before["false_positives_by_module"]["families"] == ["a1", "d1"]

    new = after["false_positives_by_module_with_variants"]
    assert new["families"] == ["a1"] and new["lines"] == 1 and new["modules"] == ["timm/models/a.py"]
    assert [x["line"] for x in new["lines_where_a_variant_fails"]] == ["timm/models/a.py:2", "timm/models/d.py:4"]

    rv = after["recall_with_variants"]
    assert (rv["flagged"], rv["failing_lines"]) == (3, 4)
    assert [x["line"] for x in rv["misses"]] == ["timm/models/c.py:5"]
    assert (rv["variants_flagged"], rv["failing_variants"]) == (2, 3)
    assert after["variants"]["by_switch"] == {"other": {"pass": 1, "n": 1}, "sw": {"fail": 3, "n": 3}}
    assert [v["id"] for v in after["variants"]["records_not_passing"]] == ["a1+sw", "d1+sw", "b1+sw"]
