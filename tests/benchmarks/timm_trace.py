"""Ground truth: plain ``torch.fx.symbolic_trace`` on one timm model per family.

Runs inside the timm venv (see corpora.py), NOT in the fxlint environment:

  VENV/bin/python tests/benchmarks/timm_trace.py --timm-root ROOT --out OUT.json [--jobs 2] [--timeout 90]
                                                 [--selection timm_selection.json] [--models a,b] [--limit N]
                                                 [--variants]

ROOT is the folder that contains the ``timm/`` package to trace (the pristine corpus, or a copy that
``fxlint fix`` rewrote); it is put first on sys.path of every worker, and each record says which
``timm/__init__.py`` was imported. Each model runs in a worker process with a timeout (a worker that
times out or dies is killed and replaced); ``--jobs`` workers run side by side, one torch thread each.

Per model (same protocol as shared/notes/timm_baseline/run_timm.py, plain tracer only):
``timm.create_model(name, pretrained=False).eval()``, input ``randn(1, *pretrained_cfg.input_size)``,
``torch.fx.symbolic_trace(model)``; on failure the innermost frame inside timm is the failing line; on
success the GraphModule is compared with eager when params x input area <= 60 (M params x 224^2 units),
and the graph's quantization coverage is recorded: the share of the weights of Conv/Linear modules that
appear as ``call_module`` nodes (what FX graph-mode quantization can reach).
``--variants`` traces the selection's configuration variants instead (``timm_selection.json`` -> ``variants``:
the same family built with documented ``create_model`` keyword arguments, ``kwargs``, and/or public model methods
called before ``.eval()``, ``setup``: ``[{"method": "set_grad_checkpointing", "args": [true]}]``), same protocol.
With coverage on (the default) each record also lists ``executed_lines``: the lines of timm's files that ran
while ``symbolic_trace`` ran (bench_timm.py uses them to tie a diagnostic to the families that executed it).
Coverage costs: sys.settrace puts CPython 3.11 on its slow path (~4.5 min instead of ~1.7 min on 2 cores),
which is why bench_timm.py caches this run (it depends only on timm, torch and the selection).
"""
from __future__ import annotations

import argparse
import json
import linecache
import multiprocessing as mp
import os
import queue
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from _linecov import LineCoverage, relative  # noqa: E402
CHECK_MAX_COST = 60.0

# worker globals
torch = timm = None
TIMM_DIR = TIMM_ROOT = None


# ---------------------------------------------------------------------------------------------
# worker side

def install_torchvision_shim():
    """For a venv built by an older corpora.py with PyPI's torchvision 0.28 wheel (linked against a CUDA torch:
    beside the CPU torch its compiled ops do not load and `import torchvision` raises `operator torchvision::nms
    does not exist`): defining the two op schemas first lets the pure-Python parts import. The venv corpora.py
    builds now has no torchvision, only its stub (which imports): then this does nothing ("not needed")."""
    import importlib.util

    import torch as _torch

    if importlib.util.find_spec("torchvision") is None:
        return "torchvision not installed"
    try:
        import torchvision  # noqa: F401
        return "not needed"
    except Exception:  # noqa: BLE001
        pass
    for k in [k for k in sys.modules if k == "torchvision" or k.startswith("torchvision.")]:
        del sys.modules[k]
    lib = _torch.library.Library("torchvision", "DEF")
    lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    globals()["_SHIM_LIB"] = lib
    import torchvision  # noqa: F401
    return "shim"


def worker_init(timm_root):
    global torch, timm, TIMM_DIR, TIMM_ROOT
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, os.path.abspath(timm_root))
    install_torchvision_shim()
    import torch as _torch

    _torch.set_num_threads(1)
    import timm as _timm
    import timm.models  # noqa: F401  (registers every model)

    torch, timm = _torch, _timm
    TIMM_DIR = os.path.dirname(os.path.abspath(timm.__file__))
    TIMM_ROOT = os.path.dirname(TIMM_DIR)
    if TIMM_ROOT != os.path.abspath(timm_root):
        raise RuntimeError(f"imported timm from {TIMM_DIR}, expected it under {timm_root}")


def _first_line(e):
    s = str(e).strip()
    return s.splitlines()[0][:300] if s else ""


def describe_exception(exc):
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append((tb.tb_frame.f_code, tb.tb_lineno))
        tb = tb.tb_next
    lib = [(c, ln) for c, ln in frames if os.path.abspath(c.co_filename).startswith(TIMM_DIR + os.sep)]
    info = {"exc_type": type(exc).__name__, "message": _first_line(exc)}
    if frames:
        c, ln = frames[-1]
        info["innermost_frame"] = f"{os.path.basename(c.co_filename)}:{ln}"
    if lib:
        c, ln = lib[-1]
        info["lib_frame"] = f"{os.path.relpath(c.co_filename, TIMM_ROOT)}:{ln}"
        info["lib_function"] = getattr(c, "co_qualname", c.co_name)
        info["lib_source"] = linecache.getline(c.co_filename, ln).strip()[:240]
        info["lib_chain"] = [f"{os.path.relpath(cc.co_filename, TIMM_ROOT)}:{l}" for cc, l in lib]
        info["lib_chain_funcs"] = [getattr(cc, "co_qualname", cc.co_name) for cc, _ in lib]
    else:
        info["lib_frame"] = None
        info["lib_source"] = ""
    return info


def compare_outputs(a, b):
    def flat(o):
        if isinstance(o, torch.Tensor):
            return [o]
        if isinstance(o, dict):
            return [t for k in o for t in flat(o[k])]
        if isinstance(o, (list, tuple)):
            return [t for e in o for t in flat(e)]
        return []

    fa, fb = flat(a), flat(b)
    if len(fa) != len(fb) or not fa:
        return {"match": False, "reason": f"structure differs ({len(fa)} vs {len(fb)} tensors)"}
    worst = 0.0
    for x, y in zip(fa, fb):
        if x.shape != y.shape:
            return {"match": False, "reason": f"shape {tuple(x.shape)} vs {tuple(y.shape)}"}
        if x.numel() == 0:
            continue
        if x.is_floating_point():
            d = (x.float() - y.float()).abs().max().item()
        else:
            d = float((x != y).sum().item())
        worst = max(worst, d)
    scale = max(max((x.float().abs().max().item() for x in fa if x.numel()), default=1.0), 1.0)
    return {"match": worst <= 1e-4 * scale + 1e-5, "max_abs_diff": worst}


def _quant_types():
    nn = torch.nn
    return (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d,
            nn.Linear)


def graph_stats(model, gm):
    qt = _quant_types()
    q_total = sum(p.numel() for m in model.modules() if isinstance(m, qt) for p in m.parameters(recurse=False))
    seen, q_vis = set(), 0
    n_call_module = n_custom_leaf = n_timm_fn = 0
    for n in gm.graph.nodes:
        if n.op == "call_module":
            n_call_module += 1
            sm = gm.get_submodule(n.target)
            if not type(sm).__module__.startswith("torch.nn"):
                n_custom_leaf += 1
            if isinstance(sm, qt) and id(sm) not in seen:
                seen.add(id(sm))
                q_vis += sum(p.numel() for p in sm.parameters(recurse=False))
        elif n.op == "call_function" and (getattr(n.target, "__module__", "") or "").startswith("timm"):
            n_timm_fn += 1   # a wrapped (opaque) timm function
    return {"n_nodes": len(gm.graph.nodes), "n_call_module": n_call_module, "n_custom_leaf_calls": n_custom_leaf,
            "n_wrapped_timm_fn_calls": n_timm_fn, "quant_params_total": q_total, "quant_params_in_graph": q_vis}


def probe(item):
    name = item["model"]
    res = {"model": name}
    t0 = time.time()
    torch.manual_seed(0)
    try:
        model = timm.create_model(name, pretrained=False, **(item.get("kwargs") or {}))
        for call in item.get("setup") or []:   # a configuration variant's public method calls, in order
            getattr(model, call["method"])(*call.get("args", []))
    except Exception as e:  # noqa: BLE001
        res["create_error"] = f"{type(e).__name__}: {_first_line(e)}"
        return res
    model.eval()
    res["create_s"] = round(time.time() - t0, 2)
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    res["params_m"] = round(params_m, 3)
    ins = tuple(model.pretrained_cfg.get("input_size", (3, 224, 224)))
    res["input_size"] = list(ins)
    cost = params_m * ins[-1] * ins[-2] / (224 * 224)
    qt = _quant_types()
    res["quant_params_total"] = sum(p.numel() for m in model.modules() if isinstance(m, qt)
                                    for p in m.parameters(recurse=False))
    t1 = time.time()
    cov = {}
    try:
        if item.get("coverage", True):
            with LineCoverage(TIMM_DIR, cov):
                gm = torch.fx.symbolic_trace(model)
        else:
            gm = torch.fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001
        info = describe_exception(e)
        info.update(ok=False, trace_s=round(time.time() - t1, 2))
        res["plain"] = info
        res["executed_lines"] = relative(cov, TIMM_ROOT)
        res["probe_s"] = round(time.time() - t0, 2)
        return res
    p = {"ok": True, "trace_s": round(time.time() - t1, 2)}
    res["executed_lines"] = relative(cov, TIMM_ROOT)
    try:
        p.update(graph_stats(model, gm))
    except Exception as e:  # noqa: BLE001
        p["graph_stats_error"] = f"{type(e).__name__}: {_first_line(e)}"
    if cost <= CHECK_MAX_COST:
        x = torch.randn(1, *ins)
        try:
            with torch.no_grad():
                eager = model(x)
                out = gm(x)
            p["check"] = compare_outputs(eager, out)
        except Exception as e:  # noqa: BLE001
            info = describe_exception(e)
            p["check"] = {"match": False, "run_error": f"{info['exc_type']}: {info['message']}",
                          "lib_frame": info.get("lib_frame")}
    else:
        p["check"] = None
        p["check_skipped"] = f"cost {cost:.0f} > {CHECK_MAX_COST:.0f}"
    res["plain"] = p
    res["probe_s"] = round(time.time() - t0, 2)
    return res


def _worker_main(conn, timm_root):
    try:
        worker_init(timm_root)
        conn.send({"ready": True, "timm_file": timm.__file__, "torch": torch.__version__,
                   "timm": timm.__version__})
    except Exception as e:  # noqa: BLE001
        conn.send({"ready": False, "error": f"{type(e).__name__}: {e}"})
        return
    while True:
        item = conn.recv()
        if item is None:
            break
        try:
            r = probe(item)
        except BaseException as e:  # noqa: BLE001
            r = {"model": item["model"], "worker_error": f"{type(e).__name__}: {_first_line(e)}"}
        conn.send(r)


# ---------------------------------------------------------------------------------------------
# driver side (never imports torch)

class Slot:
    """One worker process with a per-item timeout; killed (by its own handle) and restarted on timeout."""

    def __init__(self, ctx, timm_root):
        self.ctx, self.timm_root = ctx, timm_root
        self.proc = self.conn = None
        self.info = None

    def start(self):
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker_main, args=(child, self.timm_root), daemon=True)
        self.proc.start()
        self.conn = parent
        if not parent.poll(300):
            self.kill()
            raise RuntimeError("worker did not start in 300 s")
        self.info = parent.recv()
        if not self.info.get("ready"):
            self.kill()
            raise RuntimeError(f"worker init failed: {self.info.get('error')}")

    def run(self, item, timeout):
        if self.proc is None or not self.proc.is_alive():
            self.start()
        t0 = time.time()
        self.conn.send(item)
        if self.conn.poll(timeout):
            try:
                res = self.conn.recv()
            except EOFError:
                res = {"model": item["model"], "worker_error": "worker died"}
                self.kill()
        else:
            res = {"model": item["model"], "worker_error": f"timeout after {timeout:.0f}s"}
            self.kill()
        res["wall_s"] = round(time.time() - t0, 2)
        return res

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.join(10)
        self.proc = None

    def close(self):
        if self.proc is not None and self.proc.is_alive():
            try:
                self.conn.send(None)
                self.proc.join(15)
            except Exception:  # noqa: BLE001
                pass
            if self.proc.is_alive():
                self.kill()
        self.proc = None


def run_all(timm_root, items, jobs=2, timeout=90.0, progress=True):
    ctx = mp.get_context("spawn")
    q = queue.Queue()
    for i, it in enumerate(items):
        q.put((i, it))
    results = [None] * len(items)
    infos = []
    lock = threading.Lock()
    done = [0]

    def loop():
        slot = Slot(ctx, timm_root)
        try:
            while True:
                try:
                    i, it = q.get_nowait()
                except queue.Empty:
                    return
                r = slot.run(it, timeout)
                r = {**it, **r}
                results[i] = r
                with lock:
                    if slot.info and slot.info not in infos:
                        infos.append(slot.info)
                    done[0] += 1
                    if progress:
                        p = r.get("plain") or {}
                        st = "OK " if p.get("ok") else ("ERR" if p else "---")
                        extra = ""
                        if p and not p.get("ok"):
                            extra = f"{p.get('lib_frame')}  {p.get('exc_type')}: {p.get('message', '')[:60]}"
                        elif p.get("check") and not p["check"].get("match"):
                            extra = f"MISMATCH {p['check']}"
                        extra = r.get("worker_error") or r.get("create_error") or extra
                        print(f"[{done[0]}/{len(items)}] {st} {r.get('id', r['model']):<40} {r.get('wall_s')}s {extra}",
                              file=sys.stderr, flush=True)
        finally:
            slot.close()

    threads = [threading.Thread(target=loop) for _ in range(max(1, jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, infos


def status(r):
    """'pass' (traces; output matches eager or was not checked), 'mismatch', 'fail', 'error'."""
    p = r.get("plain")
    if not p:
        return "error"
    if not p.get("ok"):
        return "fail"
    chk = p.get("check")
    if chk is not None and not chk.get("match"):
        return "mismatch"
    return "pass"


def summarize(records):
    from collections import Counter

    st = Counter(status(r) for r in records)
    fails = [r for r in records if status(r) == "fail"]
    lines = sorted({r["plain"].get("lib_frame") for r in fails if r["plain"].get("lib_frame")})
    checked = sum(1 for r in records if status(r) == "pass" and (r["plain"].get("check") is not None))
    q_tot = sum(r.get("quant_params_total") or 0 for r in records)
    q_vis = sum(r["plain"].get("quant_params_in_graph") or 0 for r in records if status(r) in ("pass",))
    return {"n_models": len(records), "pass": st.get("pass", 0), "pass_output_checked": checked,
            "fail": st.get("fail", 0), "mismatch": st.get("mismatch", 0), "error": st.get("error", 0),
            "distinct_failing_lines": len(lines), "failing_lines": lines,
            "quant_coverage": round(q_vis / q_tot, 4) if q_tot else None,
            "quant_params_total": q_tot, "quant_params_in_graph": q_vis}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timm-root", required=True, help="folder that contains the timm/ package to trace")
    ap.add_argument("--selection", default=os.path.join(HERE, "timm_selection.json"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=90.0)
    ap.add_argument("--models", help="comma-separated model names (subset of the selection); with --variants, "
                                     "variant ids or model names")
    ap.add_argument("--variants", action="store_true",
                    help="trace the selection's configuration variants (its 'variants' list) instead of its models")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--no-coverage", action="store_true",
                    help="do not record which timm lines run while tracing (used to attribute false positives)")
    args = ap.parse_args()

    items = json.load(open(args.selection))["variants" if args.variants else "models"]
    if args.models:
        want = set(args.models.split(","))
        items = [it for it in items if it["model"] in want or it.get("id") in want]
    if args.limit:
        items = items[: args.limit]
    items = [dict(it, coverage=not args.no_coverage) for it in items]
    t0 = time.time()
    records, infos = run_all(args.timm_root, items, args.jobs, args.timeout)
    meta = {"created": time.strftime("%Y-%m-%d %H:%M:%S"), "timm_root": os.path.abspath(args.timm_root),
            "selection": os.path.abspath(args.selection), "n_selected": len(items), "variants": args.variants,
            "coverage": not args.no_coverage, "workers": infos, "jobs": args.jobs,
            "timeout_s": args.timeout, "wall_s": round(time.time() - t0, 1), "python": sys.version.split()[0],
            "check_max_cost": CHECK_MAX_COST}
    out = {"meta": meta, "summary": summarize(records), "models": records}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1, default=str)
    s = out["summary"]
    print(json.dumps({k: v for k, v in s.items() if k != "failing_lines"}), flush=True)


if __name__ == "__main__":
    main()
