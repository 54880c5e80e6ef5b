"""Speed of `fxlint check` beside the LibCST parse floor, on timm 1.0.31 and transformers' models/ tree.

usage: python tests/benchmarks/bench_speed.py [--quick] [--corpora timm,transformers] [--repeats N]
                                              [--peers] [--peers-on timm,transformers] [--out FILE.json]

Measured in one run (whole-process wall time, start-up included; CPU = user+sys of the process tree;
peak = ru_maxrss of the largest single process in the tree, from os.wait4):
  parse      python parse_baseline.py cst DIR            LibCST parse_module of every file, 1 process
  check-1    fxlint check --jobs 1 DIR, empty cache      cold, single process
  check-par  fxlint check DIR, empty cache               cold, default parallelism
  warm       fxlint check DIR, the last check-par's cache  re-run on an unchanged tree (3 runs)
             (cold = what a first run sees: a fresh, empty cache folder that the run writes; FXLINT_CACHE_DIR,
             or --cache-dir if the CLI has it. The warm runs reuse the cache of the last cold parallel run instead
             of a filling run of their own, and their output is compared with that run's.)
  one file   fxlint check --no-cache FILE (and warm)     big transformers file and a typical timm file
  peers      torchfix DIR / fixit lint DIR               optional, each in its own venv (see corpora.py)
parse / check-1 / check-par run alternately (paired); ratios are medians of the per-round ratios.
Targets (issue 2, section 8): check-1 <= 1.5x parse; check-1 / check-par >= 1.7; warm transformers
<= 3 s; one file <= 0.3 s; peak <= 500 MB.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
from _measure import (HERE, bench_env, fxlint_cmd, fxlint_env, fxlint_has, log, machine,  # noqa: E402
                      md_table, run_measured, summarize_runs, write_json)

TARGETS = {"check1_over_parse": 1.5, "speedup_2proc": 1.7, "warm_transformers_s": 3.0, "one_file_s": 0.3,
           "peak_mib": 500.0}
SMALL_FILE_REL = "timm/models/resnet.py"


def _strip(r):
    r = dict(r)
    for k in ("stdout", "stderr"):
        r.pop(k, None)
    return r


def _logged(what, r):
    """Log a measured run's figures as it ends (a run cut short keeps them in the log)."""
    log(f"    {what}: {r['wall_s']:.2f} s wall, {r['cpu_s']:.2f} s CPU, {r['peak_mib']:.0f} MiB, "
        f"load {os.getloadavg()[0]:.2f}")
    return r


def _check_rc(name, r):
    if r.get("timeout"):
        log(f"  !! {name}: timed out after {r['wall_s']:.0f} s")
        return False
    if r["rc"] not in (0, 1):
        log(f"  !! {name}: exit {r['rc']}: {(r.get('stderr') or '')[-800:]}")
        return False
    return True


_HAS_CACHE_DIR_FLAG = None


def _check(args, cache=None, path=None):
    """(cmd, env, cwd) for `fxlint check ARGS`; a cache folder goes through --cache-dir when the CLI has it,
    else through FXLINT_CACHE_DIR. cwd = the folder above the checked path, so that no pyproject.toml of the
    repository applies and no cache lands in the repository."""
    global _HAS_CACHE_DIR_FLAG
    if _HAS_CACHE_DIR_FLAG is None:
        _HAS_CACHE_DIR_FLAG = "--cache-dir" in fxlint_has("check")[1]
    env = fxlint_env()
    args = list(args)
    if cache is not None:
        if _HAS_CACHE_DIR_FLAG:
            args = ["--cache-dir", cache] + args
        else:
            env["FXLINT_CACHE_DIR"] = cache
    cwd = os.path.dirname(os.path.abspath(path)) if path else None
    return fxlint_cmd("check", *args), env, cwd


CHECK_TIMEOUT = 900.0   # per fxlint command; set by --check-timeout
SLOW_RUN_S = 300.0      # a check run slower than this is not repeated (transformers' one-process check: ~130 s)


def _run_check(args, path, cache=None, timeout=None):
    cmd, env, cwd = _check(list(args) + ["--exit-zero", path], cache, path)
    return run_measured(cmd, env=env, cwd=cwd, timeout=timeout or CHECK_TIMEOUT)


def _parse_cmd(path):
    return [sys.executable, os.path.join(HERE, "parse_baseline.py"), "cst", path]


_SUMMARY_RE = re.compile(r"\((\d+) files? checked(?:, (\d+) from cache)?\)")


def _findings(stdout):
    """The output without the summary's cache count (a warm run adds ', N from cache')."""
    return _SUMMARY_RE.sub(lambda m: f"({m.group(1)} files checked)", stdout)


def _from_cache(stdout):
    """'N/M': files served from the cache / files checked, from the summary line (None if absent)."""
    m = list(_SUMMARY_RE.finditer(stdout))
    return f"{m[-1].group(2) or 0}/{m[-1].group(1)}" if m else None


def _cold(args, path):
    """A cold check: a fresh, empty cache folder that the run fills (what a user's first run sees).
    -> (run_measured result, cache folder); the caller removes the folder."""
    cache = tempfile.mkdtemp(prefix="fxlint-bench-cache-")
    return _run_check(args, path, cache), cache


def bench_corpus(name, path, repeats, have_check, skip_check_reason=None, single_process=True, warm_runs=3):
    """Paired rounds of parse / check-1 / check-par (each check cold: an empty cache folder), then warm runs on
    the cache the last cold parallel run wrote. A check run slower than SLOW_RUN_S ends the rounds after the
    first; a timed-out check-1 skips the rest of the corpus's check runs. single_process=False skips check-1
    (--quick)."""
    res = {"path": path, **corpora.corpus_stats(path)}
    rounds, warm = [], []
    warm_cache, warm_ref = None, None  # the last successful cold parallel run's cache folder and stdout
    if skip_check_reason:
        res["check_skipped"] = skip_check_reason
        log(f"[speed] {name}: check runs skipped: {skip_check_reason}")
        have_check = False
    try:
        for i in range(repeats):
            rd = {"loadavg": round(os.getloadavg()[0], 2)}
            log(f"[speed] {name} round {i + 1}/{repeats}: parse")
            rd["parse"] = _logged("parse", run_measured(_parse_cmd(path), env=bench_env()))
            if rd["parse"]["rc"] != 0:
                log(f"  !! parse failed: {rd['parse']['stderr'][-500:]}")
            if have_check and single_process:
                log(f"[speed] {name} round {i + 1}/{repeats}: check --jobs 1 (cold)")
                rd["check1"], c1 = _cold(["--jobs", "1"], path)
                _logged("check-1", rd["check1"])
                shutil.rmtree(c1, ignore_errors=True)
                if not _check_rc("check-1", rd["check1"]) and rd["check1"].get("timeout"):
                    res["check_skipped"] = f"check --jobs 1 timed out after {CHECK_TIMEOUT:.0f} s"
                    rounds.append(rd)
                    have_check = False
                    break
            if have_check:
                log(f"[speed] {name} round {i + 1}/{repeats}: check, default jobs (cold)")
                rd["check_par"], cp = _cold([], path)
                _logged("check-par", rd["check_par"])
                if _check_rc("check-par", rd["check_par"]) and not rd["check_par"].get("timeout"):
                    if warm_cache:
                        shutil.rmtree(warm_cache, ignore_errors=True)
                    warm_cache, warm_ref = cp, rd["check_par"]["stdout"]
                else:
                    shutil.rmtree(cp, ignore_errors=True)
                if i == 0:
                    res["n_output_lines"] = rd["check_par"]["stdout"].count("\n")
            rounds.append(rd)
            walls = [rd[k]["wall_s"] for k in ("check1", "check_par") if k in rd]
            if have_check and walls and max(walls) > SLOW_RUN_S and i + 1 < repeats:
                log(f"[speed] {name}: check runs take > {SLOW_RUN_S:.0f} s: no further rounds")
                break
        _summarize_rounds(res, rounds, have_check)
        if have_check and warm_cache:
            warm = []
            for i in range(warm_runs):
                log(f"[speed] {name}: warm run {i + 1}/{warm_runs}")
                warm.append(_logged("warm", _run_check([], path, warm_cache)))
            warm = [w for w in warm if _check_rc("warm", w)]
            if warm:
                res["warm"] = summarize_runs(warm)
                res["warm"]["cache"] = "written by the last cold default-jobs run"
                res["warm"]["output_identical_to_cold"] = all(_findings(w["stdout"]) == _findings(warm_ref)
                                                              for w in warm)
                res["warm"]["files_checked_from_cache"] = _from_cache(warm[-1]["stdout"])
        if have_check:
            cold = [rd[k] for rd in rounds for k in ("check1", "check_par") if k in rd]
            res["determinism"] = _determinism(cold + (warm if warm_cache else []))
    finally:
        if warm_cache:
            shutil.rmtree(warm_cache, ignore_errors=True)
    return res


def _determinism(runs):
    """Issue 17: every check run of a corpus (--jobs 1 and default jobs, cold, warm; each with its own hash
    seed) must print the same bytes, the warm runs' count of files from the cache aside. -> how many runs, how
    many distinct outputs, and their sha256 (tests/benchmarks/bench_determinism.py runs the full matrix)."""
    import hashlib

    digests = [hashlib.sha256(_findings(r["stdout"]).encode()).hexdigest() for r in runs
               if r.get("rc") in (0, 1) and not r.get("timeout")]
    return {"runs": len(digests), "distinct_outputs": len(set(digests)), "sha256": sorted(set(digests))}


def _summarize_rounds(res, rounds, have_check):
    res["repeats_done"] = len(rounds)
    res["rounds"] = [{k: (_strip(v) if isinstance(v, dict) else v) for k, v in rd.items()} for rd in rounds]
    if "check_skipped" in res:
        t = [rd["check1"] for rd in rounds if "check1" in rd and rd["check1"].get("timeout")]
        if t:
            res["check1_timeout"] = _strip(t[0])
    res["parse"] = summarize_runs([rd["parse"] for rd in rounds])
    res["parse"]["lines_per_s"] = round(res["lines"] / res["parse"]["wall_s"])
    if not have_check:
        return
    ok1 = [rd for rd in rounds if "check1" in rd and rd["check1"]["rc"] in (0, 1) and not rd["check1"].get("timeout")]
    okp = [rd for rd in rounds if "check_par" in rd and rd["check_par"]["rc"] in (0, 1)
           and not rd["check_par"].get("timeout")]
    if ok1:
        res["check1"] = summarize_runs([rd["check1"] for rd in ok1])
        res["check1"]["lines_per_s"] = round(res["lines"] / res["check1"]["wall_s"])
        res["check1_over_parse"] = round(statistics.median(rd["check1"]["wall_s"] / rd["parse"]["wall_s"]
                                                           for rd in ok1), 3)
    if okp:
        res["check_par"] = summarize_runs([rd["check_par"] for rd in okp])
        res["check_par"]["lines_per_s"] = round(res["lines"] / res["check_par"]["wall_s"])
        res["check_par_over_parse"] = round(statistics.median(rd["check_par"]["wall_s"] / rd["parse"]["wall_s"]
                                                              for rd in okp), 3)
    both = [rd for rd in ok1 if rd in okp]
    if both:
        res["speedup_par"] = round(statistics.median(rd["check1"]["wall_s"] / rd["check_par"]["wall_s"]
                                                     for rd in both), 3)


def bench_one_file(label, path, repeats, have_check):
    res = {"path": path, **corpora.corpus_stats(path)}
    parse, cold, warm = [], [], []
    cache = tempfile.mkdtemp(prefix="fxlint-bench-cache-")
    try:
        if have_check:
            _run_check([], path, cache)  # fill
        for _ in range(repeats):
            parse.append(run_measured(_parse_cmd(path), env=bench_env()))
            if have_check:
                cold.append(_run_check(["--no-cache"], path))
                warm.append(_run_check([], path, cache))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    res["parse"] = summarize_runs(parse)
    cold = [r for r in cold if _check_rc(f"one-file {label}", r)]
    warm = [r for r in warm if _check_rc(f"one-file warm {label}", r)]
    if cold:
        res["check_cold"] = summarize_runs(cold)
        res["check_cold_over_parse"] = round(res["check_cold"]["wall_s"] / res["parse"]["wall_s"], 3)
    if warm:
        res["check_warm"] = summarize_runs(warm)
    return res


def bench_peer(tool, exe, path, timeout):
    cmd = [exe, path] if tool == "torchfix" else [exe, "lint", path]
    log(f"[speed] peer {tool} on {path} (can take minutes)")
    r = run_measured(cmd, timeout=timeout)
    out = _strip(r)
    out["cmd"] = " ".join([tool] + cmd[1:])
    out["n_output_lines"] = r["stdout"].count("\n")
    return out


def run(corpora_info, quick=False, names=("timm", "transformers"), repeats=None, peers=False,
        peers_on=("timm",), peer_timeout=1500, force=False, check_timeout=None):
    global CHECK_TIMEOUT
    if check_timeout:
        CHECK_TIMEOUT = float(check_timeout)
    ok, help_text = fxlint_has("check")
    result = {"fxlint_check_available": ok, "quick": quick, "machine": machine(), "corpora": {}, "one_file": {},
              "peers": {}, "targets": TARGETS}
    durations = {}
    if not ok:
        log("[speed] `fxlint check` is not available yet: measuring the parse baselines only")
        result["fxlint_check_error"] = help_text[-400:]
    paths = {"timm": corpora_info["timm"]["package"], "transformers": corpora_info["transformers"]["models"]}
    # one file first: the transformers tree, by far the longest part, comes last
    t0 = time.time()
    one_reps = 3 if quick else 5
    small = os.path.join(corpora_info["timm"]["root"], SMALL_FILE_REL)
    result["one_file"]["timm_resnet"] = bench_one_file("timm resnet.py", small, one_reps, ok)
    if os.path.exists(corpora_info["big_file"]):
        result["one_file"]["transformers_big"] = bench_one_file("big", corpora_info["big_file"], one_reps, ok)
    durations["one file"] = round(time.time() - t0, 1)
    for n in names:
        # paired rounds, medians of the per-round ratios: the machine is shared and its speed moves by
        # +-15% within minutes (timm's speed-up was 1.58 / 2.03 / 1.59 in three rounds of one run, a
        # single transformers round gave check-1 / parse 1.28x, 1.36x, 1.51x, 1.80x in four runs of
        # the same code): timm 5 rounds (~1.5 min), transformers 2 (~10 min)
        reps = repeats or (1 if quick else 2 if n == "transformers" else 5)
        skip = None
        t = result["corpora"].get("timm", {})
        rate_key = "check1" if "check1" in t else "check_par"
        if ok and n != "timm" and not force and rate_key in t:
            est = corpora.corpus_stats(paths[n])["lines"] / t[rate_key]["lines_per_s"]
            if est > CHECK_TIMEOUT:
                skip = (f"estimated {est:.0f} s at timm's rate ({t[rate_key]['lines_per_s']} lines/s, "
                        f"{'1 process' if rate_key == 'check1' else 'default jobs'}) > the {CHECK_TIMEOUT:.0f} s "
                        f"timeout per command (--force runs it)")
        elif ok and n != "timm" and not force and "check_skipped" in t:
            skip = "timm's check runs were skipped or timed out (--force runs it)"
        t0 = time.time()
        result["corpora"][n] = bench_corpus(n, paths[n], reps, ok, skip, single_process=not quick)
        durations[n] = round(time.time() - t0, 1)
        result["corpora"][n]["version"] = corpora_info[n]["version"]
        result["corpora"][n]["repeats"] = reps
    if peers:
        t0 = time.time()
        cache = corpora_info["cache"]
        for tool in ("torchfix", "fixit"):
            exe = corpora.ensure_peer_venv(cache, tool)
            if not exe:
                result["peers"][tool] = {"available": False}
                continue
            result["peers"][tool] = {"available": True, **corpora.tool_version(exe, tool), "runs": {}}
            for n in peers_on:
                if n in paths:
                    result["peers"][tool]["runs"][n] = bench_peer(tool, exe, paths[n], peer_timeout)
        durations["peers"] = round(time.time() - t0, 1)
    result["durations_s"] = durations
    result["verdict"] = verdict(result)
    return result


def verdict(res):
    v = {}
    for n, c in res["corpora"].items():
        if "check1_over_parse" in c:
            v[f"{n}: check-1 / parse <= {TARGETS['check1_over_parse']}"] = c["check1_over_parse"] <= \
                TARGETS["check1_over_parse"]
        if "speedup_par" in c:
            v[f"{n}: check-1 / check-par >= {TARGETS['speedup_2proc']}"] = c["speedup_par"] >= TARGETS["speedup_2proc"]
        peaks = [c[k]["peak_mib"] for k in ("check1", "check_par", "warm") if k in c]
        if peaks:
            v[f"{n}: peak <= {TARGETS['peak_mib']:.0f} MiB"] = max(peaks) <= TARGETS["peak_mib"]
    t = res["corpora"].get("transformers", {})
    if "warm" in t:
        v[f"transformers: warm <= {TARGETS['warm_transformers_s']} s"] = t["warm"]["wall_s"] <= \
            TARGETS["warm_transformers_s"]
    for k, f in res["one_file"].items():
        if "check_cold" in f:
            v[f"one file ({k}, cold) <= {TARGETS['one_file_s']} s"] = f["check_cold"]["wall_s"] <= TARGETS["one_file_s"]
    return v


def _fmt(x, nd=2):
    if x is None:
        return "–"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def markdown(res):
    rows = []
    for n, c in res["corpora"].items():
        label = f"{n} {c.get('version', '')} ({c['files']} files, {c['lines']:,} lines)"
        for key, what in (("parse", "LibCST `parse_module`, 1 process"),
                          ("check1", "`fxlint check --jobs 1 --no-cache`"),
                          ("check_par", "`fxlint check --no-cache` (default jobs)"),
                          ("warm", "`fxlint check` warm (unchanged re-run)")):
            if key not in c:
                continue
            m = c[key]
            ratio = {"parse": "1", "check1": _fmt(c.get("check1_over_parse")),
                     "check_par": _fmt(c.get("check_par_over_parse")),
                     "warm": _fmt(m["wall_s"] / c["parse"]["wall_s"], 3)}[key]
            rows.append([label, what, f"{m['wall_s']:.2f} (n={m['n']})", _fmt(m["cpu_s"]),
                         f"{round(c['lines'] / m['wall_s']):,}", _fmt(m["peak_mib"], 0), ratio])
        if "speedup_par" in c:
            rows.append([label, "1 process / default parallel (speed-up)", "", "", "", "", f"{c['speedup_par']:.2f}×"])
        if c.get("check_skipped"):
            rows.append([label, "`fxlint check`: not measured", c["check_skipped"], "", "", "", ""])
    for k, f in res["one_file"].items():
        label = f"one file: {os.path.basename(f['path'])} ({f['lines']:,} lines)"
        for key, what in (("parse", "LibCST `parse_module`"), ("check_cold", "`fxlint check --no-cache FILE`"),
                          ("check_warm", "`fxlint check FILE` warm")):
            if key in f:
                m = f[key]
                ratio = "1" if key == "parse" else _fmt(m["wall_s"] / f["parse"]["wall_s"])
                rows.append([label, what, f"{m['wall_s']:.3f} (n={m['n']})", _fmt(m["cpu_s"]), "",
                             _fmt(m["peak_mib"], 0), ratio])
    when = res.get("peers_carried_over_from")
    for tool, p in res["peers"].items():
        if not p.get("available"):
            rows.append([tool, "not installable here", "", "", "", "", ""])
            continue
        for n, r in p["runs"].items():
            c = res["corpora"].get(n, {})
            base = c.get("parse", {}).get("wall_s")
            if when:  # measured in an earlier run: no ratio against this run's parse
                base = None
            rows.append([f"{n} (peer{', measured ' + when if when else ''})",
                         f"{tool} {p.get('version')} (libcst {p.get('libcst')}) `{r['cmd'].split()[0]}`",
                         f"{r['wall_s']:.1f} (n=1)" + (" TIMEOUT" if r.get("timeout") else ""), _fmt(r["cpu_s"]),
                         f"{round(c['lines'] / r['wall_s']):,}" if c.get("lines") else "",
                         _fmt(r["peak_mib"], 0), _fmt(r["wall_s"] / base) if base else ""])
    out = [md_table(["corpus", "command", "wall s (median)", "CPU s", "lines/s", "peak MiB", "× parse"], rows)]
    for n, c in res["corpora"].items():
        w = c.get("warm") or {}
        if "output_identical_to_cold" in w:
            out.append(f"\n{n} warm runs: {w.get('files_checked_from_cache') or '?'} files from the cache; findings "
                       f"{'identical to' if w['output_identical_to_cold'] else '**differ from**'} the cold run's.")
    for n, c in res["corpora"].items():
        d = c.get("determinism")
        if d and d["runs"]:
            outputs = "one output" if d["distinct_outputs"] == 1 else f"**{d['distinct_outputs']} different outputs**"
            out.append(f"\n{n}: {d['runs']} check runs (--jobs 1, default jobs, cold and warm): {outputs} "
                       f"(sha256 {', '.join(h[:16] for h in d['sha256'])}).")
    if res.get("verdict"):
        out.append("")
        out.append("Targets: " + "; ".join(f"{k}: {'**met**' if ok else '**missed**'}"
                                          for k, ok in res["verdict"].items()))
    if not res["fxlint_check_available"]:
        out.append("")
        out.append("_`fxlint check` was not available: parse baselines only._")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="timm only, one round, no single-process run")
    ap.add_argument("--corpora", default=None, help="comma list: timm,transformers")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--peers", action="store_true", help="also time TorchFix and Fixit (own venvs)")
    ap.add_argument("--peers-on", default="timm", help="corpora for the peers (transformers takes ~20 min)")
    ap.add_argument("--cache", help="corpus cache folder")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    ap.add_argument("--check-timeout", type=float, default=CHECK_TIMEOUT, help="seconds per fxlint command")
    ap.add_argument("--force", action="store_true",
                    help="run transformers' check even when timm's rate predicts it exceeds the timeout")
    args = ap.parse_args()
    names = args.corpora.split(",") if args.corpora else (["timm"] if args.quick else ["timm", "transformers"])
    info = corpora.get_all(corpora.cache_dir(args.cache))
    t0 = time.time()
    res = run(info, args.quick, names, args.repeats, args.peers, args.peers_on.split(","), force=args.force,
              check_timeout=args.check_timeout)
    res["wall_s"] = round(time.time() - t0, 1)
    if args.out:
        write_json(args.out, res)
    print(markdown(res))


if __name__ == "__main__":
    main()
