"""`fxlint fix` on whole packages: robustness, convergence and speed beside `fxlint check` (issue 18).

usage: python tests/benchmarks/bench_fix_speed.py [--corpora timm,transformers,monai,x_transformers]
                                                  [--timeout S] [--out FILE.json] [--merge-results]

Per corpus, on a fresh copy of the whole package (the cached wheel contents, see corpora.py), in one run:
  check   fxlint check COPY --no-cache --exit-zero --format json      default jobs, cold
  fix     fxlint fix COPY --apply --unsafe-fixes --format json         default jobs, what a user runs
  again   fxlint fix COPY --unsafe-fixes --format json                 a second (dry) run on fix's output
then every file of the copy is parsed with the stdlib `ast` (an unparsable output is a bug).
Recorded: wall / CPU / peak of each run (tests/benchmarks/_measure.run_measured), fix wall / check wall,
fix's summary (files fixed, fixes applied, refused plans "failed", files left untouched by an internal
error), the files fix could not parse or read (as the package shipped them), unparsable outputs, and what
the second run would still fix. Targets (issue 18): 0 internal errors, 0 unparsable outputs, 0 fixes
proposed by the second run, fix wall <= 2x check wall.
--merge-results writes the section `fix_speed` into results.json (report.py renders it).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
from _measure import HERE, fxlint_cmd, fxlint_env, git_rev, log, machine, md_table, run_measured, write_json  # noqa: E402

TARGET_RATIO = 2.0
DEFAULT_CORPORA = ("timm", "monai", "x_transformers", "transformers")


def package_dir(cache, name):
    """(the cached package folder of a corpus, its version); fetched by corpora.py if missing."""
    if name == "timm":
        root, version = corpora.fetch_timm(cache)
        return os.path.join(root, "timm"), version
    if name == "transformers":
        root, version = corpora.fetch_transformers(cache)
        return os.path.join(root, "transformers"), version
    root, version = corpora.fetch_lib(cache, name)
    return os.path.join(root, corpora.LIBS[name]["package"]), version


def _summary(run):
    try:
        return json.loads(run["stdout"]).get("summary") or {}
    except (ValueError, AttributeError):
        return {}


def _unparsable(root):
    bad = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                try:
                    with open(path, encoding="utf-8") as fh:
                        ast.parse(fh.read())
                except (SyntaxError, ValueError, UnicodeDecodeError):
                    bad.append(os.path.relpath(path, root))
    return sorted(bad)


def _figures(run):
    return {k: run[k] for k in ("rc", "wall_s", "cpu_s", "peak_mib")} | ({"timeout": True} if run.get("timeout") else {})


def measure(name, source, version, timeout):
    work = tempfile.mkdtemp(prefix=f"fxlint-fixspeed-{name}-")
    copy = os.path.join(work, os.path.basename(source.rstrip(os.sep)))
    shutil.copytree(source, copy)
    try:
        before = set(_unparsable(copy))  # files the package ships that `ast` rejects (py2 leftovers etc.)
        env = fxlint_env()
        started = time.strftime("%H:%M", time.gmtime())
        load = os.getloadavg()[0]
        log(f"[fixspeed] {name}: check ...")
        check = run_measured(fxlint_cmd("check", copy, "--no-cache", "--exit-zero", "--format", "json"),
                             env=env, cwd=work, timeout=timeout)
        log(f"[fixspeed] {name}: check {check['wall_s']:.1f} s; fix --apply --unsafe-fixes ...")
        fix = run_measured(fxlint_cmd("fix", copy, "--apply", "--unsafe-fixes", "--format", "json"),
                           env=env, cwd=work, timeout=timeout)
        log(f"[fixspeed] {name}: fix {fix['wall_s']:.1f} s (rc {fix['rc']}); second run ...")
        again = run_measured(fxlint_cmd("fix", copy, "--unsafe-fixes", "--format", "json"),
                             env=env, cwd=work, timeout=timeout)
        after = set(_unparsable(copy))
        s1, s2 = _summary(fix), _summary(again)
        not_fixed = s1.get("files_not_fixed") or []
        internal = [x for x in not_fixed if "internal error" in json.dumps(x)]
        res = {
            "package": f"{os.path.basename(copy)} {version}", "started_utc": started, "load_at_start": round(load, 2),
            "python_files": sum(1 for _ in corpora.py_files(copy)),
            "check": _figures(check), "fix": _figures(fix), "second_run": _figures(again),
            "fix_over_check_wall": round(fix["wall_s"] / check["wall_s"], 2) if check["wall_s"] else None,
            "files_changed": s1.get("files_changed"), "fixes_applied": s1.get("fixed"),
            "files_with_findings": s1.get("files_with_findings"), "refused_plans": s1.get("failed"),
            "files_not_fixed": len(not_fixed), "internal_errors": len(internal),
            "not_fixed_examples": not_fixed[:5],
            "unparsable_before": len(before), "unparsable_outputs": sorted(after - before),
            "second_run_would_fix": s2.get("fixed"), "second_run_files": s2.get("files_changed"),
        }
        log(f"[fixspeed] {name}: fix/check {res['fix_over_check_wall']}x, internal {len(internal)}, "
            f"unparsable {len(res['unparsable_outputs'])}, second run would fix {res['second_run_would_fix']}")
        return res
    finally:
        shutil.rmtree(work, ignore_errors=True)


def markdown(section):
    rows = []
    for name, r in section.get("corpora", {}).items():
        rows.append([name, r["python_files"], f"{r['check']['wall_s']:.1f}", f"{r['fix']['wall_s']:.1f}",
                     f"{r['fix_over_check_wall']}x", f"{r['files_changed']} / {r['fixes_applied']}",
                     r["internal_errors"], r["refused_plans"], len(r["unparsable_outputs"]),
                     r["second_run_would_fix"], f"{r['load_at_start']}"])
    header = ["package (whole)", ".py files", "check wall s", "fix --apply --unsafe-fixes wall s", "fix / check",
              "files changed / fixes", "internal errors", "refused plans", "unparsable outputs",
              "2nd run would fix", "load at start"]
    return "\n".join([md_table(header, rows), "",
                      f"Target (issue 18): fix wall <= {TARGET_RATIO}x check wall, 0 internal errors, 0 unparsable "
                      "outputs, 0 fixes proposed by a second run. Default jobs, cold (no cache), one run each."])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpora", default=",".join(DEFAULT_CORPORA))
    ap.add_argument("--cache", default=None)
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--out", default=None)
    ap.add_argument("--merge-results", action="store_true")
    args = ap.parse_args()
    cache = corpora.cache_dir(args.cache)
    section = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(), "fxlint_git": git_rev(),
               "corpora": {}}
    for name in [c for c in args.corpora.split(",") if c]:
        section["corpora"][name] = measure(name, *package_dir(cache, name), args.timeout)
    if args.out:
        write_json(args.out, section)
    if args.merge_results:
        path = os.path.join(HERE, "results.json")
        with open(path) as fh:
            results = json.load(fh)
        results["fix_speed"] = section
        write_json(path, results)
    print(markdown(section))


if __name__ == "__main__":
    main()
