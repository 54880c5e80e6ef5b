"""TRC303: `from math import f` called with a traced value outside the traced forward's module."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class MathImportOutsideForwardModule(Rule):
    """
    ## What it does
    Finds calls to a bare `math` function imported with `from math import ceil` that receive
    a traced value, in a module other than the one defining the traced `forward()`.

    ## Why is this bad?
    The tracer auto-wraps `math` functions by patching the `math` module and the globals of
    the *root* `forward()`'s module only. A `ceil` imported into a helper module is the plain
    C function there and fails on a Proxy: `TypeError: must be real number, not Proxy`.

    ## Example
    ```python
    # helpers.py
    from math import ceil
    def pad_amount(size, k):
        return ceil(size / k) * k - size
    ```

    ## Use instead
    `import math` and call `math.ceil(...)`: attribute access goes through the patched
    module.

    ## Fix safety
    Safe: `math.ceil` is the same function.
    """

    code = "TRC303"
    hazard = Hazard.FOREIGN
    summary = "`from math import f` used on a traced value in a helper module"
    fix_availability = FixAvailability.ALWAYS
    help = "write `import math` and call `math.<f>(...)`, which the tracer patches everywhere"

    VALID = [Valid("""
        from math import sqrt
        class M(nn.Module):
            def forward(self, x):
                return x / sqrt(x.size(-1))
    """)]
    INVALID = [Invalid("""
        from mathhelpers import scale
        class M(nn.Module):
            def forward(self, x):
                return scale(x)
    """, message_contains="math.sqrt", helpers=(("mathhelpers.py", """
        from math import sqrt
        def scale(x):
            return x / sqrt(x.size(-1))
    """),))]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        if not isinstance(node.func, cst.Name):
            return
        target = ctx.module.imports.get(node.func.value, "")
        if not target.startswith("math."):
            return
        if all(m == ctx.module.name for m in ctx.reach.entry_modules):
            return  # every traced root lives in this module: its globals are patched
        for arg in node.args:
            value = ctx.traced(arg.value)
            if value is not None:
                ctx.report(node, f"`{node.func.value}` is `{target}` imported by name into this module; the tracer "
                                 "patches `math` only in the root forward's module, so here it fails on "
                                 f"`{ctx.code(arg.value)}` ({ctx.describe(value)}) with `TypeError: must be real "
                                 f"number, not Proxy`; call `{target}(...)` after `import math`", value)
                return

