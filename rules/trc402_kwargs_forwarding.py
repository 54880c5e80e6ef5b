"""TRC402: `**kwargs` of forward() unpacked into another call."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class KwargsForwarding(Rule):
    """
    ## What it does
    Finds `f(**kwargs)` / `{**kwargs}` where `kwargs` is traced, typically the `**kwargs` of
    `forward()` passed on to a submodule.

    ## Why is this bad?
    While tracing, `**kwargs` of `forward()` is a single Proxy; unpacking it needs its keys,
    and tracing stops with `TraceError: Proxy object cannot be iterated`.

    ## Example
    ```python
    def forward(self, x, **kwargs):
        return self.block(x, **kwargs)
    ```

    ## Use instead
    Name the keyword parameters the model really takes and pass them explicitly.

    ## Fix safety
    Unsafe, when `**kwargs` is only popped with literal defaults (`kwargs.pop("k", False)`) and then
    forwarded once to a submodule whose class is in the same file: the popped keys and the submodule
    forward's remaining defaulted parameters become explicit keyword parameters, passed one by one.
    The signature changes (extra positional arguments now bind instead of raising; keys the submodule
    would take through its own `**kwargs` are not forwarded). Other uses get guidance only.
    """

    code = "TRC402"
    hazard = Hazard.CONTAINERS
    fix_availability = FixAvailability.SOMETIMES
    summary = "`**kwargs` of forward() unpacked"
    help = "declare the keyword parameters explicitly and pass them one by one"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x, scale=None):
                opts = {"dim": -1}
                return torch.softmax(x, **opts)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def forward(self, x, **kwargs):
                return helper(x, **kwargs)
        def helper(x, scale=1.0):
            return x * scale
    """, message_contains="**kwargs", line=6)]

    def visit_Arg(self, node: cst.Arg, ctx: RuleContext) -> None:
        if node.star == "**":
            self._check(node, node.value, ctx)

    def visit_StarredDictElement(self, node: cst.StarredDictElement, ctx: RuleContext) -> None:
        self._check(node, node.value, ctx)

    def _check(self, node: cst.CSTNode, value_node: cst.BaseExpression, ctx: RuleContext) -> None:
        value = ctx.certain_proxy(value_node)
        if value is not None:
            ctx.report(node, f"`**{ctx.code(value_node)}` unpacks a Proxy (from {ctx.describe(value, article=False)}); "
                             "tracing stops with `TraceError: Proxy object cannot be iterated`", value)
