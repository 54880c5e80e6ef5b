"""TRC101: an `if`/`elif`/`while`/conditional expression decides on the values of a traced tensor."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext, condition_label, is_flag
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import ConditionVisitor, Invalid, Rule, Valid


class TensorDependentBranch(ConditionVisitor, Rule):
    """
    ## What it does
    Finds `if`, `elif`, `while` and `a if c else b` whose condition depends on the *values*
    of a `forward()` input or an `nn.Parameter` (not only on its shape).

    ## Why is this bad?
    `symbolic_trace` runs `forward()` on `Proxy` objects. A Proxy has no truth value, so
    the trace stops with `TraceError: symbolically traced variables cannot be used as
    inputs to control flow`. Conditions on hyper-parameters, `self.training` or buffers
    are concrete while tracing and are fine.

    ## Example
    ```python
    def forward(self, x):
        if x.sum() > 0:
            x = torch.relu(x)
        return x
    ```

    ## Use instead
    Keep the computation in the graph with `torch.where(x.sum() > 0, torch.relu(x), x)`,
    or hoist the branch into a top-level `@torch.fx.wrap` function that receives `x`.

    ## Fix safety
    `torch.where(c, a, b)` is offered (unsafe) only under these proven obligations
    (`fxlint.fix.eager`), else declined and the branch is hoisted: `c` is a 0-dim bool tensor in
    eager mode (a comparison of whole-tensor reductions and numbers, `&`/`|`/`~` of such,
    `.any()`/`.all()`); `a` and `b` are proven tensors of one shape (elementwise expressions of the
    same tensor and scalars: `torch.where` cannot fail to broadcast them); the branch not taken has
    no side effects (no submodule, helper, random or in-place call), cannot raise, and reads only
    locals bound on every path. Python numbers, `None` and tuples as branches are declined. The
    stated differences: both branches are computed; the result is a new tensor of the branches'
    promoted dtype, requiring grad when either does. Hoisting hides the ops inside from quantization.
    An `if`/`else` whose two arms are the same code loses its condition (safe; the obligation: the
    condition has no side effects, i.e. only attributes, comparisons, `size()`/`dim()`,
    `torch.jit.is_scripting()`; then both paths run the same code, and only a condition that raised
    no longer does).
    """

    code = "TRC101"
    hazard = Hazard.CONTROL_FLOW
    summary = "Python control flow on tensor values"
    fix_availability = FixAvailability.SOMETIMES
    help = ("compute both results and select with `torch.where`, or hoist the branch into a top-level "
            "`@torch.fx.wrap` function that receives the tensor")

    VALID = [
        Valid("""
            class M(nn.Module):
                def forward(self, x):
                    if self.training:
                        x = torch.dropout(x, 0.1, True)
                    return x
        """),
        Valid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("stats", torch.zeros(3))
                def forward(self, x):
                    if self.stats.sum() > 0:
                        x = x * 2
                    return x
        """),
        Valid("""
            @torch.fx.wrap
            def gate(x):
                if x.sum() > 0:  # FX records one call to gate(); its body is not traced
                    return x
                return -x
            class M(nn.Module):
                def forward(self, x):
                    return gate(x)
        """),
        Valid("""
            # Wrapper is only built by Pair and not exported: traced through Pair, which
            # never passes `cache`, so `exists(cache)` is False and `flag` is never tested
            def exists(val):
                return val is not None
            def default(val, d):
                return val if exists(val) else d
            class Wrapper(nn.Module):
                def __init__(self, flag=False):
                    super().__init__()
                    self.flag = flag
                    self.proj = nn.Linear(4, 4)
                def forward(self, x, cache=None, flag=None):
                    flag = default(flag, self.flag)
                    if exists(cache) and flag:
                        x = x + cache
                    return self.proj(x)
            class Pair(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner = Wrapper()
                def forward(self, x):
                    return self.inner(x)
        """, helpers=(("__init__.py", "from .example import Pair\n"),)),
    ]
    INVALID = [
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    s = x.sum()
                    if s > 0:
                        return torch.relu(x)
                    return x
        """, message_contains="forward input `x`", line=4),
        Invalid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.gate = nn.Parameter(torch.ones(1))
                def forward(self, x):
                    return x if self.gate > 0 else -x
        """, message_contains="nn.Parameter `self.gate`"),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    while x.norm() > 1:
                        x = x / 2
                    return x
        """, message_contains="`while`"),
        Invalid("""
            # the package exports Wrapper: users trace it on its own, where `cache` and `flag`
            # are Proxies and `exists(cache) and flag` takes the truth of one (x-transformers)
            def exists(val):
                return val is not None
            def default(val, d):
                return val if exists(val) else d
            class Wrapper(nn.Module):
                def __init__(self, flag=False):
                    super().__init__()
                    self.flag = flag
                    self.proj = nn.Linear(4, 4)
                def forward(self, x, cache=None, flag=None):
                    flag = default(flag, self.flag)
                    if exists(cache) and flag:
                        x = x + cache
                    return self.proj(x)
            class Pair(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.inner = Wrapper()
                def forward(self, x):
                    return self.inner(x)
        """, message_contains="forward input `flag`", line=14,
                helpers=(("__init__.py", "from .example import Pair, Wrapper\n"),)),
    ]

    def check_condition(self, node: cst.CSTNode, test: cst.BaseExpression, ctx: RuleContext) -> None:
        value = ctx.proxy(test)
        if value is None or not value.taint & value.taint.VALUE or value.scalar or is_flag(value):
            return
        label = condition_label(node, ctx.parent(node))
        ctx.report(test, f"{label} condition `{ctx.code(test)}` depends on {ctx.describe(value)}; {FX_CONTROL_FLOW}",
                   value)
