"""Ground truth for transformers: eager outputs and torch.fx.symbolic_trace of tiny-config models.

Runs inside the transformers venv (corpora.ensure_hf_venv), NOT in the fxlint environment:

  VENV/bin/python tests/benchmarks/hf_trace.py run --tf-root ROOT --out OUT.json --outputs DIR
                                                   [--jobs 2] [--timeout 120] [--models a,b]
  VENV/bin/python tests/benchmarks/hf_trace.py compare --before DIR_A --after DIR_B --out OUT.json

ROOT is the folder that contains the ``transformers/`` package (the pristine corpus or a copy that
``fxlint fix`` rewrote); it is put first on sys.path of every worker and each record says which
``transformers/__init__.py`` was imported (the venv's wheel is there only for its metadata).

Per model (hf_models.MODELS; built with torch.manual_seed(0), random weights, no download):
  eager    train and eval mode x 2 inputs of different shapes x attention_mask given / omitted (where the
           forward takes one), torch, numpy and random seeded before each call; every output tensor is saved
           (DIR/<name>.pt) so two trees can be compared bit for bit (`compare`); an exception is recorded
           with its innermost frame inside transformers.
  plain    torch.fx.symbolic_trace(model) in eval mode, then the GraphModule vs eager on both inputs.
  wrapped / wrapped_mask
           symbolic_trace of a root module whose forward has an explicit signature (the main inputs, and
           attention_mask for wrapped_mask) and calls the model with keyword arguments, returning the
           tuple of its output tensors; then traced vs eager on both inputs.
A failure records the exception type and message and the innermost frame inside transformers (file
relative to ROOT, line, source line). Each model runs under a per-model alarm; a worker that dies is
replaced and the model it was on is recorded as crashed.
"""
from __future__ import annotations

import argparse
import json
import linecache
import os
import signal
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from hf_models import MODELS  # noqa: E402

MODES = ("plain", "wrapped", "wrapped_mask", "wrapped_eager_attn", "wrapped_mask_eager_attn")
#: modes traced on a second copy of the model switched to `set_attn_implementation("eager")`: the
#: attention written out in Python (matmul, softmax), as FX quantization wants it (QAT observes the
#: matmuls; SDPA is one opaque call), and the mask built without SDPA's shape-dependent "skip the mask"
#: decision (masking_utils `_ignore_causal_mask_sdpa`), which no rewrite can keep in a graph
EAGER_ATTN = "_eager_attn"
ATOL = 1e-5
torch = transformers = None
TF_ROOT = TF_PKG = None


# ---------------------------------------------------------------------------------------------
# worker side

def worker_init(tf_root):
    global torch, transformers, TF_ROOT, TF_PKG
    import warnings

    warnings.filterwarnings("ignore")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    TF_ROOT = os.path.abspath(tf_root)
    sys.path.insert(0, TF_ROOT)
    import torch as _torch
    import transformers as _tf

    _torch.set_num_threads(1)
    torch, transformers = _torch, _tf
    TF_PKG = os.path.dirname(os.path.abspath(_tf.__file__))
    if not TF_PKG.startswith(TF_ROOT):
        raise RuntimeError(f"imported {TF_PKG}, not the tree under {TF_ROOT}")


def innermost(exc):
    """(file relative to ROOT, line, source) of the innermost traceback frame inside transformers."""
    best = None
    for fr in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(fr.filename).startswith(TF_PKG + os.sep):
            best = fr
    if best is None:
        return None
    src = (linecache.getline(best.filename, best.lineno) or "").strip()
    return {"file": os.path.relpath(best.filename, TF_ROOT), "line": best.lineno, "src": src[:200],
            "func": best.name}


def _code_frame(fn):
    code = getattr(fn, "__code__", None)
    if code is None or not os.path.abspath(code.co_filename).startswith(TF_PKG + os.sep):
        return None
    line = code.co_firstlineno   # the first decorator's line: move on to the `def` itself
    for n in range(line, line + 20):
        if linecache.getline(code.co_filename, n).lstrip().startswith(("def ", "async def ")):
            line = n
            break
    src = (linecache.getline(code.co_filename, line) or "").strip()
    return {"file": os.path.relpath(code.co_filename, TF_ROOT), "line": line, "src": src[:200],
            "func": code.co_name}


def err_record(exc):
    return {"type": type(exc).__name__, "msg": str(exc).splitlines()[0][:300] if str(exc) else "",
            "frame": innermost(exc)}


def seed_all():
    """torch, numpy and random: wav2vec2 / hubert draw their train-mode time masks (SpecAugment) from numpy's
    global generator, which torch.manual_seed does not reset (seeding torch alone made their train outputs
    differ between two runs of the same tree)."""
    import random

    import numpy as np

    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)


def build(name):
    model_type, _kind, cls, over = MODELS[name]
    seed_all()
    cfg = transformers.AutoConfig.for_model(model_type, **json.loads(json.dumps(over)))
    if cls:
        model = getattr(transformers, cls)._from_config(cfg)
    else:
        model = transformers.AutoModel.from_config(cfg)
    return model, cfg


def make_inputs(kind, cfg, idx):
    """Two input sets of different shapes: idx 0 = batch 2 (row 2 padded at its end), idx 1 = batch 1 (3 for
    vision)."""
    g = torch.Generator().manual_seed(100 + idx)
    b, s = (2, 8) if idx == 0 else (1, 5)
    if kind == "vision" and idx == 1:
        b = 3   # batch 1 cannot train a BatchNorm that sees 1x1 maps (MobileViT)
    out = {}
    if kind in ("text", "seq2seq", "multimodal"):
        vocab = getattr(cfg, "vocab_size", None) or cfg.text_config.vocab_size
        out["input_ids"] = torch.randint(3, vocab, (b, s), generator=g)
        mask = torch.ones(b, s, dtype=torch.long)
        if b == 2:
            mask[1, -2:] = 0
        out["attention_mask"] = mask
    if kind == "seq2seq":
        out["decoder_input_ids"] = torch.randint(3, cfg.vocab_size, (b, s - 2), generator=g)
    if kind in ("vision", "multimodal"):
        vc = getattr(cfg, "vision_config", None) or cfg
        size = getattr(vc, "image_size", 32)
        size = size[0] if isinstance(size, (list, tuple)) else size
        if kind == "vision" and not isinstance(getattr(vc, "image_size", None), int):
            size = 32
        out["pixel_values"] = torch.randn(b, getattr(vc, "num_channels", 3), size, size, generator=g)
    if kind == "audio":
        n = 1600 if idx == 0 else 1200
        out["input_values"] = torch.randn(b, n, generator=g)
        mask = torch.ones(b, n, dtype=torch.long)
        if b == 2:
            mask[1, -400:] = 0
        out["attention_mask"] = mask
    return out


def flat(o, prefix="out"):
    """Output tensors by path (ModelOutput / dict / tuple / list walked in order); Proxies count too."""
    if torch.is_tensor(o) or isinstance(o, torch.fx.Proxy):
        return [(prefix, o)]
    items = []
    if isinstance(o, dict):
        for k, v in o.items():
            items += flat(v, f"{prefix}.{k}")
    elif isinstance(o, (list, tuple)):
        for i, v in enumerate(o):
            items += flat(v, f"{prefix}[{i}]")
    return items


def _wrapper_outputs(out):
    return tuple(v for _, v in flat(out))


def make_wrapper(model, args):
    """A root module with an explicit forward(<args>) calling the model with keyword arguments."""
    ns = {"_outputs": _wrapper_outputs}
    src = (f"def forward(self, {', '.join(args)}):\n"
           f"    return _outputs(self.model({', '.join(f'{a}={a}' for a in args)}))\n")
    exec(compile(src, f"<wrapper {','.join(args)}>", "exec"), ns)
    cls = type("Wrapped", (torch.nn.Module,), {"forward": ns["forward"]})
    w = cls()
    w.model = model
    return w


def compare_outputs(ref, got):
    """-> (match, max_abs_diff, note)"""
    if len(ref) != len(got):
        return False, None, f"{len(ref)} eager outputs, {len(got)} traced"
    worst = 0.0
    for (_, a), (_, b) in zip(ref, got):
        if not torch.is_tensor(b) or a.shape != b.shape or a.dtype != b.dtype:
            return False, None, f"output differs in type/shape: {tuple(a.shape)} vs {getattr(b, 'shape', type(b))}"
        if a.numel():
            d = (a.double() - b.double()).abs().max().item() if a.is_floating_point() else float((a != b).any())
            worst = max(worst, d if d == d else float("inf"))
    return worst <= ATOL, worst, ""


def run_eager(model, kind, cfg, takes_mask):
    """-> (records by key, tensors by key)"""
    recs, tensors = {}, {}
    for train in (True, False):
        model.train(train)
        for idx in (0, 1):
            inputs = make_inputs(kind, cfg, idx)
            for with_mask in ((True, False) if takes_mask else (True,)):
                kw = dict(inputs)
                if not with_mask:
                    kw.pop("attention_mask", None)
                elif not takes_mask:
                    kw.pop("attention_mask", None)
                key = f"{'train' if train else 'eval'}/in{idx}/{'mask' if with_mask and takes_mask else 'nomask'}"
                seed_all()
                try:
                    with torch.no_grad():
                        out = flat(model(**kw))
                    tensors[key] = {p: t.detach().clone() for p, t in out}
                    recs[key] = {"ok": True, "n_outputs": len(out)}
                except Exception as e:  # noqa: BLE001
                    recs[key] = {"ok": False, "error": err_record(e)}
    model.eval()
    return recs, tensors


def trace_mode(model, kind, cfg, mode, main_args, takes_mask):
    from torch.fx import symbolic_trace

    rec = {"ok": False}
    if mode.startswith("wrapped_mask") and not (takes_mask and "attention_mask" in make_inputs(kind, cfg, 0)):
        # (vision models whose forward takes an attention_mask get no mask input: the traced root would be
        # called without its required argument)
        return {"skipped": "no attention_mask"}
    if model is None:
        return {"skipped": "no eager attention implementation"}
    args = list(main_args) + (["attention_mask"] if mode.startswith("wrapped_mask") else [])
    root = model if mode == "plain" else make_wrapper(model, args)
    root.eval()
    t0 = time.perf_counter()
    try:
        gm = symbolic_trace(root)
    except Exception as e:  # noqa: BLE001
        rec["error"] = err_record(e)
        rec["stage"] = "trace"
        if rec["error"]["frame"] is None:
            # raised by FX before any transformers line ran (e.g. `co_varnames is too small`: the root's
            # forward is a `(self, *args, **kwargs)` decorator wrapper): the root forward's own def line
            rec["error"]["frame"] = _code_frame(type(root).forward)
            rec["error"]["frame_is_root_def"] = True
        return rec
    rec["trace_s"] = round(time.perf_counter() - t0, 3)
    rec["n_nodes"] = len(gm.graph.nodes)
    matches, diffs = [], []
    for idx in (0, 1):
        kw = make_inputs(kind, cfg, idx)
        kw = {k: v for k, v in kw.items() if k in args} if mode != "plain" else \
            {k: v for k, v in kw.items() if k in main_args or (k == "attention_mask" and takes_mask)}
        try:
            with torch.no_grad():
                seed_all()
                ref = flat(root(**kw))
                seed_all()
                got = flat(gm(**kw))
        except Exception as e:  # noqa: BLE001
            rec["error"] = err_record(e)
            rec["stage"] = f"run in{idx}"
            return rec
        m, d, note = compare_outputs(ref, got)
        matches.append(m)
        diffs.append(d)
        if note:
            rec["note"] = note
    rec["ok"] = True
    rec["match"] = all(matches)
    rec["max_abs_diff"] = [d for d in diffs]
    return rec


def main_args_of(kind):
    return {"text": ["input_ids"], "seq2seq": ["input_ids", "decoder_input_ids"], "vision": ["pixel_values"],
            "audio": ["input_values"], "multimodal": ["input_ids", "pixel_values"]}[kind]


def eager_attention_copy(name, rec):
    """The model built again (same seed, same weights) with `set_attn_implementation("eager")`, or
    None (recorded in ``rec``) when the architecture has no attention to switch or refuses."""
    try:
        model, _ = build(name)
        if getattr(model.config, "_attn_implementation", None) == "eager":
            return model
        model.set_attn_implementation("eager")
        return model if model.config._attn_implementation == "eager" else None
    except Exception as e:  # noqa: BLE001
        rec["eager_attn_error"] = err_record(e)
        return None


def run_model(name, outputs_dir):
    import inspect

    model_type, kind, cls, _ = MODELS[name]
    rec = {"name": name, "model_type": model_type, "kind": kind, "class": cls}
    t0 = time.perf_counter()
    try:
        model, cfg = build(name)
    except Exception as e:  # noqa: BLE001
        rec["build_error"] = err_record(e)
        return rec
    rec["model_class"] = type(model).__name__
    rec["n_params"] = sum(p.numel() for p in model.parameters())
    takes_mask = "attention_mask" in inspect.signature(model.forward).parameters
    rec["takes_mask"] = takes_mask
    rec["eager"], tensors = run_eager(model, kind, cfg, takes_mask)
    eager_attn = eager_attention_copy(name, rec)
    if eager_attn is not None:   # the fix gate compares these eager outputs bit for bit too
        more, more_tensors = run_eager(eager_attn, kind, cfg, takes_mask)
        rec["eager"].update({f"eager_attn/{k}": v for k, v in more.items()})
        tensors.update({f"eager_attn/{k}": v for k, v in more_tensors.items()})
    torch.save(tensors, os.path.join(outputs_dir, f"{name}.pt"))
    rec["trace"] = {}
    for mode in MODES:
        root = eager_attn if mode.endswith(EAGER_ATTN) else model
        try:
            rec["trace"][mode] = trace_mode(root, kind, cfg, mode, main_args_of(kind), takes_mask)
        except Exception as e:  # noqa: BLE001 (the harness itself must not lose the model)
            rec["trace"][mode] = {"ok": False, "error": err_record(e), "stage": "harness"}
    rec["wall_s"] = round(time.perf_counter() - t0, 2)
    return rec


class ModelTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise ModelTimeout("per-model timeout")


def worker_main(args):
    worker_init(args.tf_root)
    signal.signal(signal.SIGALRM, _alarm)
    with open(args.jsonl, "a") as fh:
        fh.write(json.dumps({"worker": {"torch": torch.__version__, "transformers": transformers.__version__,
                                        "imported": os.path.relpath(transformers.__file__, TF_ROOT)}}) + "\n")
        fh.flush()
        for name in args.models.split(","):
            fh.write(json.dumps({"start": name}) + "\n")
            fh.flush()
            signal.alarm(int(args.timeout))
            try:
                rec = run_model(name, args.outputs)
            except ModelTimeout:
                rec = {"name": name, "timeout": True}
            finally:
                signal.alarm(0)
            fh.write(json.dumps({"record": rec}) + "\n")
            fh.flush()


# ---------------------------------------------------------------------------------------------
# parent side

def _read_jsonl(path):
    recs, started, workers = {}, [], []
    if os.path.exists(path):
        with open(path) as fh:
            for line in fh:
                try:
                    d = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if "record" in d:
                    recs[d["record"]["name"]] = d["record"]
                elif "start" in d:
                    started.append(d["start"])
                elif "worker" in d:
                    workers.append(d["worker"])
    return recs, started, workers


def run_chunk(chunk, i, args):
    """Run models in one worker process after the other; a worker that dies is replaced (the model it was on
    is recorded as crashed)."""
    jsonl = os.path.join(args.outputs, f"worker{i}.jsonl")
    if os.path.exists(jsonl):
        os.remove(jsonl)
    todo = list(chunk)
    while todo:
        cmd = [sys.executable, os.path.abspath(__file__), "worker", "--tf-root", args.tf_root, "--outputs",
               args.outputs, "--jsonl", jsonl, "--timeout", str(args.timeout), "--models", ",".join(todo)]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _, err = p.communicate(timeout=args.timeout * len(todo) + 120)
        except subprocess.TimeoutExpired:
            p.kill()  # our own child, by handle
            _, err = p.communicate()
        recs, started, _ = _read_jsonl(jsonl)
        lost = [n for n in started if n not in recs and n in todo]
        if lost:
            with open(jsonl, "a") as fh:
                for n in lost:
                    fh.write(json.dumps({"record": {"name": n, "crashed": True, "rc": p.returncode,
                                                    "stderr_tail": (err or b"").decode("utf-8", "replace")[-800:]}})
                             + "\n")
        recs, _, _ = _read_jsonl(jsonl)
        left = [n for n in todo if n not in recs]
        if len(left) == len(todo):        # no progress at all: record them and stop
            with open(jsonl, "a") as fh:
                for n in left:
                    fh.write(json.dumps({"record": {"name": n, "crashed": True, "rc": p.returncode,
                                                    "stderr_tail": (err or b"").decode("utf-8", "replace")[-800:]}})
                             + "\n")
            left = []
        todo = left
    return jsonl


def parent_main(args):
    import concurrent.futures

    os.makedirs(args.outputs, exist_ok=True)
    names = args.models.split(",") if args.models else list(MODELS)
    chunks = [names[i::args.jobs] for i in range(args.jobs)]
    t0 = time.time()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        files = list(pool.map(lambda ic: run_chunk(ic[1], ic[0], args), enumerate(chunks)))
    recs, workers = {}, []
    for f in files:
        r, _, w = _read_jsonl(f)
        recs.update(r)
        workers += w
    out = {"meta": {"tf_root": os.path.abspath(args.tf_root), "wall_s": round(time.time() - t0, 1),
                    "jobs": args.jobs, "timeout": args.timeout, "workers": workers[:1], "atol": ATOL},
           "models": [recs[n] for n in names if n in recs]}
    with open(args.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(f"{len(out['models'])} models in {out['meta']['wall_s']} s -> {args.out}", file=sys.stderr)


def _bits_equal(a, b):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == torch.bool:
        return torch.equal(a, b)
    return torch.equal(a.contiguous().view(-1).view(torch.uint8), b.contiguous().view(-1).view(torch.uint8))


def compare_main(args):
    """Eager outputs of the same models in two trees, bit for bit, per key (mode/input/mask)."""
    global torch
    import torch as _torch

    torch = _torch
    res = {}
    for f in sorted(os.listdir(args.before)):
        if not f.endswith(".pt"):
            continue
        name = f[:-3]
        b_path, a_path = os.path.join(args.before, f), os.path.join(args.after, f)
        if not os.path.exists(a_path):
            res[name] = {"missing_after": True}
            continue
        before, after = torch.load(b_path), torch.load(a_path)
        diffs = {}
        for key in sorted(set(before) | set(after)):
            tb, ta = before.get(key), after.get(key)
            if tb is None or ta is None:
                diffs[key] = "output only " + ("before" if ta is None else "after")
                continue
            if list(tb) != list(ta):
                diffs[key] = f"output names differ: {list(tb)} vs {list(ta)}"
                continue
            bad = [p for p in tb if not _bits_equal(tb[p], ta[p])]
            if bad:
                p = bad[0]
                d = None
                if tb[p].shape == ta[p].shape and tb[p].is_floating_point() and ta[p].is_floating_point():
                    d = (tb[p].double() - ta[p].double()).abs().max().item()
                diffs[key] = f"{len(bad)} tensor(s) differ, first {p} (max abs diff {d})"
        res[name] = {"identical": not diffs, "diffs": diffs}
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("run", "worker"):
        p = sub.add_parser(name)
        p.add_argument("--tf-root", required=True)
        p.add_argument("--outputs", required=True)
        p.add_argument("--timeout", type=float, default=120)
        p.add_argument("--models", default="")
        if name == "run":
            p.add_argument("--out", required=True)
            p.add_argument("--jobs", type=int, default=2)
        else:
            p.add_argument("--jsonl", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--before", required=True)
    c.add_argument("--after", required=True)
    c.add_argument("--out", required=True)
    args = ap.parse_args()
    {"run": parent_main, "worker": worker_main, "compare": compare_main}[args.cmd](args)


if __name__ == "__main__":
    main()
