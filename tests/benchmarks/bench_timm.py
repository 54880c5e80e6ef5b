"""Detection quality of `fxlint check` on timm 1.0.31, against plain `torch.fx.symbolic_trace` as ground truth.

usage: python tests/benchmarks/bench_timm.py [--fresh-gt | --reuse-baseline] [--fresh-variants] [--jobs 2]
                                             [--timeout 90] [--out FILE.json] [--merge-results]

1. Ground truth: timm_trace.py traces one model per family (timm_selection.json, 191 families) in the timm
   venv, each in a worker process with a timeout, 2 side by side, and records the lines of timm that ran while
   tracing (~4.5 min on 2 cores). It depends only on timm, torch and the selection, so the last fresh run is
   cached and reused; --fresh-gt forces a new one. --reuse-baseline uses the shipped
   shared/notes/timm_baseline/timm_results.json instead (no line coverage, so false positives are then
   attributed by module file only).
2. `fxlint check --format json --no-cache --exit-zero timm` (cwd = the corpus root).
3. Scores:
   recall     a failing source line (innermost timm frame of a failing family, "timm/...py:LINE") is
              recalled when a diagnostic has that file and location.row == LINE (strict); "same statement"
              also accepts a diagnostic anywhere on the failing statement's header lines (lenient, shown
              beside it). Family recall: failing families whose failing line is recalled (strict).
   false positives (passing family = traces; output matches eager, or was too costly to check)
      by module  (the practical definition) a diagnostic not on a failing line, in timm/models/<x>.py where
                 every selected family of <x> passes: counts against those families. Diagnostics in
                 timm/layers/* and other shared files are counted separately ("layers"/"shared").
      by execution (needs the fresh ground truth) a diagnostic not on a failing line whose statement RAN while
                 a passing family traced: it counts against every such family. Lines that no selected
                 family ran are reported as "not reached by the selection" (neither hit nor false alarm).
   FP rate over families = passing families with >= 1 false positive / passing families (goal < 3 %).
   configuration variants (timm_selection.json 'variants': a selected family built with documented
              create_model keyword arguments and/or public setup calls, e.g. dynamic_img_size=True,
              set_grad_checkpointing(True); traced by timm_trace.py --variants, same protocol, cached apart in
              results/gt_variants.json, --fresh-variants re-traces only them). The default-config figures above
              never use them. They add:
      recall with variants  the default failing lines + the variants' failing lines, same strict rule.
      by module with variants  the by-module false positives minus the lines on a statement where some
              variant fails (a real configuration of that model fails there). Both by-module figures are
              reported, the default-config one labelled as the definition before variants.
      passing variants whose trace ran a flagged line (not a failing one) are listed as their false positives.
Every miss and false positive is listed as file:line, code, source line.
--merge-results stores the figures as the 'detection' section of results.json and re-renders.
"""
from __future__ import annotations

import argparse
import ast
import collections
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
from _measure import HERE, REPO, fxlint_cmd, fxlint_env, fxlint_has, log, md_table, run_measured, write_json  # noqa: E402
from timm_trace import status  # noqa: E402  (pure python, no torch import)

SELECTION = os.path.join(HERE, "timm_selection.json")
QAT_PREFIX = "TRC6"  #: rules whose hazard is QAT's fake-quant run, not tracing
BASELINE_CANDIDATES = [os.path.join(os.path.dirname(REPO), "shared", "notes", "timm_baseline", "timm_results.json"),
                       "/work/shared/notes/timm_baseline/timm_results.json"]
FP_GOAL = 0.03


# ---------------------------------------------------------------------------------------------
# ground truth

def trace_tree(venv_python, timm_root, out_json, jobs=2, timeout=90.0, coverage=True, models=None, variants=False):
    """Run timm_trace.py in the timm venv on the timm/ package under timm_root (variants: the selection's
    configuration variants instead of its models). Returns the loaded JSON."""
    cmd = [venv_python, os.path.join(HERE, "timm_trace.py"), "--timm-root", timm_root, "--out", out_json,
           "--jobs", str(jobs), "--timeout", str(timeout)]
    if not coverage:
        cmd.append("--no-coverage")
    if variants:
        cmd.append("--variants")
    if models:
        cmd += ["--models", ",".join(models)]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    log(f"[timm] tracing {timm_root} ({jobs} workers, timeout {timeout:.0f}s) ...")
    t0 = time.time()
    r = run_measured(cmd, env=env, capture=False)
    if r["rc"] != 0:
        raise RuntimeError(f"timm_trace.py failed (exit {r['rc']})")
    with open(out_json) as fh:
        d = json.load(fh)
    d["meta"]["driver_wall_s"] = round(time.time() - t0, 1)
    return d


def load_baseline():
    for p in BASELINE_CANDIDATES:
        if os.path.exists(p):
            with open(p) as fh:
                d = json.load(fh)
            return p, d
    raise FileNotFoundError("shared/notes/timm_baseline/timm_results.json not found")


def _venv_torch(info):
    """The torch version the timm venv was built with (the first word of its marker, which corpora.py writes as
    'TORCH TORCHVISION_STUB'), or None."""
    marker = os.path.join(info["cache"], "venv-timm", ".fxlint-bench-ok")
    try:
        with open(marker) as fh:
            words = fh.read().split()
    except OSError:
        return None
    return words[0] if words else None


def _gt_reusable(d, info):
    """The cached ground truth is keyed on what it depends on: timm's version and folder, the venv's torch, the
    selected families, and line coverage recorded."""
    m = d.get("meta", {})
    w = (m.get("workers") or [{}])[0]
    with open(SELECTION) as fh:
        selected = sorted(x["model"] if isinstance(x, dict) else x for x in json.load(fh)["models"])
    traced = sorted(r["model"] for r in d.get("models", []))
    return bool(m.get("coverage") and traced == selected and w.get("timm") == info["timm"]["version"]
                and w.get("torch") == _venv_torch(info) and m.get("timm_root") == info["timm"]["root"])


def ground_truth(info, mode, jobs, timeout):
    """mode: 'auto' (the cached fresh run if it matches this timm / selection, else a fresh run) | 'fresh' |
    'reuse-baseline'. The fresh run records line coverage and takes ~4.5 min on 2 cores; it depends only on
    timm, torch and the selection, so 'auto' reuses it. -> (records, meta)"""
    cache_json = os.path.join(info["cache"], "results", "gt_pristine.json")
    if mode == "reuse-baseline":
        path, d = load_baseline()
        return d["models"], {"source": "shipped baseline", "path": path, "wall_s": d["meta"].get("wall_s"),
                             "coverage": False}
    if mode == "auto" and os.path.exists(cache_json):
        with open(cache_json) as fh:
            d = json.load(fh)
        if _gt_reusable(d, info):
            return d["models"], {"source": f"fresh run of {d['meta'].get('created')}, cached", "path": cache_json,
                                 "wall_s": d["meta"].get("wall_s"), "workers": d["meta"].get("workers"),
                                 "coverage": True}
        log("[timm] cached ground truth does not match this timm/selection: tracing afresh")
    py = corpora.ensure_timm_venv(info["cache"])
    d = trace_tree(py, info["timm"]["root"], cache_json, jobs, timeout)
    return d["models"], {"source": f"fresh run of {d['meta'].get('created')}", "path": cache_json,
                         "wall_s": d["meta"].get("wall_s"), "workers": d["meta"].get("workers"), "coverage": True}


def _variant_specs():
    with open(SELECTION) as fh:
        return json.load(fh).get("variants") or []


def _variants_reusable(d, info, specs):
    """The cached variants run is keyed like the models' run, with the variant specs themselves (id, model,
    kwargs, setup) in place of the selected families."""
    m = d.get("meta", {})
    w = (m.get("workers") or [{}])[0]
    key = lambda v: json.dumps({k: v.get(k) for k in ("id", "model", "kwargs", "setup")}, sort_keys=True)  # noqa: E731
    return bool(m.get("coverage") and sorted(key(r) for r in d.get("models", [])) == sorted(key(v) for v in specs)
                and w.get("timm") == info["timm"]["version"] and w.get("torch") == _venv_torch(info)
                and m.get("timm_root") == info["timm"]["root"])


def ground_truth_variants(info, mode, jobs, timeout):
    """The configuration variants of timm_selection.json ('variants'), traced by the same worker with the same
    protocol (timm_trace.py --variants), cached apart from the models' run (results/gt_variants.json) so they
    never invalidate it. mode: 'auto' (cached run if its key holds) | 'fresh' | 'cached-only' (never trace; for
    --reuse-baseline). -> (records, meta), records None when there are none to use."""
    specs = _variant_specs()
    if not specs:
        return None, {"source": "no variants in the selection"}
    cache_json = os.path.join(info["cache"], "results", "gt_variants.json")
    if mode != "fresh" and os.path.exists(cache_json):
        with open(cache_json) as fh:
            d = json.load(fh)
        if _variants_reusable(d, info, specs):
            return d["models"], {"source": f"fresh run of {d['meta'].get('created')}, cached", "path": cache_json,
                                 "wall_s": d["meta"].get("wall_s"), "workers": d["meta"].get("workers")}
        log("[timm] cached variants run does not match this timm/selection: tracing the variants afresh")
    if mode == "cached-only":
        return None, {"source": "not traced (--reuse-baseline and no matching cached run)"}
    py = corpora.ensure_timm_venv(info["cache"])
    d = trace_tree(py, info["timm"]["root"], cache_json, jobs, timeout, variants=True)
    return d["models"], {"source": f"fresh run of {d['meta'].get('created')}", "path": cache_json,
                         "wall_s": d["meta"].get("wall_s"), "workers": d["meta"].get("workers")}


def compact_variant(r):
    """What results.json keeps of a variant record (no executed_lines)."""
    p = r.get("plain") or {}
    out = {k: r[k] for k in ("id", "model", "switch", "kwargs", "setup") if r.get(k) is not None}
    out["status"] = status(r)
    if p and not p.get("ok"):
        out.update(lib_frame=p.get("lib_frame"), error=f"{p.get('exc_type')}: {p.get('message', '')[:160]}")
    elif p.get("check") is not None:
        out["check"] = p["check"]
    for k in ("create_error", "worker_error"):
        if r.get(k):
            out[k] = r[k]
    return out


def compare_with_baseline(records):
    """Does this ground truth agree with the shipped baseline (status and failing line per model)?"""
    try:
        _, base = load_baseline()
    except FileNotFoundError:
        return None
    bm = {r["model"]: r for r in base["models"]}
    diffs = []
    for r in records:
        b = bm.get(r["model"])
        if b is None:
            diffs.append({"model": r["model"], "why": "not in baseline"})
            continue
        sa, sb = status(r), status(b)
        la = (r.get("plain") or {}).get("lib_frame")
        lb = (b.get("plain") or {}).get("lib_frame")
        if sa != sb or (sa == "fail" and la != lb):
            diffs.append({"model": r["model"], "now": [sa, la], "baseline": [sb, lb]})
    return {"n_compared": len(records), "n_differ": len(diffs), "differences": diffs}


# ---------------------------------------------------------------------------------------------
# fxlint check

def run_check(timm_root, timeout=1800.0, cache_dir=None):
    """Cold `fxlint check --format json` of timm/ (cwd = timm_root). With cache_dir (an empty folder) the run
    writes its cache there (so bench_speed can time a warm re-run without a filling run of its own)."""
    env = fxlint_env()
    if cache_dir:
        has_flag = "--cache-dir" in fxlint_has("check")[1]
        cache_args = ["--cache-dir", cache_dir] if has_flag else []
        if not has_flag:
            env["FXLINT_CACHE_DIR"] = cache_dir
    else:
        cache_args = ["--no-cache"]
    cmd = fxlint_cmd("check", "--format", "json", *cache_args, "--exit-zero", "timm")
    log("[timm] " + " ".join(cmd[2:]))
    r = run_measured(cmd, env=env, cwd=timm_root, timeout=timeout)
    meta = {k: r[k] for k in ("rc", "wall_s", "cpu_s", "peak_mib")}
    if r.get("timeout"):
        raise RuntimeError(f"fxlint check timed out after {timeout:.0f} s")
    if r["rc"] not in (0, 1):
        raise RuntimeError(f"fxlint check exit {r['rc']}: {r['stderr'][-1500:]}")
    try:
        diags = json.loads(r["stdout"] or "[]")
    except json.JSONDecodeError as e:
        raise RuntimeError(f"fxlint check --format json printed no JSON ({e}): {r['stdout'][:300]!r}")
    meta["n_diagnostics"] = len(diags)
    meta["stderr_tail"] = r["stderr"][-500:]
    return diags, meta


def rel_file(filename, timm_root):
    p = filename if os.path.isabs(filename) else os.path.join(timm_root, filename)
    return os.path.relpath(os.path.abspath(p), timm_root)


# ---------------------------------------------------------------------------------------------
# source helpers

class SourceIndex:
    """Per file: source lines, and each line's statement 'header' range (the lines of a simple statement;
    for a compound one, the lines before its body)."""

    def __init__(self, root):
        self.root = root
        self._lines = {}
        self._stmt = {}

    def lines(self, rel):
        if rel not in self._lines:
            try:
                with open(os.path.join(self.root, rel), encoding="utf-8") as fh:
                    self._lines[rel] = fh.read().splitlines()
            except OSError:
                self._lines[rel] = []
        return self._lines[rel]

    def source(self, rel, row):
        ls = self.lines(rel)
        return ls[row - 1].strip() if 0 < row <= len(ls) else ""

    def stmt_range(self, rel, row):
        if rel not in self._stmt:
            m = {}
            try:
                tree = ast.parse("\n".join(self.lines(rel)))
            except SyntaxError:
                tree = None
            if tree is not None:
                for node in ast.walk(tree):
                    if not isinstance(node, ast.stmt):
                        continue
                    body = getattr(node, "body", None)
                    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                        end = max(node.lineno, body[0].lineno - 1)
                    else:
                        end = node.end_lineno or node.lineno
                    for ln in range(node.lineno, end + 1):
                        cur = m.get(ln)
                        if cur is None or (end - node.lineno) < (cur[1] - cur[0]):
                            m[ln] = (node.lineno, end)
            self._stmt[rel] = m
        return self._stmt[rel].get(row, (row, row))

    def function_of(self, rel, row):
        """(name, start, end) of the innermost def containing row."""
        key = ("fn", rel)
        if key not in self._stmt:
            fns = []
            try:
                tree = ast.parse("\n".join(self.lines(rel)))
                for node in ast.walk(tree):
                    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                        fns.append((node.name, node.lineno, node.end_lineno))
            except SyntaxError:
                pass
            self._stmt[key] = fns
        best = None
        for name, a, b in self._stmt[key]:
            if a <= row <= b and (best is None or b - a < best[2] - best[1]):
                best = (name, a, b)
        return best


# ---------------------------------------------------------------------------------------------
# scoring

def _bucket(rel):
    if rel.startswith("timm/models/") and rel.count("/") == 2:
        mod = os.path.splitext(os.path.basename(rel))[0]
        return "model", mod
    if rel.startswith("timm/layers/"):
        return "layers", None
    return "shared", None


def evaluate(records, diags, timm_root, coverage, variants=None):
    """variants: the configuration variants' records (or None). They never change the default-config figures;
    they add recall over their failing lines and the by-module false positives under the variant definition."""
    src = SourceIndex(timm_root)
    fams_by_module = collections.defaultdict(list)
    st = {}
    for r in records:
        fams_by_module[r.get("module")].append(r["model"])
        st[r["model"]] = status(r)
    passing = [m for m, s in st.items() if s == "pass"]
    failing = [m for m, s in st.items() if s == "fail"]
    mismatching = [m for m, s in st.items() if s == "mismatch"]

    # diagnostics by file:row
    by_key = collections.defaultdict(list)
    for d in diags:
        rel = rel_file(d.get("filename", ""), timm_root)
        row = (d.get("location") or {}).get("row")
        by_key[(rel, row)].append(d)
    rows_by_file = collections.defaultdict(set)
    for rel, row in by_key:
        rows_by_file[rel].add(row)

    # ---- recall
    fail_lines = collections.OrderedDict()
    for r in sorted(records, key=lambda r: (r.get("plain") or {}).get("lib_frame") or ""):
        if st[r["model"]] != "fail":
            continue
        lf = r["plain"].get("lib_frame")
        if lf:
            fail_lines.setdefault(lf, []).append(r["model"])

    def line_entry(lf, models):
        rel, ln = lf.rsplit(":", 1)
        ln = int(ln)
        a, b = src.stmt_range(rel, ln)
        strict = by_key.get((rel, ln), [])
        lenient = [d for row in range(a, b + 1) for d in by_key.get((rel, row), [])]
        fn = src.function_of(rel, ln)
        near = []
        if not strict and fn:
            near = sorted({(row, d["code"]) for (f, row), ds in by_key.items() if f == rel and fn[1] <= row <= fn[2]
                           for d in ds})
        return {"line": lf, "source": src.source(rel, ln), "families": models,
                "flagged": bool(strict), "flagged_same_statement": bool(lenient),
                "codes": sorted({d["code"] for d in strict}) or sorted({d["code"] for d in lenient}),
                "function": fn[0] if fn else None,
                "diagnostics_in_same_function": [f"{row}:{c}" for row, c in near][:12]}

    lines_report = [line_entry(lf, models) for lf, models in fail_lines.items()]
    n_lines = len(lines_report)
    hit = sum(1 for x in lines_report if x["flagged"])
    hit_len = sum(1 for x in lines_report if x["flagged_same_statement"])
    fam_hit = sum(len(x["families"]) for x in lines_report if x["flagged"])
    tp_keys = set()
    for x in lines_report:
        rel, ln = x["line"].rsplit(":", 1)
        a, b = src.stmt_range(rel, int(ln))
        for row in range(a, b + 1):
            if (rel, row) in by_key:
                tp_keys.add((rel, row))

    # ---- configuration variants: their failing lines, and the diagnostic rows on those lines' statements
    var_st = {v["id"]: status(v) for v in variants or []}
    var_fail_lines = collections.OrderedDict()
    for v in sorted(variants or [], key=lambda v: (v.get("plain") or {}).get("lib_frame") or ""):
        lf = (v.get("plain") or {}).get("lib_frame")
        if var_st[v["id"]] == "fail" and lf:
            var_fail_lines.setdefault(lf, []).append(v["id"])
    var_keys = collections.defaultdict(list)  # (rel, row) -> ids of variants failing on that statement
    for lf, ids in var_fail_lines.items():
        rel, ln = lf.rsplit(":", 1)
        a, b = src.stmt_range(rel, int(ln))
        for row in range(a, b + 1):
            var_keys[(rel, row)] += ids

    # ---- executed statements (fresh ground truth only)
    executed = {}  # model -> {rel: set(lines)}
    if coverage:
        for r in records:
            if r.get("executed_lines") is not None:
                executed[r["model"]] = {f: set(ls) for f, ls in r["executed_lines"].items()}

    def ran_in(model, rel, row):
        ex = executed.get(model, {}).get(rel)
        if not ex:
            return False
        a, b = src.stmt_range(rel, row)
        return any(x in ex for x in range(a, b + 1))

    # ---- false positives
    other = []
    for (rel, row), ds in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if (rel, row) in tp_keys:
            continue
        kind, mod = _bucket(rel)
        fams = fams_by_module.get(mod, []) if kind == "model" else []
        if kind == "model" and not fams:
            kind = "shared"  # a model-support file (_builder.py, ...) or a module with no selected family
        if kind == "model":
            mod_class = "all_pass" if all(st[f] == "pass" for f in fams) else "has_failing"
        else:
            mod_class = kind
        entry = {"line": f"{rel}:{row}", "codes": sorted({d["code"] for d in ds}), "source": src.source(rel, row),
                 "message": (ds[0].get("message") or "")[:160], "bucket": kind, "module_class": mod_class,
                 "module_families": fams}
        if coverage:
            ran = [m for m in executed if ran_in(m, rel, row)]
            entry["ran_in_passing"] = [m for m in ran if st[m] == "pass"]
            entry["ran_in_failing"] = [m for m in ran if st[m] != "pass"]
        entry["module_families"] = fams
        if var_keys.get((rel, row)):   # only on lines where a variant fails (keeps results.json short)
            entry["variant_fails_here"] = var_keys[(rel, row)]
        other.append(entry)

    by_module_fp = [e for e in other if e["module_class"] == "all_pass"]
    by_module_fams = sorted({f for e in by_module_fp for f in e["module_families"]})
    report = {
        "n_families": len(records), "n_passing": len(passing), "n_failing": len(failing),
        "n_mismatch": len(mismatching), "mismatching": mismatching,
        "n_diagnostics": len(diags), "n_flagged_lines": len(by_key),
        "codes": dict(collections.Counter(d["code"] for d in diags).most_common()),
        "recall": {"failing_lines": n_lines, "flagged": hit, "flagged_same_statement": hit_len,
                   "rate": round(hit / n_lines, 4) if n_lines else None,
                   "failing_families": len(failing), "families_flagged": fam_hit,
                   "lines": lines_report, "misses": [x for x in lines_report if not x["flagged"]]},
        "true_positive_lines": len(tp_keys),
        "false_positives_by_module": {
            "lines": len(by_module_fp),
            "modules": sorted({e["line"].split(":")[0] for e in by_module_fp}),
            "families": by_module_fams, "n_families": len(by_module_fams),
            "rate_over_passing_families": round(len(by_module_fams) / len(passing), 4) if passing else None,
            "layers_lines": sum(1 for e in other if e["bucket"] == "layers"),
            "shared_lines": sum(1 for e in other if e["bucket"] == "shared"),
            "lines_in_modules_with_a_failing_family": sum(1 for e in other if e["module_class"] == "has_failing"),
        },
        "other_diagnostics": other,
    }
    if variants is not None:
        # recall over the default failing lines and the variants' failing lines together
        all_lines = [dict(x, variants=var_fail_lines.get(x["line"], [])) for x in lines_report]
        all_lines += [dict(line_entry(lf, []), variants=ids) for lf, ids in var_fail_lines.items()
                      if lf not in fail_lines]
        v_hit = sum(1 for x in all_lines if x["flagged"])
        failing_vars = [i for i, s_ in var_st.items() if s_ == "fail"]
        var_flagged = sum(len(x["variants"]) for x in all_lines if x["flagged"])
        report["recall_with_variants"] = {
            "failing_lines": len(all_lines), "flagged": v_hit,
            "flagged_same_statement": sum(1 for x in all_lines if x["flagged_same_statement"]),
            "rate": round(v_hit / len(all_lines), 4) if all_lines else None,
            "lines_only_variants_fail": [x for x in all_lines if not x["families"]],
            "variant_lines": [{"line": x["line"], "source": x["source"], "flagged": x["flagged"], "codes": x["codes"],
                               "default_configs_fail_here": bool(x["families"]), "n_variants": len(x["variants"]),
                               "variants": x["variants"][:5]} for x in all_lines if x["variants"]],
            "failing_variants": len(failing_vars), "variants_flagged": var_flagged,
            "misses": [x for x in all_lines if not x["flagged"]]}
        # by module, new definition: a line where a configuration variant fails is not a false positive
        fp_new = [e for e in by_module_fp if not e.get("variant_fails_here")]
        fams_new = sorted({f for e in fp_new for f in e["module_families"]})
        report["false_positives_by_module_with_variants"] = {
            "definition": "as false_positives_by_module, except a flagged line on the statement where a "
                          "configuration variant of a family fails is not a false positive",
            "lines": len(fp_new), "modules": sorted({e["line"].split(":")[0] for e in fp_new}),
            "families": fams_new, "n_families": len(fams_new),
            "rate_over_passing_families": round(len(fams_new) / len(passing), 4) if passing else None,
            "lines_where_a_variant_fails": [{"line": e["line"], "codes": e["codes"], "variants": e["variant_fails_here"][:5]}
                                            for e in by_module_fp if e.get("variant_fails_here")]}
        # passing variants: a flagged line (not on any failing statement) that ran while one traced
        var_pass = [v for v in variants if var_st[v["id"]] == "pass"]
        var_exec_fp = []
        if coverage:
            for v in var_pass:
                ex = {f: set(ls) for f, ls in (v.get("executed_lines") or {}).items()}
                for e in other:
                    if e.get("variant_fails_here"):
                        continue
                    rel, row = e["line"].rsplit(":", 1)
                    a, b = src.stmt_range(rel, int(row))
                    if any(x in ex.get(rel, ()) for x in range(a, b + 1)):
                        var_exec_fp.append({"variant": v["id"], "line": e["line"], "codes": e["codes"]})
        by_switch = collections.defaultdict(collections.Counter)
        for v in variants:
            by_switch[v.get("switch") or "-"][var_st[v["id"]]] += 1
        report["variants"] = {
            "n": len(var_st), "pass": len(var_pass), "fail": len(failing_vars),
            "other": sorted(i for i, s_ in var_st.items() if s_ not in ("pass", "fail")),
            "by_switch": {k: dict(c, n=sum(c.values())) for k, c in sorted(by_switch.items())},
            "records_not_passing": [compact_variant(v) for v in variants if var_st[v["id"]] != "pass"],
            "false_positives_by_execution_in_passing_variants": var_exec_fp}
    if coverage:
        fp_exec = [e for e in other if e["ran_in_passing"]]
        fams = sorted({m for e in fp_exec for m in e["ran_in_passing"]})
        report["false_positives_by_execution"] = {
            "lines": len(fp_exec),
            "modules": sorted({e["line"].split(":")[0] for e in fp_exec}),
            "families": fams, "n_families": len(fams),
            "rate_over_passing_families": round(len(fams) / len(passing), 4) if passing else None,
            "ran_only_in_failing_families": sum(1 for e in other if not e["ran_in_passing"] and e["ran_in_failing"]),
            "not_reached_by_selection": sum(1 for e in other if not e["ran_in_passing"] and not e["ran_in_failing"]),
            "codes": dict(collections.Counter(c for e in fp_exec for c in e["codes"]).most_common()),
        }
    return report


# ---------------------------------------------------------------------------------------------
# output

def markdown(res):
    out = []
    gt = res["ground_truth"]
    s = gt["summary"]
    if res.get("measured_alone"):
        ma = res["measured_alone"]
        out.append(f"_Measured alone {ma['date']} at fxlint {ma['fxlint_git']}: `{ma['command'].strip()}` "
                   f"(the other sections are from the run above)._")
        out.append("")
    out.append(f"Ground truth ({gt['meta']['source']}, {gt['meta'].get('wall_s')} s): {s['n_models']} families, "
               f"{s['pass']} trace and match eager ({s['pass_output_checked']} checked, the rest too costly to run), "
               f"{s['mismatch']} trace but differ from eager, {s['fail']} fail at "
               f"{s['distinct_failing_lines']} distinct source lines."
               + (f" Agrees with the shipped baseline on {gt['baseline_agreement']['n_compared'] - gt['baseline_agreement']['n_differ']}"
                  f"/{gt['baseline_agreement']['n_compared']} families." if gt.get("baseline_agreement") else ""))
    vm = gt.get("variants_meta")
    if gt.get("variants_summary"):
        vs = gt["variants_summary"]
        out.append("")
        out.append(f"Configuration variants (`timm_selection.json` → `variants`, {vm['source']}): {vs['n_models']} "
                   f"documented configurations of selected families, traced the same way: {vs['pass']} trace and "
                   f"match eager, {vs['mismatch']} differ from eager, {vs['fail']} fail at "
                   f"{vs['distinct_failing_lines']} distinct lines. They add failing lines to recall; they never "
                   f"change the default-config figures.")
    elif vm:
        out.append("")
        out.append(f"Configuration variants: {vm['source']}.")
    if "evaluation" not in res:
        out.append("")
        out.append(f"_fxlint check not evaluated: {res.get('check_error', 'not available')}_")
        return "\n".join(out)
    ev = res["evaluation"]
    rc = ev["recall"]
    fm = ev["false_positives_by_module"]
    fe = ev.get("false_positives_by_execution")
    rows = [["failing lines flagged (strict: same file, same row)", f"{rc['flagged']}/{rc['failing_lines']}"],
            ["failing lines flagged on the same statement", f"{rc['flagged_same_statement']}/{rc['failing_lines']}"],
            ["failing families whose line is flagged", f"{rc['families_flagged']}/{rc['failing_families']}"],
            ["diagnostics / flagged lines on timm", f"{ev['n_diagnostics']} / {ev['n_flagged_lines']}"],
            ["false positives by module (default configs only; the definition before variants): lines / modules / "
             "families",
             f"{fm['lines']} / {len(fm['modules'])} / {fm['n_families']} of {ev['n_passing']} "
             f"({100 * (fm['rate_over_passing_families'] or 0):.1f} %)"],
            ["other lines in timm/layers / shared files / modules with a failing family",
             f"{fm['layers_lines']} / {fm['shared_lines']} / {fm['lines_in_modules_with_a_failing_family']}"]]
    rv, fv = ev.get("recall_with_variants"), ev.get("false_positives_by_module_with_variants")
    if rv:
        rows.insert(3, ["failing lines flagged, default configs + configuration variants (strict)",
                        f"{rv['flagged']}/{rv['failing_lines']} ({rv['variants_flagged']}/{rv['failing_variants']} "
                        f"failing variants' lines flagged)"])
    if fv:
        rows.append(["false positives by module, not counting a line where a configuration variant fails: lines / "
                     "modules / families",
                     f"{fv['lines']} / {len(fv['modules'])} / {fv['n_families']} of {ev['n_passing']} "
                     f"({100 * (fv['rate_over_passing_families'] or 0):.1f} %)"])
    if fe:
        rows.append(["false positives by execution: lines / modules / families",
                     f"{fe['lines']} / {len(fe['modules'])} / {fe['n_families']} of {ev['n_passing']} "
                     f"({100 * (fe['rate_over_passing_families'] or 0):.1f} %; goal < {100 * FP_GOAL:.0f} %)"])
        rows.append(["flagged lines run only by failing families / not reached by the selection",
                     f"{fe['ran_only_in_failing_families']} / {fe['not_reached_by_selection']}"])
    ck = res.get("check_run", {})
    rows.append(["`fxlint check --format json timm` (cold, default jobs) wall / CPU / peak",
                 f"{ck.get('wall_s')} s / {ck.get('cpu_s')} s / {ck.get('peak_mib')} MiB"])
    out.append("")
    out.append(md_table(["timm 1.0.31 detection", "value"], rows))
    var = ev.get("variants")
    if var:
        out.append("")
        out.append("Configuration variants by switch (each applied to every selected family that accepts it): "
                   + "; ".join(f"`{sw}` {c['n']}: {c.get('pass', 0)} pass, {c.get('fail', 0)} fail"
                               + (f", {c['mismatch']} differ from eager" if c.get("mismatch") else "")
                               + (f", {c['error']} error" if c.get("error") else "")
                               for sw, c in var["by_switch"].items())
                   + ". Lines where a variant fails:")
        for x in rv["variant_lines"]:
            who = ", ".join(x["variants"][:3]) + ("…" if x["n_variants"] > 3 else "")
            out.append(f"- `{x['line']}` `{x['source'][:90]}` {'flagged ' + ','.join(x['codes']) if x['flagged'] else '**not flagged**'}"
                       f"; {'default configs fail here too' if x['default_configs_fail_here'] else 'only variants fail here'}"
                       f" ({x['n_variants']} variant{'s' if x['n_variants'] != 1 else ''}: {who})")
        if var.get("false_positives_by_execution_in_passing_variants"):
            fpv = var["false_positives_by_execution_in_passing_variants"]
            out.append("")
            out.append(f"Passing variants whose trace ran a flagged line (not a failing one): {len(fpv)} (variant, line): "
                       + ", ".join(f"{x['variant']} `{x['line']}`" for x in fpv[:10]) + ("…" if len(fpv) > 10 else ""))
        if fv:
            out.append("")
            out.append("Flagged lines in modules whose default-config families all pass, on which a variant fails (so not "
                       "false positives by module once variants count): "
                       + (", ".join(f"`{x['line']}` {','.join(x['codes'])}" for x in fv["lines_where_a_variant_fails"])
                          or "none")
                       + ". Still false positives by module: "
                       + (", ".join(f"`{e['line']}` {','.join(e['codes'])} `{e['source'][:80]}`"
                                    for e in ev["other_diagnostics"]
                                    if e["module_class"] == "all_pass" and not e.get("variant_fails_here")) or "none")
                       + ".")
    misses = rc["misses"] + [x for x in (rv or {}).get("misses", []) if not x["families"]]
    if misses:
        out.append("")
        out.append("Misses (failing line not flagged):")
        for x in misses:
            near = f" — nearby in `{x['function']}`: {', '.join(x['diagnostics_in_same_function'])}" \
                if x["diagnostics_in_same_function"] else ""
            who = x["families"] or x.get("variants", [])
            out.append(f"- `{x['line']}` `{x['source'][:110]}` ({', '.join(who[:3])}"
                       f"{'…' if len(who) > 3 else ''}){near}")
    fps = [e for e in ev["other_diagnostics"] if (e.get("ran_in_passing") if fe else e["module_class"] == "all_pass")]
    if fps:
        out.append("")
        out.append(f"False positives ({'ran while a passing family traced' if fe else 'in modules whose families all pass'}):")
        for e in fps:
            who = e.get("ran_in_passing") if fe else e["module_families"]
            out.append(f"- `{e['line']}` {','.join(e['codes'])} `{e['source'][:100]}` "
                       f"({len(who)} families: {', '.join(who[:3])}{'…' if len(who) > 3 else ''})")
    return "\n".join(out)


def run(info, gt_mode="auto", jobs=2, timeout=90.0, cache_dir=None, fresh_variants=False):
    """fresh_variants: re-trace the configuration variants even when their cached run holds (gt_mode 'fresh'
    re-traces them too)."""
    res = {}
    records, meta = ground_truth(info, gt_mode, jobs, timeout)
    vmode = ("fresh" if fresh_variants or gt_mode == "fresh" else
             "cached-only" if gt_mode == "reuse-baseline" else "auto")
    var_records, var_meta = ground_truth_variants(info, vmode, jobs, timeout)
    from timm_trace import summarize

    summ = summarize(records)
    res["ground_truth"] = {"meta": meta, "summary": summ,
                           "baseline_agreement": compare_with_baseline(records) if meta["source"] != "shipped baseline"
                           else None,
                           "variants_meta": var_meta,
                           "variants_summary": summarize(var_records) if var_records else None}
    ok, err = fxlint_has("check")
    if not ok:
        log("[timm] `fxlint check` is not available yet: ground truth only")
        res["check_error"] = "fxlint check not available: " + err.strip().splitlines()[-1][:200] if err.strip() else ""
        return res
    try:
        diags, cmeta = run_check(info["timm"]["root"], cache_dir=cache_dir)
        cmeta["cache"] = "written to a fresh folder (cold run)" if cache_dir else "--no-cache"
    except RuntimeError as e:
        res["check_error"] = str(e)[:2000]
        log(f"[timm] {e}")
        return res
    res["check_run"] = cmeta
    # QAT rules (TRC6xx: code that traces but crashes prepare_qat_fx's fake-quant run) are not judged here:
    # plain symbolic_trace is this ground truth, so they would count as false alarms in families that trace.
    # Their lines are listed apart.
    qat = [d for d in diags if d.get("code", "").startswith(QAT_PREFIX)]
    res["qat_findings_not_judged"] = sorted(f"{rel_file(d.get('filename', ''), info['timm']['root'])}:"
                                            f"{(d.get('location') or {}).get('row')} {d['code']}" for d in qat)
    diags = [d for d in diags if d not in qat]
    res["evaluation"] = evaluate(records, diags, info["timm"]["root"], meta["coverage"], var_records)
    return res


def compact(det):
    """results.json keeps counts and short lists; the full per-diagnostic lists stay in the cache."""
    ev = det.get("evaluation")
    if not ev:
        return det
    det = json.loads(json.dumps(det))
    ev = det["evaluation"]
    for e in ev.get("other_diagnostics", []):
        for k in ("ran_in_passing", "ran_in_failing", "module_families", "variant_fails_here"):
            if k in e:
                e[f"n_{k}"] = len(e[k])
                e[k] = e[k][:5]
    return det


def merge_into_results(det, path=os.path.join(HERE, "results.json")):
    """A lone run's figures as the 'detection' section of results.json (the other sections kept), stamped with
    its date, command and fxlint revision; results.md and README.md's section re-rendered (report.py)."""
    import datetime

    import report
    from _measure import git_rev

    with open(path) as fh:
        res = json.load(fh)
    det = compact(det)
    det["measured_alone"] = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                             "fxlint_git": git_rev(), "command": " ".join(["python tests/benchmarks/bench_timm.py"] + sys.argv[1:])}
    res["detection"] = det
    write_json(path, res)
    with open(os.path.join(HERE, "results.md"), "w") as fh:
        fh.write(report.full_markdown(res) + "\n")
    report.splice_readme(res)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--reuse-baseline", action="store_true", help="ground truth = the shipped timm_results.json")
    g.add_argument("--fresh-gt", action="store_true",
                   help="trace afresh even when a cached fresh ground truth exists (~4.5 min)")
    ap.add_argument("--fresh-variants", action="store_true",
                    help="re-trace the configuration variants (timm_selection.json 'variants') even when cached")
    ap.add_argument("--merge-results", action="store_true",
                    help="store as the 'detection' section of tests/benchmarks/results.json (the rest kept, stamped "
                         "with this run's date and fxlint revision) and re-render results.md and the README section")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--cache", help="corpus cache folder")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    info = corpora.get_all(corpora.cache_dir(args.cache))
    mode = "reuse-baseline" if args.reuse_baseline else "fresh" if args.fresh_gt else "auto"
    t0 = time.time()
    res = run(info, mode, args.jobs, args.timeout, fresh_variants=args.fresh_variants)
    res["wall_s"] = round(time.time() - t0, 1)
    if args.out:
        write_json(args.out, res)
    if args.merge_results:
        merge_into_results(res)
    print(markdown(res))


if __name__ == "__main__":
    main()
