"""Model catalogue of bench_libs.py: per library (lib_models_<library>.py: MODELS), small configs of its model
classes and example inputs; this file holds the shared input makers and catalogue(lib).

Runs inside the libraries' venv (lib_trace.py imports it after putting the library tree first on sys.path).
Each entry: name -> (build, inputs). ``build()`` returns the nn.Module (the caller seeds torch first);
``inputs(k)`` returns the positional arguments for input shape k (k = 0, 1: two shapes, e.g. batch 1 / 2 and,
where the model accepts it, another spatial size); the caller seeds torch before calling it.
Configs are as small as the constructors allow (the point is the code paths, not the numbers). Models that
need torchvision (MONAI's TorchVisionFCModel, MILModel's default backbone) or pretrained weights are left out.
"""
from __future__ import annotations

import importlib


def _t():
    return importlib.import_module("torch")


def img(c, hw0, hw1, b0=2, b1=3):
    """2-D image inputs: shape 0 = (b0, c, *hw0), shape 1 = (b1, c, *hw1). Batch >= 2: a BatchNorm on a
    1x1 map refuses a batch of 1 in train mode."""
    def make(k):
        b, hw = (b0, hw0) if k == 0 else (b1, hw1)
        return (_t().randn(b, c, *hw),)
    return make


def vec(n, b0=1, b1=3):
    def make(k):
        return (_t().randn(b0 if k == 0 else b1, n),)
    return make


def tokens(num, n0=8, n1=16, b0=1, b1=2):
    def make(k):
        b, n = (b0, n0) if k == 0 else (b1, n1)
        return (_t().randint(0, num, (b, n)),)
    return make


def with_timesteps(base):
    def make(k):
        (x,) = base(k)
        return (x, _t().randint(0, 1000, (x.shape[0],)))
    return make


def catalogue(lib):
    """{model name: (build, inputs)} of one library (one file per library, so that editing one library's
    catalogue invalidates only that library's cached ground truth)."""
    return importlib.import_module(f"lib_models_{lib}").MODELS
