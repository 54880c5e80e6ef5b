"""TRC603: an integer or bool tensor through an op that `prepare_qat_fx` fake-quantizes."""

import itertools
import re
from typing import Optional

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.dtypes import names_float_dtype
from fxlint.analysis.values import Value
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

#: tensor methods whose output QAT observes whatever the dtype (torch 2.13, x86 default mapping, measured)
OBSERVED_METHODS = frozenset({"unsqueeze", "unsqueeze_", "reshape", "view", "repeat", "expand", "squeeze",
                              "transpose", "permute", "contiguous", "clamp", "repeat_interleave"})
#: `torch.` functions likewise (their first argument, or any element of `cat`/`stack`'s sequence)
OBSERVED_FUNCTIONS = frozenset({"torch.unsqueeze", "torch.squeeze", "torch.transpose", "torch.flatten",
                                "torch.add", "torch.mul", "torch.cat", "torch.stack", "torch.repeat_interleave"})
#: binary operators QAT observes (measured: `-`, `%`, `/` run fine on an integer tensor)
OBSERVED_OPERATORS = {cst.Add: "+", cst.Multiply: "*", cst.FloorDivide: "//"}
#: casts after which a shape op's receiver is evidently of another dtype
CAST_METHODS = frozenset({"to", "float", "half", "double", "bfloat16", "type_as"})

_CRASH = ("QAT puts a fake-quant on its output and the prepared model fails with `RuntimeError: expected "
          "scalar type Float but found Long`")


class IntegerTensorThroughObservedOp(Rule):
    """
    ## What it does
    Finds an integer or bool tensor (argmax/argmin/`topk(...).indices`, `torch.max(x, d)[1]`,
    `.long()`, `dtype=torch.long`, a comparison, and arithmetic on those) passed through an op
    that `prepare_qat_fx` fake-quantizes: a shape op (`unsqueeze`, `reshape`, `view`, `repeat`,
    `expand`, `transpose`, `permute`, `squeeze`, `contiguous`, `clamp`, `cat`/`stack`), or a `+`,
    `*` or `//`. Also a shape op whose result is cast right away (`mask.unsqueeze(-1).to(h.dtype)`,
    `.float()`): the cast says the receiver has another dtype, typically an integer mask.

    ## Why is this bad?
    The model traces and matches eager, but QAT assumes every tensor is float. With the default
    x86 mapping (torch 2.13, measured) it puts a `FusedMovingAvgObsFakeQuantize` on the output of
    those ops whatever their dtype, and the prepared model fails on its first forward with
    `RuntimeError: expected scalar type Float but found Long` (or `Bool`). Indexing (`idx[:, None]`),
    `keepdim=True`, `-`, `%`, `/`, `.add()`/`.mul()`, `torch.reshape`, `.tile`, `.swapaxes`,
    `torch.permute`, `torch.broadcast_to` and a cast are not observed.

    ## Example
    ```python
    idx = scores.topk(k, dim=1).indices
    out = torch.gather(x, 1, idx.unsqueeze(-1).expand(-1, -1, x.size(-1)))
    ```

    ## Use instead
    ```python
    out = torch.gather(x, 1, torch.broadcast_to(idx[..., None], (-1, -1, x.size(-1))))
    ```

    ## Fix safety
    Safe, offered only when the integer tensor (the receiver of the rewritten op) is proven a tensor
    in eager mode and, for an operator, the other operand a tensor or a Python number
    (`fxlint.fix.eager`: `t.add(other)` refuses what `t + other` hands to `other.__radd__`, a numpy
    array for one); declined otherwise. Each rewrite spells the same op with a name QAT's backend configuration does not list, and
    returns the same values, dtype and (for views) aliasing: `t.unsqueeze(d)` -> `t[..., None]`-style
    indexing, `a + b` -> `a.add(b)` (`b.add(a)` when only `b` is integral: tensor addition commutes
    exactly), `a * b` -> `a.mul(b)`, `a // b` -> `a.div(b, rounding_mode="floor")`,
    `t.reshape(s)` -> `torch.reshape(t, s)`, `t.repeat(r)` -> `t.tile(r)` (the same wherever
    `repeat` is valid), `t.expand(s)` -> `torch.broadcast_to(t, s)`, `t.transpose(a, b)` ->
    `t.swapaxes(a, b)`, `t.permute(d)` -> `torch.permute(t, d)`, and a cast after a shape op is moved
    before it (elementwise casts commute with shape ops). No fix for `view`, `squeeze`, `contiguous`,
    `clamp`, `cat`/`stack`. Blind spots: the dtype of a forward input is unknown, so an integer
    input (`attention_mask`) is only caught where a cast follows its shape op; the measured lists
    are torch 2.13's, a later backend configuration may observe more spellings.
    """

    code = "TRC603"
    hazard = Hazard.QAT
    summary = "integer or bool tensor through an op QAT fake-quantizes (dtype crash)"
    fix_availability = FixAvailability.SOMETIMES
    help = ("index instead of `unsqueeze` (`idx[:, None]`), use `.add()`/`.mul()`, `torch.reshape`, `.tile`, "
            "`torch.broadcast_to`, or cast before the shape op")

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                idx = x.argmax(-1, keepdim=True)
                y = x.unsqueeze(1).reshape(-1, 4) + 1
                return y, idx[:, None], idx - 1, idx.float().unsqueeze(1), torch.gather(x, 1, idx)
    """), Valid("""
        class M(nn.Module):
            def forward(self, x, mask):
                return x * mask.unsqueeze(-1), mask.to(x.dtype).unsqueeze(-1), x.size(0) + 1
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                idx = torch.argmin(x, dim=1).unsqueeze(1)
                return torch.zeros(x.size(0), 8).scatter_(1, idx, 1)
    """, message_contains="argmin", line=3), Invalid("""
        class M(nn.Module):
            def forward(self, x):
                maxvals, idx = torch.max(x, 2)
                return idx.reshape(-1, 1), (idx + 1) * maxvals
    """, message_contains="`idx`", line=4), Invalid("""
        class M(nn.Module):
            def forward(self, x, mask):
                return x * mask.unsqueeze(-1).to(x.dtype)
    """, message_contains="cast", line=3)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in OBSERVED_METHODS:
            receiver = _integral(func.value, ctx)
            if receiver is not None:
                ctx.report(node, f"`{ctx.code(func.value)}` is an integer or bool tensor ({_source(func.value, ctx)}) "
                                 f"and `.{func.attr.value}()` is an op QAT observes: {_CRASH}", receiver)
            elif _cast_right_after(node, ctx) and ctx.certain_proxy(func.value) is not None:
                ctx.report(node, f"`.{func.attr.value}()` of `{ctx.code(func.value)}` is cast right after, so "
                                 f"`{ctx.code(func.value)}` may be an integer or bool tensor (a mask): then {_CRASH}; "
                                 "cast first", ctx.proxy(func.value))
            return
        if ctx.qualified(func) in OBSERVED_FUNCTIONS and node.args:
            first = node.args[0].value
            operands = first.elements if isinstance(first, (cst.List, cst.Tuple)) else [first]
            hit = next((e.value if isinstance(e, cst.BaseElement) else e for e in operands
                        if _integral(e.value if isinstance(e, cst.BaseElement) else e, ctx) is not None), None)
            if hit is not None:
                ctx.report(node, f"`{ctx.code(hit)}` is an integer or bool tensor ({_source(hit, ctx)}) and "
                                 f"`{ctx.qualified(func)}` is an op QAT observes: {_CRASH}", ctx.proxy(hit))

    def visit_BinaryOperation(self, node: cst.BinaryOperation, ctx: RuleContext) -> None:
        symbol = OBSERVED_OPERATORS.get(type(node.operator))
        if symbol is None:
            return
        side = node.left if _integral(node.left, ctx) is not None else node.right
        value = _integral(side, ctx)
        if value is not None:
            # reported at the integral operand: the fix makes it the receiver of `.add()`/`.mul()`/`.div()`
            ctx.report(side, f"`{ctx.code(side)}` is an integer or bool tensor ({_source(side, ctx)}) and `{symbol}` "
                             f"is an op QAT observes: {_CRASH}", value)


def _integral(expr: cst.BaseExpression, ctx: RuleContext) -> Optional[Value]:
    value = ctx.certain_proxy(expr)
    return value if value is not None and value.integral and not value.scalar else None


def _cast_right_after(node: cst.Call, ctx: RuleContext) -> bool:
    """Is ``node`` the receiver of a dtype cast (`.float()`, `.to(h.dtype)`, `.to(torch.float16)`)?"""
    attribute = ctx.parent(node)
    call = ctx.parent(attribute) if isinstance(attribute, cst.Attribute) else None
    if not isinstance(call, cst.Call) or call.func is not attribute or attribute.attr.value not in CAST_METHODS:
        return False
    if attribute.attr.value != "to":
        return True
    return any(names_float_dtype(a) for a in call.args)



def _source(expr: cst.BaseExpression, ctx: RuleContext) -> str:
    """Where the integral dtype comes from, in words, for the message: the expression itself, else the
    latest statement the value flowed through that names an integer producer."""
    if isinstance(expr, cst.Comparison):
        return "a comparison: a bool tensor"
    value = ctx.value(expr)
    steps = reversed(value.steps if value is not None else ())
    # generated one at a time: the search usually stops at the expression or the latest step
    texts = itertools.chain([ctx.code(expr)], (source.tree.code_for_node(statement).strip().splitlines()[0]
                                               for source, statement in steps))
    for text in texts:
        match = _PRODUCER.search(text)
        if match is not None:
            return f"`{match.group(0).rstrip('(')}` in `{text[:60]}`"
    return "from an integer producer or a comparison"


_PRODUCER = re.compile(r"\b(argmax|argmin|argsort|topk|sort|nonzero|max|min|long|int|bool)\(|dtype=torch\.\w+")
