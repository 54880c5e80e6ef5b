"""Ground truth of bench_libs.py: eager outputs and plain ``torch.fx.symbolic_trace`` per catalogued model.

Runs inside the libraries' venv (corpora.ensure_libs_venv), NOT in the fxlint environment:

  VENV/bin/python tests/benchmarks/lib_trace.py --lib monai --root ROOT --out OUT.json [--jobs 2]
                                                [--timeout 180] [--models a,b]

ROOT is the folder that holds the library's package (the pristine tree or a copy that `fxlint fix` rewrote);
it is put first on sys.path and each record says which file was imported. Models run in worker processes,
--batch of them one after the other per process (importing torch and the library costs ~5 s CPU, more than
most models), each under a --timeout alarm; a model a batch did not report is re-run in its own process.
--jobs workers run side by side, one torch thread each. Every case is seeded, so the batching does not
change any output.

Per model (lib_models.catalogue(lib)): build with torch.manual_seed(0); then for input shapes 0 and 1 and modes
eval and train, a deep copy of the built model runs eagerly (inputs drawn after manual_seed(1), the forward
after manual_seed(2) and random.seed(2)); the outputs' digest (sha256 over dtype, shape and bytes of every tensor, in order) is
what "bit for bit" compares across trees. Then symbolic_trace of a fresh deep copy, once in eval and once in
train mode (the trace bakes `self.training` in); on failure the innermost frame inside the library is the
failing line; on success the GraphModule runs the same cases with the same seeds and must reproduce the
eager outputs (exact digest, else torch.allclose 1e-5/1e-6). Lines of the library that ran while tracing are
recorded (sys.settrace, library files only) to tie a diagnostic to the models that executed it.
status: build_error (constructor or eager forward raised: a catalogue problem, not judged), fail (a trace
raised), mismatch (traced, but a traced run raised or differed), pass.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import copy
import hashlib
import json
import linecache
import os
import random
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _linecov import LineCoverage, relative  # noqa: E402
SHAPES = (0, 1)
MODES = ("eval", "train")

torch = None
LIB_DIR = LIB_ROOT = None


def _first_line(e):
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else ""


def describe_exception(exc):
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code.co_filename, tb.tb_lineno))
        tb = tb.tb_next
    info = {"exc_type": type(exc).__name__, "message": _first_line(exc)}
    lib = [(f, ln) for f, ln in frames if os.path.abspath(f).startswith(LIB_DIR + os.sep)]
    if frames:
        info["innermost_frame"] = f"{os.path.basename(frames[-1][0])}:{frames[-1][1]}"
    if lib:
        f, ln = lib[-1]
        info["lib_frame"] = f"{os.path.relpath(os.path.abspath(f), LIB_ROOT)}:{ln}"
        info["source"] = linecache.getline(f, ln).strip()[:200]
    return info


def flatten(out):
    """Tensors (and plain leaves) of a model output, in a fixed order."""
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in flatten(o)]
    if isinstance(out, dict):
        return [t for k in out for t in flatten(out[k])]
    if out is None or isinstance(out, (bool, int, float, str)):
        return [out]
    if hasattr(out, "__dict__"):
        return [t for k, v in sorted(vars(out).items()) for t in flatten(v)]
    return [repr(out)]


def digest(leaves):
    h = hashlib.sha256()
    for t in leaves:
        if isinstance(t, torch.Tensor):
            t = t.detach().contiguous().cpu()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(f"L{t!r}".encode())
    return h.hexdigest()[:16]


def close(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, torch.Tensor) != isinstance(y, torch.Tensor):
            return False
        if isinstance(x, torch.Tensor):
            if x.shape != y.shape or x.dtype != y.dtype:
                return False
            if x.is_floating_point():
                if not torch.allclose(x.detach(), y.detach(), rtol=1e-5, atol=1e-6, equal_nan=True):
                    return False
            elif not torch.equal(x, y):
                return False
        elif x != y:
            return False
    return True


def run_case(module, inputs, k, mode):
    m = copy.deepcopy(module)
    m.train(mode == "train")
    torch.manual_seed(1)
    args = inputs(k)
    torch.manual_seed(2)
    random.seed(2)   # x-transformers drops layers with Python's random(): unseeded, train outputs differed run to run
    with torch.no_grad():
        return flatten(m(*args))


def one(lib, name):
    import warnings

    warnings.filterwarnings("ignore")
    import lib_models

    build, inputs = lib_models.catalogue(lib)[name]
    rec = {"model": name, "imported_from": imported_from(lib)}
    try:
        torch.manual_seed(0)
        model = build()
    except Exception as e:  # noqa: BLE001
        rec["build_error"] = describe_exception(e)
        rec["status"] = "build_error"
        return rec
    cls_file = sys.modules[type(model).__module__].__file__
    rec["class"] = f"{type(model).__module__}.{type(model).__qualname__}"
    rec["module_file"] = os.path.relpath(os.path.abspath(cls_file), LIB_ROOT)
    rec["n_params"] = sum(p.numel() for p in model.parameters())
    eager, leaves = {}, {}
    for k in SHAPES:
        for mode in MODES:
            case = f"s{k}/{mode}"
            try:
                leaves[case] = run_case(model, inputs, k, mode)
                eager[case] = {"digest": digest(leaves[case])}
            except Exception as e:  # noqa: BLE001
                eager[case] = {"error": describe_exception(e)}
    rec["eager"] = eager
    if any("error" in v for v in eager.values()):
        rec["status"] = "build_error"
        return rec
    cov = LineCoverage(LIB_DIR)
    trace, match = {}, {}
    for mode in MODES:
        m = copy.deepcopy(model)
        m.train(mode == "train")
        try:
            with cov:
                gm = torch.fx.symbolic_trace(m)
        except Exception as e:  # noqa: BLE001
            trace[mode] = {"ok": False, **describe_exception(e)}
            continue
        trace[mode] = {"ok": True, "n_nodes": len(gm.graph.nodes)}
        for k in SHAPES:
            case = f"s{k}/{mode}"
            try:
                got = run_case(gm, inputs, k, mode)
            except Exception as e:  # noqa: BLE001
                match[case] = {"ok": False, "error": describe_exception(e)}
                continue
            exact = digest(got) == eager[case]["digest"]
            match[case] = {"ok": exact or close(got, leaves[case]), "exact": exact}
    rec["trace"] = trace
    rec["traced_vs_eager"] = match
    rec["executed_lines"] = relative(cov.cov, LIB_ROOT)
    if not all(t["ok"] for t in trace.values()):
        rec["status"] = "fail"
    elif all(v["ok"] for v in match.values()):
        rec["status"] = "pass"
    else:
        rec["status"] = "mismatch"
    return rec


def failing_line(rec):
    """The failing line of a failing model: the library frame of its eval trace, else of its train trace."""
    for mode in MODES:
        t = (rec.get("trace") or {}).get(mode) or {}
        if not t.get("ok", True) and t.get("lib_frame"):
            return t["lib_frame"], t.get("source", "")
    return None, None


def worker_setup(lib, root):
    global torch, LIB_DIR, LIB_ROOT
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, HERE)
    sys.path.insert(0, os.path.abspath(root))
    import torch as _torch

    _torch.set_num_threads(1)
    torch = _torch
    pkg = __import__(lib)
    LIB_DIR = os.path.dirname(os.path.abspath(pkg.__file__))
    LIB_ROOT = os.path.dirname(LIB_DIR)
    if LIB_ROOT != os.path.abspath(root):
        raise RuntimeError(f"imported {lib} from {LIB_DIR}, expected it under {root}")
    return pkg


def imported_from(lib):
    return os.path.abspath(sys.modules[lib].__file__)


class ModelTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ModelTimeout("model took longer than the per-model timeout")


def run_batch(lib, names, timeout):
    """In the worker: the models one after the other (one import of torch and the library for all), each
    under SIGALRM; one JSON line per model, flushed at once (a killed batch keeps what it printed)."""
    import signal

    signal.signal(signal.SIGALRM, _alarm)
    for name in names:
        t0 = time.time()
        signal.alarm(max(1, int(timeout)))
        try:
            rec = one(lib, name)
        except ModelTimeout:
            rec = {"model": name, "status": "timeout"}
        finally:
            signal.alarm(0)
        rec["wall_s"] = round(time.time() - t0, 1)
        print(json.dumps(rec), flush=True)


def run_batch_subprocess(lib, root, names, timeout):
    """One worker process for a batch of models; models it did not report (killed, crashed) are retried one
    per process, and a model that kills its own process is a worker_error."""
    cmd = [sys.executable, os.path.abspath(__file__), "--lib", lib, "--root", root, "--one", ",".join(names),
           "--timeout", str(timeout)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout * len(names) + 120)
        out, err, rc = r.stdout, r.stderr, r.returncode
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        err, rc = "batch timed out", -9
    recs = {}
    for ln in out.splitlines():
        if ln.startswith("{"):
            rec = json.loads(ln)
            recs[rec["model"]] = rec
    missing = [n for n in names if n not in recs]
    if missing and len(names) == 1:
        return [{"model": names[0], "status": "worker_error", "rc": rc, "stderr_tail": err[-800:]}]
    for n in missing:
        recs[n] = run_batch_subprocess(lib, root, [n], timeout)[0]
    return [recs[n] for n in names]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--out")
    ap.add_argument("--one", help="worker mode: run these models (comma-separated) here, one JSON line each")
    ap.add_argument("--batch", type=int, default=8, help="models per worker process (one import for all)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--models")
    args = ap.parse_args()
    if args.one:
        worker_setup(args.lib, args.root)
        run_batch(args.lib, args.one.split(","), args.timeout)
        return
    sys.path.insert(0, HERE)
    import lib_models

    names = args.models.split(",") if args.models else list(lib_models.catalogue(args.lib))
    t0 = time.time()
    # interleaved batches, so that the jobs get a similar mix of costly and cheap models
    n_batches = max(args.jobs, -(-len(names) // max(1, args.batch)))
    batches = [names[i::n_batches] for i in range(n_batches)]
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        done = list(pool.map(lambda b: run_batch_subprocess(args.lib, args.root, b, args.timeout), batches))
    by_name = {r["model"]: r for batch in done for r in batch}
    recs = [by_name[n] for n in names]
    for r in recs:
        print(f"[lib_trace] {args.lib} {r['model']}: {r['status']} {failing_line(r)[0] or ''} ({r.get('wall_s')} s)",
              file=sys.stderr, flush=True)
    import torch as _torch

    out = {"meta": {"lib": args.lib, "root": os.path.abspath(args.root), "torch": _torch.__version__,
                    "jobs": args.jobs, "timeout": args.timeout, "wall_s": round(time.time() - t0, 1),
                    "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())},
           "models": recs}
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
