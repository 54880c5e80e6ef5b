"""TRC302: a `.item()` / `.tolist()` / `.numpy()` result used in Python logic."""

import libcst as cst

from fxlint.analysis.context import RuleContext, condition_label
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import ConditionVisitor, Invalid, Rule, Valid

_CONSUMERS = {"builtins.int", "builtins.float", "builtins.round", "builtins.range", "builtins.min", "builtins.max",
              "builtins.bool", "builtins.len", "builtins.list", "builtins.tuple", "builtins.sum"}


class PythonScalarInPythonLogic(ConditionVisitor, Rule):
    """
    ## What it does
    Finds the result of `.item()`, `.tolist()` or `.numpy()` on a traced tensor used as a
    Python value: in a condition, in `int()`/`range()`/`min()`/`max()`, or iterated.

    ## Why is this bad?
    In eager mode these return Python numbers, lists or arrays; while tracing they return
    Proxies (a `call_method` node). Arithmetic with them is recorded, but Python logic needs
    the real value: `if y.max().item() > 1` stops with `TraceError: symbolically traced
    variables cannot be used as inputs to control flow`.

    ## Example
    ```python
    if y.abs().max().item() > 1:
        y = y / y.abs().max()
    ```

    ## Use instead
    Stay in tensor land: `y = torch.where(m > 1, y / m, y)` with `m = y.abs().max()`.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`. An early
    `return` inside a nested block takes the function's tail with it.
    """

    code = "TRC302"
    hazard = Hazard.FOREIGN
    fix_availability = FixAvailability.SOMETIMES
    summary = "`.item()`/`.tolist()`/`.numpy()` result used in Python logic"
    help = "keep the value a tensor and use tensor ops (`torch.where`, masking) instead of Python logic"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, y):
                return y / y.max().item()
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, y):
                if y.max().item() > 1:
                    y = y / 2
                return y
    """, message_contains="`.item()`", line=3)]

    def visit_Assert(self, node: cst.Assert, ctx: RuleContext) -> None:
        self.check_condition(node, node.test, ctx)

    def visit_For(self, node: cst.For, ctx: RuleContext) -> None:
        value = ctx.proxy(node.iter)
        if value is not None and value.scalar:
            self._report(node.iter, "is iterated", value, ctx)

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if name not in _CONSUMERS:
            return
        for arg in node.args:
            value = ctx.proxy(arg.value)
            if value is not None and value.scalar:
                self._report(arg.value, f"is passed to `{name[9:]}()`", value, ctx)
                return

    def check_condition(self, node: cst.CSTNode, test: cst.BaseExpression, ctx: RuleContext) -> None:
        value = ctx.proxy(test)
        if value is not None and value.scalar:
            self._report(test, f"decides an {condition_label(node, ctx.parent(node))}", value, ctx)

    def _report(self, node: cst.CSTNode, use: str, value, ctx: RuleContext) -> None:
        ctx.report(node, f"`{ctx.code(node)}` {use}, but it is {ctx.describe(value)} (`.item()`, `.tolist()` or "
                         "`.numpy()`): a Proxy while tracing, not a Python value", value)
