"""Helpers shared by the benchmark scripts: timed child processes, the fxlint command, machine facts."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE_DEFAULT = os.path.join(os.path.expanduser("~"), ".cache", "fxlint-bench")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, file=sys.stderr, flush=True)


def run_measured(cmd, env=None, cwd=None, timeout=None, capture=True):
    """Run cmd as a child process and measure it.

    Returns dict(rc, wall_s, cpu_s (user+sys of the child and all its reaped descendants),
    peak_mib (ru_maxrss of os.wait4: the largest single process in the child's tree), stdout, stderr).
    """
    out = tempfile.TemporaryFile() if capture else None
    err = tempfile.TemporaryFile() if capture else None
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
    timed_out = []
    timer = None
    if timeout is not None:
        import threading

        def _kill():
            timed_out.append(True)
            p.kill()  # our own child, by handle

        timer = threading.Timer(timeout, _kill)
        timer.start()
    _, status, ru = os.wait4(p.pid, 0)
    if timer is not None:
        timer.cancel()
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    res = {"rc": p.returncode, "wall_s": round(wall, 3), "cpu_s": round(ru.ru_utime + ru.ru_stime, 3),
           "peak_mib": round(ru.ru_maxrss / 1024, 1)}
    if timed_out:
        res["timeout"] = True
    if capture:
        out.seek(0)
        err.seek(0)
        res["stdout"] = out.read().decode("utf-8", "replace")
        res["stderr"] = err.read().decode("utf-8", "replace")
        out.close()
        err.close()
    return res


def summarize_runs(runs):
    """Median / min / max of wall, CPU and peak of a list of run_measured() results."""
    walls = [r["wall_s"] for r in runs]
    return {"n": len(runs), "wall_s": round(statistics.median(walls), 3), "wall_min": min(walls),
            "wall_max": max(walls), "cpu_s": round(statistics.median(r["cpu_s"] for r in runs), 3),
            "peak_mib": max(r["peak_mib"] for r in runs), "rc": sorted({r["rc"] for r in runs})}


def bench_env(cache=CACHE_DEFAULT):
    """Environment for timed Python children: bytecode caching ON (as in a normal install; this sandbox sets
    PYTHONDONTWRITEBYTECODE=1, which makes every start-up recompile fxlint), with the .pyc files kept outside
    the repository (PYTHONPYCACHEPREFIX)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(cache, "pycache")
    return env


def fxlint_env():
    env = bench_env()
    env["PYTHONPATH"] = REPO + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def fxlint_cmd(*args):
    """`python -m fxlint ...` against the working tree (PYTHONPATH=repo), same interpreter as the harness."""
    return [sys.executable, "-m", "fxlint", *args]


def fxlint_has(subcommand):
    r = subprocess.run(fxlint_cmd(subcommand, "--help"), env=fxlint_env(), capture_output=True, text=True,
                       timeout=120)
    return r.returncode == 0, (r.stdout + r.stderr)


def fxlint_version():
    r = subprocess.run([sys.executable, "-c", "import fxlint; print(getattr(fxlint, '__version__', '?'))"],
                       env=fxlint_env(), capture_output=True, text=True)
    return r.stdout.strip() or None


def git_rev():
    """Short HEAD, with '+dirty' when fxlint/ or rules/ have uncommitted changes (the harness runs the
    working tree)."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "fxlint", "rules"],
                               capture_output=True, text=True).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) or None
    except OSError:
        return None


def machine():
    cpu = None
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            mem = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        import libcst._version as lv
        libcst_v = lv.__version__
    except Exception:  # noqa: BLE001
        libcst_v = None
    return {"cores": os.cpu_count(), "cpu": cpu, "mem_gib": mem, "platform": platform.platform(),
            "python": sys.version.split()[0], "libcst": libcst_v,
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(obj, fh, indent=1, default=str)
        fh.write("\n")
    os.replace(tmp, path)


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        out.append("| " + " | ".join("" if c is None else str(c) for c in r) + " |")
    return "\n".join(out)
