"""TRC209: `torch.finfo(x.dtype)` / `torch.iinfo(x.dtype)` of a traced tensor."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class FinfoOfProxyDtype(Rule):
    """
    ## What it does
    Finds `torch.finfo(...)` and `torch.iinfo(...)` whose argument is the `dtype` of a
    traced tensor.

    ## Why is this bad?
    `x.dtype` is a Proxy while tracing, and `torch.finfo` needs a real dtype: `TypeError:
    torch.finfo() requires a floating point input type`. Attention code often writes
    `torch.finfo(scores.dtype).min` for masking.

    ## Example
    ```python
    scores = scores.masked_fill(mask, torch.finfo(scores.dtype).min)
    ```

    ## Use instead
    Use a constant dtype known at construction (`torch.finfo(torch.float32).min`) or
    `float("-inf")`.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC209"
    hazard = Hazard.SHAPE
    fix_availability = FixAvailability.SOMETIMES
    summary = "`torch.finfo`/`iinfo` of a traced dtype"
    help = "use a dtype fixed at construction (`torch.finfo(torch.float32)`) or `float('-inf')`"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                return x.clamp(min=torch.finfo(torch.float32).min)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x, mask):
                return x.masked_fill(mask, torch.finfo(x.dtype).min)
    """, message_contains="finfo", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if name not in ("torch.finfo", "torch.iinfo") or not node.args:
            return
        value = ctx.proxy(node.args[0].value)
        if value is not None:
            ctx.report(node, f"`{name}({ctx.code(node.args[0].value)})`: the dtype of a traced tensor is a Proxy "
                             f"(from {ctx.describe(value, article=False)}); `{name[6:]}` needs a real dtype and raises "
                             "`TypeError`", value)
