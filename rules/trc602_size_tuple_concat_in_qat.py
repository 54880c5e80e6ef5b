"""TRC602: a traced size sequence joined with a tuple by `+` (`x.size()[:-1] + (h, d)`)."""

from typing import Optional

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class SizeTupleConcatInQat(Rule):
    """
    ## What it does
    Finds a traced size sequence (`x.shape`, `x.size()`, or a slice of one) joined with a tuple
    by `+`, the way Hugging Face attention splits heads:
    `x.view(x.size()[:-1] + (self.num_heads, self.head_dim))`.

    ## Why is this bad?
    The model traces and matches eager: FX records an `operator.add` of the `torch.Size` node and
    the tuple. But `prepare_qat_fx` takes every `add` for a quantizable tensor add, and decides
    whether its output is a tensor from its arguments only: `size()`/`shape` nodes and ints are
    known non-tensors, a tuple argument is "maybe a tensor". It puts a fake-quant on the add's
    output, and the prepared model fails on its first forward with `TypeError:
    fused_moving_avg_obs_fake_quant(): argument 'input' (position 1) must be Tensor, not
    torch.Size` (torch 2.13, measured). Joining two size nodes (`x.shape[:1] + y.shape[2:]`) is
    fine: both are known non-tensors.

    ## Example
    ```python
    new_shape = x.size()[:-1] + (self.num_heads, self.head_dim)
    x = x.view(new_shape)
    ```

    ## Use instead
    ```python
    x = x.unflatten(-1, (self.num_heads, self.head_dim))   # or flatten(-2) for the merge
    ```
    or join the sizes in a small `@torch.fx.wrap` function (what `fxlint fix` writes): it
    only joins Python sizes, so nothing quantizable leaves the graph.

    ## Fix safety
    Offered only when the left operand is proven the sizes of a tensor (`t.shape` / `t.size()`,
    sliced, of a proven tensor `t`: `fxlint.fix.eager`) and the right one a tuple display or such
    sizes, so the `+` was a `torch.Size` concatenation and not tensor arithmetic; declined otherwise.
    Safe where the joined sizes are passed straight to a call (`view`, `reshape`, `expand`,
    `torch.zeros`, ...): the wrapped function returns the same sizes as a tuple, which every such
    callee takes like the `torch.Size` it replaces. Unsafe elsewhere: code that keeps the result
    may rely on it being a `torch.Size` (`.numel()`). Blind spots: a size sequence bound to a name
    first (`s = x.shape[:-1]; s + (h,)`) is not followed; `torch.Size(...)` built from sizes is
    not checked.
    """

    code = "TRC602"
    hazard = Hazard.QAT
    summary = "traced size sequence joined with a tuple by `+` (QAT fake-quant crash)"
    fix_availability = FixAvailability.SOMETIMES
    help = "use `x.unflatten(-1, (h, d))` / `x.flatten(-2)`, or join the sizes in a `@torch.fx.wrap` function"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x, y):
                a = x.view(x.size(0), x.size(1), 2, -1)
                b = y.view(x.shape[:1] + y.shape[1:])
                c = self.sizes[:-1] + (2, -1)
                return a, b, x.unflatten(-1, (2, -1)), c
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                new_shape = x.size()[:-1] + (self.heads, -1)
                return x.view(new_shape)
    """, message_contains="fake-quant", line=3), Invalid("""
        class M(nn.Module):
            def forward(self, x):
                return x.reshape((x.shape[0],) + x.shape[2:])
    """, message_contains="`x.shape[2:]`", line=3)]

    def visit_BinaryOperation(self, node: cst.BinaryOperation, ctx: RuleContext) -> None:
        if not isinstance(node.operator, cst.Add):
            return
        left, right = _size_sequence(node.left, ctx), _size_sequence(node.right, ctx)
        if (left is None) == (right is None):
            return  # neither is a traced size, or both are: two size nodes are known non-tensors
        sizes, other = (node.left, node.right) if left is not None else (node.right, node.left)
        if not _tuple_at_trace_time(other, ctx):
            return
        ctx.report(node, f"the traced sizes `{ctx.code(sizes)}` are joined with the tuple `{ctx.code(other)}` "
                         "by `+`: FX records an `add`, which `prepare_qat_fx` takes for a tensor "
                         "add and fake-quantizes, so the prepared model fails with `TypeError: "
                         "fused_moving_avg_obs_fake_quant(): argument 'input' (position 1) must be Tensor, not "
                         "torch.Size`; use `unflatten`/`flatten`, or join the sizes in a wrapped function",
                   left or right)


def _size_sequence(expr: cst.BaseExpression, ctx: RuleContext):
    """The traced value whose sizes ``expr`` is (`x.shape`, `x.size()`, a slice of either), or None."""
    if isinstance(expr, cst.Subscript) and all(isinstance(e.slice, cst.Slice) for e in expr.slice):
        expr = expr.value
    if isinstance(expr, cst.Attribute) and expr.attr.value == "shape":
        return ctx.proxy(expr.value)
    if (isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value == "size"):
        return ctx.proxy(expr.func.value)
    return None


def _tuple_at_trace_time(expr: cst.BaseExpression, ctx: RuleContext) -> bool:
    """A tuple literal, or a name bound to a tuple/list built in the code: QAT's "is it a tensor?"
    check treats such an argument as maybe a tensor (only Nodes, ints and lists are looked into)."""
    if isinstance(expr, cst.Tuple):
        return True
    value: Optional[object] = ctx.value(expr) if isinstance(expr, cst.Name) else None
    return value is not None and value.kind is Kind.CONTAINER  # type: ignore[attr-defined]
