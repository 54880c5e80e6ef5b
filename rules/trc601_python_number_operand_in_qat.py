"""TRC601: a Python number computed from a traced value as an operand of `*`/`+` in tensor arithmetic."""

import enum
from typing import List, Optional

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class _Num(enum.Enum):
    """How `prepare_qat_fx` sees a Python-number expression (torch 2.13,
    `torch.ao.quantization.fx.utils.all_node_args_have_no_tensors`)."""

    INT = "int"  #: an int constant: never a node
    CONST = "const"  #: a float or other non-int constant: makes the node that takes it "maybe a tensor"
    SIZE = "size"  #: a node built only from `size()`/`shape`/`ndim`, ints and such nodes: a non-tensor
    OBSERVED = "observed"  #: a node QAT takes for a tensor: it gets a fake-quant when it feeds `*`/`+`


#: methods whose result QAT takes for a tensor (they are not `size`/`shape`/`ndim`)
_OBSERVED_METHODS = frozenset({"item", "dim", "numel"})
#: the binary operators QAT quantizes (measured: `-` and `/` with such an operand run fine)
_QUANTIZED_OPS = (cst.Multiply, cst.Add)


class PythonNumberOperandInQat(Rule):
    """
    ## What it does
    Finds a Python number computed from a traced value that QAT cannot tell from a tensor, used
    as an operand of `*` or `+` inside tensor arithmetic: `.item()`, `.dim()` and `.numel()`
    results, and shape arithmetic that involves a float constant, such as
    `att * (1.0 / math.sqrt(k.size(-1)))`, `y * (d ** -0.5)` or `y / (y.max().item() + 1e-6)`.

    ## Why is this bad?
    The model traces and matches eager, but `prepare_qat_fx` decides "is this node a tensor?"
    from the node's arguments only: `size()`/`shape`/`ndim` and int constants are known
    non-tensors, anything with a float constant or a tensor argument (the receiver of `.item()`)
    is "maybe a tensor". It then puts a fake-quant on that node where it feeds a quantized `mul`
    or `add`, and the prepared model crashes on its first forward with `TypeError:
    fused_moving_avg_obs_fake_quant(): argument 'input' (position 1) must be Tensor, not float`.

    ## Example
    ```python
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    ```

    ## Use instead
    Make the number a 0-dim tensor where it enters the quantized op:
    `att * torch.scalar_tensor(1.0 / math.sqrt(k.size(-1)))`, or divide (`att / math.sqrt(...)`,
    `div` is not quantized and `math.sqrt` of a size is a non-tensor).

    ## Fix safety
    Unsafe, offered only when the operand is proven a Python number in eager mode (`fxlint.fix.eager`:
    literals, `len`/`int`/`float`, `math.*`, sizes and `.item()` of a proven tensor; not a numpy value,
    which `torch.scalar_tensor` rejects when it is an array) and the arithmetic it sits in meets a
    proven tensor through operations on numbers only (so the result was a tensor already); declined
    otherwise. The fix wraps the number in `torch.scalar_tensor(...)`, a 0-dim tensor of the default
    dtype (float32). For float32 tensors the result is unchanged: the Python number was cast to
    float32 inside the op anyway. But an int-valued number now promotes an integer tensor to float,
    a float64 model sees the number rounded to float32, a float16 model sees it rounded to float16,
    and arithmetic between such a number and other constants (`peak + 1e-6`) now runs in float32
    instead of double. Blind spots: a number bound to a name on an earlier line from shape
    arithmetic (`scale = 1.0 / math.sqrt(d)` then `att * scale`) is not followed; `torch.mul` /
    `torch.add` calls and augmented assignments are not checked; a float attribute of unknown value
    (`x.size(-1) * self.ratio`) is taken for an int.
    """

    code = "TRC601"
    hazard = Hazard.QAT
    summary = "Python number from a traced value as a `*`/`+` operand (QAT fake-quant crash)"
    fix_availability = FixAvailability.SOMETIMES
    help = "make the number a 0-dim tensor (`torch.scalar_tensor(...)`), or divide instead of multiplying"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                B, T, C = x.size()
                y = self.fc(x) / math.sqrt(C)
                return y * (C // 2) + y * self.scale + C
    """), Valid("""
        class M(nn.Module):
            def forward(self, x):
                n = int(self.ratio * 4)
                return x * (1.0 / math.sqrt(n)) + x.ndim
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, q, k):
                return (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
    """, message_contains="fake-quant", line=3), Invalid("""
        class M(nn.Module):
            def forward(self, x):
                peak = x.abs().max().item()
                return x / (peak + 1e-6)
    """, message_contains="`peak`", line=4), Invalid("""
        class M(nn.Module):
            def forward(self, x):
                return x + x.size(-1) * 0.5
    """, message_contains="`x.size(-1)`", line=3)]

    def visit_BinaryOperation(self, node: cst.BinaryOperation, ctx: RuleContext) -> None:
        if not isinstance(node.operator, _QUANTIZED_OPS) or not self._in_tensor_arithmetic(node, ctx):
            return
        for target in self._wrap_targets(node, ctx):
            ctx.report(target, f"`{ctx.code(target)}` is a Python number that `prepare_qat_fx` takes for a tensor "
                               f"({_why(target, ctx)}); it feeds a quantized `{_op(node)}`, gets a fake-quant, and "
                               "the prepared model fails with `TypeError: fused_moving_avg_obs_fake_quant(): argument "
                               "'input' (position 1) must be Tensor`", ctx.proxy(target))

    # ------------------------------------------------------------------ which operands
    def _wrap_targets(self, node: cst.BinaryOperation, ctx: RuleContext) -> List[cst.BaseExpression]:
        """The operands to make 0-dim tensors so that this `*`/`+` takes no maybe-tensor number.
        A `*`/`+` operand that is itself number arithmetic is left to its own visit."""
        left, right = _number(node.left, ctx), _number(node.right, ctx)
        hazardous = _Num.OBSERVED in (left, right) or (
            left is not None and right is not None and _combine([left, right]) is _Num.OBSERVED)
        if not hazardous:
            return []
        return [side for side, kind in ((node.left, left), (node.right, right))
                if kind in (_Num.SIZE, _Num.OBSERVED) and not _quantized_number_op(side)]

    def _in_tensor_arithmetic(self, node: cst.BinaryOperation, ctx: RuleContext) -> bool:
        """Does the expression reach a binary operation with a tensor operand (so wrapping keeps
        the result a tensor)? A number used as a size or a Python value is TRC202's business."""
        current: cst.CSTNode = node
        while isinstance(current, (cst.BinaryOperation, cst.UnaryOperation)):
            if isinstance(current, cst.BinaryOperation) and any(
                    _number(side, ctx) is None and ctx.proxy(side) is not None for side in (current.left, current.right)):
                return True
            parent = ctx.parent(current)
            if parent is None:
                return False
            current = parent
        return False


def _number(expr: cst.BaseExpression, ctx: RuleContext) -> Optional[_Num]:
    """How QAT sees ``expr`` if it is a Python number while tracing; None if it is not one (a tensor,
    a container, anything else)."""
    if isinstance(expr, cst.Integer):
        return _Num.INT
    if isinstance(expr, (cst.Float, cst.Imaginary)):
        return _Num.CONST
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, (cst.Minus, cst.Plus)):
        return _number(expr.expression, ctx)
    if isinstance(expr, cst.BinaryOperation):
        parts = [_number(expr.left, ctx), _number(expr.right, ctx)]
        return None if None in parts else _combine(parts)
    if isinstance(expr, cst.Call):
        return _call_number(expr, ctx)
    if isinstance(expr, cst.Subscript):
        base = _number(expr.value, ctx) if not _is_shape(expr.value, ctx) else _Num.SIZE
        return _Num.SIZE if base is _Num.SIZE else None
    if isinstance(expr, (cst.Name, cst.Attribute)):
        return _named_number(expr, ctx)
    return None


def _call_number(expr: cst.Call, ctx: RuleContext) -> Optional[_Num]:
    func = expr.func
    if isinstance(func, cst.Attribute) and ctx.proxy(func.value) is not None:
        if func.attr.value in _OBSERVED_METHODS:
            return _Num.OBSERVED
        if func.attr.value == "size" and expr.args:
            return _Num.SIZE
        return None
    if ctx.qualified(func).startswith("math.") and expr.args:
        parts = [_number(a.value, ctx) for a in expr.args]
        return None if None in parts else _combine(parts)
    return None


def _named_number(expr: cst.BaseExpression, ctx: RuleContext) -> Optional[_Num]:
    value = ctx.value(expr)
    if value is None:
        return None
    if value.is_proxy:
        if value.scalar:
            return _Num.OBSERVED
        if isinstance(expr, cst.Attribute) and expr.attr.value == "ndim":
            return _Num.SIZE
        # a name bound to shape arithmetic (`B, T, C = x.size()`) is an int node QAT can tell apart
        return _Num.SIZE if value.shape_only and isinstance(expr, cst.Name) and not value.opaque else None
    if value.kind is not Kind.CONST:
        return None
    if value.has_const:
        return _Num.INT if isinstance(value.const, int) else _Num.CONST
    # a concrete value of unknown type (`self.ratio`, a helper's `dilation` parameter) counts as an
    # int: most are int hyper-parameters, which QAT accepts. Blind spot: a float one is missed.
    return _Num.INT


def _is_shape(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    """`x.shape` or `x.size()` of a Proxy."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "shape":
        return ctx.proxy(expr.value) is not None
    return (isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value == "size" and ctx.proxy(expr.func.value) is not None)


def _combine(parts: List[_Num]) -> _Num:
    if _Num.OBSERVED in parts or (_Num.SIZE in parts and _Num.CONST in parts):
        return _Num.OBSERVED
    for kind in (_Num.SIZE, _Num.CONST):
        if kind in parts:
            return kind
    return _Num.INT


def _quantized_number_op(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, _QUANTIZED_OPS)


def _op(node: cst.BinaryOperation) -> str:
    return "mul" if isinstance(node.operator, cst.Multiply) else "add"


def _why(target: cst.BaseExpression, ctx: RuleContext) -> str:
    if _number(target, ctx) is _Num.SIZE:
        return "a size combined with a float constant"
    value = ctx.value(target)
    if value is not None and value.scalar:
        return "an `.item()` result"
    return "shape arithmetic with a float constant, or an `.item()`/`.dim()`/`.numel()` result"
