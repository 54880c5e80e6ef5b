"""Fix quality of `fxlint fix` on timm 1.0.31: do the rewritten models trace, and still match eager?

usage: python tests/benchmarks/bench_fix.py [--variants safe,unsafe] [--jobs 2] [--timeout 90] [--out FILE.json]

For each variant (safe = `fxlint fix --apply`, unsafe = `fxlint fix --apply --unsafe-fixes`):
  1. copy the pristine timm/ package to a temporary folder and run the fixer on the copy (cwd = copy root);
     the fixer is one process, so the variants' fixes run side by side (one per core; their wall times are
     marked so);
  2. count what changed: files, diff lines, hoists (`fx.wrap` occurrences added, decorators and calls), and
     check every changed file still parses;
  3. re-trace every family from the copy with plain `symbolic_trace` (timm_trace.py in the timm venv) and
     compare with the pristine ground truth (bench_timm's fresh run, cached; made if missing):
     previously failing families that now trace and match eager, previously passing families that still do
     (must be all), and the quantization coverage change (share of Conv/Linear weights that are call_module
     nodes of the traced graphs, over all families; a failing family counts 0);
  4. run `fxlint check` on the copy: diagnostics left.
When `fxlint fix` does not exist yet, the script says so and exits 0 (section skipped).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import difflib
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
from _measure import fxlint_cmd, fxlint_env, fxlint_has, log, md_table, run_measured, write_json  # noqa: E402
from bench_timm import trace_tree  # noqa: E402
from timm_trace import status, summarize  # noqa: E402

VARIANTS = {"safe": ["--apply"], "unsafe": ["--apply", "--unsafe-fixes"]}
WRAP_RE = re.compile(r"\b(?:torch\.)?fx\.wrap\b|^\s*@wrap\b", re.M)
WRAP_DECO_RE = re.compile(r"^\s*@(?:torch\.)?fx\.wrap\b|^\s*@wrap\b", re.M)


def pristine_ground_truth(info, jobs, timeout):
    path = os.path.join(info["cache"], "results", "gt_pristine.json")
    if os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return trace_tree(corpora.ensure_timm_venv(info["cache"]), info["timm"]["root"], path, jobs, timeout)


def diff_trees(orig_root, new_root):
    changed, diff_lines, wraps, deco, unparsable = [], 0, 0, 0, []
    for f in corpora.py_files(os.path.join(new_root, "timm")):
        rel = os.path.relpath(f, new_root)
        o = os.path.join(orig_root, rel)
        with open(f, encoding="utf-8", errors="replace") as fh:
            new = fh.read()
        old = ""
        if os.path.exists(o):
            with open(o, encoding="utf-8", errors="replace") as fh:
                old = fh.read()
        if new == old:
            continue
        changed.append(rel)
        diff_lines += sum(1 for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
                          if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
        wraps += len(WRAP_RE.findall(new)) - len(WRAP_RE.findall(old))
        deco += len(WRAP_DECO_RE.findall(new)) - len(WRAP_DECO_RE.findall(old))
        try:
            ast.parse(new)
        except SyntaxError as e:
            unparsable.append(f"{rel}:{e.lineno}: {e.msg}")
    return {"files_changed": len(changed), "changed": changed, "diff_lines": diff_lines,
            "fx_wrap_added": wraps, "fx_wrap_decorators_added": deco, "unparsable_after_fix": unparsable}


def compare(pristine, fixed):
    before = {r["model"]: r for r in pristine["models"]}
    after = {r["model"]: r for r in fixed["models"]}
    was_fail = [m for m, r in before.items() if status(r) != "pass"]
    was_pass = [m for m, r in before.items() if status(r) == "pass"]
    now_pass = [m for m in was_fail if m in after and status(after[m]) == "pass"]
    now_pass_checked = [m for m in now_pass if (after[m]["plain"].get("check") or {}).get("match")]
    still = [m for m in was_pass if m in after and status(after[m]) == "pass"]
    regress = {m: (status(after[m]) if m in after else "missing",
                   (after.get(m, {}).get("plain") or {}).get("lib_frame") or after.get(m, {}).get("worker_error"))
               for m in was_pass if m not in still}
    still_fail = {m: (after[m].get("plain") or {}).get("lib_frame") or after[m].get("worker_error")
                  for m in was_fail if m in after and m not in now_pass}
    sb, sa = summarize(pristine["models"]), summarize(fixed["models"])
    return {"previously_failing": len(was_fail), "now_trace_and_match": len(now_pass),
            "now_trace_output_checked_match": len(now_pass_checked), "now_pass": now_pass,
            "still_failing": still_fail,
            "previously_passing": len(was_pass), "still_pass": len(still), "regressions": regress,
            "quant_coverage_before": sb.get("quant_coverage"), "quant_coverage_after": sa.get("quant_coverage"),
            "quant_coverage_change": None if sb.get("quant_coverage") is None or sa.get("quant_coverage") is None
            else round(sa["quant_coverage"] - sb["quant_coverage"], 4),
            "wrapped_timm_fn_calls_after": sum((r.get("plain") or {}).get("n_wrapped_timm_fn_calls") or 0
                                               for r in fixed["models"]),
            "wrapped_timm_fn_calls_before": sum((r.get("plain") or {}).get("n_wrapped_timm_fn_calls") or 0
                                                for r in pristine["models"])}


def apply_fix(info, name, flags):
    """Copy the pristine timm/ package to a temporary folder and run the fixer on the copy (cwd = copy root).
    -> (work folder, result dict)"""
    work = tempfile.mkdtemp(prefix=f"fxlint-bench-fix-{name}-")
    res = {"flags": flags}
    shutil.copytree(os.path.join(info["timm"]["root"], "timm"), os.path.join(work, "timm"))
    cmd = fxlint_cmd("fix", *flags, "timm")
    log(f"[fix] {name}: {' '.join(cmd[2:])} (in a copy: {work})")
    r = run_measured(cmd, env=fxlint_env(), cwd=work)
    res["fix_run"] = {k: r[k] for k in ("rc", "wall_s", "cpu_s", "peak_mib")}
    res["fix_run"]["stdout_tail"] = r["stdout"][-1500:]
    res["fix_run"]["stderr_tail"] = r["stderr"][-1500:]
    log(f"[fix] {name}: fixer done: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU, rc {r['rc']}")
    if r["rc"] not in (0, 1):
        res["error"] = f"fxlint fix exit {r['rc']}"
    return work, res


def evaluate_variant(info, name, work, res, pristine, jobs, timeout):
    """What the fixer changed in the copy, the diagnostics left, and the re-trace of every family from it."""
    res["changes"] = diff_trees(info["timm"]["root"], work)
    chk = run_measured(fxlint_cmd("check", "--format", "json", "--no-cache", "--exit-zero", "timm"),
                       env=fxlint_env(), cwd=work)
    try:
        res["diagnostics_left"] = len(json.loads(chk["stdout"] or "[]"))
    except json.JSONDecodeError:
        res["diagnostics_left"] = None
    fixed = trace_tree(corpora.ensure_timm_venv(info["cache"]), work,
                       os.path.join(info["cache"], "results", f"gt_fixed_{name}.json"), jobs, timeout,
                       coverage=False)
    res["retrace"] = compare(pristine, fixed)
    res["retrace_wall_s"] = fixed["meta"].get("wall_s")
    log(f"[fix] {name}: re-trace done: {res['retrace_wall_s']} s; {res['retrace']['now_trace_and_match']}/"
        f"{res['retrace']['previously_failing']} failing now pass, {res['retrace']['still_pass']}/"
        f"{res['retrace']['previously_passing']} passing still pass")
    return res


def run(info, variants=("safe", "unsafe"), jobs=2, timeout=90.0, keep=False):
    """The fixer runs are single-process, so the variants' fixes run side by side (one per core); the
    re-traces (2 worker processes each) then run one variant after the other."""
    ok, err = fxlint_has("fix")
    if not ok:
        msg = "`fxlint fix` does not exist yet: fix-quality section skipped"
        log(f"[fix] {msg}")
        return {"skipped": msg}
    pristine = pristine_ground_truth(info, jobs, timeout)
    res = {"pristine": {k: v for k, v in summarize(pristine["models"]).items() if k != "failing_lines"},
           "variants": {}, "fix_runs_side_by_side": len(variants) > 1}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(variants)) as pool:
        futures = {v: pool.submit(apply_fix, info, v, VARIANTS[v]) for v in variants}
        applied = {v: f.result() for v, f in futures.items()}
    try:
        for v in variants:
            work, vres = applied[v]
            if "error" not in vres:
                evaluate_variant(info, v, work, vres, pristine, jobs, timeout)
            if keep:
                vres["kept_copy"] = work
            res["variants"][v] = vres
    finally:
        if not keep:
            for work, _ in applied.values():
                shutil.rmtree(work, ignore_errors=True)
    return res


def markdown(res):
    if res.get("skipped"):
        return f"_{res['skipped']}._"
    rows = []
    for name, v in res["variants"].items():
        if v.get("error"):
            rows.append([name, v["error"]] + [""] * 6)
            continue
        c, t = v["changes"], v["retrace"]
        rows.append([f"{name} (`fix {' '.join(v['flags'])}`)",
                     f"{c['files_changed']} files / {c['diff_lines']} lines",
                     f"{c['fx_wrap_added']} ({c['fx_wrap_decorators_added']} decorators)",
                     f"{t['now_trace_and_match']}/{t['previously_failing']} "
                     f"({t['now_trace_output_checked_match']} checked against eager)",
                     f"{t['still_pass']}/{t['previously_passing']}",
                     f"{t['quant_coverage_before']:.3f} → {t['quant_coverage_after']:.3f}"
                     if t["quant_coverage_before"] is not None and t["quant_coverage_after"] is not None else "–",
                     str(v.get("diagnostics_left")), f"{v['fix_run']['wall_s']:.1f}"])
    fix_wall = "fix wall s" + (" (variants side by side)" if res.get("fix_runs_side_by_side") else "")
    out = [md_table(["variant", "changed", "hoists (fx.wrap added)", "failing families now trace + match eager",
                     "passing families still pass", "quant coverage", "diagnostics left", fix_wall], rows)]
    for name, v in res["variants"].items():
        t = v.get("retrace") or {}
        if t.get("regressions"):
            out.append(f"\n{name}: REGRESSIONS (passed before, not now): "
                       + "; ".join(f"{m} {s}" for m, s in t["regressions"].items()))
        if t.get("still_failing"):
            out.append(f"\n{name}: still failing: " + "; ".join(f"{m} at {s}" for m, s in t["still_failing"].items()))
        if (v.get("changes") or {}).get("unparsable_after_fix"):
            out.append(f"\n{name}: files that no longer parse: {v['changes']['unparsable_after_fix']}")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="safe,unsafe")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--keep", action="store_true", help="keep the fixed copies (their paths are printed)")
    ap.add_argument("--cache", help="corpus cache folder")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    info = corpora.get_all(corpora.cache_dir(args.cache))
    t0 = time.time()
    res = run(info, args.variants.split(","), args.jobs, args.timeout, args.keep)
    res["wall_s"] = round(time.time() - t0, 1)
    if args.out:
        write_json(args.out, res)
    print(markdown(res))


if __name__ == "__main__":
    main()
