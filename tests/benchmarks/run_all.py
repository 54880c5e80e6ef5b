"""Run the whole fxlint proving ground and write tests/benchmarks/results.json + a Markdown results section.

usage: python tests/benchmarks/run_all.py [--quick] [--no-peers] [--fresh-gt | --reuse-baseline] [--no-fix]
                                          [--no-hf | --hf-only] [--no-libs] [--check-timeout S] [--cache DIR]
                                          [--out FILE] [--markdown FILE] [--no-readme]

Sections (each also runnable alone, see the scripts):
  corpora     corpora.py     timm 1.0.31 + transformers models/ (pip download --no-deps) and the timm venv,
                             cached in ~/.cache/fxlint-bench (never in the repository)
  detection   bench_timm.py  recall / false positives of `fxlint check` against plain symbolic_trace on 191
                             timm families (ground truth cached after its first fresh run, ~4.5 min)
  fix         bench_fix.py   `fxlint fix --apply` (and --unsafe-fixes) on a copy of timm, then re-trace
                             (skipped with a message while `fxlint fix` does not exist)
  hf          bench_hf.py    transformers 5.24.0 proving ground: ~60 tiny-config models, eager outputs bit for
                             bit, symbolic_trace in 3 modes, `fxlint fix --apply --unsafe-fixes` on a copy (per
                             model directory + shared modules), re-run, check recall (--no-hf skips it; --hf-only
                             runs it alone and keeps the other sections of results.json as they are)
  libs        bench_libs.py  MONAI + x-transformers: ground truth per model (eager, trace), check recall / false
                             positives, `fix --apply --unsafe-fixes` gate bit for bit (--no-libs skips it)
  speed       bench_speed.py one file, then check cold (1 process, default parallel) and warm beside LibCST
                             parse on timm, then on transformers' models/ (the longest part, last)
  fix_speed   bench_fix_speed.py (run alone, not by run_all: a whole-package transformers fix takes longer than
              this budget) `fix --apply --unsafe-fixes` on whole packages beside `check`; carried over
  peers       TorchFix / Fixit on timm in their own venvs (~8 min, part of the 30-minute budget); --no-peers
              carries the figures of the last run that measured them over from results.json, shown with its date
--quick: speed on timm only, one round, no single-process run; fix with --apply only; no peers.
Writes results.json (raw), results.md (every figure, report.full_markdown) and regenerates README.md's section
between <!-- bench-results:start --> and <!-- bench-results:end --> (report.readme_section; --no-readme skips,
and a run with --out elsewhere never touches README.md). tests/test_bench_results.py checks that README.md and
results.md match the committed results.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_fix  # noqa: E402
import bench_hf  # noqa: E402
import bench_libs  # noqa: E402
import bench_speed  # noqa: E402
import bench_timm  # noqa: E402
import corpora  # noqa: E402
import report  # noqa: E402
from _measure import HERE, fxlint_version, git_rev, log, machine, write_json  # noqa: E402

RESULTS = os.path.join(HERE, "results.json")
RESULTS_MD = os.path.join(HERE, "results.md")


_compact_detection = bench_timm.compact


def _versions(info, det):
    v = {"fxlint": fxlint_version(), "fxlint_git": git_rev(), "timm": info["timm"]["version"],
         "transformers": info["transformers"]["version"]}
    workers = ((det or {}).get("ground_truth", {}).get("meta", {}) or {}).get("workers") or []
    if workers:
        v["torch (ground truth)"] = workers[0].get("torch")
    return v


def _checkpoint(res, info, durations):
    """The figures so far, after each section, in the corpus cache (a run cut short keeps them)."""
    write_json(os.path.join(info["cache"], "results", "run_all.partial.json"), dict(res, durations_s=durations))


def _load():
    return round(os.getloadavg()[0], 2)


def _hf_section(info, quick=False, fixed_tree=None):
    """bench_hf.run, stamped with its own date and fxlint revision (--hf-only carries the other sections)."""
    hf = bench_hf.run(info, do_fix=not quick, fixed_tree=fixed_tree)
    hf["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    hf["fxlint_git"] = git_rev()
    return hf


def _write(args, res):
    write_json(args.out, res)
    md = report.full_markdown(res)
    with open(args.markdown, "w") as fh:
        fh.write(md + "\n")
    if args.out == RESULTS and not args.no_readme:
        report.splice_readme(res)
        log(f"[run_all] README.md results section regenerated from {os.path.relpath(args.out)}")
    return md


def hf_only(args, previous):
    """--hf-only: the transformers section alone, written into the previous results (other sections as they were)."""
    if not previous:
        raise SystemExit(f"--hf-only needs an earlier {args.out} to add the section to")
    t0 = time.time()
    info = corpora.get_all(corpora.cache_dir(args.cache))
    res = dict(previous)
    res["hf"] = _hf_section(info, fixed_tree=args.hf_fixed_tree)
    res["hf"]["section_wall_s"] = round(time.time() - t0, 1)
    _write(args, res)
    log(f"[run_all] --hf-only: wrote the hf section into {os.path.relpath(args.out)} in "
        f"{res['hf']['section_wall_s'] / 60:.1f} min")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true",
                    help="do not re-measure TorchFix and Fixit (~8 min); carry their last figures over")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--fresh-gt", action="store_true", help="re-trace the timm ground truth (~4.5 min)")
    g.add_argument("--reuse-baseline", action="store_true", help="ground truth = shipped timm_results.json")
    ap.add_argument("--no-fix", action="store_true")
    g2 = ap.add_mutually_exclusive_group()
    g2.add_argument("--no-hf", action="store_true", help="skip the transformers proving ground (bench_hf.py)")
    g2.add_argument("--hf-only", action="store_true",
                    help="run only the transformers proving ground; the other sections are carried over")
    ap.add_argument("--hf-reevaluate", action="store_true",
                    help="recompute the hf section's comparison from the worker outputs of its last run (cache)")
    ap.add_argument("--hf-fixed-tree", help="with --hf-only: evaluate this copy fixed earlier (bench_hf.py --fixed-tree)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--no-detection", action="store_true")
    ap.add_argument("--no-libs", action="store_true", help="skip bench_libs.py (MONAI, x-transformers)")
    ap.add_argument("--check-timeout", type=float, default=bench_speed.CHECK_TIMEOUT)
    ap.add_argument("--cache", help="corpus cache folder (default ~/.cache/fxlint-bench)")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--markdown", default=RESULTS_MD)
    ap.add_argument("--no-readme", action="store_true", help="do not regenerate README.md's results section")
    args = ap.parse_args()
    args.peers = not (args.no_peers or args.quick)

    t0 = time.time()
    durations, loads = {}, {"corpora": _load()}
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick,
           "machine": machine()}
    previous = None
    if os.path.exists(args.out):
        try:
            with open(args.out) as fh:
                previous = json.load(fh)
        except (OSError, json.JSONDecodeError):
            previous = None

    if args.hf_only:
        return hf_only(args, previous)
    if args.hf_reevaluate:
        res = dict(previous)
        res["hf"] = bench_hf.reevaluate(res["hf"], corpora.cache_dir(args.cache))
        _write(args, res)
        return log(f"[run_all] --hf-reevaluate: hf comparison recomputed into {os.path.relpath(args.out)}")

    info = corpora.get_all(corpora.cache_dir(args.cache), timm_venv=True)
    durations["corpora"] = round(time.time() - t0, 1)
    res["corpora"] = {"timm": {k: info["timm"][k] for k in ("version",)},
                      "transformers": {k: info["transformers"][k] for k in ("version",)}}

    if not args.no_detection:
        t = time.time()
        loads["detection"] = _load()
        mode = "reuse-baseline" if args.reuse_baseline else "fresh" if args.fresh_gt else "auto"
        res["detection"] = _compact_detection(bench_timm.run(info, mode))
        durations["detection"] = round(time.time() - t, 1)
        log(f"[run_all] detection done in {durations['detection']} s")
        _checkpoint(res, info, durations)
    res["versions"] = _versions(info, res.get("detection"))

    if not args.no_fix:
        t = time.time()
        loads["fix"] = _load()
        res["fix"] = bench_fix.run(info, ("safe",) if args.quick else ("safe", "unsafe"))
        durations["fix"] = round(time.time() - t, 1)
        log(f"[run_all] fix done in {durations['fix']} s")
        _checkpoint(res, info, durations)

    if not args.no_hf:
        t = time.time()
        loads["hf"] = _load()
        res["hf"] = _hf_section(info, quick=args.quick)
        durations["hf"] = round(time.time() - t, 1)
        log(f"[run_all] transformers proving ground done in {durations['hf']} s")
        _checkpoint(res, info, durations)
    elif previous and previous.get("hf"):
        res["hf"] = previous["hf"]   # carried over: the section states its own date and fxlint revision
        log(f"[run_all] --no-hf: the transformers section of {previous['hf'].get('date')} is carried over")
    if previous and previous.get("fix_speed"):
        # bench_fix_speed.py runs alone (a whole transformers fix is longer than this budget): its section
        # states its own date and is carried over
        res["fix_speed"] = previous["fix_speed"]
    if not args.no_libs:
        t = time.time()
        loads["libs"] = _load()
        libs = bench_libs.run(info["cache"], do_fix=not args.no_fix, fix_subdirs=bench_libs.RUN_ALL_FIX_SUBDIRS)
        libs.update(wall_s=round(time.time() - t, 1), date=res["date"], fxlint=f"{fxlint_version()} ({git_rev()})")
        res["libs"] = bench_libs.compact(libs)
        durations["libs"] = libs["wall_s"]
        log(f"[run_all] libs done in {durations['libs']} s")
        _checkpoint(res, info, durations)

    if not args.no_speed:
        t = time.time()
        loads["speed"] = _load()
        names = ["timm"] if args.quick else ["timm", "transformers"]
        sp = bench_speed.run(info, args.quick, names, peers=args.peers, check_timeout=args.check_timeout)
        if not args.peers and previous and (previous.get("speed") or {}).get("peers"):
            # --no-peers / --quick: the last measured figures are shown with the date of their run
            when = (previous.get("peers") or {}).get("carried_over_from") or previous.get("date")
            sp["peers"] = previous["speed"]["peers"]
            sp["peers_carried_over_from"] = when
            res["peers"] = {"carried_over_from": when}
            log(f"[run_all] TorchFix / Fixit: not re-measured (--no-peers / --quick); figures of {when} carried over")
        res["speed"] = sp
        durations["speed"] = round(time.time() - t, 1)
        log(f"[run_all] speed done in {durations['speed']} s")
        _checkpoint(res, info, durations)

    res["durations_s"] = durations
    res["loadavg_1min_at_section_start"] = loads
    res["wall_s"] = round(time.time() - t0, 1)
    res["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(_write(args, res))
    log(f"[run_all] wrote {os.path.relpath(args.out)} and {os.path.relpath(args.markdown)} "
        f"in {res['wall_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
