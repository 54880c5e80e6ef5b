"""TRC102: `assert` on a traced tensor's values or shape."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class AssertOnTracedValue(Rule):
    """
    ## What it does
    Finds `assert` statements whose condition depends on a `forward()` input or an
    `nn.Parameter` (its values or its shape), e.g. the patch-embed check
    `assert x.shape[-1] == self.dim`.

    ## Why is this bad?
    `assert` calls `bool()` on its condition; a Proxy has no truth value, so tracing stops
    with `TraceError: symbolically traced variables cannot be used as inputs to control flow`.

    ## Example
    ```python
    assert x.shape[1] == self.in_chans, "wrong channel count"
    ```

    ## Use instead
    ```python
    torch._assert(x.shape[1] == self.in_chans, "wrong channel count")
    ```
    `torch._assert` is recorded as a graph node and still checks in eager mode.

    ## Fix safety
    Safe for tracing; note that `python -O` strips `assert` but not `torch._assert`.
    """

    code = "TRC102"
    hazard = Hazard.CONTROL_FLOW
    summary = "`assert` on a traced value"
    fix_availability = FixAvailability.ALWAYS
    help = "use `torch._assert(condition, message)`, which FX records as a node"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                torch._assert(x.shape[1] == 3, "need RGB")
                assert self.dim > 0
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                assert x.shape[1] == 3, "need RGB"
                return x
    """, message_contains="torch._assert", line=3)]

    def visit_Assert(self, node: cst.Assert, ctx: RuleContext) -> None:
        value = ctx.proxy(node.test)
        if value is None or value.scalar:
            return
        ctx.report(node, f"`assert {ctx.code(node.test)}` depends on {ctx.describe(value)}; {FX_CONTROL_FLOW}; "
                         "use `torch._assert`", value)
