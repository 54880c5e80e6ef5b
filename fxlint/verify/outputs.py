"""Worker side (imports torch): compare what a GraphModule returns with what eager returned.

Outputs are compared structurally (tensors, tuples/lists incl. namedtuples, dicts, dataclasses, Python
scalars) and report the first difference with its path, e.g. ``out['logits'][1]: values differ``.

Tolerance: a GraphModule replays the same ATen ops in the same order as eager, so results are normally
bit-identical; the tolerance (rtol 1e-4, atol 1e-5 scaled by the output's magnitude) only absorbs
reordering, never a real divergence. Blind spot: objects that are none of the above are compared with
``==`` when that yields a bool, else only by type.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional

import torch
import torch.fx

RTOL = 1e-4
ATOL = 1e-5


def first_difference(eager: Any, traced: Any, path: str = "out") -> Optional[str]:
    """None when equal, else one line naming where and how the traced output differs."""
    if isinstance(traced, torch.fx.Proxy):
        return f"{path}: the GraphModule returned a Proxy (state was rebound to a Proxy while tracing)"
    if isinstance(eager, torch.Tensor) or isinstance(traced, torch.Tensor):
        return _tensor_difference(eager, traced, path)
    if type(eager) is not type(traced):
        return f"{path}: {type(traced).__name__} instead of eager's {type(eager).__name__}"
    if dataclasses.is_dataclass(eager) and not isinstance(eager, type):
        return _fields_difference(_dataclass_fields(eager), _dataclass_fields(traced), path, ".{}")
    if isinstance(eager, dict):
        if list(eager) != list(traced):
            return f"{path}: keys {list(traced)} instead of eager's {list(eager)}"
        return _fields_difference(eager, traced, path, "[{!r}]")
    if isinstance(eager, (list, tuple)):
        if len(eager) != len(traced):
            return f"{path}: {len(traced)} items instead of eager's {len(eager)}"
        return _fields_difference(dict(enumerate(eager)), dict(enumerate(traced)), path, "[{}]")
    return _scalar_difference(eager, traced, path)


def _fields_difference(eager: Dict[Any, Any], traced: Dict[Any, Any], path: str, fmt: str) -> Optional[str]:
    for key, value in eager.items():
        diff = first_difference(value, traced[key], path + fmt.format(key))
        if diff:
            return diff
    return None


def _dataclass_fields(obj: Any) -> Dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


def _tensor_difference(eager: Any, traced: Any, path: str) -> Optional[str]:
    if not (isinstance(eager, torch.Tensor) and isinstance(traced, torch.Tensor)):
        return f"{path}: {type(traced).__name__} instead of eager's {type(eager).__name__}"
    if eager.shape != traced.shape:
        return f"{path}: shape {list(traced.shape)} instead of eager's {list(eager.shape)}"
    if eager.dtype != traced.dtype:
        return f"{path}: dtype {traced.dtype} instead of eager's {eager.dtype}"
    if eager.requires_grad != traced.requires_grad:
        return f"{path}: requires_grad={traced.requires_grad} instead of eager's {eager.requires_grad}"
    a, b = eager.detach(), traced.detach()
    if a.is_floating_point() or a.is_complex():
        atol = ATOL * max(1.0, float(a.abs().nan_to_num().max())) if a.numel() else ATOL
        if torch.allclose(a, b, rtol=RTOL, atol=atol, equal_nan=True):
            return None
        diff = (a - b).abs().nan_to_num(nan=math.inf).max()
        return f"{path}: values differ (max abs diff {float(diff):.3g})"
    if torch.equal(a, b):
        return None
    return f"{path}: values differ ({int((a != b).sum())} of {a.numel()} elements)"


def _scalar_difference(eager: Any, traced: Any, path: str) -> Optional[str]:
    if isinstance(eager, float) and isinstance(traced, float):
        if math.isclose(eager, traced, rel_tol=RTOL, abs_tol=ATOL) or (math.isnan(eager) and math.isnan(traced)):
            return None
        return f"{path}: {traced!r} instead of eager's {eager!r}"
    try:
        equal = eager == traced
    except Exception:  # noqa: BLE001 - uncomparable objects of the same type count as equal
        return None
    if isinstance(equal, bool) and not equal:
        return f"{path}: {_short(traced)} instead of eager's {_short(eager)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------------------------------------- state
def buffer_snapshot(module: torch.nn.Module) -> Dict[str, torch.Tensor]:
    return {name: buf.detach().clone() for name, buf in module.named_buffers() if isinstance(buf, torch.Tensor)}


def state_difference(eager: torch.nn.Module, traced: torch.nn.Module,
                     before: Dict[str, torch.Tensor]) -> Optional[str]:
    """A buffer that eager forward updated but the GraphModule did not (or updated differently).

    Blind spot: plain Python attributes (``self.counter += 1``) are not compared; they only matter
    when an output depends on them, and then the outputs differ.
    """
    traced_buffers = dict(traced.named_buffers())
    for name, value in eager.named_buffers():
        if not isinstance(value, torch.Tensor):
            continue
        other = traced_buffers.get(name)
        if other is None:
            old = before.get(name)
            if old is not None and old.shape == value.shape and not torch.equal(old, value.detach()):
                return f"buffer `{name}`: updated by eager forward, but the GraphModule never updates it"
            continue
        if not isinstance(other, torch.Tensor):
            return f"buffer `{name}`: the GraphModule holds a {type(other).__name__}, not a tensor"
        diff = first_difference(value.detach(), other.detach(), f"buffer `{name}`")
        if diff:
            return diff
    return None
