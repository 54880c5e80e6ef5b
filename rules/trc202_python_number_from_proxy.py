"""TRC202: `int()`, `float()`, `round()` or `operator.index()` of a traced value."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_CONVERTERS = {"builtins.int": "int", "builtins.float": "float", "builtins.round": "round",
               "operator.index": "operator.index", "builtins.complex": "complex"}


class PythonNumberFromProxy(Rule):
    """
    ## What it does
    Finds `int(...)`, `float(...)`, `round(...)` and `operator.index(...)` applied to a value
    computed from a traced tensor, typically shape arithmetic such as
    `int(math.sqrt(x.shape[1]))` or `int(h * self.scale)`.

    ## Why is this bad?
    A Proxy is not a number: tracing stops with `TypeError: int() argument must be a string,
    a bytes-like object or a real number, not 'Proxy'`.

    ## Example
    ```python
    grid = int(math.sqrt(T))
    ```

    ## Use instead
    Keep the arithmetic on Proxies (`T // 2`, `math.floor(...)` in the forward's own
    module is recorded), or hoist it into a top-level `@torch.fx.wrap` function.

    ## Fix safety
    Safe, under proven obligations (`fxlint.fix.eager`), else declined and hoisted. `int()` around
    integer arithmetic (`int(math.ceil(h / p) * p)`) is dropped when every leaf is a proven int
    (a size of a proven tensor, an int literal, `len()`, `math.ceil`/`math.floor`, a name bound
    only to those): the value already is that int. `int(a / b)` becomes `a // b` when `a` and `b`
    are proven non-negative ints (`int()` truncates toward zero, `//` floors; sizes below 2**52
    divide exactly enough). A float `self.ratio` or an unannotated input's sizes are not proven.
    The arithmetic then stays in the graph as size nodes. Other `int()`/`float()` uses are hoisted
    into a wrapped function, which is opaque to quantization.
    """

    code = "TRC202"
    hazard = Hazard.SHAPE
    summary = "`int()`/`float()` of a traced value"
    fix_availability = FixAvailability.SOMETIMES
    help = "keep the arithmetic on Proxies (`//`, `math.floor`) or hoist it into a `@torch.fx.wrap` function"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                n = int(self.ratio * 4)
                return x[:, : x.size(1) // 2] * n
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                T = x.shape[1]
                grid = int(math.sqrt(T))
                return x.view(x.size(0), grid, grid, -1)
    """, message_contains="`int()`", line=4)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = _CONVERTERS.get(ctx.qualified(node.func))
        if name is None or not node.args:
            return
        value = ctx.proxy(node.args[0].value)
        if value is None or value.scalar:
            return
        ctx.report(node, f"`{name}()` of `{ctx.code(node.args[0].value)}`, which depends on {ctx.describe(value)}; "
                         f"a Proxy is not a Python number, so tracing stops with `TypeError: {name}() argument "
                         "must be ... not 'Proxy'`", value)
