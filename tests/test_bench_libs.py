"""The benchmark harness's own logic, without running a benchmark: the torchvision stub that replaces
torchvision in the timm venv (corpora.py), and bench_libs.py's bit-for-bit comparison and fix-output parsing.
The stub is imported in a child process with real torch (the names timm imports at module level must import;
using any of them must raise, never run a stand-in)."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

BENCH = Path(__file__).resolve().parent / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_libs  # noqa: E402
import corpora  # noqa: E402


def _write_stub(root: Path) -> None:
    for rel, text in corpora.TORCHVISION_STUB.items():
        path = root / "torchvision" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_torchvision_stub_gives_timms_module_level_names_and_refuses_their_use(tmp_path):
    _write_stub(tmp_path)
    probe = textwrap.dedent("""
        import json, torch
        import torchvision
        import torchvision.transforms as transforms
        import torchvision.transforms.functional as F
        from torchvision.transforms.functional import InterpolationMode
        from torchvision.ops.misc import FrozenBatchNorm2d
        from torchvision.datasets import CIFAR10, ImageFolder
        from torchvision import transforms as t2
        out = {"version": torchvision.__version__, "modes": [m.name for m in InterpolationMode],
               "same_class": transforms.ToTensor is t2.ToTensor,
               "isinstance": isinstance(torch.nn.BatchNorm2d(2), FrozenBatchNorm2d)}

        class Sub(transforms.ToTensor):
            pass

        refused = []
        for make in (Sub, lambda: FrozenBatchNorm2d(4), lambda: F.resize(None, 3), lambda: CIFAR10("x"),
                     transforms.Compose):
            try:
                make()
            except RuntimeError as e:
                refused.append("torchvision stub" in str(e))
        out["refused"] = refused
        try:
            import torchvision.models.feature_extraction  # timm/layers/_fx.py expects ImportError without it
            out["models"] = "imported"
        except ImportError:
            out["models"] = "ImportError"
        print(json.dumps(out))
    """)
    r = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["version"] == corpora.STUB_VERSION
    assert {"NEAREST", "BILINEAR", "BICUBIC", "BOX", "HAMMING", "LANCZOS"} <= set(out["modes"])
    assert out["same_class"] is True and out["isinstance"] is False
    assert out["refused"] == [True] * 5
    assert out["models"] == "ImportError"


def _rec(name, status, digests, line=None):
    rec = {"model": name, "status": status, "eager": {c: {"digest": d} for c, d in digests.items()}}
    if line:
        rec["trace"] = {"eval": {"ok": False, "lib_frame": line, "source": "x", "exc_type": "TraceError"}}
    return rec


def test_compare_flags_any_changed_eager_digest_and_counts_fixed_models():
    before = [_rec("a", "pass", {"s0/eval": "1", "s0/train": "2"}),
              _rec("b", "fail", {"s0/eval": "3", "s0/train": "4"}, line="lib/m.py:7"),
              _rec("c", "fail", {"s0/eval": "5", "s0/train": "6"}, line="lib/m.py:9"),
              _rec("d", "build_error", {})]
    after = [_rec("a", "pass", {"s0/eval": "1", "s0/train": "2"}),
             _rec("b", "pass", {"s0/eval": "3", "s0/train": "4"}),
             _rec("c", "pass", {"s0/eval": "5", "s0/train": "X"}),
             _rec("d", "pass", {})]
    t = bench_libs.compare(before, after)
    assert t["judged"] == 3
    assert t["n_eager_changed"] == 1 and list(t["eager_changed"]) == ["c"]
    assert t["eager_changed"]["c"]["cases"] == {"s0/train": "digest 6 -> X"}
    assert t["now_pass"] == ["b"]  # c traces now, but its eager outputs changed: not counted as fixed
    assert t["still_pass"] == 1 and t["previously_passing"] == 1


def test_fix_output_parsing():
    stderr = ("fxlint fix: /tmp/x/monai/networks/a.py: internal error: KeyError: 'x'\n"
              "fxlint: monai/b.py: some problem\n")
    assert bench_libs._fix_errors(stderr, "monai") == {"monai/networks/a.py": "internal error: KeyError: 'x'"}
    assert bench_libs._summary_count("Would fix 12 finding(s) in 3 file(s) (4 safe, 8 unsafe)\n") == (12, 3)
    assert bench_libs._summary_count("nothing\n") == (None, None)
