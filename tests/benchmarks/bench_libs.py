"""fxlint on two more real model libraries (MONAI, x-transformers): detection and the fix's eager gate.

usage: python tests/benchmarks/bench_libs.py [--libs monai,x_transformers] [--jobs 2] [--timeout 180]
                                             [--fix-timeout 1800] [--fresh-gt] [--no-fix] [--out FILE.json]
                                             [--merge-results]

Per library (corpora.LIBS: the wheel's package tree in the cache, a venv with torch==2.13.0 and the small
pure-Python dependencies, no torchvision):
1. Ground truth (lib_trace.py in that venv, one process per model of lib_models_<library>.py): eager outputs for
   2 input shapes x eval/train (seeded), plain symbolic_trace in both modes, traced-vs-eager equality, the
   innermost library frame of each failure, the library lines that ran while tracing. Cached per library
   (it depends only on the library, torch and the catalogue); --fresh-gt re-runs it.
2. Check: `fxlint check --format json --no-cache --exit-zero <package>` on the whole package at once
   (cwd = the tree's root). Recall: a failing model's failing line is recalled when a diagnostic has that
   file and row (strict) or sits on the same statement (lenient). False-positive models: models that trace
   and match eager while a line of their own class's module file is flagged ("by module", the definition
   of the task), and, narrower, while a flagged statement ran during their trace ("by execution").
   TRC6xx (QAT) findings are not judged (plain symbolic_trace is this ground truth), as in bench_timm.py.
3. Fix gate: copy the package, `fxlint fix --apply --unsafe-fixes <package>` on the copy (or only
   <package>/DIR with --fix-subdir LIB=DIR, when the whole package does not fit the budget) (timeout; wall time,
   per-file errors from its stderr), re-run the ground truth on the copy (first on sys.path) and compare
   bit for bit: models whose eager outputs or eager success changed (must be none), models that trace and
   match eager after the fix, failing -> fixed; then a second `fxlint fix --unsafe-fixes` (dry run) on the
   fixed copy: how many findings it would still fix.
--merge-results puts the figures under "libs" in tests/benchmarks/results.json (the rest kept) and
re-renders results.md and README.md's section (report.py), for a run outside run_all.py.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
from _measure import HERE, fxlint_cmd, fxlint_env, fxlint_version, git_rev, log, md_table, run_measured, write_json  # noqa: E402
from bench_timm import SourceIndex  # noqa: E402

QAT_PREFIX = "TRC6"
LIB_TRACE = os.path.join(HERE, "lib_trace.py")
# run_all.py fixes only MONAI's networks/ (every catalogued model lives there): on the shared 2-core machine
# (load ~12) the whole 438-file package had not finished after 25 min wall (222 s CPU, 253 files done).
RUN_ALL_FIX_SUBDIRS = {"monai": "networks"}
FIX_ERROR_RE = re.compile(r"^fxlint fix: (?P<file>\S+?\.py): (?P<error>.*)$")
SUMMARY_RE = re.compile(r"^(?:Would fix|Fixed) (?P<n>\d+) finding\(s\) in (?P<files>\d+) file\(s\)")


# ---------------------------------------------------------------------------------------------
# ground truth

def trace_lib(py, lib, root, out_json, jobs, timeout):
    cmd = [py, LIB_TRACE, "--lib", lib, "--root", root, "--out", out_json, "--jobs", str(jobs),
           "--timeout", str(timeout)]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env.pop("PYTHONPATH", None)
    log(f"[libs] tracing {lib} from {root} ({jobs} workers) ...")
    r = run_measured(cmd, env=env, capture=False)
    if r["rc"] != 0:
        raise RuntimeError(f"lib_trace.py {lib} failed (exit {r['rc']})")
    with open(out_json) as fh:
        return json.load(fh)


def _catalogue_stamp(lib):
    """The worker's and the library's catalogue source: what the cached ground truth depends on (with the tree)."""
    import hashlib

    h = hashlib.sha256()
    for name in ("lib_trace.py", "lib_models.py", f"lib_models_{lib}.py"):
        with open(os.path.join(HERE, name), "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:16]


def ground_truth(cache, py, lib, lib_info, jobs, timeout, fresh):
    """Cached per library: keyed on the tree, the venv's torch and the catalogue + worker source."""
    path = os.path.join(cache, "results", f"gt_lib_{lib}.json")
    stamp = {"root": lib_info["root"], "version": lib_info["version"], "catalogue": _catalogue_stamp(lib)}
    if not fresh and os.path.exists(path):
        with open(path) as fh:
            d = json.load(fh)
        if d["meta"].get("stamp") == stamp:
            d["meta"]["source"] = f"run of {d['meta'].get('created')}, cached"
            return d
    d = trace_lib(py, lib, lib_info["root"], path, jobs, timeout)
    d["meta"]["stamp"] = stamp
    write_json(path, d)
    d["meta"]["source"] = f"fresh run of {d['meta'].get('created')}"
    return d


def failing_line(rec):
    for mode in ("eval", "train"):
        t = (rec.get("trace") or {}).get(mode) or {}
        if not t.get("ok", True) and t.get("lib_frame"):
            return t["lib_frame"], t.get("source", ""), f"{t.get('exc_type')}: {t.get('message', '')[:160]}"
    return None, None, None


def summarize(records):
    st = collections.Counter(r["status"] for r in records)
    fails = collections.defaultdict(list)
    for r in records:
        if r["status"] == "fail":
            fails[failing_line(r)[0]].append(r["model"])
    return {"n_models": len(records), **{k: st.get(k, 0) for k in ("pass", "fail", "mismatch", "build_error",
                                                                     "timeout", "worker_error")},
            "distinct_failing_lines": len(fails),
            "mismatching": [r["model"] for r in records if r["status"] == "mismatch"],
            "not_judged": {r["model"]: _why_not_judged(r) for r in records
                           if r["status"] in ("build_error", "timeout", "worker_error")}}


def _why_not_judged(r):
    if r["status"] != "build_error":
        return r["status"]
    e = r.get("build_error") or next((v["error"] for v in r.get("eager", {}).values() if "error" in v), {})
    return f"{e.get('exc_type')}: {e.get('message', '')[:120]} at {e.get('lib_frame') or e.get('innermost_frame')}"


# ---------------------------------------------------------------------------------------------
# fxlint check

def run_check(root, package, timeout=1800.0):
    cmd = fxlint_cmd("check", "--format", "json", "--no-cache", "--exit-zero", package)
    log(f"[libs] {' '.join(cmd[2:])} (cwd {root})")
    r = run_measured(cmd, env=fxlint_env(), cwd=root, timeout=timeout)
    meta = {k: r[k] for k in ("rc", "wall_s", "cpu_s", "peak_mib")}
    if r.get("timeout") or r["rc"] not in (0, 1):
        meta["error"] = f"exit {r['rc']}{' (timeout)' if r.get('timeout') else ''}: {r['stderr'][-800:]}"
        return [], meta
    diags = json.loads(r["stdout"] or "[]")
    meta["n_diagnostics"] = len(diags)
    return diags, meta


def _rel(filename, root):
    p = filename if os.path.isabs(filename) else os.path.join(root, filename)
    return os.path.relpath(os.path.abspath(p), root)


def evaluate(records, diags, root):
    src = SourceIndex(root)
    by_key = collections.defaultdict(list)
    for d in diags:
        by_key[(_rel(d.get("filename", ""), root), (d.get("location") or {}).get("row"))].append(d)
    flagged_files = collections.defaultdict(set)
    for rel, row in by_key:
        flagged_files[rel].add(row)

    # recall of failing lines
    fail_lines = collections.OrderedDict()
    for r in records:
        if r["status"] == "fail":
            lf, source, why = failing_line(r)
            fail_lines.setdefault(lf, {"source": source, "error": why, "models": []})["models"].append(r["model"])
    lines, tp_keys = [], set()
    for lf, x in fail_lines.items():
        entry = {"line": lf, "source": x["source"], "error": x["error"], "models": x["models"],
                 "flagged": False, "flagged_same_statement": False, "codes": []}
        if lf:
            rel, ln = lf.rsplit(":", 1)
            ln = int(ln)
            a, b = src.stmt_range(rel, ln)
            strict = by_key.get((rel, ln), [])
            lenient = [d for row in range(a, b + 1) for d in by_key.get((rel, row), [])]
            tp_keys.update((rel, row) for row in range(a, b + 1) if (rel, row) in by_key)
            fn = src.function_of(rel, ln)
            entry.update(flagged=bool(strict), flagged_same_statement=bool(lenient),
                         codes=sorted({d["code"] for d in (strict or lenient)}), function=fn[0] if fn else None,
                         diagnostics_in_same_function=sorted(
                             f"{row}:{d['code']}" for (f, row), ds in by_key.items()
                             if fn and f == rel and fn[1] <= row <= fn[2] for d in ds)[:12])
        lines.append(entry)

    # false-positive models
    passing = [r for r in records if r["status"] == "pass"]
    fp_module, fp_exec = {}, {}
    for r in passing:
        own = sorted(row for row in flagged_files.get(r["module_file"], ()) if (r["module_file"], row) not in tp_keys)
        if own:
            fp_module[r["model"]] = [f"{r['module_file']}:{row} {','.join(sorted({d['code'] for d in by_key[(r['module_file'], row)]}))}"
                                     f" `{src.source(r['module_file'], row)[:90]}`" for row in own]
        ran = []
        for rel, rows in (r.get("executed_lines") or {}).items():
            ex = set(rows)
            for row in sorted(flagged_files.get(rel, ())):
                a, b = src.stmt_range(rel, row)
                if (rel, row) not in tp_keys and any(x in ex for x in range(a, b + 1)):
                    ran.append(f"{rel}:{row} {','.join(sorted({d['code'] for d in by_key[(rel, row)]}))}"
                               f" `{src.source(rel, row)[:90]}`")
        if ran:
            fp_exec[r["model"]] = ran
    n_lines = len(lines)
    return {
        "n_diagnostics": len(diags), "n_flagged_lines": len(by_key),
        "codes": dict(collections.Counter(d["code"] for d in diags).most_common()),
        "recall": {"failing_lines": n_lines, "flagged": sum(x["flagged"] for x in lines),
                   "flagged_same_statement": sum(x["flagged_same_statement"] for x in lines),
                   "failing_models": sum(len(x["models"]) for x in lines),
                   "models_flagged": sum(len(x["models"]) for x in lines if x["flagged"]),
                   "lines": lines, "misses": [x for x in lines if not x["flagged_same_statement"]]},
        "false_positive_models_by_module": {"n": len(fp_module), "of_passing": len(passing), "models": fp_module},
        "false_positive_models_by_execution": {"n": len(fp_exec), "of_passing": len(passing), "models": fp_exec},
    }


# ---------------------------------------------------------------------------------------------
# fix gate

def _fix_errors(stderr, package):
    errs = {}
    for line in stderr.splitlines():
        m = FIX_ERROR_RE.match(line.strip())
        if m:
            f = m.group("file")
            f = f[f.index(package + "/"):] if (package + "/") in f else f
            errs[f] = m.group("error")[:300]
    return errs


def _summary_count(stdout):
    for line in stdout.splitlines():
        m = SUMMARY_RE.match(line.strip())
        if m:
            return int(m.group("n")), int(m.group("files"))
    return None, None


def changed_files(orig_pkg, new_pkg, package):
    out = []
    for f in corpora.py_files(new_pkg):
        rel = os.path.relpath(f, new_pkg)
        o = os.path.join(orig_pkg, rel)
        with open(f, "rb") as fh, open(o, "rb") as gh:
            if fh.read() != gh.read():
                out.append(os.path.join(package, rel))
    return out


def compare(before, after):
    """Bit-for-bit eager comparison and trace status of every judged model, pristine vs fixed tree."""
    b = {r["model"]: r for r in before}
    a = {r["model"]: r for r in after}
    judged = [m for m, r in b.items() if r["status"] in ("pass", "fail", "mismatch")]
    eager_changed, status_changed = {}, {}
    for m in judged:
        ra = a.get(m, {})
        if ra.get("status") in ("timeout", "worker_error") or "build_error" in ra:
            eager_changed[m] = {"what": ra.get("status"), "detail": ra.get("build_error") or ra.get("stderr_tail")}
            continue
        diff = {}
        for case, e in b[m]["eager"].items():
            ea = (ra.get("eager") or {}).get(case, {})
            if ea.get("digest") != e.get("digest"):
                diff[case] = ea.get("error") or f"digest {e.get('digest')} -> {ea.get('digest')}"
        if diff:
            eager_changed[m] = {"what": "eager outputs", "cases": diff}
        if ra.get("status") != b[m]["status"]:
            status_changed[m] = [b[m]["status"], ra.get("status"), failing_line(ra)[0]]
    was_fail = [m for m in judged if b[m]["status"] != "pass"]
    now_pass = [m for m in was_fail if a.get(m, {}).get("status") == "pass" and m not in eager_changed]
    was_pass = [m for m in judged if b[m]["status"] == "pass"]
    return {"judged": len(judged), "eager_changed": eager_changed, "n_eager_changed": len(eager_changed),
            "previously_failing": len(was_fail), "now_trace_and_match": len(now_pass), "now_pass": now_pass,
            "previously_passing": len(was_pass),
            "still_pass": sum(1 for m in was_pass if a.get(m, {}).get("status") == "pass"),
            "pass_after_fix": sum(1 for m in judged if a.get(m, {}).get("status") == "pass"),
            "status_changed": status_changed,
            "still_failing": {m: failing_line(a.get(m, {}))[0] for m in was_fail
                              if a.get(m, {}).get("status") != "pass"}}


def fix_gate(cache, py, lib, lib_info, gt, jobs, timeout, fix_timeout, subdir=None):
    """subdir: fix only <package>/<subdir> of the copy (e.g. MONAI's networks/, where every catalogued model
    lives) when the whole package cannot be fixed within the run's budget; recorded as fix_target."""
    package = lib_info["package_name"]
    target = f"{package}/{subdir}" if subdir else package
    work = os.path.join(cache, "libbench-fixed", lib)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(lib_info["package"], os.path.join(work, package))
    cmd = fxlint_cmd("fix", "--apply", "--unsafe-fixes", "-q", target)
    log(f"[libs] {lib}: {' '.join(cmd[2:])} (in a copy: {work})")
    r = run_measured(cmd, env=fxlint_env(), cwd=work, timeout=fix_timeout)
    res = {"fix_target": target, "fix_timeout_s": fix_timeout, "copy": work, "fix_run": {k: r[k] for k in ("rc", "wall_s", "cpu_s", "peak_mib")},
           "timed_out": bool(r.get("timeout"))}
    res["fix_run"]["stdout_tail"] = r["stdout"][-1200:]
    res["fix_run"]["stderr_tail"] = r["stderr"][-1200:]
    errs = _fix_errors(r["stderr"], package)
    res["file_errors"] = errs
    res["n_file_errors"] = len(errs)
    res["internal_errors"] = sum(1 for e in errs.values() if "internal error" in e.lower())
    res["applied"], res["applied_files"] = _summary_count(r["stdout"])
    changed = changed_files(lib_info["package"], os.path.join(work, package), package)
    res["files_changed"] = len(changed)
    res["changed"] = changed
    log(f"[libs] {lib}: fix {r['wall_s']:.1f} s, rc {r['rc']}, {len(changed)} files changed, "
        f"{len(errs)} file errors{' (TIMED OUT)' if res['timed_out'] else ''}")
    if res["timed_out"]:
        # the fixer writes its files at the end: a killed run changed nothing, there is nothing to re-run
        return res
    fixed = trace_lib(py, lib, work, os.path.join(cache, "results", f"gt_lib_{lib}_fixed.json"), jobs, timeout)
    res["retrace"] = compare(gt["models"], fixed["models"])
    again = run_measured(fxlint_cmd("fix", "--unsafe-fixes", "-q", target), env=fxlint_env(), cwd=work,
                         timeout=fix_timeout)
    res["second_run_would_fix"], res["second_run_files"] = _summary_count(again["stdout"])
    res["second_run_file_errors"] = len(_fix_errors(again["stderr"], package))
    return res


# ---------------------------------------------------------------------------------------------

def run_lib(cache, py, lib, lib_info, jobs=2, timeout=180.0, fix_timeout=1800.0, fresh=False, do_fix=True,
            fix_subdir=None):
    t0 = time.time()
    gt = ground_truth(cache, py, lib, lib_info, jobs, timeout, fresh)
    recs = gt["models"]
    res = {"version": lib_info["version"], "files": corpora.corpus_stats(lib_info["package"])["files"],
           "ground_truth": {"source": gt["meta"]["source"], "wall_s": gt["meta"].get("wall_s"),
                            "summary": summarize(recs),
                            "models": {r["model"]: {"status": r["status"], "class": r.get("class"),
                                                    "failing_line": failing_line(r)[0]} for r in recs}}}
    diags, meta = run_check(lib_info["root"], lib_info["package_name"])
    res["check_run"] = meta
    write_json(os.path.join(cache, "results", f"check_lib_{lib}.json"), diags)
    qat = [d for d in diags if d.get("code", "").startswith(QAT_PREFIX)]
    res["qat_findings_not_judged"] = len(qat)
    if "error" not in meta:
        res["evaluation"] = evaluate(recs, [d for d in diags if d not in qat], lib_info["root"])
    if do_fix:
        res["fix"] = fix_gate(cache, py, lib, lib_info, gt, jobs, timeout, fix_timeout, fix_subdir)
    res["wall_s"] = round(time.time() - t0, 1)
    return res


def run(cache, libs=None, jobs=2, timeout=180.0, fix_timeout=1800.0, fresh=False, do_fix=True, fix_subdirs=None):
    info = corpora.get_libs(cache)
    py = info.pop("venv_python")
    out = {"torch": corpora.TORCH_PIN, "libraries": {}}
    for lib in libs or list(info):
        out["libraries"][lib] = run_lib(cache, py, lib, info[lib], jobs, timeout, fix_timeout, fresh, do_fix,
                                        (fix_subdirs or {}).get(lib))
        write_json(os.path.join(cache, "results", "bench_libs.partial.json"), out)
    return out


# ---------------------------------------------------------------------------------------------
# Markdown

def _lib_row(name, r):
    s = r["ground_truth"]["summary"]
    ev = r.get("evaluation") or {}
    rc = ev.get("recall") or {}
    fx = r.get("fix") or {}
    t = fx.get("retrace") or {}
    return [f"{name} {r['version']} ({r['files']} files)",
            f"{s['n_models']}: {s['pass']} pass / {s['fail']} fail / {s['mismatch']} mismatch"
            + (f" / {s['n_models'] - s['pass'] - s['fail'] - s['mismatch']} not judged"
               if s['n_models'] - s['pass'] - s['fail'] - s['mismatch'] else ""),
            f"{rc.get('flagged', '–')}/{rc.get('failing_lines', '–')} ({rc.get('flagged_same_statement', '–')} same stmt)",
            f"{(ev.get('false_positive_models_by_module') or {}).get('n', '–')} / "
            f"{(ev.get('false_positive_models_by_execution') or {}).get('n', '–')} of {s['pass']}",
            f"`{fx.get('fix_target')}`: {fx.get('fix_run', {}).get('wall_s', 0):.0f} s wall / "
            f"{fx.get('fix_run', {}).get('cpu_s', 0):.0f} s CPU"
            f"{' (TIMED OUT)' if fx.get('timed_out') else ''}, {fx.get('files_changed', '–')} files changed, "
            f"{fx.get('n_file_errors', '–')} file errors" if fx else "–",
            f"**{t.get('n_eager_changed')}**" if t else "–",
            f"{t.get('now_trace_and_match')}/{t.get('previously_failing')}" if t else "–",
            f"{t.get('still_pass')}/{t.get('previously_passing')}" if t else "–",
            str(fx.get("second_run_would_fix", "–")) if fx else "–"]


HEADER = ["library", "models (ground truth)", "failing lines flagged", "FP models by module / by execution",
          "fix --apply --unsafe-fixes", "eager changed by fix", "failing → trace + match", "passing still pass",
          "2nd fix would fix"]


def summary_table(res):
    return md_table(HEADER, [_lib_row(n, r) for n, r in res["libraries"].items()])


def markdown(res):
    out = [summary_table(res)]
    for name, r in res["libraries"].items():
        ev = r.get("evaluation") or {}
        fx = r.get("fix") or {}
        t = fx.get("retrace") or {}
        if r["ground_truth"]["summary"]["not_judged"]:
            out.append(f"\n{name}: not judged: " + "; ".join(f"{m} ({w})" for m, w in
                                                            r["ground_truth"]["summary"]["not_judged"].items()))
        if r["ground_truth"]["summary"]["mismatching"]:
            out.append(f"\n{name}: trace but differ from eager: {', '.join(r['ground_truth']['summary']['mismatching'])}")
        misses = (ev.get("recall") or {}).get("misses") or []
        if misses:
            out.append(f"\n{name}: failing lines not flagged:")
            out += [f"- `{x['line']}` `{(x['source'] or '')[:100]}` ({len(x['models'])} models: "
                    f"{', '.join(x['models'][:4])}{'…' if len(x['models']) > 4 else ''}) — {x['error'][:110]}"
                    for x in misses]
        if t.get("eager_changed"):
            out.append(f"\n{name}: **eager behaviour changed by the fix**:")
            out += [f"- {m}: {v['what']}" + (f" ({', '.join(sorted(v['cases']))})" if v.get("cases") else "")
                    + _first_error(v) for m, v in t["eager_changed"].items()]
        if fx.get("timed_out"):
            out.append(f"\n{name}: `fxlint fix` on `{fx['fix_target']}` did not finish within {fx['fix_timeout_s']:.0f} s "
                       f"wall ({fx['fix_run']['cpu_s']:.0f} s CPU): killed, nothing written, no fix gate.")
        if fx.get("file_errors"):
            out.append(f"\n{name}: fix errors per file: "
                       + "; ".join(f"`{f}` {e[:100]}" for f, e in sorted(fx["file_errors"].items())))
    return "\n".join(out)


def _first_error(v):
    """' — NameError: ... at file:line' for a model whose eager run now raises."""
    errs = [e for e in (v.get("cases") or {}).values() if isinstance(e, dict)]
    if not errs:
        return ""
    e = errs[0]
    return f" — now raises {e.get('exc_type')}: {e.get('message', '')[:80]} at `{e.get('lib_frame')}` `{e.get('source', '')[:90]}`"


def merge_into_results(libs_res, path=os.path.join(HERE, "results.json")):
    """Put the figures under "libs" in results.json (the rest kept) and re-render results.md and the README."""
    import report

    with open(path) as fh:
        res = json.load(fh)
    res["libs"] = libs_res
    write_json(path, res)
    with open(os.path.join(HERE, "results.md"), "w") as fh:
        fh.write(report.full_markdown(res) + "\n")
    report.splice_readme(res)


def compact(res):
    """results.json keeps counts and short lists (the full records stay in the cache)."""
    res = json.loads(json.dumps(res))
    for r in res["libraries"].values():
        for k in ("stdout_tail", "stderr_tail"):
            (r.get("fix") or {}).get("fix_run", {}).pop(k, None)
        (r.get("fix") or {}).pop("copy", None)
        ev = r.get("evaluation") or {}
        for key in ("false_positive_models_by_module", "false_positive_models_by_execution"):
            if key in ev:
                ev[key]["models"] = {m: v[:4] + ([f"... {len(v) - 4} more"] if len(v) > 4 else [])
                                     for m, v in ev[key]["models"].items()}
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--libs", help="comma-separated subset of " + ",".join(corpora.LIBS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180.0, help="per model (seconds)")
    ap.add_argument("--fix-timeout", type=float, default=1800.0)
    ap.add_argument("--fresh-gt", action="store_true")
    ap.add_argument("--no-fix", action="store_true")
    ap.add_argument("--fix-subdir", action="append", default=[], metavar="LIB=DIR",
                    help="fix only <package>/DIR of LIB's copy (e.g. monai=networks); the check stays whole-package")
    ap.add_argument("--cache", help="corpus cache folder")
    ap.add_argument("--out", help="write the full results as JSON here")
    ap.add_argument("--merge-results", action="store_true", help="store under 'libs' in results.json")
    args = ap.parse_args()
    t0 = time.time()
    res = run(corpora.cache_dir(args.cache), args.libs.split(",") if args.libs else None, args.jobs, args.timeout,
              args.fix_timeout, args.fresh_gt, not args.no_fix, dict(x.split("=", 1) for x in args.fix_subdir))
    res["wall_s"] = round(time.time() - t0, 1)
    res["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    res["fxlint"] = f"{fxlint_version()} ({git_rev()})"
    if args.out:
        write_json(args.out, res)
    if args.merge_results:
        merge_into_results(compact(res))
    print(markdown(res))


if __name__ == "__main__":
    main()
