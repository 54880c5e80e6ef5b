"""TRC207: `torch.zeros(b, n)`-style factory calls with a traced first size."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

FACTORIES = {"torch.zeros", "torch.ones", "torch.empty", "torch.rand", "torch.randn"}


class VarargsSizeWithProxy(Rule):
    """
    ## What it does
    Finds `torch.zeros`, `torch.ones`, `torch.empty`, `torch.rand` and `torch.randn` called
    with sizes as separate arguments where the *first* one is traced (`torch.zeros(B, 8)`
    with `B = x.size(0)`).

    ## Why is this bad?
    torch's argument parser only accepts a Proxy as the first argument when it is the whole
    size: `TypeError: zeros() takes 1 positional argument but 2 were given` (`randn`:
    `received an invalid combination of arguments - got (Proxy, int)`).

    ## Example
    ```python
    h = torch.zeros(x.size(0), self.hidden)
    ```

    ## Use instead
    ```python
    h = torch.zeros((x.size(0), self.hidden))   # or x.new_zeros(x.size(0), self.hidden)
    ```

    ## Fix safety
    Packing the sizes into one tuple is exactly equivalent; safe.
    """

    code = "TRC207"
    hazard = Hazard.SHAPE
    summary = "factory call with varargs sizes led by a traced size"
    fix_availability = FixAvailability.ALWAYS
    help = "pass the sizes as one tuple: `torch.zeros((b, n))`"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                a = torch.zeros((x.size(0), 8))
                b = x.new_zeros(x.size(0), 8)
                c = torch.zeros(8, x.size(0))
                return a + b + c.t()
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                h = torch.zeros(x.size(0), 8)
                return x + h
    """, message_contains="one tuple", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        positional = [a for a in node.args if a.keyword is None and not a.star]
        if name not in FACTORIES or len(positional) < 2:
            return
        value = ctx.proxy(positional[0].value)
        if value is not None:
            ctx.report(node, f"`{name}` gets separate sizes led by `{ctx.code(positional[0].value)}`, which depends "
                             f"on {ctx.describe(value)}; torch rejects a Proxy there (`TypeError: "
                             f"{name[6:]}() takes 1 positional argument`); pass the sizes as one tuple", value)
