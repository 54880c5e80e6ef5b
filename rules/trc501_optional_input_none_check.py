"""TRC501: `is None` / `is not None` on a forward() input."""

from typing import Optional

import libcst as cst

from fxlint.analysis.context import RuleContext, from_block_input
from fxlint.analysis import dotted
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class OptionalInputNoneCheck(Rule):
    """
    ## What it does
    Finds `arg is None`, `arg is not None`, `arg == None` and `arg != None` where `arg` is a
    parameter of the traced `forward()` (directly or passed on to a helper), or what
    `kwargs.get("k")` / `kwargs.pop("k", None)` returns from the traced `forward()`'s own `**kwargs`
    (one Proxy while tracing: `.get` on it is a recorded call that returns a Proxy, never the default).
    An input rebound only on some paths (`if self.training: mask = random_mask(x)`) is still the input
    on the others, so its later tests are reported too; a rebinding under its own test (`if mask is
    None: mask = torch.ones(...)`) leaves it never None, and its later tests are not.

    ## Why is this bad?
    Every `forward()` parameter is a Proxy while tracing, and a Proxy is never `None`. The
    check is silently answered once: `mask is not None` is always true, the masked branch is
    baked into the graph, and the traced module crashes (or computes something else) when
    it is later called with `mask=None`. Nothing fails at trace time.

    Not reported: a check whose branch only *hands the input on* — by keyword to a call
    (`F.scaled_dot_product_attention(q, k, v, attn_mask=mask)`, `blk(x, attn_mask=mask)`),
    positionally to code in the checked files, or by assignment/return — while nothing
    operates on it (`x + mask`, `mask.float()`, `masked_fill(mask, ...)`) outside a None check
    of its own. The baked branch then passes `None` through at run time (timm's
    `VisionTransformer.forward_features`). Blind spot: such a branch whose `else` computes
    something different is not compared with it.

    ## Example
    ```python
    def forward(self, x, mask=None):
        if mask is not None:
            x = x.masked_fill(mask, 0.0)
    ```

    ## Use instead
    Trace the `None` path explicitly: make the choice a constructor argument
    (`self.use_mask`), split the model into the two variants you deploy, or pass
    `concrete_args={"mask": None}` to `symbolic_trace` (note: `prepare_qat_fx` ignores
    `concrete_args`).

    ## Fix safety
    Unsafe: the `if` is hoisted into a wrapped function that receives the Optional input, so the None
    decision is taken at run time and both paths are kept (ops inside are not fake-quantized). Where
    no hoist is possible (the branch calls a method of `self`), or the check is stored in a flag before
    it is branched on, nothing is rewritten: the manual work names the option that would pin the entry
    `forward`'s input to its `None` default (`fxlint fix --pin Net.forward.mask=None`, or `pin =
    {"Net.forward.mask" = "None"}` under `[tool.fxlint.fix]`). A pin removes the path a caller passing
    the input takes (a training call passing `targets` would raise), so it is applied only when the
    user names it, never by `--unsafe-fixes`: `concrete_args={"mask": None}` written into the source,
    behind a recorded `_fxlint_expect_none(mask, ...)` guard that raises for a caller passing it
    (fxlint/fix/pin.py). Otherwise: guidance.
    """

    code = "TRC501"
    hazard = Hazard.SILENT
    fix_availability = FixAvailability.SOMETIMES
    summary = "`is None` check on a forward() input (always false while tracing)"
    help = ("a Proxy is never None: trace the None path explicitly (`symbolic_trace(model, "
            "concrete_args={name: None})` for callers that never pass it), or make the choice a constructor "
            "flag and trace each variant you deploy")

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self, norm=None):
                super().__init__()
                self.norm = norm
            def forward(self, x):
                if self.norm is not None:
                    x = self.norm(x)
                return x
    """), Valid("""
        class Block(nn.Module):
            def forward(self, x, attn_mask=None):
                return F.scaled_dot_product_attention(x, x, x, attn_mask=attn_mask)
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.blocks = nn.ModuleList([Block(), Block()])
                self.seq = nn.Sequential(Block(), Block())
            def forward(self, x, attn_mask=None):
                if attn_mask is not None:
                    for blk in self.blocks:
                        x = blk(x, attn_mask=attn_mask)
                else:
                    x = self.seq(x)
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x, mask=None):
                if mask is not None:
                    x = x.masked_fill(mask, 0.0)
                return x
    """, message_contains="forward input `mask`", line=3), Invalid("""
        class Block(nn.Module):
            def forward(self, x, mask=None):
                return x + mask
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
            def forward(self, x, mask=None):
                if mask is not None:
                    x = self.block(x, mask=mask)
                return x
    """, message_contains="forward input `mask`", line=9), Invalid("""
        class M(nn.Module):
            def forward(self, x, past=None):
                if past is not None:
                    past_k, past_v = past
                    x = x + past_k
                return x
    """, message_contains="forward input `past`", line=3), Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 4)
            def forward(self, input_ids=None, inputs_embeds=None):
                if input_ids is not None and inputs_embeds is not None:
                    raise ValueError("You cannot specify both input_ids and inputs_embeds at the same time")
                if inputs_embeds is None:
                    inputs_embeds = self.embed(input_ids)
                return inputs_embeds
    """, message_contains="takes the branch that raises", line=6), Invalid("""
        # one head passes the input itself, another a value made from it (transformers' MPNet)
        class Encoder(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(10, 4)
            def forward(self, input_ids=None, inputs_embeds=None):
                if input_ids is not None and inputs_embeds is not None:
                    raise ValueError("You cannot specify both input_ids and inputs_embeds at the same time")
                return self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        class ForTokens(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()
            def forward(self, input_ids=None, inputs_embeds=None):
                return self.encoder(input_ids, inputs_embeds=inputs_embeds)
        class ForChoice(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = Encoder()
            def forward(self, input_ids=None, inputs_embeds=None):
                flat = input_ids.view(-1, input_ids.size(-1)) if input_ids is not None else None
                flat_embeds = inputs_embeds.flatten(0, 1) if inputs_embeds is not None else None
                return self.encoder(flat, inputs_embeds=flat_embeds)
    """, message_contains="forward input `input_ids` is a Proxy, never None, so tracing takes the branch that raises",
        line=7), Invalid("""
        class M(nn.Module):
            def forward(self, x, **kwargs):
                mask = kwargs.get("mask")
                if mask is not None:
                    x = x * mask
                return x
    """, message_contains='`kwargs["mask"]` of the traced `**kwargs`', line=4), Invalid("""
        # rebound only under a condition that does not test it: still the input (maybe None) on the
        # other path (timm's Hiera.forward_features: patch dropout in training builds a random mask)
        class M(nn.Module):
            def __init__(self, drop=0.0):
                super().__init__()
                self.drop = drop
                self.proj = nn.Linear(4, 4)
            def features(self, x, mask=None):
                if self.training and self.drop > 0:
                    mask = torch.rand(x.shape[:2], device=x.device) > self.drop
                if mask is not None:
                    x = x * mask[..., None]
                return self.proj(x)
            def forward(self, x, mask=None):
                return self.features(x, mask=mask)
    """, message_contains="forward input `mask` (on the paths that do not rebind it)", line=11)]

    def visit_Comparison(self, node: cst.Comparison, ctx: RuleContext) -> None:
        left = node.left
        for target in node.comparisons:
            op = target.operator
            if isinstance(op, (cst.Is, cst.IsNot, cst.Equal, cst.NotEqual)):
                other = target.comparator
                subject = left if dotted(other) == "None" else other if dotted(left) == "None" else None
                value = ctx.proxy(subject) if subject is not None else None
                if value is not None and value.kwargs_key is not None and value.param is None:
                    verdict = "false" if isinstance(op, (cst.Is, cst.Equal)) else "true"
                    ctx.report(node, f"`{ctx.code(node)}` is always {verdict} while tracing: `{value.kwargs_key}` "
                                     "of the traced `**kwargs` is a Proxy, never None (nor the default), so this "
                                     "branch is baked into the graph; make the key an explicit parameter", value)
                    return
                name = (value.param or value.maybe_param) if value is not None else None
                if name is not None and not from_block_input(value):
                    branching = _branching(node, ctx)
                    verdict = "false" if isinstance(op, (cst.Is, cst.Equal)) else "true"
                    raising = _raise_taken(branching, ctx) if branching is not None else None
                    if raising is not None:
                        # the span runs through the `raise`: that is the line FX's traceback ends at
                        ctx.report(node, f"`{ctx.code(node)}` is always {verdict} while tracing: forward input "
                                         f"`{name}` is a Proxy, never None, so tracing takes the branch that "
                                         "raises (`if a is not None and b is not None: raise ValueError(...)` on "
                                         "two Optional inputs stops every plain `symbolic_trace`)", value,
                                   through=raising)
                        return
                    if branching is not None and ctx.analysis.optional_uses.only_forwarded(value, branching):
                        return  # the baked branch only hands the input on: None passes through at run time
                    some = "" if value.param is not None else " (on the paths that do not rebind it)"
                    # the statements of a path that rebinds it are not where the None comes from
                    shown = value if value.param is not None else value.derived(steps=())
                    ctx.report(node, f"`{ctx.code(node)}` is always {verdict} while tracing: forward input "
                                     f"`{name}`{some} is a Proxy, never None, so this branch is baked into the "
                                     "graph and the traced module misbehaves when called with None", shown)
                    return
            left = target.comparator


def _raise_taken(branching: cst.CSTNode, ctx: RuleContext) -> Optional[cst.CSTNode]:
    """The `raise` statement that tracing (every input a Proxy) runs first on the side of ``branching``
    it takes, or None."""
    if not isinstance(branching, cst.If):
        return None
    test = ctx.value(branching.test)
    if test is None or not test.has_const or test.traced:
        return None
    if test.const:
        block = branching.body
    elif isinstance(branching.orelse, cst.Else):
        block = branching.orelse.body
    else:
        return None
    first = block.body[0] if isinstance(block, cst.IndentedBlock) and block.body else None
    return first if isinstance(first, cst.SimpleStatementLine) and isinstance(first.body[0], cst.Raise) else None


def _branching(node: cst.CSTNode, ctx: RuleContext):
    """The if/elif/while/ternary whose test contains ``node`` (through and/or/not), if any."""
    parent = ctx.parent(node)
    while isinstance(parent, (cst.BooleanOperation, cst.UnaryOperation)):
        node, parent = parent, ctx.parent(parent)
    if isinstance(parent, (cst.If, cst.IfExp, cst.While)) and parent.test is node:
        return parent
    return None
