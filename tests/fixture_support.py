"""Torch-side ground truth for the fixture corpus under ``fixtures/models``.

Each fixture file declares ``FXLINT_EXPECT`` ("error" | "silent" | "qat" | "clean"; "qat": traces and
matches eager like a clean one, but the QAT-prepared model crashes, which ``fxlint verify`` measures), for hazards
``FXLINT_HAZARD_LINES`` (and optionally ``FXLINT_HAZARD_FILE``), and a ``make()`` factory returning
``(model, args)`` or ``(model, args, kwargs)``; optionally ``make_alt()`` (only its inputs are used:
the GraphModule traced from make()'s model is run on them).

``measure(path)`` reproduces the hazard catalog's harness: eager vs ``torch.fx.symbolic_trace`` on the
make() input and the make_alt() input (fresh deep copies, several RNG seeds), then sequentially on one
instance, comparing values, dtypes, shapes and ``requires_grad``. The model is used in the mode make()
returns it in.

Tracing poisons process-global state (the ``torch.fx.wrap`` registry, module attributes), so a fixture
must never be traced in a process that traces another one. ``run_isolated(paths)`` imports torch once
and forks one child process per fixture (at most ``jobs`` at a time, ``timeout`` seconds each).

Command line (prints JSON {path: result}):  python tests/fixture_support.py [-j N] FIXTURE.py ...
(``--inline FIXTURE.py`` measures a single fixture in the current process.)

Only the standard library is imported at module level, so the discovery helpers work without torch.
"""
from __future__ import annotations

import ast
import copy
import importlib
import importlib.util
import json
import os
import random
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FIXTURE_ROOT = REPO / "fixtures" / "models"
EXPECT_VALUES = ("error", "silent", "qat", "clean")
SEEDS = (0, 1, 2, 3)


# ----------------------------------------------------------------------------- discovery (no torch)
def read_meta(path) -> dict | None:
    """Module-level FXLINT_* constants of a fixture, read with ``ast`` (no import). None if no FXLINT_EXPECT."""
    path = Path(path)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    meta = {"docstring": ast.get_docstring(tree),
            "functions": [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name.startswith("FXLINT_"):
                meta[name] = ast.literal_eval(node.value)
    return meta if "FXLINT_EXPECT" in meta else None


def discover(root=FIXTURE_ROOT) -> list[Path]:
    """Every ``*.py`` under root that declares FXLINT_EXPECT, sorted."""
    return sorted(p for p in Path(root).rglob("*.py") if read_meta(p) is not None)


# ----------------------------------------------------------------------------- loading
def _package_root(path: Path) -> tuple[Path, str]:
    """(sys.path entry, dotted module name) for a file, walking up through __init__.py packages."""
    parts = [path.stem]
    d = path.parent
    while (d / "__init__.py").exists():
        parts.insert(0, d.name)
        d = d.parent
    return d, ".".join(parts)


def load_module(path):
    """Import a fixture by file path. Files inside a package (``__init__.py`` next to them) are imported
    by their dotted name so relative imports work; plain files get a unique private module name."""
    path = Path(path).resolve()
    root, dotted = _package_root(path)
    if "." in dotted:
        if str(root) not in sys.path:
            sys.path.insert(0, str(root))
        return importlib.import_module(dotted)
    name = "fxfixture_" + "_".join(path.relative_to(path.anchor).with_suffix("").parts[-3:])
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def normalize(ret):
    """make()/make_alt() result -> (model, args tuple, kwargs dict)."""
    if not isinstance(ret, tuple) or len(ret) not in (2, 3):
        raise TypeError("make() must return (model, args) or (model, args, kwargs)")
    model, args = ret[0], ret[1]
    kwargs = ret[2] if len(ret) == 3 else {}
    if not isinstance(args, (tuple, list)):
        args = (args,)
    return model, tuple(args), dict(kwargs)


# ----------------------------------------------------------------------------- comparison
def close(a, b) -> bool:
    import torch
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        if a.shape != b.shape or a.dtype != b.dtype or a.requires_grad != b.requires_grad:
            return False
        if a.dtype == torch.bool or not a.is_floating_point():
            return torch.equal(a, b)
        return torch.allclose(a.detach(), b.detach(), atol=1e-5, rtol=1e-4, equal_nan=True)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - e.g. a Proxy leaking out of a GraphModule
        return False


def describe(x) -> str:
    import torch
    if isinstance(x, torch.Tensor):
        return f"Tensor{tuple(x.shape)}:{str(x.dtype).replace('torch.', '')}:rg={x.requires_grad}"
    if isinstance(x, (list, tuple)):
        return type(x).__name__ + "(" + ", ".join(describe(v) for v in x) + ")"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in x.items()) + "}"
    return type(x).__name__


def call(model, inp, seed):
    import torch
    args, kwargs = inp
    random.seed(seed)
    torch.manual_seed(seed)
    with torch.enable_grad():
        return model(*copy.deepcopy(args), **copy.deepcopy(kwargs))


def first_line(e) -> str:
    msg = str(e).strip().splitlines()
    return f"{type(e).__name__}: {msg[0] if msg else ''}"


def _fixture_frames(exc, fixture: Path) -> list:
    """[(file name, line)] of traceback frames in the fixture's directory (its package), innermost last."""
    base = fixture.parent.resolve()
    out = []
    for fr in traceback.extract_tb(exc.__traceback__):
        try:
            f = Path(fr.filename).resolve()
        except (OSError, ValueError):
            continue
        if f.parent == base:
            out.append((f.name, fr.lineno))
    return out


# ----------------------------------------------------------------------------- measurement
def measure(path) -> dict:
    """Run one fixture: eager vs symbolic_trace. Returns a JSON-able dict with ``outcome`` in
    error | silent | clean | broken (the fixture itself fails in eager or at import)."""
    import warnings
    import torch
    import torch.fx as fx

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    path = Path(path).resolve()
    res = {"outcome": "broken", "detail": "", "frames": []}
    try:
        random.seed(1234)
        torch.manual_seed(1234)
        mod = load_module(path)
        model, a_args, a_kw = normalize(mod.make())
        inputs = [("make", (a_args, a_kw))]
        if hasattr(mod, "make_alt"):
            alt_model, b_args, b_kw = normalize(mod.make_alt())
            if type(alt_model) is not type(model):
                raise TypeError("make_alt() must return the same model type as make()")
            inputs.append(("make_alt", (b_args, b_kw)))
        base = copy.deepcopy(model)
        eager = {(tag, s): call(copy.deepcopy(base), inp, s) for tag, inp in inputs for s in SEEDS}
        e = copy.deepcopy(base)
        seq_inputs = [inputs[0], inputs[-1]]  # make then make_alt (or make twice)
        eager_seq = [call(e, inp, 0) for _, inp in seq_inputs]
    except Exception as ex:  # noqa: BLE001
        res["detail"] = "eager/fixture failure: " + first_line(ex)
        res["traceback"] = traceback.format_exc()
        return res

    try:
        random.seed(98765)
        torch.manual_seed(98765)
        gm = fx.symbolic_trace(copy.deepcopy(base))
    except Exception as ex:  # noqa: BLE001
        res.update(outcome="error", detail=first_line(ex), frames=_fixture_frames(ex, path),
                   traceback=traceback.format_exc())
        return res

    problems = []
    for tag, inp in inputs:
        for s in SEEDS:
            ref = eager[(tag, s)]
            try:
                out = call(copy.deepcopy(gm), inp, s)
            except Exception as ex:  # noqa: BLE001
                problems.append(f"{tag}: GraphModule raises {first_line(ex)}")
                break
            if not close(out, ref):
                problems.append(f"{tag} seed {s}: GraphModule {describe(out)} != eager {describe(ref)}")
                break
    if not problems:
        g = copy.deepcopy(gm)
        try:
            seq = [call(g, inp, 0) for _, inp in seq_inputs]
            if not close(seq, eager_seq):
                problems.append("sequential calls on one instance differ from eager")
        except Exception as ex:  # noqa: BLE001
            problems.append(f"sequential: GraphModule raises {first_line(ex)}")
    res.update(outcome="silent" if problems else "clean", detail="; ".join(problems))
    return res


# ----------------------------------------------------------------------------- isolation
def _child(path, fd):
    devnull = os.open(os.devnull, os.O_WRONLY)  # GraphModule errors print generated code to stderr
    os.dup2(devnull, 2)
    try:
        res = measure(path)
    except BaseException as ex:  # noqa: BLE001
        res = {"outcome": "broken", "detail": "harness failure: " + first_line(ex), "frames": []}
    data = json.dumps(res).encode()
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _run_subprocess(path, timeout):
    import subprocess
    try:
        proc = subprocess.run([sys.executable, __file__, "--inline", str(path)], capture_output=True,
                              text=True, timeout=timeout)
        return json.loads(proc.stdout)
    except (subprocess.TimeoutExpired, ValueError) as ex:
        return {"outcome": "broken", "detail": "subprocess failure: " + first_line(ex), "frames": []}


def run_isolated(paths, jobs=2, timeout=60.0) -> dict:
    """Measure each fixture in its own process: fork per fixture (torch imported once in the parent,
    no op ever run there), or one interpreter per fixture where fork is unavailable."""
    paths = [str(p) for p in paths]
    if not hasattr(os, "fork"):
        return {p: _run_subprocess(p, timeout) for p in paths}
    import select
    import signal
    import torch  # noqa: F401 - imported once, inherited by every child
    import torch.fx  # noqa: F401

    results, pending, running = {}, list(paths), {}
    while pending or running:
        while pending and len(running) < max(1, jobs):
            p = pending.pop(0)
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:  # child
                os.close(r)
                code = 0
                try:
                    _child(p, w)
                except BaseException:  # noqa: BLE001
                    code = 1
                finally:
                    os._exit(code)
            os.close(w)
            running[r] = (p, pid, time.monotonic(), [])
        ready, _, _ = select.select(list(running), [], [], 0.5)
        for r in ready:
            chunk = os.read(r, 1 << 16)
            if chunk:
                running[r][3].append(chunk)
                continue
            p, pid, _, chunks = running.pop(r)
            os.close(r)
            os.waitpid(pid, 0)
            try:
                results[p] = json.loads(b"".join(chunks).decode())
            except ValueError:
                results[p] = {"outcome": "broken", "detail": "child died without a result", "frames": []}
        now = time.monotonic()
        for r, (p, pid, t0, _) in list(running.items()):
            if now - t0 > timeout:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os.close(r)
                running.pop(r)
                results[p] = {"outcome": "broken", "detail": f"timeout after {timeout}s", "frames": []}
    return results


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--inline"]:  # measure one fixture in this very process
        json.dump(measure(argv[1]), sys.stdout)
        return
    jobs = 2
    if argv[:1] == ["-j"]:
        jobs, argv = int(argv[1]), argv[2:]
    paths = argv or [str(p) for p in discover()]
    json.dump(run_isolated(paths, jobs=jobs), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
