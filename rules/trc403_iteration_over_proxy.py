"""TRC403: iterating a traced tensor, shape or container input."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_ITERATING = {"tuple", "list", "set", "sorted", "sum", "any", "all", "zip", "enumerate", "map", "filter",
              "reversed", "iter", "dict", "frozenset"}
_ITER_ERROR = "tracing stops with `TraceError: Proxy object cannot be iterated`"


class IterationOverProxy(Rule):
    """
    ## What it does
    Finds iteration over a traced value: `for row in x`, comprehensions over it, `*x.shape`,
    `b, *rest = x.shape`, and `tuple()`, `list()`, `sum()`, `any()`, `zip()`, `enumerate()`,
    ... of a Proxy.

    ## Why is this bad?
    A Proxy can only be unpacked into a fixed number of names (`b, c, h, w = x.shape`
    works: the tracer reads the caller's bytecode). Any other iteration raises `TraceError:
    Proxy object cannot be iterated`. A list or tuple `forward()` input is one Proxy too.

    ## Example
    ```python
    size = tuple(x.shape)
    out = [f(r) for r in x]
    ```

    ## Use instead
    Unpack into fixed names (`b, c, h, w = x.shape`), index explicitly (`x[0]`, `x[1]`),
    or use tensor ops (`x.unbind(0)` into a fixed number of names).

    ## Fix safety
    Safe for `view(*x.shape[:-1], h, d)`-style star sizes (joined by a tiny wrapped helper into one size
    sequence) when the receiver is proven a tensor in eager mode (`fxlint.fix.eager`; a tensor method
    takes its sizes spread out or as one sequence alike, numpy's `view`/`repeat` do not); declined
    otherwise. Otherwise, the smallest statement region holding it is hoisted into a top-level
    `@torch.fx.wrap` function in the same file. Safe when the region calls no submodule: the same code
    runs, eagerly, on every call, and only its own ops are left out of quantization. Unsafe when it
    does: the submodules it must receive are named in the fix title and are hidden from quantization and
    `convert_fx`.
    """

    code = "TRC403"
    hazard = Hazard.CONTAINERS
    fix_availability = FixAvailability.SOMETIMES
    summary = "iteration over a traced value"
    help = "unpack into a fixed number of names, index explicitly, or use tensor ops"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                b, c, h, w = x.shape
                q, k, v = x.chunk(3, 1)
                for blk in self.blocks:
                    x = blk(x)
                return x.view(b, c, h * w)
    """)]
    INVALID = [
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    size = tuple(x.shape)
                    return x.view(size)
        """, message_contains="`tuple()`", line=3),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    return torch.stack([r * 2 for r in x])
        """, message_contains="iterat", line=3),
        Invalid("""
            class M(nn.Module):
                def forward(self, x):
                    return x.new_zeros(*x.shape)
        """, message_contains="`*x.shape`", line=3),
    ]

    def visit_For(self, node: cst.For, ctx: RuleContext) -> None:
        self._check_iterable(node.iter, "`for` loop over", ctx)

    def visit_CompFor(self, node: cst.CompFor, ctx: RuleContext) -> None:
        self._check_iterable(node.iter, "comprehension over", ctx)

    def visit_Arg(self, node: cst.Arg, ctx: RuleContext) -> None:
        if node.star == "*":
            self._check_iterable(node.value, "`*` unpacking of", ctx, shown=f"*{ctx.code(node.value)}")

    def visit_StarredElement(self, node: cst.StarredElement, ctx: RuleContext) -> None:
        self._check_iterable(node.value, "`*` unpacking of", ctx, shown=f"*{ctx.code(node.value)}")

    def visit_Assign(self, node: cst.Assign, ctx: RuleContext) -> None:
        for target in node.targets:
            elements = getattr(target.target, "elements", ())
            if any(isinstance(e, cst.StarredElement) for e in elements):
                self._check_iterable(node.value, "starred unpacking of", ctx)

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        if not name.startswith("builtins.") or name[9:] not in _ITERATING:
            return
        for arg in node.args:
            if not arg.star:
                self._check_iterable(arg.value, f"`{name[9:]}()` of", ctx, report_on=node)

    def _check_iterable(self, node: cst.BaseExpression, what: str, ctx: RuleContext, shown: str = "",
                        report_on: cst.CSTNode = None) -> None:
        value = ctx.certain_proxy(node)
        if value is None or value.scalar:
            return
        ctx.report(report_on or node, f"{what} `{shown or ctx.code(node)}`, a Proxy derived from "
                                      f"{ctx.describe(value, article=False)}; {_ITER_ERROR}", value)
