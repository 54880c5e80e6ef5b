"""TRC404: item assignment `x[...] = v` on a traced tensor."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class ItemAssignmentOnProxy(Rule):
    """
    ## What it does
    Finds `x[idx] = value` (and `x[idx] += value`) where `x` is a traced tensor.

    ## Why is this bad?
    A Proxy has no `__setitem__`: `TypeError: 'Proxy' object does not support item
    assignment`.

    ## Example
    ```python
    x[:, 0] = 0
    ```

    ## Use instead
    An out-of-place op: `x = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:]], 1)`,
    `x.masked_fill(mask, 0)`, `x.index_put(...)` or `x.scatter(...)`.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC404"
    hazard = Hazard.CONTAINERS
    fix_availability = FixAvailability.SOMETIMES
    summary = "item assignment on a traced tensor"
    help = "use an out-of-place op (`masked_fill`, `index_put`, `scatter`, `torch.cat`)"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                out = [x, x]
                out[0] = x * 2
                return x.masked_fill(x > 0, 0.0) + out[0]
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                x[:, 0] = 0
                return x
    """, message_contains="item assignment", line=3)]

    def visit_Assign(self, node: cst.Assign, ctx: RuleContext) -> None:
        for target in node.targets:
            self._check(target.target, ctx)

    def visit_AugAssign(self, node: cst.AugAssign, ctx: RuleContext) -> None:
        self._check(node.target, ctx)

    def _check(self, target: cst.BaseExpression, ctx: RuleContext) -> None:
        if not isinstance(target, cst.Subscript):
            return
        value = ctx.certain_proxy(target.value)
        if value is not None:
            ctx.report(target, f"item assignment to `{ctx.code(target)}`: `{ctx.code(target.value)}` is a Proxy "
                               f"(from {ctx.describe(value, article=False)}) and `TypeError: 'Proxy' object does not "
                               "support item assignment`", value)
