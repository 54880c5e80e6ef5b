"""TRC103: `and`/`or`/`not`/`bool()` force a truth value out of a traced tensor."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext, is_flag
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class TruthValueOfProxy(Rule):
    """
    ## What it does
    Finds `a and b`, `a or b`, `not a` and `bool(a)` where `a` is traced, outside the
    condition of an `if`/`while`/`assert` (those are reported by TRC101/TRC201/TRC102).

    ## Why is this bad?
    `and`, `or` and `not` call `bool()` on their operand. A Proxy has no truth value, so
    tracing stops with `TraceError: symbolically traced variables cannot be used as inputs
    to control flow`. `scale = scale or 1.0` on a tensor input is a common instance.

    ## Example
    ```python
    both = (x.max() > 0) and (x.min() < 0)
    ```

    ## Use instead
    ```python
    both = (x.max() > 0) & (x.min() < 0)
    ```
    Tensor operators `&`, `|` and `~` are recorded in the graph.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC103"
    hazard = Hazard.CONTROL_FLOW
    fix_availability = FixAvailability.SOMETIMES
    summary = "truth value of a traced tensor (`and`/`or`/`not`/`bool`)"
    help = "use the tensor operators `&`, `|`, `~` (and `torch.where` to select)"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                m = (x > 0) & (x < 1)
                use = self.training and self.p > 0
                return x * m.to(x.dtype)  # a bool mask through `*` would crash QAT (TRC603)
    """)]
    INVALID = [
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    both = (x.max() > 0) and (x.min() < 0)
                    return x * both
        """, message_contains="`and`", line=3),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    flag = bool(x.any())
                    return x + flag
        """, message_contains="`bool()`"),
    ]

    def visit_BooleanOperation(self, node: cst.BooleanOperation, ctx: RuleContext) -> None:
        value = ctx.proxy(node.left)
        if value is None or ctx.is_condition(node) or value.scalar or is_flag(value):
            return
        op = "and" if isinstance(node.operator, cst.And) else "or"
        ctx.report(node, f"`{op}` takes the truth value of `{ctx.code(node.left)}`, which depends on "
                         f"{ctx.describe(value)}; {FX_CONTROL_FLOW}", value)

    def visit_UnaryOperation(self, node: cst.UnaryOperation, ctx: RuleContext) -> None:
        if not isinstance(node.operator, cst.Not) or ctx.is_condition(node):
            return
        value = ctx.proxy(node.expression)
        if value is not None and not value.scalar and not is_flag(value):
            ctx.report(node, f"`not` takes the truth value of `{ctx.code(node.expression)}`, which depends on "
                             f"{ctx.describe(value)}; {FX_CONTROL_FLOW}", value)

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        if ctx.qualified(node.func) != "builtins.bool" or not node.args:
            return
        value = ctx.proxy(node.args[0].value)
        if value is not None and not value.scalar:
            ctx.report(node, f"`bool()` of `{ctx.code(node.args[0].value)}`, which depends on "
                             f"{ctx.describe(value)}; {FX_CONTROL_FLOW}", value)
