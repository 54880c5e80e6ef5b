"""TRC502: `isinstance` / `torch.is_tensor` / `hasattr` / `type()` on a traced value."""

import libcst as cst

from fxlint.analysis import small_statements
from fxlint.analysis.context import RuleContext, from_block_input
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

_CHECKS = {"builtins.isinstance": "False for most types", "torch.is_tensor": "False",
           "builtins.hasattr": "True for any name", "builtins.type": "`torch.fx.proxy.Proxy`",
           "builtins.callable": "True", "torch.overrides.is_tensor_like": "True"}


#: torch.nn leaf modules that return a tuple at run time but one Proxy while tracing
TUPLE_LEAVES = {"torch.nn.MultiheadAttention", "torch.nn.LSTM", "torch.nn.GRU", "torch.nn.RNN", "torch.nn.LSTMCell"}


class TypeCheckOnProxy(Rule):
    """
    ## What it does
    Finds `isinstance(x, ...)`, `torch.is_tensor(x)`, `hasattr(x, ...)`, `type(x)` and
    `callable(x)` where `x` is traced.

    ## Why is this bad?
    A Proxy is not a `torch.Tensor` (or a tuple, or a dict): `isinstance(x, torch.Tensor)`
    and `torch.is_tensor(x)` are False, `hasattr(x, name)` is True for any name, and
    `isinstance(self.lstm(x), tuple)` is False because a leaf module returns one Proxy. The
    check is answered once at trace time and the other branch is baked into the graph,
    silently.

    ## Example
    ```python
    if isinstance(x, torch.Tensor):
        x = [x]
    ```

    ## Use instead
    Decide the input type by contract (one type per `forward()` parameter) or at
    construction time.

    ## Fix safety
    Unsafe, and offered only where the answer is proven for every value that reaches the check
    (`fxlint.fix.eager`), or where the user names the input's type: `isinstance(x, torch.Tensor)` keeps
    the tensor branch when `x` is a proven tensor (an input annotated `torch.Tensor`, a torch op's
    result) and the other branch when it is proven not one (`*args`, a display, `None`);
    `hasattr(x, "name")` with a literal name keeps the branch `torch.Tensor`'s attribute list (shipped
    with fxlint, checked against the installed torch by the tests) gives, for a proven tensor `x`;
    `isinstance(x, dict)` (list, tuple, Mapping, ...) becomes `False` for a proven tensor. An
    unannotated input, or one annotated `Union[torch.Tensor, Dict[...]]` (timm NaFlexViT), is declined
    unless the user names the type pin (`fxlint fix --pin Net.forward.x=Tensor`): a caller passing a
    list, an ImageList or a dict would lose its branch, and no flag (`--unsafe-fixes` included) takes
    it away unasked. Only checks that are the whole condition of an `if` are rewritten (the container
    check also where it stands). Blind spot: attributes set on a tensor instance at run time.
    """

    code = "TRC502"
    hazard = Hazard.SILENT
    summary = "type check on a traced value (answered wrongly at trace time)"
    fix_availability = FixAvailability.SOMETIMES
    help = "fix the input type by contract or decide it at construction; a Proxy is never a Tensor"

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self, act=None):
                super().__init__()
                self.act = act
            def forward(self, x):
                if isinstance(self.act, nn.ReLU):
                    x = self.act(x)
                return x
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                if isinstance(x, torch.Tensor):
                    x = x * 2
                return x
    """, message_contains="isinstance", line=3), Invalid("""
        class Pool(nn.Module):
            def __init__(self):
                super().__init__()
                self.attn = nn.MultiheadAttention(8, 2)
            def forward(self, x):
                out = self.attn(x, x, x, need_weights=False)
                if isinstance(out, tuple):
                    out = out[0]
                return out
    """, message_contains="isinstance(out, tuple)", line=7)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.qualified(node.func)
        answer = _CHECKS.get(name)
        if answer is None or not node.args:
            return
        value = ctx.proxy(node.args[0].value)
        if value is None:
            return
        about_tensors = name == "torch.is_tensor" or "Tensor" in ctx.code(node) or "Parameter" in ctx.code(node)
        if value.opaque and (not about_tensors or from_block_input(value)):
            return  # may really be a list/tuple at run time (a block input, an unknown module's output)
        if not about_tensors and value.param is None and not _tuple_leaf_output(node.args[0].value, ctx):
            return  # a computed tensor is no list in eager mode either: both answer the same
        if value is not None:
            ctx.report(node, f"`{ctx.code(node)}` inspects a Proxy (from {ctx.describe(value, article=False)}): while "
                             f"tracing it is {answer}, decided once and baked into the graph", value)


def _tuple_leaf_output(arg: cst.BaseExpression, ctx: RuleContext) -> bool:
    """Is ``arg`` the output of a tuple-returning leaf (``self.lstm(x)`` itself, or a name the current
    function assigned from one)?"""
    if isinstance(arg, cst.Call):
        return _calls_tuple_leaf(arg, ctx)
    if not isinstance(arg, cst.Name):
        return False
    for stmt in small_statements(ctx.function.node.body):
        if (isinstance(stmt, cst.Assign) and isinstance(stmt.value, cst.Call)
                and any(isinstance(t.target, cst.Name) and t.target.value == arg.value for t in stmt.targets)
                and _calls_tuple_leaf(stmt.value, ctx)):
            return True
    return False


def _calls_tuple_leaf(call: cst.Call, ctx: RuleContext) -> bool:
    module = ctx.value(call.func)
    if module is None or module.kind.name != "MODULE":
        return False
    options = module.items or (module,)
    return any(isinstance(o.ref, str) and o.ref in TUPLE_LEAVES for o in options)
