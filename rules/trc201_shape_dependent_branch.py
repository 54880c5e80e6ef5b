"""TRC201: Python control flow on the shape, rank, dtype or device of a traced tensor."""

import libcst as cst

from fxlint.analysis.context import FX_CONTROL_FLOW, RuleContext, condition_label
from fxlint.analysis.values import Taint
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import ConditionVisitor, Invalid, Rule, Valid


class ShapeDependentBranch(ConditionVisitor, Rule):
    """
    ## What it does
    Finds `if`, `elif`, `while` and conditional expressions whose condition depends only on
    the shape, rank (`ndim`, `dim()`), size, dtype or device of a `forward()` input or
    `nn.Parameter`.

    ## Why is this bad?
    While tracing, `x.shape[0]`, `x.size(1)`, `x.ndim` and `x.dtype` are Proxies, not
    Python ints: `if H != W:` stops with `TraceError: symbolically traced variables cannot
    be used as inputs to control flow`. This is the most common failure in real model zoos
    (padding to a window size, resizing position embeddings).

    ## Example
    ```python
    pad_h = (ws - H % ws) % ws
    if pad_h > 0:
        x = F.pad(x, (0, 0, 0, pad_h))
    ```

    ## Use instead
    Drop guards that are no-ops at zero (`F.pad(x, (0, 0, 0, pad_h))` with `pad_h == 0`
    changes nothing), or hoist the shape logic into a top-level `@torch.fx.wrap` function.

    ## Fix safety
    Removing a no-op guard is safe when the guarded call is an identity at the boundary and the
    padded value is proven a tensor in eager mode (`fxlint.fix.eager`; else declined);
    hoisting is safe when the region calls no submodule (the same code runs eagerly on every call;
    only its own ops are left out of quantization) and unsafe when it hides submodules.
    An `if`/`else` whose two arms are the same code loses its condition (safe; the obligation: the
    condition has no side effects, i.e. only attributes, comparisons, `size()`/`dim()`,
    `torch.jit.is_scripting()`; then both paths run the same code, and only a condition that raised
    no longer does).
    """

    code = "TRC201"
    hazard = Hazard.SHAPE
    summary = "Python control flow on tensor shapes"
    fix_availability = FixAvailability.SOMETIMES
    help = ("make the computation unconditional when the guarded branch is a no-op at the boundary, "
            "or hoist it into a top-level `@torch.fx.wrap` function that receives the tensor")

    VALID = [
        Valid("""
            class M(nn.Module):
                def forward(self, x):
                    b, c, h, w = x.shape
                    return x.view(b, c, h * w)
        """),
        Valid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("table", torch.zeros(4, 4))
                def forward(self, x):
                    if self.table.shape[0] > 2:
                        x = x + 1
                    return x
        """),
        Valid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("table", torch.zeros(4, 4))
                def forward(self, x):
                    if self.table.dtype in (torch.float16, torch.bfloat16):
                        x = x.half()
                    return x
        """),
    ]
    INVALID = [
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    H, W = x.shape[-2:]
                    if H != W:
                        x = x[..., :H, :H]
                    return x
        """, message_contains="shape of forward input `x`", line=4),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    if x.ndim == 4:
                        x = x.flatten(2)
                    return x
        """, message_contains="`if`"),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    if x.dtype in (torch.float16, torch.bfloat16):
                        x = x.float()
                    return x
        """, message_contains="forward input `x`", line=3),
        Invalid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.weight = nn.Parameter(torch.ones(4))
                def forward(self, x):
                    if self.weight.dtype in [torch.float16, torch.bfloat16]:
                        x = x.to(self.weight.dtype)
                    return x * self.weight
        """, message_contains="nn.Parameter `self.weight`", line=6),
        # a user subclass of a torch.nn built-in that overrides forward is traced into, not a leaf
        Invalid("""
            class FP32LayerNorm(nn.LayerNorm):
                def forward(self, x):
                    if x.dtype == torch.float16:
                        return super().forward(x.float()).half()
                    return super().forward(x)

            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.norm = FP32LayerNorm(8)
                def forward(self, x):
                    return self.norm(x)
        """, message_contains="forward input `x`", line=3),
        # a function reached through a registry dict (transformers' attention/mask interfaces)
        Invalid("""
            def clipped_attention(q, k):
                if q.shape[-1] > 64:
                    q = q[..., :64]
                return q @ k.transpose(-1, -2)

            ATTENTION_FUNCTIONS = {"clipped": clipped_attention}

            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.impl = "clipped"
                def forward(self, q, k):
                    return ATTENTION_FUNCTIONS[self.impl](q, k)
        """, message_contains="forward input `q`", line=2),
    ]

    def check_condition(self, node: cst.CSTNode, test: cst.BaseExpression, ctx: RuleContext) -> None:
        value = ctx.proxy(test)
        if value is None or value.taint != Taint.SHAPE or value.scalar:
            return
        label = condition_label(node, ctx.parent(node))
        ctx.report(test, f"{label} condition `{ctx.code(test)}` depends on {ctx.describe(value)}; "
                         f"shapes are Proxies while tracing, so {FX_CONTROL_FLOW}", value)
