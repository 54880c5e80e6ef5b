"""TRC503: forward() mutates module state (attributes, lists, buffers)."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_MUTATORS = {"append", "extend", "insert", "pop", "clear", "update", "setdefault", "add", "remove",
             "add_", "sub_", "mul_", "div_", "copy_", "fill_", "zero_", "clamp_", "lerp_", "addcmul_", "mul_"}


class StateMutationInForward(Rule):
    """
    ## What it does
    Finds traced code that changes module state: `self.n += 1`, `self.cache = x`,
    `self.history.append(x)`, and in-place updates of a registered buffer with no traced
    operand (`self.steps.add_(1)`).

    ## Why is this bad?
    Tracing runs `forward()` once. A Python attribute update happens once, at trace time,
    and is not in the graph; assigning a Proxy to `self.x` leaves the module holding a Proxy
    (the GraphModule then returns Proxies). An in-place buffer op with constant operands is
    executed at trace time and never recorded. The traced model silently stops updating its
    state.

    ## Example
    ```python
    self.num_batches += 1
    ```

    ## Use instead
    Keep state in a buffer updated in place by an op that also receives a traced tensor,
    inside a `@torch.fx.wrap` function, or move the bookkeeping out of `forward()`.

    Not reported: item stores into a dict or list attribute (`self.cache[key] = value`), the
    memoisation pattern, which leaves one stale entry behind but changes no result.

    ## Fix safety
    Unsafe, registered buffers only, statements in forward()'s body or in its `if`/`else` branches
    (`self.b += v`, `self.b = expr`, `self.b.mul_(m).add_(v)`): the update moves into a wrapped
    function that receives the buffer and a traced input, updates it in place and returns it (later
    reads use the returned value; `self.b = expr` becomes `copy_`, assuming the same shape and dtype).
    Declined inside loops, `with` and `try`, and when the buffer is read after the `if` that updates
    it. Plain Python counters get guidance only: making one a buffer changes the `state_dict` and
    turns the Python arithmetic it feeds (`min`, `max`, `**`) into tensor code. Unsafe, state of a
    submodule (a rotary/positional table cache grown or rebuilt in its forward, a counter): the
    parent's call of that submodule is hoisted with the submodule passed in (`rot=self.rot`), so it
    runs eagerly inside the wrapped call and its state updates happen on every call; the submodule
    is hidden from quantization (named in the title). Unsafe, a cache in a registered buffer rebuilt
    when the input size changes (`if self.rel.shape[1] != N: self.rel = self.build_rel(N)`, timm
    ConViT): the `if` is hoisted, the rebinding becomes `rel.set_(...)` on the buffer the graph reads,
    and a simple method it calls is copied into the wrapped function (fxlint/fix/methods.py), when
    that hides no submodule.
    """

    code = "TRC503"
    hazard = Hazard.SILENT
    fix_availability = FixAvailability.SOMETIMES
    summary = "module state mutated in forward()"
    help = ("keep the state in a buffer updated in place inside a `@torch.fx.wrap` function that also "
            "receives a traced tensor, or move the bookkeeping out of forward()")

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                cache = []
                cache.append(x)
                return cache[0]
    """)]
    INVALID = [
        Invalid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.calls = 0
                def forward(self, x):
                    self.calls += 1
                    return x
        """, message_contains="self.calls", line=6),
        Invalid("""
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.register_buffer("steps", torch.zeros(()))
                def forward(self, x):
                    self.steps.add_(1)
                    return x
        """, message_contains="buffer", line=6),
    ]

    def visit_Assign(self, node: cst.Assign, ctx: RuleContext) -> None:
        for target in node.targets:
            self._check_target(target.target, ctx)

    def visit_AugAssign(self, node: cst.AugAssign, ctx: RuleContext) -> None:
        self._check_target(node.target, ctx)

    def visit_AnnAssign(self, node: cst.AnnAssign, ctx: RuleContext) -> None:
        if node.value is not None:
            self._check_target(node.target, ctx)

    def _check_target(self, target: cst.BaseExpression, ctx: RuleContext) -> None:
        # `self.cache[key] = value` is memoisation (timm's attention-bias caches): tracing fills one
        # entry under a "Proxy(...)" key and eager calls still work, so it is not reported.
        base = target
        if not isinstance(base, cst.Attribute):
            return
        owner = ctx.value(base.value)
        if owner is None or owner.kind not in (Kind.SELF, Kind.MODULE):
            return
        ctx.report(target, f"`{ctx.code(target)}` changes module state inside traced code: it runs once at trace "
                           "time and is not recorded, so the traced model silently stops updating it")

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value not in _MUTATORS:
            return
        receiver = ctx.value(func.value)
        if receiver is None or not isinstance(func.value, cst.Attribute):
            return
        owner = ctx.value(func.value.value)
        if owner is None or owner.kind not in (Kind.SELF, Kind.MODULE):
            return
        if receiver.kind is Kind.BUFFER and any(ctx.traced(a.value) for a in node.args):
            return  # recorded: the op receives a Proxy
        if receiver.kind in (Kind.BUFFER, Kind.CONST, Kind.CONTAINER):
            what = "buffer" if receiver.kind is Kind.BUFFER else "attribute"
            ctx.report(node, f"`{ctx.code(node)}` mutates {what} `{ctx.code(func.value)}` inside traced code: it "
                             "runs once at trace time and is not recorded in the graph")
