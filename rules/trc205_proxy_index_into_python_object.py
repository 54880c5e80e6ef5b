"""TRC205: a buffer or Python sequence sliced or indexed with a traced value."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class ProxyIndexIntoPythonObject(Rule):
    """
    ## What it does
    Finds subscripts whose base is concrete while tracing (a registered buffer, a Python
    list/tuple/dict, a constant) and whose index or slice bound is traced, e.g. GPT's
    causal mask `self.mask[:, :, :T, :T]` with `T = x.size(1)`.

    ## Why is this bad?
    Registered buffers are real tensors while tracing, not Proxies, so slicing one with a
    Proxy goes through Python's slice protocol: `TypeError: slice indices must be integers
    or None or have an __index__ method`. Python sequences fail the same way (`list indices
    must be integers`), and a dict key that is a Proxy is never found.

    ## Example
    ```python
    T = x.size(1)
    att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
    ```

    ## Use instead
    `self.bias.narrow(2, 0, T).narrow(3, 0, T)` records the slice (it raises where the slice
    would clamp a stop past the end), or register the mask as an `nn.Parameter(requires_grad=False)`.

    ## Fix safety
    No in-graph rewrite: `narrow` raises where Python's slice clamps a stop past the end of the
    dimension, and a fix never raises where the original did not. The statement is hoisted into a
    top-level `@torch.fx.wrap` function that receives the buffer (safe when it calls no submodule:
    the same slice runs eagerly on every call).
    """

    code = "TRC205"
    hazard = Hazard.SHAPE
    summary = "buffer or Python sequence indexed by a traced value"
    fix_availability = FixAvailability.SOMETIMES
    help = "use `buffer.narrow(dim, start, length)` (recorded), or index with static values"

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.pos = nn.Parameter(torch.zeros(1, 64, 8))
            def forward(self, x):
                return x + self.pos[:, : x.size(1)]
    """), Valid("""
        class M(nn.Module):
            def forward(self, x):
                cache = {}
                key = (x.shape[0], x.shape[1])
                cache[key] = x * 2
                return cache[key]
    """), Valid("""
        from collections import defaultdict

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.outputs = defaultdict(dict)
            def forward(self, x):
                self.outputs[x.device]["out"] = x
                return x + 1
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("mask", torch.tril(torch.ones(64, 64)))
            def forward(self, x):
                T = x.size(1)
                return x.masked_fill(self.mask[:T, :T] == 0, 0.0)
    """, message_contains="buffer", line=7), Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.position_ids = nn.Buffer(torch.arange(64).expand((1, -1)), persistent=False)
            def forward(self, x):
                return self.position_ids[:, : x.shape[1]]
    """, message_contains="buffer `self.position_ids`", line=6), Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.schedule = {}
                for i in range(4):
                    self.schedule[i] = (2, 2)
            def forward(self, x, block_idx):
                stride, size = self.schedule[block_idx]
                return x * stride
    """, message_contains="`KeyError`", line=8)]

    def visit_Subscript(self, node: cst.Subscript, ctx: RuleContext) -> None:
        base = ctx.value(node.value)
        if base is None or base.kind not in (Kind.BUFFER, Kind.CONTAINER, Kind.CONST, Kind.FSTRING):
            return
        index = _traced_index(node, ctx)
        if index is None or index.kind is Kind.FSTRING:
            return  # a str made from a Proxy is a real (if wrong) key: no error here
        if base.mapping and not _sliced(node):
            # Proxies hash (by identity): storing under a Proxy key works, and so does reading back
            # with it (a dict built in this code) or from a defaultdict; reading a dict filled in
            # `__init__` with a Proxy never finds the stored key
            if base.kind is Kind.CONTAINER or base.ref == "defaultdict" or _stored(node, ctx):
                return
            ctx.report(node, f"dict `{ctx.code(node.value)}` is read with a key that depends on "
                             f"{ctx.describe(index)}; a Proxy hashes by identity and never equals the stored keys, "
                             "so the lookup raises `KeyError` while tracing", index)
            return
        what = f"buffer `{base.ref}`" if base.kind is Kind.BUFFER else f"Python object `{ctx.code(node.value)}`"
        ctx.report(node, f"{what} is concrete while tracing but is indexed with a value that depends on "
                         f"{ctx.describe(index)}; Python's indexing cannot take a Proxy (`TypeError: slice "
                         "indices must be integers`)", index)


def _stored(node: cst.Subscript, ctx: RuleContext) -> bool:
    """``node`` is the target of an assignment (`d[k] = v`, `d[k] += v` reads first: not a store)."""
    return isinstance(ctx.parent(node), cst.AssignTarget)


def _sliced(node: cst.Subscript) -> bool:
    return any(isinstance(element.slice, cst.Slice) for element in node.slice)


def _traced_index(node: cst.Subscript, ctx: RuleContext):
    for element in node.slice:
        inner = element.slice
        parts = [inner.value] if isinstance(inner, cst.Index) else [inner.lower, inner.upper, inner.step]
        for part in parts:
            value = ctx.traced(part)
            if value is not None:
                return value
    return None
