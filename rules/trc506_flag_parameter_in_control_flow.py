"""TRC506: a non-tensor forward() parameter (`mode="a"`, `flag=False`) decides control flow."""

import libcst as cst

from fxlint.analysis.context import RuleContext, condition_label, is_flag
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import ConditionVisitor, Invalid, Rule, Valid


class FlagParameterInControlFlow(ConditionVisitor, Rule):
    """
    ## What it does
    Finds conditions decided by a `forward()` parameter with a non-tensor default
    (`mode: str = "a"`, `return_attn: bool = False`, `k: int = 3`).

    ## Why is this bad?
    Every `forward()` parameter is a Proxy while tracing, whatever its default: `if mode ==
    "b"` stops with `TraceError: symbolically traced variables cannot be used as inputs to
    control flow`. `concrete_args` fixes the trace but renames the parameter and is ignored
    by `prepare_qat_fx`.

    ## Example
    ```python
    def forward(self, x, return_attn: bool = False):
        if return_attn:
            return x, attn
    ```

    ## Use instead
    Make the flag a constructor argument (`self.return_attn`), fixed at deployment.

    ## Fix safety
    Unsafe: the branch is hoisted into a wrapped function that receives the flag, so it is decided at
    run time (ops inside are not fake-quantized). Prefer a constructor argument: guidance says so.
    """

    code = "TRC506"
    hazard = Hazard.SILENT
    fix_availability = FixAvailability.SOMETIMES
    summary = "forward() flag parameter in control flow"
    help = "make the flag a constructor argument (stored on self), fixed when the model is built"

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self, mode="a"):
                super().__init__()
                self.mode = mode
            def forward(self, x):
                if self.mode == "b":
                    x = x * 2
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x, mode: str = "a"):
                if mode == "b":
                    x = x * 2
                return x
    """, message_contains="constructor argument", line=3)]

    def check_condition(self, node: cst.CSTNode, test: cst.BaseExpression, ctx: RuleContext) -> None:
        value = ctx.proxy(test)
        if value is None or not is_flag(value):
            return
        origin = value.origin
        ctx.report(test, f"{condition_label(node, ctx.parent(node))} on forward parameter `{origin.name}` (default "
                         f"{origin.default}): it is a Proxy while tracing, not a Python value, so tracing stops "
                         "with `TraceError`; make it a constructor argument", value)
