"""Which traced tensors are integer or bool tensors (the ``Value.integral`` bit).

Why it matters: `prepare_qat_fx` assumes every tensor node is float. It fake-quantizes the output of
shape ops (`unsqueeze`, `view`, `repeat`, ...) and of `add`/`mul` whatever their dtype, and the
fake-quant rejects an integer or bool tensor (TRC603). The bit is a "may be": set by a producer whose
result is integral on some path, kept by ops that keep the dtype, dropped by anything else.

Blind spots: the dtype of a forward input is unknown (an integer `attention_mask` input is not
integral here); `torch.arange` without `dtype=` is not followed (long for int ends, float otherwise);
a helper's return is followed only where the analysis runs it.
"""

from __future__ import annotations

from typing import Callable, List, Optional

import libcst as cst

from fxlint.analysis.values import Kind, Value

INTEGRAL_DTYPES = frozenset(f"torch.{d}" for d in (
    "long", "int64", "int", "int32", "short", "int16", "int8", "uint8", "uint16", "uint32", "uint64", "bool"))
#: methods whose result is an integer or bool tensor whatever the receiver
INTEGRAL_METHODS = frozenset({
    "argmax", "argmin", "argsort", "long", "int", "short", "char", "byte", "bool", "nonzero", "bincount",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "logical_xor",
    "isnan", "isinf", "isfinite", "count_nonzero"})
#: methods returning (values, indices); `max`/`min`/`median` only when given a dim
PAIR_METHODS = frozenset({"topk", "sort", "kthvalue", "mode", "cummax", "cummin"})
DIM_PAIR_METHODS = frozenset({"max", "min", "median"})
#: methods whose result has the receiver's dtype (an integral receiver stays integral)
PRESERVING_METHODS = frozenset({
    "unsqueeze", "unsqueeze_", "squeeze", "reshape", "view", "repeat", "expand", "expand_as", "transpose",
    "permute", "contiguous", "flatten", "unflatten", "flip", "roll", "clone", "detach", "cpu", "cuda", "narrow",
    "select", "index_select", "gather", "masked_select", "masked_fill", "repeat_interleave", "tile", "movedim",
    "swapaxes", "t", "clamp", "clamp_min", "clamp_max", "cumsum", "add", "sub", "mul", "abs", "neg",
    "remainder", "fmod", "floor_divide", "chunk", "split", "unbind", "sum", "view_as", "reshape_as", "diff"})
#: methods that cast: their dtype argument decides
CAST_METHODS = frozenset({"to", "type"})
#: `torch.` functions: integral results, (values, indices) pairs, dtype-keeping ops of their first argument
INTEGRAL_FUNCTIONS = frozenset(f"torch.{f}" for f in (
    "argmax", "argmin", "argsort", "nonzero", "randint", "randint_like", "randperm", "bucketize", "searchsorted",
    "multinomial", "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "isnan",
    "isinf", "isfinite", "count_nonzero", "bincount"))
PAIR_FUNCTIONS = frozenset(f"torch.{f}" for f in PAIR_METHODS)
DIM_PAIR_FUNCTIONS = frozenset(f"torch.{f}" for f in DIM_PAIR_METHODS)
PRESERVING_FUNCTIONS = frozenset(f"torch.{f}" for f in PRESERVING_METHODS) | {"torch.cat", "torch.stack"}
#: binary operators that keep an integer tensor integral (with an int operand); `/` and `**` do not
INTEGRAL_OPERATORS = (cst.Add, cst.Subtract, cst.Multiply, cst.FloorDivide, cst.Modulo, cst.BitAnd, cst.BitOr,
                      cst.BitXor, cst.LeftShift, cst.RightShift)

Evaluate = Callable[[cst.BaseExpression], Optional[Value]]


def dtype_is_integral(arg: cst.BaseExpression, value_of: Evaluate) -> bool:
    """`torch.long`, `torch.bool`, or `t.dtype` of an integral tensor."""
    value = value_of(arg)
    if value is not None and value.kind is Kind.EXTERNAL:
        return str(value.ref) in INTEGRAL_DTYPES
    if isinstance(arg, cst.Attribute) and arg.attr.value == "dtype":
        base = value_of(arg.value)
        return base is not None and base.integral
    return False


def cast_result(call: cst.Call, receiver: Value, value_of: Evaluate) -> bool:
    """Integral-ness of `t.to(...)`/`t.type(...)`: the dtype argument decides; `t.to(device)` keeps it."""
    dtype = _dtype_arg(call, positional=True)
    if dtype is None:
        return receiver.integral
    return dtype_is_integral(dtype, value_of)


def method_result(method: str, call: Optional[cst.Call], receiver: Value, value_of: Evaluate) -> dict:
    """The dtype bits of `receiver.method(...)`: keyword arguments for ``Value.derived``."""
    if method in INTEGRAL_METHODS:
        return {"integral": True}
    if method in PAIR_METHODS or (method in DIM_PAIR_METHODS and call is not None and _has_dim(call, 0)):
        return {"indices_pair": True}
    if method in CAST_METHODS and call is not None:
        return {"integral": cast_result(call, receiver, value_of)}
    if method in PRESERVING_METHODS or (method == "div" and call is not None and _rounds(call)):
        return {"integral": receiver.integral}
    return {}


def function_result(name: str, call: cst.Call, args: List[Value], value_of: Evaluate) -> dict:
    """The dtype bits of a `torch.` function call."""
    dtype = _dtype_arg(call, positional=False)
    if dtype is not None:
        return {"integral": dtype_is_integral(dtype, value_of)}
    if name in INTEGRAL_FUNCTIONS:
        return {"integral": True}
    if name in PAIR_FUNCTIONS or (name in DIM_PAIR_FUNCTIONS and _has_dim(call, 1)):
        return {"indices_pair": True}
    if name in PRESERVING_FUNCTIONS and args:
        first = args[0]
        items = first.items if first.kind is Kind.CONTAINER and first.items else (first,)
        return {"integral": any(v.integral for v in items)}
    if name == "torch.div" and args and args[0].integral and _rounds(call):
        return {"integral": True}
    return {}


def _rounds(call: cst.Call) -> bool:
    """`div(..., rounding_mode=...)`: an integer tensor stays integer."""
    return any(a.keyword is not None and a.keyword.value == "rounding_mode" for a in call.args)


def arithmetic_result(operator: cst.BaseBinaryOp, left: Value, right: Value) -> bool:
    """`idx * 2 + 1`, `idx // width`: integral when one side is an integral tensor and the other an
    int (literal, size, or integral tensor). A concrete value of unknown type counts as an int."""
    if not isinstance(operator, INTEGRAL_OPERATORS) or not (left.integral or right.integral):
        return False
    return all(_int_like(v) for v in (left, right))


def _int_like(value: Value) -> bool:
    if value.integral:
        return True
    if value.kind is Kind.CONST:
        return not value.has_const or isinstance(value.const, int)
    return value.is_proxy and value.shape_only and not value.scalar


def _dtype_arg(call: cst.Call, positional: bool) -> Optional[cst.BaseExpression]:
    """The `dtype=` argument, or (for `.to`/`.type`) a positional one that names a dtype."""
    for arg in call.args:
        if arg.keyword is not None:
            if arg.keyword.value == "dtype":
                return arg.value
        elif positional and _names_dtype(arg.value):
            return arg.value
    return None


def _names_dtype(expr: cst.BaseExpression) -> bool:
    """`torch.long`, `torch.float32`, `x.dtype`: not `x.device`, `"cuda"` or a tensor (`t.to(other)`)."""
    if isinstance(expr, cst.Attribute):
        if expr.attr.value == "dtype":
            return True
        return isinstance(expr.value, cst.Name) and expr.value.value == "torch" and expr.attr.value != "device"
    return False


def _has_dim(call: cst.Call, positional_index: int) -> bool:
    """Does `max`/`min`/`median` get a dim (so it returns (values, indices))?"""
    positional = [a for a in call.args if a.keyword is None and a.star == ""]
    if any(a.keyword is not None and a.keyword.value == "dim" for a in call.args):
        return True
    if len(positional) <= positional_index:
        return False
    dim = positional[positional_index].value
    return isinstance(dim, (cst.Integer, cst.UnaryOperation))


def names_float_dtype(arg: cst.Arg) -> bool:
    """Does a `.to(...)` argument name a floating dtype (`torch.float32`, `torch.half`, `x.dtype`)?
    (`x.dtype` is taken for a float dtype: casting to a float tensor's dtype is the common case.)"""
    value = arg.value
    if not isinstance(value, cst.Attribute) or (arg.keyword is not None and arg.keyword.value != "dtype"):
        return False
    return value.attr.value == "dtype" or (isinstance(value.value, cst.Name) and value.value.value == "torch"
                                           and value.attr.value.startswith(("float", "half", "double", "bfloat")))
