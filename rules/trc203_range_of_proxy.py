"""TRC203: `range()` over a traced size."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class RangeOfProxy(Rule):
    """
    ## What it does
    Finds `range(...)` whose bounds depend on a traced tensor, e.g. `range(x.size(1))`.

    ## Why is this bad?
    `range` needs a Python int; a Proxy cannot be interpreted as one and tracing stops with
    `TypeError: 'Proxy' object cannot be interpreted as an integer`. Even if it could, the
    loop would be unrolled for one input size only.

    ## Example
    ```python
    for t in range(x.size(1)):
        h = self.cell(x[:, t], h)
    ```

    ## Use instead
    Loop over a static bound (`range(self.max_len)`), use a vectorized tensor op, or hoist
    the loop into a top-level `@torch.fx.wrap` function (the submodules it calls are then
    hidden from quantization).

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC203"
    hazard = Hazard.SHAPE
    fix_availability = FixAvailability.SOMETIMES
    summary = "`range()` of a traced size"
    help = "loop over a static bound from the constructor, vectorize, or hoist into a `@torch.fx.wrap` function"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                for i in range(self.n):
                    x = x + i
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                out = []
                for t in range(x.size(1)):
                    out.append(x[:, t] * 2)
                return torch.stack(out, 1)
    """, message_contains="`range(", line=4)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        if ctx.qualified(node.func) != "builtins.range":
            return
        for arg in node.args:
            value = ctx.proxy(arg.value)
            if value is not None and not value.scalar:
                ctx.report(node, f"`{ctx.code(node)}` depends on {ctx.describe(value)}; a Proxy cannot be "
                                 "interpreted as an integer, so tracing stops with `TypeError`", value)
                return
