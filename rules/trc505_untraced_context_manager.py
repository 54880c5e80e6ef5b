"""TRC505: `torch.no_grad()`, `autocast` and friends in traced code are not recorded."""

import libcst as cst

from fxlint.analysis import dotted
from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_CONTEXTS = {"torch.no_grad", "torch.enable_grad", "torch.inference_mode", "torch.set_grad_enabled",
             "torch.autocast", "torch.amp.autocast", "torch.cuda.amp.autocast", "torch.cpu.amp.autocast",
             "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"}


class UntracedContextManager(Rule):
    """
    ## What it does
    Finds `with torch.no_grad():`, `with torch.autocast(...):`, `torch.inference_mode`,
    `torch.set_grad_enabled` and the same used as decorators on traced functions.

    ## Why is this bad?
    FX records operations, not grad or autocast modes. The GraphModule computes the block
    with gradients enabled and in the default dtype: outputs that were detached now require
    grad (a teacher branch trains), and autocast regions silently run in fp32.

    ## Example
    ```python
    with torch.no_grad():
        target = self.teacher(x)
    ```

    ## Use instead
    `target = self.teacher(x).detach()` (recorded); cast explicitly with `.to(dtype)`.

    ## Fix safety
    Unsafe, `no_grad` only: the `with` is dropped and every name it binds that is read later is
    `.detach()`ed (intermediates now build an autograd graph). A `@torch.no_grad()` decorator is
    dropped and every value the function returns goes through a wrapped helper that detaches each
    tensor in it (also inside tuples, lists and dicts). Blocks that return or mutate in place,
    functions that return an input or a `self.` attribute unchanged (no_grad leaves those as they
    are) get guidance only. Autocast has no graph equivalent: a `with torch.autocast(...):` block is
    hoisted whole into a `@torch.fx.wrap` function that enters it when it runs (unsafe: the fix's
    title names the submodules it hides from quantization); an autocast decorator gets guidance.
    A disabled `torch.autocast(..., enabled=False)` block is dropped instead (unsafe: it only
    matters when the caller enables autocast, and the graph records none either way).
    """

    code = "TRC505"
    hazard = Hazard.SILENT
    fix_availability = FixAvailability.SOMETIMES
    summary = "grad/autocast mode in traced code (not recorded)"
    help = "use `.detach()` instead of `no_grad`, explicit `.to(dtype)` instead of autocast"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                return self.teacher(x).detach() if hasattr(self, "teacher") else x.detach()
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                with torch.no_grad():
                    y = x * 2
                return y
    """, message_contains="no_grad", line=3)]

    def visit_With(self, node: cst.With, ctx: RuleContext) -> None:
        for item in node.items:
            name = ctx.module.resolve_name(dotted(item.item))
            if name in _CONTEXTS:
                ctx.report(item.item, f"`{ctx.code(item.item)}` is not recorded by FX: the traced graph runs this "
                                      "block without it (gradients on, default dtype)")

    def visit_Decorator(self, node: cst.Decorator, ctx: RuleContext) -> None:
        name = ctx.module.resolve_name(dotted(node.decorator))
        if name in _CONTEXTS:
            ctx.report(node, f"`@{ctx.code(node.decorator)}` is not recorded by FX: the traced graph runs this "
                             "function without it (gradients on, default dtype)")
