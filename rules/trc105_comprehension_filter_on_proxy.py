"""TRC105: a comprehension's `if` filter tests a traced value."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class ComprehensionFilterOnProxy(Rule):
    """
    ## What it does
    Finds `[... for r in rows if cond]` where `cond` depends on a traced tensor.

    ## Why is this bad?
    The filter takes the truth value of a Proxy, so tracing stops with `TraceError:
    symbolically traced variables cannot be used as inputs to control flow`.

    ## Example
    ```python
    kept = torch.stack([r for r in rows if r.sum() > 0])
    ```

    ## Use instead
    Boolean-mask indexing stays in the graph: `kept = x[x.sum(1) > 0]`.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC105"
    hazard = Hazard.CONTROL_FLOW
    fix_availability = FixAvailability.SOMETIMES
    summary = "comprehension filter on a traced value"
    help = "use boolean-mask indexing (`x[mask]`) or `torch.where`"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                return sum(f(x) for f in self.layers if f is not None)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x, y):
                parts = [x, y]
                kept = [p for p in parts if p.sum() > 0]
                return kept[0]
    """, message_contains="filter", line=4)]

    def visit_CompIf(self, node: cst.CompIf, ctx: RuleContext) -> None:
        value = ctx.proxy(node.test)
        if value is not None and not value.scalar:
            ctx.report(node.test, f"comprehension filter `{ctx.code(node.test)}` depends on "
                                  f"{ctx.describe(value)}; {FX_CONTROL_FLOW}", value)
