"""Run the whole fxlint proving ground and write tests/benchmarks/results.json + a Markdown results section.

usage: python tests/benchmarks/run_all.py [--quick] [--peers] [--fresh-gt | --reuse-baseline] [--no-fix]
                                          [--check-timeout S] [--cache DIR] [--out FILE] [--markdown FILE]

Sections (each also runnable alone, see the scripts):
  corpora     corpora.py     timm 1.0.31 + transformers models/ (pip download --no-deps) and the timm venv,
                             cached in ~/.cache/fxlint-bench (never in the repository)
  detection   bench_timm.py  recall / false positives of `fxlint check` against plain symbolic_trace on 191
                             timm families (ground truth cached after its first fresh run, ~4.5 min)
  speed       bench_speed.py check cold (1 process, default parallel), warm, one file, beside LibCST parse
  fix         bench_fix.py   `fxlint fix --apply` (and --unsafe-fixes) on a copy of timm, then re-trace
                             (skipped with a message while `fxlint fix` does not exist)
  peers       TorchFix / Fixit on timm in their own venvs: measured with --peers (adds ~10 min); otherwise
              the figures of the last --peers run are carried over from results.json (with their date)
--quick: speed on timm only, one round, no single-process run; fix with --apply only.
The detection run's cold `fxlint check` writes a fresh cache that the speed section's warm runs then read.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_fix  # noqa: E402
import bench_speed  # noqa: E402
import bench_timm  # noqa: E402
import corpora  # noqa: E402
from _measure import HERE, fxlint_version, git_rev, log, machine, write_json  # noqa: E402

RESULTS = os.path.join(HERE, "results.json")
RESULTS_MD = os.path.join(HERE, "results.md")


def _compact_detection(det):
    """results.json keeps counts and short lists; the full per-diagnostic lists stay in the cache."""
    ev = det.get("evaluation")
    if not ev:
        return det
    det = json.loads(json.dumps(det))
    ev = det["evaluation"]
    for e in ev.get("other_diagnostics", []):
        for k in ("ran_in_passing", "ran_in_failing", "module_families"):
            if k in e:
                e[f"n_{k}"] = len(e[k])
                e[k] = e[k][:5]
    return det


def _versions(info, det):
    v = {"fxlint": fxlint_version(), "fxlint_git": git_rev(), "timm": info["timm"]["version"],
         "transformers": info["transformers"]["version"]}
    workers = ((det or {}).get("ground_truth", {}).get("meta", {}) or {}).get("workers") or []
    if workers:
        v["torch (ground truth)"] = workers[0].get("torch")
    return v


def markdown(res):
    m = res["machine"]
    v = res["versions"]
    out = ["## Benchmark results", "",
           f"Measured {res['date']} with `python tests/benchmarks/run_all.py{' --quick' if res['quick'] else ''}` "
           f"on {m['cores']} cores ({m.get('cpu') or 'unknown CPU'}, {m.get('mem_gib')} GiB), Python {m['python']}, "
           f"libcst {m.get('libcst')}; fxlint {v.get('fxlint')} ({v.get('fxlint_git')}), timm {v['timm']}, "
           f"transformers {v['transformers']}"
           + (f", torch {v['torch (ground truth)']} for the ground truth" if v.get("torch (ground truth)") else "")
           + f". Load average at start {m.get('loadavg_at_start')}. Whole run: {res['wall_s'] / 60:.1f} min.",
           "", "### Detection on timm (ground truth: plain `torch.fx.symbolic_trace`, one model per family)", "",
           bench_timm.markdown(res["detection"]) if res.get("detection") else "_not run_",
           "", "### Speed", "",
           "Whole-process wall time, start-up included; CPU = user+sys of the process tree; peak = largest single "
           "process (max RSS). `× parse` pairs each command with LibCST `parse_module` of the same files in the same run.",
           "", bench_speed.markdown(res["speed"]) if res.get("speed") else "_not run_"]
    peers = res.get("peers") or {}
    if peers.get("carried_over_from"):
        out += ["", f"_TorchFix / Fixit figures carried over from the run of {peers['carried_over_from']} "
                    f"(`--peers` re-measures them)._"]
    out += ["", "### Fixes on timm (`fxlint fix`, then re-trace every family from the fixed copy)", "",
            bench_fix.markdown(res["fix"]) if res.get("fix") else "_not run_"]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--peers", action="store_true", help="(re)measure TorchFix and Fixit on timm (~10 min)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--fresh-gt", action="store_true", help="re-trace the timm ground truth (~4.5 min)")
    g.add_argument("--reuse-baseline", action="store_true", help="ground truth = shipped timm_results.json")
    ap.add_argument("--no-fix", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-detection", action="store_true")
    ap.add_argument("--check-timeout", type=float, default=bench_speed.CHECK_TIMEOUT)
    ap.add_argument("--cache", help="corpus cache folder (default ~/.cache/fxlint-bench)")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--markdown", default=RESULTS_MD)
    args = ap.parse_args()

    t0 = time.time()
    durations = {}
    res = {"date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), "quick": args.quick, "machine": machine()}
    previous = None
    if os.path.exists(args.out):
        try:
            with open(args.out) as fh:
                previous = json.load(fh)
        except (OSError, json.JSONDecodeError):
            previous = None

    info = corpora.get_all(corpora.cache_dir(args.cache), timm_venv=True)
    durations["corpora"] = round(time.time() - t0, 1)
    res["corpora"] = {"timm": {k: info["timm"][k] for k in ("version",)},
                      "transformers": {k: info["transformers"][k] for k in ("version",)}}

    shared_cache = tempfile.mkdtemp(prefix="fxlint-bench-cache-")  # detection's cold run fills it; speed's warm runs read it
    prefilled = {}
    if not args.no_detection:
        t = time.time()
        mode = "reuse-baseline" if args.reuse_baseline else "fresh" if args.fresh_gt else "auto"
        det = bench_timm.run(info, mode, cache_dir=shared_cache)
        if det.get("check_run"):
            prefilled["timm"] = shared_cache
        res["detection"] = _compact_detection(det)
        durations["detection"] = round(time.time() - t, 1)
        log(f"[run_all] detection done in {durations['detection']} s")
    res["versions"] = _versions(info, res.get("detection"))

    if not args.no_speed:
        t = time.time()
        names = ["timm"] if args.quick else ["timm", "transformers"]
        sp = bench_speed.run(info, args.quick, names, peers=args.peers, check_timeout=args.check_timeout,
                             prefilled_caches=prefilled)
        if not args.peers and previous and (previous.get("speed") or {}).get("peers"):
            sp["peers"] = previous["speed"]["peers"]
            res["peers"] = {"carried_over_from": (previous.get("peers") or {}).get("carried_over_from")
                            or previous.get("date")}
        res["speed"] = sp
        durations["speed"] = round(time.time() - t, 1)
        log(f"[run_all] speed done in {durations['speed']} s")

    if not args.no_fix:
        t = time.time()
        res["fix"] = bench_fix.run(info, ("safe",) if args.quick else ("safe", "unsafe"))
        durations["fix"] = round(time.time() - t, 1)
        log(f"[run_all] fix done in {durations['fix']} s")

    shutil.rmtree(shared_cache, ignore_errors=True)
    res["durations_s"] = durations
    res["wall_s"] = round(time.time() - t0, 1)
    write_json(args.out, res)
    md = markdown(res)
    with open(args.markdown, "w") as fh:
        fh.write(md + "\n")
    print(md)
    log(f"[run_all] wrote {os.path.relpath(args.out)} and {os.path.relpath(args.markdown)} "
        f"in {res['wall_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
