"""TRC301: a traced value handed to numpy, scipy, PIL, cv2 or another non-torch library."""

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

#: modules whose functions accept Proxies (math is auto-wrapped by the tracer; the others are
#: pure-Python plumbing that never inspects its arguments' types)
SAFE_TOP_LEVEL = {"torch", "builtins", "math", "operator", "functools", "typing", "warnings", "logging",
                  "collections", "dataclasses", "copy", "abc", "enum", "inspect", "typing_extensions"}


class ForeignLibraryCall(Rule):
    """
    ## What it does
    Finds calls to functions outside torch and outside the checked files (numpy, scipy, PIL,
    cv2, einops, C/Rust extensions, ...) that receive a traced value, including the results of
    `.numpy()`, `.tolist()` and `.item()`.

    ## Why is this bad?
    Foreign code needs real data: numpy raises `ValueError: invalid __array_struct__` or
    treats the Proxy as an opaque object, `torch.from_numpy` raises `expected np.ndarray
    (got Proxy)`, and extensions fail with their own type errors. Nothing the foreign call
    computes can be recorded in the FX graph.

    ## Example
    ```python
    boxes = np.clip(x.detach().numpy(), 0, 1)
    ```

    ## Use instead
    The torch equivalent (`torch.clamp`), or hoist the foreign computation into a top-level
    `@torch.fx.wrap` function that receives the tensor (it becomes one opaque graph node).

    ## Fix safety
    Hoisting is safe when the region calls no submodule: the same code runs eagerly on every call (the
    wrapped call is opaque to quantization and `torch.export`, which could not see numpy anyway);
    unsafe when it hides submodules.
    """

    code = "TRC301"
    hazard = Hazard.FOREIGN
    summary = "traced value passed to a non-torch library"
    fix_availability = FixAvailability.SOMETIMES
    help = "use the torch equivalent, or hoist the call into a top-level `@torch.fx.wrap` function"

    VALID = [Valid("""
        import numpy as np
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = float(np.sqrt(64))
            def forward(self, x):
                return torch.clamp(x, 0, 1) * self.scale
    """)]
    INVALID = [Invalid("""
        import numpy as np
        class M(nn.Module):
            def forward(self, x):
                a = np.clip(x.detach().numpy(), 0, 1)
                return torch.from_numpy(a)
    """, message_contains="numpy.clip", line=4)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.external(node.func)
        if not name or name.split(".")[0] in SAFE_TOP_LEVEL or _in_checked_tree(name, ctx):
            return
        for arg in node.args:
            value = ctx.traced(arg.value)
            if value is not None:
                ctx.report(node, f"`{name}` is not torch: it receives `{ctx.code(arg.value)}`, which depends on "
                                 f"{ctx.describe(value)}; foreign code needs real data and cannot be recorded in "
                                 "the FX graph", value)
                return


def _in_checked_tree(name: str, ctx: RuleContext) -> bool:
    project = ctx.analysis.project
    parts = name.split(".")
    return any(project.module_named(".".join(parts[:i])) is not None for i in range(1, len(parts)))
