"""Corpora and environments for the fxlint benchmarks (fetched once, cached outside the repository).

Everything lives under the cache folder (default ``~/.cache/fxlint-bench``; override with
``--cache DIR`` or ``FXLINT_BENCH_CACHE``), never inside the repository:

  dl/                         wheels fetched with ``pip download --no-deps``
  timm-1.0.31/timm/           corpus A: the whole timm package (304 files)
  transformers-<v>/transformers/models/
                              corpus B: transformers' models/ tree (pinned 5.24.0, else the latest)
  venv-timm/                  ground-truth environment: torch==2.13.0 (CPU), torchvision 0.28 wheel
                              (--no-deps, imported through a shim), timm's small dependencies.
                              timm itself is NOT installed there: the tracing worker puts the tree it
                              is asked to trace first on sys.path (the pristine corpus or a fixed copy).
  venv-hf/                    transformers ground truth: torch==2.13.0 (CPU), transformers 5.24.0 wheel
                              (--no-deps) + its small pinned deps; the worker (hf_trace.py) imports the
                              transformers tree it is given (pristine corpus or a fixed copy) first on sys.path
  venv-fixit/ venv-torchfix/  optional peers for the speed comparison

Usage:  python tests/benchmarks/corpora.py [--cache DIR] [--timm-venv] [--peers]
prints the corpus paths, versions and sizes (JSON).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import zipfile

TIMM_VERSION = "1.0.31"
TRANSFORMERS_PIN = "5.24.0"
TORCH_PIN = "2.13.0"              # never let pip resolve torch by itself
TORCHVISION_SPEC = "torchvision==0.28.*"
# timm's runtime dependencies other than torch / torchvision (installed normally: none pulls torch)
TIMM_SMALL_DEPS = ["pyyaml", "safetensors", "huggingface_hub", "pillow", "numpy", "packaging", "tqdm",
                   "filelock"]
BIG_FILE_REL = "qwen3_omni_moe/modeling_qwen3_omni_moe.py"   # corpus C (inside transformers/models)


def log(*a):
    print("[corpora]", *a, file=sys.stderr, flush=True)


def cache_dir(arg=None):
    d = arg or os.environ.get("FXLINT_BENCH_CACHE") or os.path.join(os.path.expanduser("~"), ".cache",
                                                                     "fxlint-bench")
    d = os.path.abspath(d)
    os.makedirs(d, exist_ok=True)
    return d


def _run(cmd, **kw):
    log("$", " ".join(cmd))
    return subprocess.run(cmd, check=True, **kw)


def _glob_nocase(dl, pattern):
    import fnmatch

    return sorted(os.path.join(dl, f) for f in os.listdir(dl) if fnmatch.fnmatch(f.lower(), pattern.lower()))


def _download(cache, spec, pattern):
    dl = os.path.join(cache, "dl")
    os.makedirs(dl, exist_ok=True)
    hits = _glob_nocase(dl, pattern)
    if hits:
        return hits[-1]
    _run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", dl, spec])
    hits = _glob_nocase(dl, pattern)
    if not hits:
        raise RuntimeError(f"pip download {spec}: no file matching {pattern} in {dl}")
    return hits[-1]


def _unzip(whl, dest, members_prefix):
    """Extract the members of wheel `whl` under `members_prefix` into dest (atomically: tmp + rename)."""
    if os.path.isdir(os.path.join(dest, members_prefix.split("/")[0])):
        return dest
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(whl) as z:
        for m in z.namelist():
            if m.startswith(members_prefix):
                z.extract(m, tmp)
    os.makedirs(dest, exist_ok=True)
    os.rename(os.path.join(tmp, members_prefix.split("/")[0]), os.path.join(dest, members_prefix.split("/")[0]))
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


def fetch_timm(cache):
    """-> (root, version): root/timm/ is the package tree."""
    whl = _download(cache, f"timm=={TIMM_VERSION}", f"timm-{TIMM_VERSION}-*.whl")
    root = _unzip(whl, os.path.join(cache, f"timm-{TIMM_VERSION}"), "timm/")
    return root, TIMM_VERSION


def _latest_transformers_version():
    out = subprocess.run([sys.executable, "-m", "pip", "index", "versions", "transformers"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("transformers ("):
            return line.split("(")[1].split(")")[0]
    return None


def fetch_transformers(cache):
    """-> (root, version): root/transformers/models/ is the corpus. Pinned to 5.24.0 when available."""
    have = sorted(glob.glob(os.path.join(cache, "transformers-*", "transformers", "models")))
    pinned = os.path.join(cache, f"transformers-{TRANSFORMERS_PIN}")
    if os.path.isdir(os.path.join(pinned, "transformers", "models")):
        return pinned, TRANSFORMERS_PIN
    try:
        whl = _download(cache, f"transformers=={TRANSFORMERS_PIN}", f"transformers-{TRANSFORMERS_PIN}-*.whl")
        version = TRANSFORMERS_PIN
    except subprocess.CalledProcessError:
        if have:
            root = os.path.dirname(os.path.dirname(have[-1]))
            return root, os.path.basename(root).split("-", 1)[1]
        version = _latest_transformers_version()
        if not version:
            raise
        log(f"transformers=={TRANSFORMERS_PIN} not available; using the latest, {version}")
        whl = _download(cache, f"transformers=={version}", f"transformers-{version}-*.whl")
    root = _unzip(whl, os.path.join(cache, f"transformers-{version}"), "transformers/")
    return root, version


def corpus_stats(path):
    files = lines = nbytes = 0
    for f in py_files(path):
        with open(f, "rb") as fh:
            b = fh.read()
        files += 1
        lines += b.count(b"\n")
        nbytes += len(b)
    return {"files": files, "lines": lines, "bytes": nbytes}


def py_files(path):
    if os.path.isfile(path):
        return [path]
    out = []
    for d, dirs, fs in os.walk(path):
        dirs.sort()
        out.extend(os.path.join(d, f) for f in sorted(fs) if f.endswith(".py"))
    return out


# ---------------------------------------------------------------------------------------------
# virtual environments

def venv_python(venv):
    return os.path.join(venv, "bin", "python")


def _make_venv(path):
    shutil.rmtree(path, ignore_errors=True)
    _run([sys.executable, "-m", "venv", path])
    return venv_python(path)


def _pip(py, *args):
    _run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *args])


def ensure_timm_venv(cache):
    """Ground-truth environment (CPU torch 2.13.0 + torchvision wheel via shim). Returns its python."""
    venv = os.path.join(cache, "venv-timm")
    marker = os.path.join(venv, ".fxlint-bench-ok")
    py = venv_python(venv)
    if os.path.exists(marker):
        return py
    log("building the timm ground-truth venv (once)")
    py = _make_venv(venv)
    _pip(py, f"torch=={TORCH_PIN}")
    tv = _download(cache, TORCHVISION_SPEC, "torchvision-0.28.*.whl")
    _pip(py, "--no-deps", tv)
    _pip(py, *TIMM_SMALL_DEPS)
    # the torch wheel must still be the pinned CPU one
    out = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True,
                         check=True).stdout.strip()
    if not out.startswith(TORCH_PIN):
        raise RuntimeError(f"venv-timm has torch {out}, expected {TORCH_PIN}")
    with open(marker, "w") as fh:
        fh.write(out + "\n")
    return py


# transformers' small runtime dependencies, pinned as in shared/notes/transformers_baseline (installed
# --no-deps: none of them may pull torch, and pip must not resolve anything by itself)
HF_SMALL_DEPS = ["pyyaml==6.0.4", "safetensors==0.8.0", "huggingface_hub==2.4.0", "numpy==2.4.6",
                 "tokenizers==0.23.3", "regex==2026.11.19", "packaging==26.4", "tqdm==4.70.1", "filelock",
                 "click==8.5.1", "httpx2==2.16.2", "httpcore2==2.16.2", "anyio==4.16.0", "h11==0.16.0",
                 "idna==3.20", "hf-xet==1.8.0", "truststore==0.10.5", "typer==0.29.2", "rich==15.0.0",
                 "Pygments==2.21.0", "markdown-it-py==4.3.0", "mdurl==0.1.2", "shellingham==1.5.4",
                 "pydantic==2.14.4", "pydantic_core==2.50.5", "annotated-types==0.8.0", "annotated-doc==0.0.7",
                 "typing-inspection==0.4.5"]


def ensure_hf_venv(cache):
    """transformers ground-truth environment: torch==2.13.0 (CPU) first, then transformers' wheel --no-deps
    and its small dependencies. The worker (hf_trace.py) puts the transformers tree it is asked to run first
    on sys.path, so the pristine corpus or a fixed copy is what runs, not the installed wheel (the wheel is
    installed only so that its metadata satisfies transformers' own version checks). Returns its python."""
    venv = os.path.join(cache, "venv-hf")
    marker = os.path.join(venv, ".fxlint-bench-ok")
    py = venv_python(venv)
    if os.path.exists(marker):
        return py
    log("building the transformers ground-truth venv (once)")
    py = _make_venv(venv)
    _pip(py, f"torch=={TORCH_PIN}")
    whl = _download(cache, f"transformers=={TRANSFORMERS_PIN}", f"transformers-{TRANSFORMERS_PIN}-*.whl")
    _pip(py, "--no-deps", whl, *HF_SMALL_DEPS)
    _run([py, "-m", "pip", "check"])
    out = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True,
                         check=True).stdout.strip()
    if not out.startswith(TORCH_PIN):
        raise RuntimeError(f"venv-hf has torch {out}, expected {TORCH_PIN}")
    with open(marker, "w") as fh:
        fh.write(out + "\n")
    return py


def _requires(whl):
    """Requires-Dist of a wheel (no extras / markers evaluated beyond 'extra ==')."""
    with zipfile.ZipFile(whl) as z:
        meta = [m for m in z.namelist() if m.endswith(".dist-info/METADATA")][0]
        text = z.read(meta).decode()
    reqs = []
    for line in text.splitlines():
        if line.startswith("Requires-Dist:"):
            r = line.split(":", 1)[1].strip()
            if "extra ==" in r:
                continue
            reqs.append(r.split(";")[0].strip())
    return reqs


def ensure_peer_venv(cache, tool):
    """TorchFix / Fixit in their own venvs. torchfix is installed --no-deps plus its small deps (never torch).
    Returns the path of the tool's console script, or None (with a logged reason) when not installable."""
    venv = os.path.join(cache, f"venv-{tool}")
    exe = os.path.join(venv, "bin", tool)
    marker = os.path.join(venv, ".fxlint-bench-ok")
    if os.path.exists(marker) and os.path.exists(exe):
        return exe
    fail_marker = os.path.join(cache, f"venv-{tool}.failed")
    if os.path.exists(fail_marker):
        log(f"{tool}: not installable here (see {fail_marker}; delete it to retry)")
        return None
    try:
        py = _make_venv(venv)
        if tool == "torchfix":
            whl = _download(cache, "torchfix", "torchfix-*.whl")
            deps = [r for r in _requires(whl) if not r.replace(" ", "").lower().startswith("torch")]
            _pip(py, "--no-deps", whl)
            if deps:
                _pip(py, *deps)
        else:
            _pip(py, tool)
        # smoke test on an empty folder
        probe = os.path.join(cache, "empty-dir")
        os.makedirs(probe, exist_ok=True)
        cmd = [exe, probe] if tool == "torchfix" else [exe, "lint", probe]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if r.returncode not in (0, 1):
            raise RuntimeError(f"{tool} smoke test rc={r.returncode}: {r.stderr[-500:]}")
        with open(marker, "w") as fh:
            fh.write("ok\n")
        return exe
    except Exception as e:  # noqa: BLE001
        with open(fail_marker, "w") as fh:
            fh.write(f"{type(e).__name__}: {e}\n")
        log(f"{tool}: not installable: {type(e).__name__}: {e}")
        return None


def tool_version(exe, tool):
    py = os.path.join(os.path.dirname(exe), "python")
    r = subprocess.run([py, "-c", f"import importlib.metadata as m; print(m.version('{tool}'), "
                                  f"m.version('libcst'))"], capture_output=True, text=True)
    parts = r.stdout.split()
    return {"version": parts[0] if parts else None, "libcst": parts[1] if len(parts) > 1 else None}


def get_all(cache, timm_venv=False, peers=False):
    timm_root, timm_v = fetch_timm(cache)
    tf_root, tf_v = fetch_transformers(cache)
    out = {
        "cache": cache,
        "timm": {"version": timm_v, "root": timm_root, "package": os.path.join(timm_root, "timm")},
        "transformers": {"version": tf_v, "root": tf_root,
                         "models": os.path.join(tf_root, "transformers", "models")},
    }
    out["big_file"] = os.path.join(out["transformers"]["models"], BIG_FILE_REL)
    if timm_venv:
        out["timm_venv_python"] = ensure_timm_venv(cache)
    if peers:
        out["peers"] = {t: ensure_peer_venv(cache, t) for t in ("torchfix", "fixit")}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", help="cache folder (default ~/.cache/fxlint-bench or $FXLINT_BENCH_CACHE)")
    ap.add_argument("--timm-venv", action="store_true", help="also build the timm ground-truth venv")
    ap.add_argument("--peers", action="store_true", help="also build the TorchFix / Fixit venvs")
    args = ap.parse_args()
    c = get_all(cache_dir(args.cache), args.timm_venv, args.peers)
    for key, path in (("timm", c["timm"]["package"]), ("transformers", c["transformers"]["models"]),
                      ("big_file", c["big_file"])):
        st = corpus_stats(path)
        (c[key] if isinstance(c[key], dict) else c.setdefault("big_file_stats", {})).update(st)
    print(json.dumps(c, indent=1))


if __name__ == "__main__":
    main()
