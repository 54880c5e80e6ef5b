"""TRC604: float arithmetic cast to integers (index math) inside the graph QAT fake-quantizes."""

from typing import Optional

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.dtypes import dtype_is_integral
from fxlint.analysis.values import Value
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

#: methods that turn a float tensor into integers with no argument
INTEGER_CASTS = frozenset({"long", "int", "short"})
#: binary operators whose float output QAT observes (torch 2.13, x86 default mapping, measured:
#: `t / 2` alone is not observed, `t / 2 + 1e-6` and `log(t) / 2.0 * 3` are)
OBSERVED_FLOAT_OPERATORS = (cst.Add, cst.Multiply)


class FloatIndexMathInQat(Rule):
    """
    ## What it does
    Finds a float tensor computed with `+` or `*` and cast to integers in the same expression
    (`.long()`, `.int()`, `.to(torch.long)`): index math such as T5's relative-position buckets,
    `(torch.log(rel / max_exact + 1e-6) / math.log(...) * n).to(torch.long)`, or a coordinate
    scaled to a grid cell, `(xy * stride).long()`.

    ## Why is this bad?
    The model traces and matches eager, but `prepare_qat_fx` puts a fake-quant (8-bit) on the
    output of every `+` and `*` whatever it feeds. The float is rounded to one of 256 steps of its
    observed range before the cast, so the integers differ from eager's: indices move, and a small
    guard such as `+ 1e-6` is rounded to 0, `log` returns `-inf`, and the cast gives an int64-min index
    (measured on torch 2.13: `IndexError: index -9223372036854775802 is out of bounds`). Index math
    is not something to quantize.

    ## Example
    ```python
    large = max_exact + (torch.log(rel.float() / max_exact + 1e-6) * scale).to(torch.long)
    ```

    ## Use instead
    Compute the indices in a top-level `@torch.fx.wrap` function that receives the traced tensor:
    FX records one call, QAT leaves its inside alone, and eager runs the same code.

    ## Fix safety
    Unsafe: the statement is hoisted into a wrapped function (fxlint/fix/hoist.py), which runs the
    same code eagerly; nothing inside it is quantized, which is the point here. Blind spots: only
    arithmetic written inside the cast's own receiver is seen (`b = x * s` then `b.long()` on
    another line is not); `/` and `-` alone are not observed and not reported.
    """

    code = "TRC604"
    hazard = Hazard.QAT
    summary = "float `+`/`*` arithmetic cast to integers: QAT fake-quantizes it first (index math)"
    fix_availability = FixAvailability.SOMETIMES
    help = "compute the indices in a top-level `@torch.fx.wrap` function that receives the traced tensor"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                idx = x.argmax(-1)
                cell = torch.floor(x / 4).long()
                return x.size(0) * 2, idx.long(), cell, (x * 2).float(), (idx - 1).long()
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                rel = x.abs()
                return (torch.log(rel / 2 + 1e-6) * 3).to(torch.long)
    """, message_contains="fake-quant", line=4), Invalid("""
        class M(nn.Module):
            def forward(self, xy):
                return (xy * 7).long()
    """, message_contains="`*` in `(xy * 7)`", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or not _casts_to_integer(node, func, ctx):
            return
        receiver = ctx.certain_proxy(func.value)
        if receiver is None or receiver.integral or receiver.scalar:
            return
        operation = _observed_float_operation(func.value, ctx)
        if operation is None:
            return
        symbol = "+" if isinstance(operation.operator, cst.Add) else "*"
        ctx.report(node, f"`.{func.attr.value}()` makes integers of float math, and QAT fake-quantizes (8-bit) the "
                         f"output of the `{symbol}` in `{ctx.code(func.value)}` first: the prepared model computes "
                         "other indices than eager, and a small guard like `+ 1e-6` rounds to 0 (`log` gives -inf, "
                         "an int64-min index)", receiver)


def _casts_to_integer(node: cst.Call, func: cst.Attribute, ctx: RuleContext) -> bool:
    method = func.attr.value
    if method in INTEGER_CASTS:
        return not node.args
    if method not in ("to", "type"):
        return False
    dtype = next((a.value for a in node.args if a.keyword is None or a.keyword.value == "dtype"), None)
    return dtype is not None and dtype_is_integral(dtype, ctx.value)


def _observed_float_operation(expr: cst.BaseExpression, ctx: RuleContext) -> Optional[cst.BinaryOperation]:
    """The outermost `+`/`*` of a float Proxy inside ``expr`` (not under a nested call's arguments
    that are cast or indexed on their own)."""
    stack = [expr]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.BinaryOperation) and isinstance(current.operator, OBSERVED_FLOAT_OPERATORS) \
                and _float_proxy(current, ctx):
            return current
        if isinstance(current, (cst.Lambda, cst.Subscript)):
            continue
        stack.extend(reversed([c for c in current.children if isinstance(c, cst.CSTNode)]))
    return None


def _float_proxy(node: cst.BaseExpression, ctx: RuleContext) -> bool:
    value: Optional[Value] = ctx.certain_proxy(node)
    return value is not None and not value.integral and not value.scalar and not value.shape_only
