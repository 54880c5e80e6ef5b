"""TRC504: random numbers or clock reads with no traced operand (frozen at trace time)."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_PREFIXES = ("random.", "time.", "numpy.random.", "datetime.", "uuid.", "secrets.", "os.urandom")
_TORCH_RANDOM = {"torch.rand", "torch.randn", "torch.randint", "torch.randperm", "torch.normal",
                 "torch.bernoulli", "torch.multinomial", "torch.poisson", "torch.empty"}


class FrozenNondeterminism(Rule):
    """
    ## What it does
    Finds calls to `random.*`, `time.*`, `numpy.random.*`, `datetime.now()` and torch random
    factories (`torch.rand(())`, `torch.randn(8)`) in traced code when no argument is traced.

    ## Why is this bad?
    A call without a Proxy argument is not recorded: it runs once while tracing and its
    result is stored in the graph as a constant. Every later call of the traced model reuses
    the same "random" number or timestamp, silently.

    ## Example
    ```python
    if random.random() < self.p:
        x = x.flip(-1)
    ```

    ## Use instead
    Draw randomness from a traced tensor (`torch.rand_like(x)`, `torch.rand(x.shape[:1])`)
    so the call is recorded, and select with `torch.where`.

    ## Fix safety
    Unsafe: the call moves into a wrapped function that also receives forward()'s first input, so FX
    records it and it consumes the RNG at the same point as eager. Randomness that decides Python
    control flow (stochastic depth's `if random.random() < p: return x`) has its statement, or the
    function's tail when it returns, hoisted into a wrapped function that draws and branches on every
    call; the submodules it calls are then hidden from quantization (the fix's title names them).
    Where that region receives no traced value, guidance only.
    """

    code = "TRC504"
    hazard = Hazard.SILENT
    fix_availability = FixAvailability.SOMETIMES
    summary = "randomness or clock read frozen at trace time"
    help = "derive it from a traced tensor (`torch.rand_like(x)`) so that FX records the call"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                noise = torch.rand_like(x)
                keep = torch.rand(x.shape[:1]) > 0.5
                return x + noise
    """)]
    INVALID = [Invalid("""
        import random
        class M(nn.Module):
            def forward(self, x):
                if random.random() < 0.5:
                    x = x.flip(-1)
                return x
    """, message_contains="random.random", line=4)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if not (name.startswith(_PREFIXES) or name in _TORCH_RANDOM):
            return
        if name == "torch.empty" or any(ctx.traced(a.value) for a in node.args):
            return
        ctx.report(node, f"`{ctx.code(node)}` has no traced argument: FX runs it once while tracing and stores the "
                         "result as a constant, so every call of the traced model reuses it")
