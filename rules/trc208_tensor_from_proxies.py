"""TRC208: `torch.tensor([...])` / `torch.as_tensor(...)` built from traced values."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

CONSTRUCTORS = {"torch.tensor", "torch.as_tensor", "torch.Tensor", "torch.LongTensor", "torch.FloatTensor",
                "torch.from_numpy", "torch.asarray"}


class TensorFromProxies(Rule):
    """
    ## What it does
    Finds `torch.tensor(...)`, `torch.as_tensor(...)`, `torch.from_numpy(...)` and the legacy
    constructors called on traced values, e.g. `torch.tensor([h, w])` of sizes.

    ## Why is this bad?
    These constructors read Python data; they call `len()` on the Proxy or look for the
    array interface and fail (`RuntimeError: 'len' is not supported in symbolic tracing`,
    ``TypeError: `__cuda_array_interface__` must be a dict``, `expected np.ndarray (got Proxy)`).

    ## Example
    ```python
    size = torch.tensor([h, w])
    ```

    ## Use instead
    `torch.stack` of tensors, or arithmetic on `x.shape` that stays on Proxies; or hoist into
    a `@torch.fx.wrap` function.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC208"
    hazard = Hazard.SHAPE
    fix_availability = FixAvailability.SOMETIMES
    summary = "tensor constructed from traced Python values"
    help = "build the tensor with torch ops on Proxies (`torch.stack`, arithmetic), or hoist into `@torch.fx.wrap`"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                scale = torch.tensor([1.0, 2.0])
                h, w = x.shape[-2:]
                size = torch.tensor([w, h], dtype=x.dtype)  # recorded: dtype is a Proxy
                return x * scale * size.prod()
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                h, w = x.shape[-2:]
                size = torch.tensor([h, w])
                return x * size.prod()
    """, message_contains="torch.tensor", line=4)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if name not in CONSTRUCTORS or not node.args:
            return
        value = ctx.traced(node.args[0].value)
        if any(a.keyword is not None and ctx.traced(a.value) for a in node.args):
            return  # a Proxy `dtype=`/`device=` makes torch dispatch to FX, which records the call
        if value is not None:
            ctx.report(node, f"`{name}()` of `{ctx.code(node.args[0].value)}`, which depends on "
                             f"{ctx.describe(value)}; it reads Python data and fails on a Proxy", value)
