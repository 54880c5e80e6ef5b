"""TRC106: `try`/`except` around traced code that can swallow a tracing error."""

import libcst as cst

from fxlint.analysis import child_nodes, dotted
from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

#: exception types torch.fx raises for untraceable code, and their bases
_SWALLOWING = {"", "Exception", "BaseException", "TypeError", "RuntimeError", "ValueError", "AttributeError",
               "KeyError", "NotImplementedError", "torch.fx.proxy.TraceError", "TraceError"}


class TrySwallowsTraceError(Rule):
    """
    ## What it does
    Finds `try` blocks in traced code whose body uses a traced value and whose handler
    catches the exceptions tracing raises (bare `except`, `Exception`, `TypeError`,
    `RuntimeError`, `ValueError`, `AttributeError`, `KeyError`).

    ## Why is this bad?
    Untraceable operations raise *during tracing* (`TypeError: 'Proxy' object cannot be
    interpreted as an integer`, `TraceError: ...`). A broad handler catches that error, runs
    the fallback, and tracing succeeds with the fallback baked into the graph: the traced
    model silently computes something else than the eager one.

    ## Example
    ```python
    try:
        n = int(x.size(1))
    except TypeError:
        n = 16
    ```

    ## Use instead
    Remove the `try` and make the guarded code traceable, or catch only exceptions that
    cannot come from tracing.

    ## Fix safety
    The smallest statement region holding it is hoisted into a top-level `@torch.fx.wrap` function in
    the same file. Safe when the region calls no submodule: the same code runs, eagerly, on every call,
    and only its own ops are left out of quantization. Unsafe when it does: the submodules it must
    receive are named in the fix title and are hidden from quantization and `convert_fx`.
    """

    code = "TRC106"
    hazard = Hazard.CONTROL_FLOW
    fix_availability = FixAvailability.SOMETIMES
    summary = "`try`/`except` that can swallow a tracing error"
    help = "remove the broad `except` around traced code; make the guarded code traceable instead"

    VALID = [Valid("""
        class M(nn.Module):
            def forward(self, x):
                try:
                    import scipy
                except ImportError:
                    scipy = None
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                try:
                    n = int(x.size(1))
                except TypeError:
                    n = 16
                return x[:, :n]
    """, message_contains="swallow", line=3)]

    def visit_Try(self, node: cst.Try, ctx: RuleContext) -> None:
        broad = [h for h in node.handlers if _catches_trace_errors(h)]
        if not broad:
            return
        value = _first_traced(node.body, ctx)
        if value is None:
            return
        caught = dotted(broad[0].type) if broad[0].type is not None else "everything"
        ctx.report(node, f"`try` body uses {ctx.describe(value)} and `except` catches {caught}: an error raised "
                         "while tracing is swallowed and the fallback is silently baked into the graph", value)


def _catches_trace_errors(handler: cst.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    types = handler.type.elements if isinstance(handler.type, cst.Tuple) else [handler.type]
    return any(dotted(getattr(t, "value", t)) in _SWALLOWING for t in types)


def _first_traced(body: cst.CSTNode, ctx: RuleContext):
    stack = [body]
    while stack:
        node = stack.pop()
        value = ctx.value(node)
        if value is not None and value.is_proxy:
            return value
        stack.extend(child_nodes(node))
    return None
