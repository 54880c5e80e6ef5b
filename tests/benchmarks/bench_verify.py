"""How much `fxlint verify` costs per model beyond the torch work itself. A measurement, not a test.

    python tests/benchmarks/bench_verify.py [PATHS ...] [--repeat N]     (default PATHS: fixtures/models)

Each worker times every stage (import of the user's file, construct, trace, equivalence, QAT prepare/run,
convert) around the stage's own code: that sum is the raw work. Everything else is verify's overhead:
starting the zygote (import torch once), forking a child per model, passing messages, running fxlint's
static analysis for blame, assembling reports. Measured with one model at a time (``jobs=1``), so that
wall time minus startup minus the stages is overhead; then the default parallel run's wall time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, REPO)

from fxlint.verify.api import VerifyOptions, verify_paths  # noqa: E402


def stage_seconds(report) -> float:
    return sum(result.seconds for model in report.models for _, result in model.stages)


def measure(paths, jobs: int) -> dict:
    started = time.perf_counter()
    report = verify_paths(paths, VerifyOptions(timeout=120, jobs=jobs))
    wall = time.perf_counter() - started
    n = len(report.models)
    work = stage_seconds(report)
    return {"models": n, "wall": wall, "startup": report.worker_startup_s, "work": work,
            "overhead_per_model": (wall - report.worker_startup_s - work) / max(1, n),
            "amortized_per_model": (wall - work) / max(1, n),
            "verdicts": {v: report.count(v) for v in ("pass", "fail", "skipped")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[os.path.join(REPO, "fixtures", "models")])
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    serial = [measure(args.paths, jobs=1) for _ in range(args.repeat)]
    parallel = [measure(args.paths, jobs=0 or None) for _ in range(args.repeat)]
    first = serial[0]
    print(f"models: {first['models']}  verdicts: {first['verdicts']}  (cpus: {os.cpu_count()})")
    for name, runs in (("jobs=1", serial), ("default jobs", parallel)):
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "startup", "work",
                                                                   "overhead_per_model", "amortized_per_model")}
        print(f"{name:>13}: wall {med['wall']:.2f} s, worker startup {med['startup']:.2f} s, "
              f"torch work in stages {med['work']:.2f} s")
        if name == "jobs=1":
            print(f"{'':>13}  overhead per model {med['overhead_per_model']:.3f} s "
                  f"({med['amortized_per_model']:.3f} s with the startup spread over the models)")


if __name__ == "__main__":
    main()
