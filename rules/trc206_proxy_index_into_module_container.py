"""TRC206: a ModuleList/ModuleDict/Sequential indexed with a traced value."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class ProxyIndexIntoModuleContainer(Rule):
    """
    ## What it does
    Finds `self.experts[idx]`, `self.heads[task]` and `getattr(self, ...)` where the index or
    key depends on a `forward()` input, such as top-1 MoE routing or a task-name argument.

    ## Why is this bad?
    Module containers are ordinary Python objects while tracing: `TypeError: 'Proxy' object
    cannot be interpreted as an integer` (ModuleList) or `KeyError: Proxy(task)`
    (ModuleDict). The graph can only contain modules chosen at trace time.

    ## Example
    ```python
    idx = gate(x).argmax()
    y = self.experts[idx](x)
    ```

    ## Use instead
    Run every expert and select with a mask (`torch.stack([e(x) for e in self.experts])`
    gathered by `idx`), or make the key a constructor argument.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`. The
    container is passed to the wrapped function, so the chosen module runs but is not quantized.
    """

    code = "TRC206"
    hazard = Hazard.SHAPE
    fix_availability = FixAvailability.SOMETIMES
    summary = "module container indexed by a traced value"
    help = "run every module and select with a mask/gather, or make the key a constructor argument"

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.heads = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            def forward(self, x):
                return torch.stack([h(x) for h in self.heads]).sum(0) + self.heads[0](x)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.experts = nn.ModuleList([nn.Linear(4, 4) for _ in range(3)])
            def forward(self, x):
                idx = x.mean(-1).argmax()
                return self.experts[idx](x)
    """, message_contains="self.experts", line=7)]

    def visit_Subscript(self, node: cst.Subscript, ctx: RuleContext) -> None:
        base = ctx.value(node.value)
        if base is None or base.kind is not Kind.MODULE_CONTAINER:
            return
        for element in node.slice:
            inner = element.slice
            value = ctx.traced(inner.value) if isinstance(inner, cst.Index) else None
            if value is not None:
                ctx.report(node, f"module container `{ctx.code(node.value)}` is indexed with a value that depends "
                                 f"on {ctx.describe(value)}; FX can only record modules chosen at trace time "
                                 "(`TypeError: 'Proxy' object cannot be interpreted as an integer` / `KeyError`)",
                           value)
                return
