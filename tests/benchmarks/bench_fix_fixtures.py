"""Acceptance measurement for `fxlint fix` (issue 4) on the fixture corpus. Not a pytest test.

Copies fixtures/models to a temp folder (the originals are never touched), verifies every hazard
fixture there (FXLINT_EXPECT "error"/"silent"/"qat") with `fxlint verify` (automatic make()/make_alt()
discovery), runs `fxlint fix --apply --unsafe-fixes` on the copy, verifies again, and reports how
many hazard fixtures become traceable + eager-equivalent + QAT-runnable (verify's verdict "pass":
import, construct, trace, equivalence on make() and make_alt() inputs, qat_prepare, qat_run with
forward/backward), plus clean fixtures left byte-identical and clean fixtures still passing.

    python tests/benchmarks/bench_fix_fixtures.py [--json OUT.json] [--keep]
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))

from fixture_support import discover, read_meta  # noqa: E402

from fxlint.verify.api import VerifyOptions, verify_paths  # noqa: E402


def verdicts(files):
    """{file: (verdict, first failure)}; a file with several models passes only if all pass."""
    report = verify_paths([str(f) for f in files], VerifyOptions(timeout=180))
    out = {}
    for model in report.models:
        path = str(Path(model.file).resolve())
        failure = model.first_failure
        why = f"{failure[0]}: {failure[1].error}" if failure else ""
        old = out.get(path)
        if old is None or (old[0] == "pass" and model.verdict != "pass"):
            out[path] = (model.verdict, why)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the per-fixture results here")
    parser.add_argument("--keep", action="store_true", help="keep the temp copy and print its path")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fxlint-fix-bench-"))
    copy = work / "models"
    shutil.copytree(REPO / "fixtures" / "models", copy)
    fixtures = discover(copy)
    expect = {str(p.resolve()): read_meta(p)["FXLINT_EXPECT"] for p in fixtures}
    before_bytes = {p: Path(p).read_bytes() for p in expect}
    started = time.monotonic()
    before = verdicts(fixtures)
    fix = subprocess.run([sys.executable, "-m", "fxlint", "fix", "--apply", "--unsafe-fixes", "-q", str(copy)],
                         capture_output=True, text=True, cwd=work)
    after = verdicts(fixtures)
    rows = []
    for path, kind in sorted(expect.items()):
        changed = Path(path).read_bytes() != before_bytes[path]
        rows.append({"fixture": str(Path(path).relative_to(copy)), "expect": kind, "changed": changed,
                     "before": before.get(path, ("missing", ""))[0], "after": after.get(path, ("missing", ""))[0],
                     "after_failure": after.get(path, ("", ""))[1]})
    hazards = [r for r in rows if r["expect"] != "clean"]
    fixed = [r for r in hazards if r["after"] == "pass"]
    clean = [r for r in rows if r["expect"] == "clean"]
    print(fix.stdout.strip())
    print()
    for r in rows:
        mark = "FIXED" if r["expect"] != "clean" and r["after"] == "pass" else r["after"]
        print(f"{r['fixture']:<48} {r['expect']:<7} before={r['before']:<7} after={mark:<7} "
              f"{'changed' if r['changed'] else 'untouched'}  {r['after_failure'][:90]}")
    print()
    print(f"hazard fixtures traceable + equivalent + QAT-runnable after fix: {len(fixed)}/{len(hazards)} "
          f"(error {sum(r['expect'] == 'error' for r in fixed)}/{sum(r['expect'] == 'error' for r in hazards)}, "
          f"silent {sum(r['expect'] == 'silent' for r in fixed)}/{sum(r['expect'] == 'silent' for r in hazards)}, "
          f"qat {sum(r['expect'] == 'qat' for r in fixed)}/{sum(r['expect'] == 'qat' for r in hazards)})")
    traced = [r for r in hazards if r["after"] == "pass" or r["after_failure"].startswith(("qat_", "convert"))]
    print(f"hazard fixtures traceable + equivalent (QAT aside) after fix: {len(traced)}/{len(hazards)}")
    print(f"hazard fixtures passing before fix: {sum(r['before'] == 'pass' for r in hazards)}/{len(hazards)}")
    print(f"clean fixtures byte-identical: {sum(not r['changed'] for r in clean)}/{len(clean)}; "
          f"still passing: {sum(r['after'] == 'pass' for r in clean)}/{len(clean)}")
    print(f"fixed but failing verify (changed, not passing): "
          f"{sum(r['changed'] and r['after'] != 'pass' for r in hazards)}")
    print(f"elapsed {time.monotonic() - started:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    if args.keep:
        print(f"copy kept at {copy}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
