"""TRC207: `torch.zeros(b, n)`-style factory calls with a traced first size."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

FACTORIES = {"torch.zeros", "torch.ones", "torch.empty", "torch.rand", "torch.randn"}
#: tensor methods taking sizes as varargs or one sequence (measured: `buffer.expand((b, -1, 1))` traces)
SIZE_METHODS = {"expand", "view", "reshape", "repeat", "new_zeros", "new_ones", "new_empty"}


class VarargsSizeWithProxy(Rule):
    """
    ## What it does
    Finds `torch.zeros`, `torch.ones`, `torch.empty`, `torch.rand` and `torch.randn` called
    with sizes as separate arguments where the *first* one is traced (`torch.zeros(B, 8)`
    with `B = x.size(0)`), and the same for size-taking methods (`expand`, `view`, `reshape`,
    `repeat`, `new_zeros`, ...) of a registered buffer (`self.inv_freq.expand(B, -1, 1)`).

    ## Why is this bad?
    torch's argument parser only accepts a Proxy as the first argument when it is the whole
    size (a buffer is a real tensor while tracing, so its methods go through the same parser; on
    a Proxy receiver the call is recorded and fine): `TypeError: zeros() takes 1 positional
    argument but 2 were given` (`randn`: `received an invalid combination of arguments - got
    (Proxy, int)`).

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
                d = x.expand(x.size(0), -1)
                return a + b + c.t() + d
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                h = torch.zeros(x.size(0), 8)
                return x + h
    """, message_contains="one tuple", line=3), Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("inv_freq", torch.ones(4))

            def forward(self, x):
                freqs = self.inv_freq[None, :, None].expand(x.shape[0], -1, 1)
                return x @ freqs
    """, message_contains="registered buffer", line=7)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        positional = [a for a in node.args if a.keyword is None and not a.star]
        if len(positional) < 2:
            return
        if name not in FACTORIES:
            self._buffer_method(node, positional, ctx)
            return
        value = ctx.proxy(positional[0].value)
        if value is not None:
            ctx.report(node, f"`{name}` gets separate sizes led by `{ctx.code(positional[0].value)}`, which depends "
                             f"on {ctx.describe(value)}; torch rejects a Proxy there (`TypeError: "
                             f"{name[6:]}() takes 1 positional argument`); pass the sizes as one tuple", value)

    def _buffer_method(self, node: cst.Call, positional, ctx: RuleContext) -> None:
        """`self.inv_freq[None, :, None].expand(b, -1, 1)`: a real tensor's method takes no Proxy among
        separate sizes either (a Proxy receiver would record the call; a buffer is a real tensor)."""
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in SIZE_METHODS):
            return
        receiver = ctx.value(func.value)
        value = ctx.proxy(positional[0].value)
        if receiver is None or receiver.kind is not Kind.BUFFER or value is None:
            return
        ctx.report(node, f"`.{func.attr.value}()` of a registered buffer (a real tensor while tracing) gets separate "
                         f"sizes led by `{ctx.code(positional[0].value)}`, which depends on {ctx.describe(value)}; "
                         f"the tensor method rejects a Proxy there (`TypeError: {func.attr.value}() takes 1 "
                         "positional argument`); pass the sizes as one tuple", value)
