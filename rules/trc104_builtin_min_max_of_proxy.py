"""TRC104: builtin `min()`/`max()` compare traced values in Python."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext
from fxlint.analysis.values import element_of
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class BuiltinMinMaxOfProxy(Rule):
    """
    ## What it does
    Finds the builtins `min()` and `max()` called with a traced value (a size, a shape
    computation or a tensor).

    ## Why is this bad?
    `min`/`max` compare their arguments with `<`/`>` and then take the truth value of the
    comparison, which a Proxy does not have: tracing stops with `TraceError: symbolically
    traced variables cannot be used as inputs to control flow`. timm's `get_same_padding`
    (`max(..., 0)`) breaks eight model families this way.

    ## Example
    ```python
    pad = max((math.ceil(w / s) - 1) * s + k - w, 0)
    ```

    ## Use instead
    Use tensor ops (`torch.clamp(t, min=0)`, `torch.maximum`), or hoist the size arithmetic
    into a top-level `@torch.fx.wrap` function.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC104"
    hazard = Hazard.CONTROL_FLOW
    fix_availability = FixAvailability.SOMETIMES
    summary = "builtin `min`/`max` on traced values"
    help = "use `torch.clamp`/`torch.minimum`/`torch.maximum`, or hoist into a `@torch.fx.wrap` function"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                k = max(self.k, 1)
                return torch.clamp(x, min=0) * k
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                n = min(x.size(0), 5)
                return x[:n]
    """, message_contains="`min()`", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if name not in ("builtins.min", "builtins.max"):
            return
        for arg in node.args:
            value = ctx.value(arg.value)
            if value is not None and value.traced and not value.is_proxy:
                value = element_of(value)
            if value is not None and value.traced and not value.scalar:
                ctx.report(node, f"`{name[9:]}()` compares `{ctx.code(arg.value)}`, which depends on "
                                 f"{ctx.describe(value)}; {FX_CONTROL_FLOW}", value)
                return
