"""Corpora and environments for the fxlint benchmarks (fetched once, cached outside the repository).

Everything lives under the cache folder (default ``~/.cache/fxlint-bench``; override with
``--cache DIR`` or ``FXLINT_BENCH_CACHE``), never inside the repository:

  dl/                         wheels fetched with ``pip download --no-deps``
  timm-1.0.31/timm/           corpus A: the whole timm package (304 files)
  transformers-<v>/transformers/models/
                              corpus B: transformers' models/ tree (pinned 5.24.0, else the latest)
  venv-timm/                  ground-truth environment: torch==2.13.0 (CPU), timm's small dependencies and
                              NO torchvision: a stub package `torchvision` (TORCHVISION_STUB below) gives the
                              names timm imports at module level; using any of them raises.
                              timm itself is NOT installed there: the tracing worker puts the tree it
                              is asked to trace first on sys.path (the pristine corpus or a fixed copy).
  venv-hf/                    transformers ground truth: torch==2.13.0 (CPU), transformers 5.24.0 wheel
                              (--no-deps) + its small pinned deps; the worker (hf_trace.py) imports the
                              transformers tree it is given (pristine corpus or a fixed copy) first on sys.path
  monai-<v>/monai/, x_transformers-<v>/x_transformers/
                              corpora D, E: two more model libraries (bench_libs.py; LIBS below)
  venv-libs/                  their ground-truth environment: torch==2.13.0 (CPU) first, then only the
                              libraries' small pure-Python dependencies; the libraries themselves are NOT
                              installed (the worker puts the tree it is asked to run first on sys.path)
  venv-fixit/ venv-torchfix/  optional peers for the speed comparison

Usage:  python tests/benchmarks/corpora.py [--cache DIR] [--timm-venv] [--libs] [--peers]
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
# timm's runtime dependencies other than torch / torchvision (installed normally: none pulls torch)
TIMM_SMALL_DEPS = ["pyyaml", "safetensors", "huggingface_hub", "pillow", "numpy", "packaging", "tqdm",
                   "filelock"]
# bench_libs.py's libraries: pure Python, no torchvision / diffusers (checked in their METADATA), wheel
# version pinned. deps: their Requires-Dist without torch (torch is installed pinned first; the deps are
# installed --no-deps from this explicit list, so pip never resolves torch by itself).
LIBS = {
    "monai": {"dist": "monai", "version": "1.6.1", "package": "monai", "deps": ["numpy"]},
    "x_transformers": {"dist": "x-transformers", "version": "2.31.10", "package": "x_transformers",
                       "deps": ["einops", "einx", "loguru", "packaging", "torch-einops-utils", "numpy", "sympy",
                                "mpmath", "frozendict"]},
}
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


def fetch_lib(cache, name):
    """-> (root, version): root/<package>/ is the library's package tree (from its wheel, --no-deps)."""
    spec = LIBS[name]
    wheel_name = spec["dist"].replace("-", "_")
    whl = _download(cache, f"{spec['dist']}=={spec['version']}", f"{wheel_name}-{spec['version']}-*.whl")
    root = _unzip(whl, os.path.join(cache, f"{spec['package']}-{spec['version']}"), spec["package"] + "/")
    return root, spec["version"]


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


# torchvision is kept out of every benchmark environment (reserved for a blind evaluation). timm imports a
# few of its names at module level (timm/data/transforms*.py, dataset_factory.py, layers/norm_act.py,
# create_norm.py, utils/model.py); building and tracing a model never uses them. The stub gives those names
# as inert placeholders: a placeholder class can be named, subclassed and used in isinstance(), but building
# one (or calling a placeholder function) raises, so a model that really needed torchvision fails loudly
# instead of running a stand-in. `torchvision.models` is deliberately absent: timm/layers/_fx.py catches
# the ImportError and only loses create_feature_extractor (not used by the benchmarks).
STUB_VERSION = "0.0.0+fxlint-bench-stub"
TORCHVISION_STUB = {
    "__init__.py": f"""\
\"\"\"fxlint benchmark stub: NOT torchvision. Names only; using any of them raises.\"\"\"
__version__ = "{STUB_VERSION}"
from . import datasets, ops, transforms, utils  # noqa: E402,F401
""",
    "_placeholder.py": """\
def _unavailable(name):
    raise RuntimeError(f"torchvision stub (fxlint benchmarks): {name} is not available")


def placeholder_class(module, name):
    def __init__(self, *args, **kwargs):
        _unavailable(f"{module}.{name}")
    return type(name, (), {"__init__": __init__, "__module__": module})


def placeholder_function(module, name):
    def fn(*args, **kwargs):
        _unavailable(f"{module}.{name}")
    fn.__name__ = fn.__qualname__ = name
    fn.__module__ = module
    return fn


def module_getattr(module, factory):
    cache = {}

    def __getattr__(name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in cache:
            cache[name] = factory(module, name)
        return cache[name]
    return __getattr__
""",
    "transforms/__init__.py": """\
from .._placeholder import module_getattr, placeholder_class
from . import functional  # noqa: F401

__getattr__ = module_getattr(__name__, placeholder_class)
""",
    "transforms/functional.py": """\
import enum

from .._placeholder import module_getattr, placeholder_function


class InterpolationMode(enum.Enum):
    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


__getattr__ = module_getattr(__name__, placeholder_function)
""",
    "datasets/__init__.py": """\
from .._placeholder import module_getattr, placeholder_class

__getattr__ = module_getattr(__name__, placeholder_class)
""",
    "ops/__init__.py": "from . import misc  # noqa: F401\n",
    "ops/misc.py": """\
import torch

from .._placeholder import _unavailable


class FrozenBatchNorm2d(torch.nn.Module):
    def __init__(self, *args, **kwargs):
        _unavailable("torchvision.ops.misc.FrozenBatchNorm2d")
""",
    "utils.py": """\
from ._placeholder import module_getattr, placeholder_function

__getattr__ = module_getattr(__name__, placeholder_function)
""",
}


def write_torchvision_stub(py):
    """Write TORCHVISION_STUB into the site-packages of the venv whose python is `py`. -> the stub's folder."""
    site = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    root = os.path.join(site, "torchvision")
    shutil.rmtree(root, ignore_errors=True)
    for rel, text in TORCHVISION_STUB.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
    return root


def _has_real_torchvision(py):
    code = ("import importlib.metadata as m\ntry:\n    print(m.version('torchvision'))\n"
            "except m.PackageNotFoundError:\n    print('none')")
    return subprocess.run([py, "-c", code], capture_output=True, text=True, check=True).stdout.strip() != "none"


def ensure_timm_venv(cache):
    """Ground-truth environment (CPU torch 2.13.0, timm's small deps, the torchvision stub). Returns its python.
    A venv built by an older corpora.py (with the real torchvision wheel) is rebuilt."""
    venv = os.path.join(cache, "venv-timm")
    marker = os.path.join(venv, ".fxlint-bench-ok")
    py = venv_python(venv)
    if os.path.exists(marker):
        with open(marker) as fh:
            stamp = fh.read()
        if STUB_VERSION in stamp and not _has_real_torchvision(py):
            return py
        log("venv-timm was built with a real torchvision: rebuilding it with the stub")
    log("building the timm ground-truth venv (once)")
    py = _make_venv(venv)
    _pip(py, f"torch=={TORCH_PIN}")
    _pip(py, *TIMM_SMALL_DEPS)
    if _has_real_torchvision(py):
        raise RuntimeError("a real torchvision got into venv-timm; it must stay out")
    write_torchvision_stub(py)
    # the torch wheel must still be the pinned CPU one
    out = subprocess.run([py, "-c", "import torch, torchvision; print(torch.__version__, torchvision.__version__)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    if not out.startswith(TORCH_PIN) or STUB_VERSION not in out:
        raise RuntimeError(f"venv-timm has torch / torchvision {out}, expected {TORCH_PIN} / {STUB_VERSION}")
    with open(marker, "w") as fh:
        fh.write(out + "\n")
    return py


def ensure_libs_venv(cache):
    """Ground-truth environment of bench_libs.py: torch==2.13.0 (CPU) first, then the libraries' small
    dependencies --no-deps (never torchvision). Returns its python."""
    venv = os.path.join(cache, "venv-libs")
    marker = os.path.join(venv, ".fxlint-bench-ok")
    py = venv_python(venv)
    deps = sorted({d for spec in LIBS.values() for d in spec["deps"]})
    if os.path.exists(marker):
        with open(marker) as fh:
            if fh.read().split("\n", 1)[-1].strip() == " ".join(deps):
                return py
    log("building the libraries' ground-truth venv (once)")
    py = _make_venv(venv)
    _pip(py, f"torch=={TORCH_PIN}")
    _pip(py, "--no-deps", *deps)
    if _has_real_torchvision(py):
        raise RuntimeError("torchvision got into venv-libs; it must stay out")
    out = subprocess.run([py, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True,
                         check=True).stdout.strip()
    if not out.startswith(TORCH_PIN):
        raise RuntimeError(f"venv-libs has torch {out}, expected {TORCH_PIN}")
    with open(marker, "w") as fh:
        fh.write(out + "\n" + " ".join(deps) + "\n")
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


def get_libs(cache, venv=True):
    """{name: {version, root, package}} for bench_libs.py (+ "venv_python" when venv)."""
    out = {}
    for name, spec in LIBS.items():
        root, v = fetch_lib(cache, name)
        out[name] = {"version": v, "root": root, "package": os.path.join(root, spec["package"]),
                     "package_name": spec["package"]}
    if venv:
        out["venv_python"] = ensure_libs_venv(cache)
    return out


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
    ap.add_argument("--libs", action="store_true", help="also fetch bench_libs.py's libraries and their venv")
    args = ap.parse_args()
    c = get_all(cache_dir(args.cache), args.timm_venv, args.peers)
    if args.libs:
        c["libs"] = get_libs(cache_dir(args.cache))
    for key, path in (("timm", c["timm"]["package"]), ("transformers", c["transformers"]["models"]),
                      ("big_file", c["big_file"])):
        st = corpus_stats(path)
        (c[key] if isinstance(c[key], dict) else c.setdefault("big_file_stats", {})).update(st)
    print(json.dumps(c, indent=1))


if __name__ == "__main__":
    main()
