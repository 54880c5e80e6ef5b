"""Determinism of `fxlint check` (issue 17): the output must be byte-identical across repeated runs, cold and
warm, `--jobs 1` and default jobs, whatever the hash seed, on every proving-ground library.

usage: python tests/benchmarks/bench_determinism.py [--corpora timm,monai,x_transformers,transformers]
                                                    [--out FILE.json]

Each corpus is checked from the folder above it with a relative path (a checked file then reaches the files
it imports by their absolute path: the case that made the order vary). Per format (json, text, --statistics
text and json) the runs below are hashed (sha256 of stdout) and compared with the format's first run:
  cold j1 / cold j2 / cold j2 again / cold default jobs   --no-cache
  cold j2 PYTHONHASHSEED=0 / =4242                         --no-cache
  cold j2 absolute path argument                           --no-cache
  warm j2 / warm j1                                        FXLINT_CACHE_DIR filled by a cold run of the matrix
The text summary and the --statistics JSON summary say how many files came from the cache (", N from cache",
"files_cached"): those counts are by design, and are blanked before hashing (the `normalized` column says so).
transformers' models/ tree (~90 s a cold run on 2 cores) runs a reduced matrix: cold j1 text, cold j2 json
(filling the cache), then warm j2 / j1 in both formats.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _measure import CACHE_DEFAULT, fxlint_cmd, fxlint_env, log, md_table, run_measured, write_json  # noqa: E402

CORPORA = {
    "timm": "timm-1.0.31/timm",
    "monai": "monai-1.6.1/monai",
    "x_transformers": "x_transformers-2.31.10/x_transformers",
    "transformers": "transformers-5.24.0/transformers/models",
}
FORMATS = {"json": ["--format", "json"], "text": [], "stats-text": ["--statistics"],
           "stats-json": ["--format", "json", "--statistics"]}
_FROM_CACHE = re.compile(r"(\d+ files? checked), \d+ from cache\)")
_FILES_CACHED = re.compile(r'"files_cached": \d+')


def normalize(stdout: str) -> str:
    """Blank the count of files served from the cache (a warm run reports it; nothing else may differ)."""
    return _FILES_CACHED.sub('"files_cached": N', _FROM_CACHE.sub(r"\1)", stdout))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def run(path, fmt, jobs=None, cache=None, seed=None, absolute=False):
    args = ["check", "--exit-zero", *FORMATS[fmt]]
    if jobs is not None:
        args += ["--jobs", str(jobs)]
    env = fxlint_env()
    if cache is None:
        args.append("--no-cache")
        env.pop("FXLINT_CACHE_DIR", None)
    else:
        env["FXLINT_CACHE_DIR"] = cache
    if seed is not None:
        env["PYTHONHASHSEED"] = str(seed)
    else:
        env.pop("PYTHONHASHSEED", None)  # a random seed per run, as for a user
    target = os.path.abspath(path) if absolute else os.path.basename(path)
    r = run_measured(fxlint_cmd(*args, target), env=env, cwd=os.path.dirname(os.path.abspath(path)), timeout=1800)
    if r["rc"] != 0:
        raise SystemExit(f"fxlint exited {r['rc']}: {(r.get('stderr') or '')[-800:]}")
    return r


def matrix(name):
    """(label, format, run options) in order; a `cache: "fill"` run is cold and writes the warm runs' cache."""
    if name == "transformers":
        return [("cold j1", "text", {"jobs": 1}),
                ("cold j2 (fills cache)", "json", {"jobs": 2, "cache": "fill"}),
                ("warm j2", "json", {"jobs": 2, "cache": "warm"}),
                ("warm j1", "json", {"jobs": 1, "cache": "warm"}),
                ("warm j2", "text", {"jobs": 2, "cache": "warm"}),
                ("warm j1", "text", {"jobs": 1, "cache": "warm"})]
    out = []
    for fmt in FORMATS:
        out += [("cold j1", fmt, {"jobs": 1}), ("cold j2", fmt, {"jobs": 2})]
        if fmt in ("json", "text"):
            out += [("cold j2 again", fmt, {"jobs": 2}), ("cold default jobs", fmt, {}),
                    ("cold j2 PYTHONHASHSEED=0", fmt, {"jobs": 2, "seed": 0}),
                    ("cold j2 PYTHONHASHSEED=4242", fmt, {"jobs": 2, "seed": 4242}),
                    ("cold j2 absolute path", fmt, {"jobs": 2, "absolute": True})]
        if fmt == "json":
            out += [("cold j2 (fills cache)", fmt, {"jobs": 2, "cache": "fill"})]
        out += [("warm j2", fmt, {"jobs": 2, "cache": "warm"}), ("warm j1", fmt, {"jobs": 1, "cache": "warm"})]
    return out


def bench(name, path):
    cache = tempfile.mkdtemp(prefix="fxlint-det-cache-")
    rows, first = [], {}
    try:
        for label, fmt, opts in matrix(name):
            opts = dict(opts)
            mode = opts.pop("cache", None)
            started = time.time()
            r = run(path, fmt, cache=cache if mode else None, **opts)
            raw, norm = digest(r["stdout"]), digest(normalize(r["stdout"]))
            ref = first.setdefault(fmt, norm)
            row = {"run": label, "format": fmt, "sha256": norm, "raw_sha256": raw, "normalized": raw != norm,
                   "same": norm == ref, "wall_s": round(time.time() - started, 1),
                   "lines": r["stdout"].count("\n")}
            log(f"[determinism] {name} {fmt:10s} {label:28s} {norm[:16]} "
                f"{'same' if row['same'] else 'DIFFERS'}{' (cache count blanked)' if row['normalized'] else ''} "
                f"{row['wall_s']} s")
            rows.append(row)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    return {"path": path, "runs": rows, "all_identical": all(r["same"] for r in rows)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpora", default="timm,monai,x_transformers")
    ap.add_argument("--cache", default=os.environ.get("FXLINT_BENCH_CACHE", CACHE_DEFAULT))
    ap.add_argument("--out")
    a = ap.parse_args()
    results = {}
    for name in a.corpora.split(","):
        path = os.path.join(a.cache, CORPORA[name])
        if not os.path.isdir(path):
            log(f"[determinism] {name}: {path} missing (run corpora.py --libs): skipped")
            continue
        results[name] = bench(name, path)
    rows = [[name, r["format"], r["run"], r["sha256"][:16], "yes" if r["same"] else "**NO**",
             "yes" if r["normalized"] else ""] for name, res in results.items() for r in res["runs"]]
    print(md_table(["corpus", "format", "run", "sha256 (first 16)", "same as first", "cache count blanked"], rows))
    for name, res in results.items():
        print(f"{name}: {'all identical' if res['all_identical'] else 'OUTPUTS DIFFER'} "
              f"({len(res['runs'])} runs)")
    if a.out:
        write_json(a.out, results)
    return 0 if all(r["all_identical"] for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
