"""Eager behaviour is kept: the fixed golden of each case below computes bit-identical outputs to the
original in eager mode (real torch, CPU), on the inputs the original accepts: the make() and
make_alt() inputs, which include a list of tensors, a `*args` tuple and values that take each branch.

These are the cases where a rewrite that only looked at trace time (`len(x)` -> `x.size(0)`,
`torch.where`, `torch.scalar_tensor`) would have broken eager mode (issue 16); fxlint.fix.eager
declines those rewrites and the goldens show what is done instead.
"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

CASES_DIR = Path(__file__).resolve().parent.parent / "fixtures" / "fix"
EAGER_CASES = ("len_list_input", "len_varargs_input", "len_split_tuple", "where_python_branches",
               "scalar_tensor_numpy", "wrapped_eager_helper", "len_cls_token", "qat_number_operands",
               "isinstance_tensor", "causal_mask_narrow", "hoist_optional_rebound")


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # numpy/torch pickling and dataclasses look modules up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def _identical(a, b) -> bool:
    """Bit-identical: same type, tensors `torch.equal` with the same dtype and shape, containers
    element by element, anything else by `==`."""
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return type(a) is type(b) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_identical(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _run(module, factory: str):
    made = getattr(module, factory)()
    model, args = made[0], made[1]
    kwargs = made[2] if len(made) == 3 else {}
    with torch.no_grad():
        return model(*args, **kwargs)


@pytest.mark.torch
@pytest.mark.parametrize("case", EAGER_CASES)
def test_fixed_golden_is_eager_identical(case: str) -> None:
    original = _load(CASES_DIR / f"{case}.py", f"eager_original_{case}")
    fixed = _load(CASES_DIR / f"{case}.fixed.py", f"eager_fixed_{case}")
    assert original.__doc__ and (CASES_DIR / f"{case}.fixed.py").read_text() != (CASES_DIR / f"{case}.py").read_text()
    for factory in ("make", "make_alt"):
        before, after = _run(original, factory), _run(fixed, factory)
        assert _identical(before, after), (factory, before, after)


@pytest.mark.torch
def test_the_trace_time_rewrites_would_have_broken_eager_mode() -> None:
    """The rewrites declined above are not harmless: on the same eager inputs they raise."""
    feats = [torch.randn(2, 8), torch.randn(2, 8)]
    with pytest.raises(AttributeError):
        feats.size(0)  # `len(feats)` -> `feats.size(0)` on a list input
    with pytest.raises(AttributeError):
        tuple(feats).size(0)  # on a `*args` tuple or `x.split(...)`
    with pytest.raises(TypeError):
        torch.where(torch.tensor(True), torch.randn(3), None)  # a `None` branch
    import numpy as np

    with pytest.raises(TypeError):
        torch.scalar_tensor(np.sqrt(np.array([8.0], dtype=np.float32)))  # a numpy operand
