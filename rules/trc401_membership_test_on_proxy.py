"""TRC401: `'k' in kwargs` / `in` on a traced container input or tensor."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class MembershipTestOnProxy(Rule):
    """
    ## What it does
    Finds `key in obj` / `key not in obj` where `obj` is traced: `**kwargs`, a dict or list
    `forward()` input, or a tensor.

    ## Why is this bad?
    A Proxy has no `__contains__`, so Python falls back to iterating it and tracing stops
    with `TraceError: Proxy object cannot be iterated`. `**kwargs` of `forward()` is one
    Proxy while tracing, not a dict.

    ## Example
    ```python
    def forward(self, x, **kwargs):
        if "mask" in kwargs:
            x = x * kwargs["mask"]
    ```

    ## Use instead
    Make the key an explicit keyword parameter (`def forward(self, x, mask=None)`) and
    decide at construction whether the model uses it; `kwargs["k"]` and
    `kwargs.get("k")` themselves trace.

    ## Fix safety
    Turning a `**kwargs` key into a parameter changes the signature; unsafe.
    """

    code = "TRC401"
    hazard = Hazard.CONTAINERS
    summary = "membership test on a traced container"
    fix_availability = FixAvailability.SOMETIMES
    help = "make the key an explicit keyword parameter of forward(); read it with kwargs['k'] / kwargs.get('k')"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x, **kwargs):
                scale = kwargs.get("scale")
                return x * kwargs["bias"] + (0 if "a" in self.names else 1)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x, **kwargs):
                if "mask" in kwargs:
                    x = x * kwargs["mask"]
                return x
    """, message_contains="kwargs", line=3)]

    def visit_Comparison(self, node: cst.Comparison, ctx: RuleContext) -> None:
        for target in node.comparisons:
            if not isinstance(target.operator, (cst.In, cst.NotIn)):
                continue
            value = ctx.certain_proxy(target.comparator)
            if value is not None:
                ctx.report(node, f"`{ctx.code(node)}` tests membership in `{ctx.code(target.comparator)}`, which is "
                                 f"a Proxy (from {ctx.describe(value, article=False)}); Python falls back to "
                                 "iterating it and tracing stops with `TraceError: Proxy object cannot be iterated`",
                           value)
                return
