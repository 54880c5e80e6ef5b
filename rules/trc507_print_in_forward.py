"""TRC507: `print()` in traced code runs once at trace time."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import Hazard
from fxlint.rule import Invalid, Rule, Valid


class PrintInForward(Rule):
    """
    ## What it does
    Finds `print(...)` calls in traced code.

    ## Why is this bad?
    `print` is not recorded: it runs once while tracing (printing `Proxy(...)` instead of
    values) and the traced model never prints again. Debug output silently disappears.

    ## Example
    ```python
    print("feature shape", x.shape)
    ```

    ## Use instead
    Remove it, or log outside the traced `forward()`.
    """

    code = "TRC507"
    hazard = Hazard.SILENT
    summary = "`print()` in traced code (runs once at trace time)"
    help = "remove the print, or log outside the traced forward()"

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                print("building")
            def forward(self, x):
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                print(x.shape)
                return x
    """, message_contains="print", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        if ctx.qualified(node.func) == "builtins.print":
            ctx.report(node, f"`{ctx.code(node)}` runs once while tracing and is not recorded; the traced model "
                             "never prints")
