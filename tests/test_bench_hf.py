"""The transformers proving ground's evaluation (bench_hf.py) on small worker records: no torch, no run.

The worker (hf_trace.py) runs only in the benchmark venv; these records have its shape, so the counting that
turns them into results.json (failing lines, check recall, false-positive models, eager changes) is tested here."""
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_hf  # noqa: E402


def _fail(file, line, typ="TraceError"):
    return {"ok": False, "stage": "trace", "error": {"type": typ, "msg": "", "frame": {"file": file, "line": line,
                                                                                          "src": "x", "func": "f"}}}


PASS = {"ok": True, "match": True}
EAGER_OK = {"eval/in0/mask": {"ok": True}, "eval/in0/nomask": {"ok": True}}


def _model(name, model_type, plain, wrapped, wrapped_mask, eager=None):
    return {"name": name, "model_type": model_type, "eager": dict(eager or EAGER_OK),
            "trace": {"plain": plain, "wrapped": wrapped, "wrapped_mask": wrapped_mask}}


def _models():
    gen = "transformers/utils/generic.py"
    return [
        _model("bert", "bert", _fail(gen, 1160), _fail("transformers/models/bert/modeling_bert.py", 85),
               _fail("transformers/masking_utils.py", 834)),
        _model("roberta", "roberta", _fail(gen, 1160), PASS, {"skipped": "no attention_mask"}),
    ]


def _diag(rel, row, end=None, code="TRC101"):
    root = "/t"
    return {"code": code, "filename": f"{root}/{rel}", "location": {"row": row, "column": 0},
            "end_location": {"row": end or row, "column": 9}}


def test_failing_lines_group_models_per_mode_and_skip_passing_records():
    lines = bench_hf.failing_lines(_models())
    assert lines["plain"][("transformers/utils/generic.py", 1160)]["models"] == ["bert", "roberta"]
    assert list(lines["wrapped"]) == [("transformers/models/bert/modeling_bert.py", 85)]
    assert list(lines["wrapped_mask"]) == [("transformers/masking_utils.py", 834)]


def test_recall_counts_a_line_inside_a_diagnostic_span_and_false_positive_models():
    diags = [_diag("transformers/utils/generic.py", 1158, 1161),          # span covers 1160
             _diag("transformers/masking_utils.py", 833),                  # the line before: a miss
             _diag("transformers/models/roberta/modeling_roberta.py", 40, code="TRC403")]
    rec = bench_hf.recall(_models(), diags, "/t")
    assert (rec["plain"]["flagged"], rec["plain"]["failing_lines"]) == (1, 1)
    assert rec["plain"]["lines"][0]["flagged_by"] == ["TRC101"]
    assert (rec["wrapped"]["flagged"], rec["wrapped_mask"]["flagged"]) == (0, 0)
    # roberta traces and matches eager (wrapped) yet its own modeling file is flagged; bert passes nowhere
    assert rec["passing_models"] == 1
    assert rec["false_positive_models"] == {"roberta": {"file": "transformers/models/roberta/modeling_roberta.py",
                                                        "n": 1, "codes": ["TRC403"]}}


def test_compare_runs_reports_eager_changes_and_failing_to_fixed():
    before = {"models": _models()}
    bert_after = _model("bert", "bert", _fail("transformers/utils/generic.py", 1160), PASS, PASS,
                        eager={"eval/in0/mask": {"ok": False, "error": {"type": "TypeError", "msg": "m",
                                                                        "frame": None}},
                               "eval/in0/nomask": {"ok": True}})
    after = {"models": [bert_after, _models()[1]]}
    bits = {"bert": {"identical": False, "diffs": {"eval/in0/mask": "output only before",
                                                   "eval/in0/nomask": "1 tensor(s) differ"}},
            "roberta": {"identical": True, "diffs": {}}}
    cmp = bench_hf.compare_runs(before, after, bits)
    assert sorted(cmp["eager_changed"]) == ["bert"]
    ch = cmp["eager_changed"]["bert"]
    assert ch["status"] == {"eval/in0/mask": "ok -> TypeError"}
    assert ch["bit_diffs"] == {"eval/in0/nomask": "1 tensor(s) differ"}   # the raising key is not double-counted
    assert ch["errors"] == [{"type": "TypeError", "msg": "m", "frame": None, "calls": ["eval/in0/mask"]}]
    assert cmp["modes"]["wrapped"] == {"failing_before": 1, "fixed": 1, "broken": 0}
    assert cmp["modes"]["wrapped_mask"] == {"failing_before": 1, "fixed": 1, "broken": 0}
    assert cmp["modes"]["plain"] == {"failing_before": 2, "fixed": 0, "broken": 0}
    assert cmp["now_trace_and_match"] == ["bert"] and cmp["now_trace_and_match_eager_identical"] == []
    assert cmp["eager_change_causes"] == {
        "TypeError: None": {"msg": "m", "models": ["bert"], "at": ["None:None"]},
        "outputs differ without an exception": {"msg": "", "models": ["bert"], "at": []}}


def test_shared_modules_are_the_frames_outside_models_plus_the_fixed_list():
    shared = bench_hf.shared_modules(_models())
    assert "transformers/masking_utils.py" in shared and "transformers/utils/generic.py" in shared
    assert not any("/models/" in f for f in shared)
    assert set(bench_hf.SHARED_ALWAYS) <= set(shared)


def test_a_decorated_root_finding_covers_the_lines_inside_its_wrapper(tmp_path):
    """TRC405 is reported at the wrapper's first line (its decorator); torch stops inside the wrapper,
    at a line that depends on the wrapper's body: the whole wrapper counts, nothing past it."""
    gen = tmp_path / "transformers" / "utils" / "generic.py"
    gen.parent.mkdir(parents=True)
    gen.write_text("import functools\n\n\ndef can_return_tuple(func):\n    @functools.wraps(func)\n"
                   "    def wrapper(self, *args, **kwargs):\n        kwargs.pop('return_dict', None)\n"
                   "        return func(self, *args, **kwargs)\n\n    return wrapper\n")
    model = _model("bert", "bert", _fail("transformers/utils/generic.py", 8), PASS, PASS)
    diag = {"code": "TRC405", "filename": str(gen), "location": {"row": 5, "column": 5},
            "end_location": {"row": 5, "column": 27}}
    plain = bench_hf.recall([model], [diag], str(tmp_path))["plain"]
    assert plain["flagged"] == 1 and plain["lines"][0]["flagged_by"] == ["TRC405"]
    after = _model("bert", "bert", _fail("transformers/utils/generic.py", 10), PASS, PASS)
    assert bench_hf.recall([after], [diag], str(tmp_path))["plain"]["flagged"] == 0
