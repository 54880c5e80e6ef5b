"""TRC301: a traced value handed to numpy, scipy, PIL, cv2 or another non-torch library."""

from typing import Optional

import libcst as cst

from fxlint.analysis.context import RuleContext
from fxlint.analysis.project import foreign_layer
from fxlint.analysis.values import Kind, Value
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
    `.numpy()`, `.tolist()` and `.item()`; and calls of an einops layer (`Rearrange`, `Reduce`,
    `EinMix`, imported or obtained through MONAI's `optional_import`) held as a submodule, directly
    or inside an `nn.Sequential`, on a traced value.

    ## Why is this bad?
    Foreign code needs real data: numpy raises `ValueError: invalid __array_struct__` or
    treats the Proxy as an opaque object, `torch.from_numpy` raises `expected np.ndarray
    (got Proxy)`, and extensions fail with their own type errors. Nothing the foreign call
    computes can be recorded in the FX graph. An einops layer is an `nn.Module` but no torch.nn
    leaf: `symbolic_trace` traces into its `forward`, where einops parses the input's shape in Python
    and fails (`KeyError: Proxy(getattr_1)` in its recipe cache; MONAI's ViT, UNETR).

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
    INVALID = [
        Invalid("""
            import numpy as np
            class M(nn.Module):
                def forward(self, x):
                    a = np.clip(x.detach().numpy(), 0, 1)
                    return torch.from_numpy(a)
        """, message_contains="numpy.clip", line=4),
        Invalid("""
            from einops.layers.torch import Rearrange
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.split_heads = Rearrange("b n (h d) -> b h n d", h=8)
                def forward(self, x):
                    return self.split_heads(x)
        """, message_contains="einops.layers.torch.Rearrange", line=7),
        Invalid("""
            from monai.utils import optional_import
            Rearrange, _ = optional_import("einops.layers.torch", name="Rearrange")
            class M(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.to_patches = nn.Sequential(Rearrange("b c (h p) -> b h (p c)", p=4), nn.Linear(16, 32))
                def forward(self, x):
                    return self.to_patches(x)
        """, message_contains="einops.layers.torch.Rearrange", line=8),
    ]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        name = ctx.external(node.func)
        if not name:
            self._check_foreign_layer(node, ctx)
            return
        if name.split(".")[0] in SAFE_TOP_LEVEL or _in_checked_tree(name, ctx):
            return
        for arg in node.args:
            value = ctx.traced(arg.value)
            if value is not None:
                ctx.report(node, f"`{name}` is not torch: it receives `{ctx.code(arg.value)}`, which depends on "
                                 f"{ctx.describe(value)}; foreign code needs real data and cannot be recorded in "
                                 "the FX graph", value)
                return


    def _check_foreign_layer(self, node: cst.Call, ctx: RuleContext) -> None:
        """`self.rearrange(x)`: a submodule of an einops layer class (or a Sequential holding one)."""
        layer = _foreign_layer_of(ctx.value(node.func))
        if layer is None:
            return
        for arg in node.args:
            value = ctx.traced(arg.value)
            if value is not None:
                ctx.report(node, f"`{ctx.code(node.func)}` runs an einops layer (`{layer}`), not a torch.nn leaf: "
                                 f"symbolic_trace traces into its forward, which runs einops' Python shape parsing on "
                                 f"`{ctx.code(arg.value)}` (it depends on {ctx.describe(value)}) and fails "
                                 "(`KeyError: Proxy(...)`)", value)
                return


def _foreign_layer_of(callee: Optional[Value]) -> Optional[str]:
    """The einops layer class a called submodule is, or holds (a Sequential's item, one of a union)."""
    if callee is None or callee.kind not in (Kind.MODULE, Kind.MODULE_CONTAINER):
        return None
    if foreign_layer(callee.ref):
        return str(callee.ref)
    for item in callee.items or ():
        found = _foreign_layer_of(item)
        if found is not None:
            return found
    return None


def _in_checked_tree(name: str, ctx: RuleContext) -> bool:
    project = ctx.analysis.project
    parts = name.split(".")
    return any(project.module_named(".".join(parts[:i])) is not None for i in range(1, len(parts)))
