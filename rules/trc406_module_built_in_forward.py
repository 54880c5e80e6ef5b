"""TRC406: a module built while `forward` runs is called (`nn.ReLU()(x)`, `ACT2FN[name](x)`)."""

from typing import List, Optional

import libcst as cst

from fxlint.analysis import dotted
from fxlint.analysis.context import RuleContext
from fxlint.analysis.project import MODULE_CONTAINERS, NN_PREFIX, ClassInfo
from fxlint.analysis.semantics import is_class_registry
from fxlint.analysis.values import Kind
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid

#: torch.nn classes that are not modules one calls
_NOT_CALLED = frozenset(("Parameter", "Buffer", "Module", "UninitializedParameter", "UninitializedBuffer"))


class ModuleBuiltInForward(Rule):
    """
    ## What it does
    Finds a call of an `nn.Module` that the traced code builds itself instead of reading it from
    `self`: `nn.ReLU()(x)`, `MyBlock(dim)(x)`, a slice of an `nn.Sequential` (`self.body[:2](x)`: slicing
    builds a new `Sequential`), and lookups in a table that builds a module on
    every lookup, like transformers' `ACT2FN[config.hidden_act](x)` (`ACT2FN = ClassInstantier(ACT2CLS)`,
    whose `__getitem__` returns `cls(**kwargs)`).

    ## Why is this bad?
    While tracing, every module call goes through `Tracer.call_module`, which first looks the
    module up by its attribute path in the traced model (`path_of_module`) — for a leaf like
    `nn.ReLU` and for a module FX would trace through alike. A module built during the call is
    not installed anywhere, so tracing stops with `NameError: module is not installed as a
    submodule`. Eager mode does not care, so the code works until someone traces it.

    ## Example
    ```python
    def forward(self, x):
        return ACT2FN[self.activation](self.proj(x))
    ```

    ## Use instead
    Build the module once in `__init__` and call the attribute (`self.act = ACT2FN[config.hidden_act]`,
    then `self.act(x)`), or call the functional form (`F.relu(x)`).

    ## Fix safety
    The statement is hoisted into a top-level `@torch.fx.wrap` function in the same file: the
    same code, building the same module, runs eagerly on every call, and the traced graph calls the
    wrapped function. Safe when the region calls no submodule of `self`; the module it builds
    (an activation, usually without parameters) is hidden from quantization. Moving the module into
    `__init__` is the better edit, and a manual one: it changes the module's state dict.

    Blind spot: a built module bound to a local name first (`act = nn.ReLU(); act(x)`) is not
    reported.
    """

    code = "TRC406"
    hazard = Hazard.CONTAINERS
    fix_availability = FixAvailability.SOMETIMES
    summary = "module built and called inside traced code"
    help = ("build the module once in `__init__` (`self.act = ...`) and call `self.act(...)`, or call its "
            "functional form (`F.relu`)")

    VALID = [Valid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = nn.ReLU()
                self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
            def forward(self, x):
                for layer in self.body[:1]:
                    x = layer(x)
                return self.act(x) + nn.functional.relu(self.body[1](x))
    """), Valid("""
        from collections import OrderedDict

        class ClassInstantier(OrderedDict):
            def __getitem__(self, key):
                content = super().__getitem__(key)
                cls, kwargs = content if isinstance(content, tuple) else (content, {})
                return cls(**kwargs)

        ACT2FN = ClassInstantier({"relu": nn.ReLU, "tanh": (nn.Tanh, {})})

        class M(nn.Module):
            def __init__(self, act="relu"):
                super().__init__()
                self.act = ACT2FN[act]
            def forward(self, x):
                return self.act(x)
    """)]
    INVALID = [Invalid("""
        class M(nn.Module):
            def forward(self, x):
                return nn.ReLU()(x) + 1
    """, message_contains="NameError: module is not installed as a submodule", line=3), Invalid("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.body = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4))
            def forward(self, x):
                x = self.body[:2](x)
                return self.body[2](x)
    """, message_contains="slicing an `nn.Sequential` builds a new one", line=6), Invalid("""
        from collections import OrderedDict

        class ClassInstantier(OrderedDict):
            def __getitem__(self, key):
                content = super().__getitem__(key)
                cls, kwargs = content if isinstance(content, tuple) else (content, {})
                return cls(**kwargs)

        ACT2CLS = {"relu": nn.ReLU, "tanh": (nn.Tanh, {})}
        ACT2FN = ClassInstantier(ACT2CLS)

        class M(nn.Module):
            def __init__(self, act="relu"):
                super().__init__()
                self.activation = act
            def forward(self, x):
                return ACT2FN[self.activation](x)
    """, message_contains="`ACT2FN[...]` builds a new `nn.ReLU` or `nn.Tanh`", line=17)]

    def visit_Call(self, node: cst.Call, ctx: RuleContext) -> None:
        built = _built_module(node.func, ctx)
        if built is not None:
            ctx.report(node, f"`{ctx.code(node)}` calls a module built right here ({built}): FX looks up "
                             "every called module by its attribute path in the traced model, and this one is "
                             "installed nowhere, so tracing stops with `NameError: module is not installed as a "
                             "submodule`")


def _built_module(callee: cst.BaseExpression, ctx: RuleContext) -> Optional[str]:
    """How ``callee`` builds a module on the spot, in words, or None."""
    if isinstance(callee, cst.Subscript):
        table = ctx.value(callee.value)
        if table is not None and table.kind is Kind.MODULE_CONTAINER and len(callee.slice) == 1 \
                and isinstance(callee.slice[0].slice, cst.Slice):
            return f"slicing an `nn.Sequential` builds a new one, `{ctx.code(callee)}`"
        if is_class_registry(table):
            return f"`{dotted(callee.value) or ctx.code(callee.value)}[...]` builds a new " \
                   f"{_one_of([_short(item.ref) for item in table.items or ()])} on every lookup"
        return None
    if isinstance(callee, cst.Call):
        cls = ctx.value(callee.func)
        if cls is not None and cls.kind is Kind.EXTERNAL and _module_class(str(cls.ref), ctx):
            return f"`{ctx.code(callee)}` is a new `{_short(str(cls.ref))}`"
    return None


def _module_class(name: str, ctx: RuleContext) -> bool:
    if name.startswith(NN_PREFIX):
        last = name.rpartition(".")[2]
        return last[:1].isupper() and last not in _NOT_CALLED and \
            (last == "Sequential" or last not in MODULE_CONTAINERS)
    found = ctx.analysis.project.lookup(name)
    return isinstance(found, ClassInfo) and ctx.analysis.project.is_module_class(found)


def _one_of(names: List[str], shown: int = 3) -> str:
    """"`nn.ReLU` or `nn.Tanh`"; a long table: the first few and how many more."""
    unique = list(dict.fromkeys(names))
    if len(unique) <= shown:
        return " or ".join(f"`{n}`" for n in unique)
    return ", ".join(f"`{n}`" for n in unique[:shown]) + f" or one of {len(unique) - shown} more classes"


def _short(ref: object) -> str:
    if isinstance(ref, ClassInfo):
        return ref.name
    text = str(ref)
    return "nn." + text.rpartition(".")[2] if text.startswith(NN_PREFIX) else text
