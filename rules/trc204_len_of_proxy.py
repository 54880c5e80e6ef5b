"""TRC204: `len()` of a traced tensor or shape."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class LenOfProxy(Rule):
    """
    ## What it does
    Finds `len(x)` where `x` is a traced tensor, a traced shape (`len(x.shape)`) or a
    traced container input.

    ## Why is this bad?
    `Proxy.__len__` refuses: `RuntimeError: 'len' is not supported in symbolic tracing by
    default. If you want this call to be recorded, please call torch.fx.wrap('len') at
    module scope`.

    ## Example
    ```python
    n = len(x)
    ```

    ## Use instead
    `x.size(0)` for a tensor, `x.dim()` for `len(x.shape)`; both are recorded.

    ## Fix safety
    Safe, and offered only when the argument is *proven a tensor in eager mode* on every path
    (`fxlint.fix.eager`: a torch op's or tensor method's result, a built-in `nn` layer's output, a
    parameter/buffer, an input annotated `torch.Tensor`). A traced Proxy proves nothing: a
    `list[Tensor]` input, a `*args` tuple and `x.split(...)` are Proxies too, and `.size(0)` would
    raise on them; those are declined and the statement is hoisted instead. Then
    `len(t) == t.size(0)` for every tensor of rank >= 1 (a 0-dim tensor makes both raise, `TypeError`
    vs `IndexError`), and `len(t.shape) == t.ndim` always. Not rewritten inside a `@torch.fx.wrap`
    function or a module function one calls (that code runs eagerly).
    """

    code = "TRC204"
    hazard = Hazard.SHAPE
    summary = "`len()` of a traced value"
    fix_availability = FixAvailability.SOMETIMES
    help = "use `x.size(0)` (or `x.dim()` for `len(x.shape)`)"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                n = len(self.blocks)
                feats = [x, x]
                return x * n * len(feats)
    """), Valid("""
        class M(nn.Module):
            def forward(self, x):
                # list concatenation stays a list (hiera's unroll): its length is a plain int
                b, c = x.shape[0], x.shape[-1]
                sizes = [x.shape[1] // 2, x.shape[2] // 2]
                new_shape = [b] + sum([[s, 2] for s in sizes], []) + [c]
                x = x.view(new_shape)
                return x.permute([0] + list(range(1, len(new_shape))))
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                n = len(x)
                return x.view(n, -1)
    """, message_contains="x.size(0)", line=3), Invalid("""
        class M(nn.Module):
            def forward(self, x):
                n = len(x.shape[2:])
                return x.flatten(2) * n
    """, message_contains=".ndim", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        if ctx.qualified(node.func) != "builtins.len" or len(node.args) != 1:
            return
        value = ctx.certain_proxy(node.args[0].value)
        if value is None:
            return
        arg = ctx.code(node.args[0].value)
        if arg.endswith(".shape"):
            instead = f"`{arg[:-6]}.dim()`"
        elif value.shape_only:  # a size sequence, not a tensor: it has no `.size(0)`
            instead = "the tensor's `.ndim` (minus the sizes sliced off), or hoist the code that needs the count"
        else:
            instead = f"`{arg}.size(0)`"
        ctx.report(node, f"`len({arg})` of a Proxy (derived from {ctx.describe(value, article=False)}); FX raises "
                         f"`RuntimeError: 'len' is not supported in symbolic tracing by default`; use {instead}",
                   value)
