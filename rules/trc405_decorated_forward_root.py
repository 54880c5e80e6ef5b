"""TRC405: the traced root's `forward` is wrapped by a decorator whose wrapper takes `*args`/`**kwargs`."""

from typing import Optional, Tuple

import libcst as cst

from fxlint.analysis import dotted
from fxlint.analysis.context import RuleContext
from fxlint.analysis.project import FunctionRef
from fxlint.diagnostics import FixAvailability, Hazard
from fxlint.rule import Invalid, Rule, Valid


class DecoratedForwardRoot(Rule):
    """
    ## What it does
    Finds, at the wrapper's own `def` (once, with every model it blocks), a decorator on the
    `forward()` of a model you would trace (an entry point, not a
    block its parent calls) when that `forward` takes keyword-only parameters, `*args` or
    `**kwargs`, and the decorator is defined in the checked files and returns a wrapper that takes
    `*args` or `**kwargs` (`def wrapper(self, *args, **kwargs)`), as transformers'
    `@can_return_tuple` and `@merge_with_config_defaults` do on `forward(..., **kwargs)`.

    ## Why is this bad?
    `symbolic_trace` reads the placeholders from the original signature (it unwraps
    `__wrapped__`), but calls the *wrapper* with them; when that signature has keyword-only,
    `*args` or `**kwargs` parameters, FX rewrites the called function's code to take all
    placeholders positionally — the wrapper's code, not `forward`'s. The wrapper's own locals
    (`args`, `kwargs`, ...) then receive Proxies: unpacking `*args` iterates a Proxy
    (`TraceError: Proxy object cannot be iterated`), `kwargs[name] = value` assigns into one, and a
    wrapper with fewer local names than placeholders stops with `ValueError: code: co_varnames is
    too small`. This is the first failure of most transformers 5.x architectures under plain
    `symbolic_trace`. Without keyword-only/star parameters the wrapper gets a real tuple and
    dict and traces; a block called by its parent is fine too (`nn.Module.__call__` passes real
    argument tuples to the wrapper).

    ## Example
    ```python
    def can_return_tuple(func):
        @functools.wraps(func)
        def wrapper(self, *args, **kwargs):
            return_dict = kwargs.pop("return_dict", True)
            ...
        return wrapper

    class Model(nn.Module):
        @can_return_tuple
        def forward(self, input_ids, attention_mask=None): ...
    ```

    ## Use instead
    Trace through a root module with an explicit signature that calls the model with keyword
    arguments (`class Root(nn.Module): def forward(self, input_ids): return self.model(input_ids=input_ids)`),
    so the decorated `forward` runs as a called block; or pass `concrete_args` for the wrapper's
    keyword arguments.

    ## Fix safety
    No automatic fix: removing the decorator changes what eager callers get (`return_dict`,
    config defaults). The remedy is a tracing root, which is outside the model's source.
    """

    code = "TRC405"
    hazard = Hazard.CONTAINERS
    summary = "traced `forward` wrapped by a `*args`/`**kwargs` decorator"
    fix_availability = FixAvailability.NEVER
    help = ("trace a root module with an explicit `forward(input_ids, ...)` signature that calls this model with "
            "keyword arguments, or pass `concrete_args` for the wrapper's keyword arguments")

    VALID = [Valid("""
        import functools

        def keep(func):
            return func

        class M(nn.Module):
            @keep
            def forward(self, x, **kwargs):
                return x + 1
    """), Valid("""
        import functools

        def returns_tuple(func):
            @functools.wraps(func)
            def wrapper(self, *args, **kwargs):
                return func(self, *args, **kwargs)
            return wrapper

        class M(nn.Module):
            @returns_tuple
            def forward(self, x, mask=None):
                return x + 1
    """), Valid("""
        import functools

        def returns_tuple(func):
            @functools.wraps(func)
            def wrapper(self, *args, **kwargs):
                return func(self, *args, **kwargs)
            return wrapper

        class Block(nn.Module):
            @returns_tuple
            def forward(self, x, **kwargs):
                return x + 1

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
            def forward(self, x):
                return self.block(x)
    """)]
    INVALID = [Invalid("""
        import functools

        def returns_tuple(func):
            @functools.wraps(func)
            def wrapper(self, *args, **kwargs):
                return_dict = kwargs.pop("return_dict", True)
                out = func(self, *args, **kwargs)
                return out if return_dict else (out,)
            return wrapper

        class M(nn.Module):
            @returns_tuple
            def forward(self, x, mask=None, **kwargs):
                return x + 1
    """, message_contains="of `@returns_tuple` becomes the traced root", line=4)]

    def visit_Decorator(self, node: cst.Decorator, ctx: RuleContext) -> None:
        func = ctx.function.node
        if func.name.value != "forward" or func not in ctx.analysis.roots or not _star_or_kwonly(func):
            return
        found = _star_wrapper(ctx, node.decorator)
        if found is None:
            return
        # stacked decorators: FX calls the outermost wrapper; report the first one only
        earlier = func.decorators[:func.decorators.index(node)] if node in func.decorators else ()
        if any(_star_wrapper(ctx, d.decorator) is not None for d in earlier):
            return
        decorator, inner = found
        # reported once, at the wrapper (where torch stops), for every model whose root it wraps
        ctx.report_in(decorator, inner, f"`{inner.name.value}({_signature(inner)})` of `@{dotted(node.decorator.func if isinstance(node.decorator, cst.Call) else node.decorator)}` "
                      "becomes the traced root when it decorates a model's `forward` with keyword-only or star "
                      "parameters: symbolic_trace makes placeholders for `forward`'s own parameters and rewrites the "
                      "*wrapper's* code to take them positionally, so its `args`/`kwargs` become Proxies "
                      "(`TraceError: Proxy object cannot be iterated`) or its code is too small (`ValueError: code: "
                      "co_varnames is too small`)", f"@{decorator.qualname}")


def _star_wrapper(ctx: RuleContext, decorator: cst.BaseExpression) -> Optional[Tuple[FunctionRef, cst.FunctionDef]]:
    """(the decorator's definition, its wrapper def) when ``decorator`` (a name, or a call of a
    decorator factory) resolves to a function of the checked files that returns a nested def taking
    `*args`/`**kwargs`."""
    factory = isinstance(decorator, cst.Call)
    name = dotted(decorator.func if factory else decorator)
    if not name:
        return None
    target = ctx.analysis.project.lookup(ctx.module.resolve_name(name))
    if not isinstance(target, FunctionRef):
        return None
    body = target.node
    if factory:  # `@deprecate_kwarg("a", ...)`: the factory returns the decorator
        body = _returned_def(body)
        if body is None:
            return None
    inner = _returned_def(body)
    if inner is None or not (isinstance(inner.params.star_arg, cst.Param) or inner.params.star_kwarg is not None):
        return None
    return target, inner


def _star_or_kwonly(func: cst.FunctionDef) -> bool:
    """Does FX rewrite the called code to positional parameters (`co_kwonlyargcount` or varargs flags)?"""
    params = func.params
    return isinstance(params.star_arg, cst.Param) or params.star_kwarg is not None or bool(params.kwonly_params)


def _returned_def(func: cst.FunctionDef) -> Optional[cst.FunctionDef]:
    """The nested def that ``func`` returns by name (`return wrapper`), if any."""
    nested = {s.name.value: s for s in func.body.body if isinstance(s, cst.FunctionDef)}
    for stmt in func.body.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Return) and isinstance(small.value, cst.Name) \
                        and small.value.value in nested:
                    return nested[small.value.value]
    return None


def _signature(func: cst.FunctionDef) -> str:
    params = func.params
    parts = [p.name.value for p in list(params.posonly_params) + list(params.params)]
    if isinstance(params.star_arg, cst.Param):
        parts.append(f"*{params.star_arg.name.value}")
    if params.star_kwarg is not None:
        parts.append(f"**{params.star_kwarg.name.value}")
    return ", ".join(parts)
