"""What lets a hoisted region call a method of `self` and rebind a registered buffer.

A wrapped function never receives `self` (notes §4), so a region calling `self.get_rel_indices(N)`
was declined. When the method is simple enough its code goes with the region: a copy is defined inside
the wrapped function, with every `self.<attr>` chain it reads turned into a parameter of the wrapped
function (a closure variable of the copy), exactly as the region's own chains are:

    @torch.fx.wrap
    def _fx_forward_77(N, rel_indices, qk_weight):
        def get_rel_indices(num_patches):          # GPSA.get_rel_indices, `self.qk.weight` -> qk_weight
            ...
        if rel_indices is None or rel_indices.shape[1] != N:
            rel_indices.set_(get_rel_indices(N))   # was `self.rel_indices = self.get_rel_indices(N)`

A method is copied when it is defined in the region's own class (not inherited), is a plain method or
a staticmethod, and its body neither calls anything on `self` that is not a tensor method of an
attribute (no submodule, no other method), nor stores on `self`, nor uses `self` bare, `super()`,
`yield`, `global`/`nonlocal` or nested functions. One level only: a copied method calling another
method is declined. In a hoist of `is None` tests of an Optional forward input only (TRC501: no
in-graph fix exists, the other way out is a pin only the user may name), a copied method may also call
submodules (`self.head(x)` in timm Hiera's `forward_head`): they are passed in like the region's own
and hidden from quantization the same way. Elsewhere an in-graph rewrite inside the region (dropping a
disabled autocast) would have to wait for the hoist, and lose.

`self.buf = value` on a registered buffer becomes `buf.set_(value)`: the buffer object the module and
the traced graph's `get_attr` hold takes the new value's storage, size and strides, as rebinding would
make `self.buf` that tensor (a cache refilled when the input size changes: timm ConViT's relative
indices). It fails loudly when the dtype differs or the value is not a tensor. UNSAFE like every hoist.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple, Union

import libcst as cst
from libcst.metadata import ExpressionContext

from fxlint.fix.tree import Tree, walk


def inlinable_methods(region, unknown: Set[str], submodules: bool = False) -> "Union[Dict[str, cst.FunctionDef], str]":
    """Method name -> its definition for every `self.<method>(...)` call among ``unknown`` callees;
    a reason string when some unknown callee cannot be copied in. ``submodules``: a copied method may
    call submodules (passed in, hidden from quantization): only where no in-graph fix can compete."""
    from fxlint.fix import hoist as h

    tree = region.tree
    cls = next((a for a in tree.ancestors(region.func) if isinstance(a, cst.ClassDef)), None)
    methods = _methods_of(cls)
    found: Dict[str, cst.FunctionDef] = {}
    for node in region.of(cst.Call):
        if f"`{tree.code(node.func)}`" not in unknown:
            continue
        func = node.func
        if not (isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self"):
            return f"`{tree.code(func)}` is not a method of `self`"
        method = methods.get(func.attr.value)
        if method is None:
            return f"`{tree.code(func)}` is not defined in class `{cls.name.value if cls else '?'}` itself"
        problem = _method_problem(tree, method, h, submodules)
        if problem:
            return f"`{tree.code(func)}` cannot be copied into the wrapped function: {problem}"
        found[func.attr.value] = method
    named = {f"`self.{name}`" for name in found}
    left = unknown - named
    return found if not left else f"the region calls {', '.join(sorted(left))}"


def _methods_of(cls: Optional[cst.ClassDef]) -> Dict[str, cst.FunctionDef]:
    if cls is None or not isinstance(cls.body, cst.IndentedBlock):
        return {}
    return {s.name.value: s for s in cls.body.body if isinstance(s, cst.FunctionDef)}


def _method_problem(tree: Tree, method: cst.FunctionDef, h, submodules: bool = False) -> str:
    decorators = {tree.code(d.decorator) for d in method.decorators}
    if decorators - {"staticmethod"}:
        return f"it is decorated ({', '.join(sorted(decorators))})"
    if "staticmethod" not in decorators and not _first_param_is_self(method):
        return "its first parameter is not `self`"
    if not isinstance(method.body, cst.IndentedBlock):
        return "a one-line body"
    body = h._Region(tree, method, list(method.body.body), False)
    problem = h._unsupported(body)
    if problem:
        return problem.replace("the region", "it")
    if not submodules:
        if h._hidden_calls(body, h._self_chains(body)):
            return "it calls submodules or other methods"
        return ""
    unknown = h._unknown_callables(body)
    if unknown:
        return f"it calls {', '.join(sorted(unknown))}, not known to be a submodule"
    return ""


def hidden_calls(region, methods: Dict[str, cst.FunctionDef]) -> Set[str]:
    """The submodule calls of the copied methods (`self.head(x)`): their submodules are passed into the
    wrapped function like the region's own, and hidden from quantization the same way."""
    from fxlint.fix import hoist as h

    out: Set[str] = set()
    for method in methods.values():
        body = h._Region(region.tree, method, list(method.body.body), False)
        out |= h._hidden_calls(body, h._self_chains(body))
    return out


def _first_param_is_self(method: cst.FunctionDef) -> bool:
    params = [*method.params.posonly_params, *method.params.params]
    return bool(params) and params[0].name.value == "self"


def method_chains(region, methods: Dict[str, cst.FunctionDef]) -> Dict[cst.Attribute, str]:
    """The `self.<attr>` chains the copied methods read (node -> text), as for a region's own."""
    from fxlint.fix import hoist as h

    out: Dict[cst.Attribute, str] = {}
    for method in methods.values():
        out.update(h._self_chains(h._Region(region.tree, method, list(method.body.body), False)))
    return out


def method_names(region, methods: Dict[str, cst.FunctionDef]) -> Set[str]:
    """The variable names in the copied methods (new parameter names must not shadow their locals);
    an attribute's name (`scale` of `self.scale`) is not one."""
    parents = region.tree.parents
    return {n.value for m in methods.values() for n in walk(m) if isinstance(n, cst.Name)
            and not (isinstance(parents.get(n), cst.Attribute) and parents[n].attr is n)}


def module_names(tree: Tree) -> Set[str]:
    """Every bare name the module binds or reads (not attribute names, call keywords, or the names of
    methods, which live in their class): a copied method's new name must avoid them all. Read once
    per tree (every hoist of a round asks)."""
    found = tree.memo.get("module_names")
    if found is None:
        found = tree.memo["module_names"] = _bare_names(tree)
    return found  # type: ignore[return-value]


def _bare_names(tree: Tree) -> Set[str]:
    parents = tree.parents
    out = set()
    for node in tree.name_nodes:  # a set: the order nodes are met in does not matter
        parent = parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.attr is node or isinstance(parent, cst.Arg) \
                and parent.keyword is node:
            continue
        if isinstance(parent, cst.FunctionDef) and parent.name is node \
                and isinstance(parents.get(parents.get(parent)), cst.ClassDef):
            continue
        out.add(node.value)
    return out


def rebound_free_names(methods: Dict[str, cst.FunctionDef], bound: Set[str]) -> List[str]:
    """Names the copied methods read from the module (free in their bodies) that ``bound`` (the
    wrapped function's parameters and locals) would capture instead: `` `name` `` texts, sorted."""
    from fxlint.fix import bindings

    out = set()
    for method in methods.values():
        if not isinstance(method.body, cst.IndentedBlock):
            continue
        own = bindings.flow(method.body.body)
        p = method.params
        params = {a.name.value for a in [*p.posonly_params, *p.params, *p.kwonly_params,
                                         *(s for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param))]}
        out |= {n for n in own.reads if n not in params and n != "self"} & bound
    return [f"`{n}`" for n in sorted(out)]


def copied_definitions(methods: Dict[str, cst.FunctionDef], replacer: cst.CSTTransformer,
                       local_names: Dict[str, str]) -> List[cst.FunctionDef]:
    """The methods as nested functions: `self` dropped, decorators dropped, chains replaced."""
    out = []
    for name, method in methods.items():
        params = method.params
        if "staticmethod" not in {_decorator_name(d) for d in method.decorators}:
            positional = [*params.posonly_params, *params.params]
            if params.posonly_params:
                params = params.with_changes(posonly_params=params.posonly_params[1:])
            else:
                params = params.with_changes(params=positional[1:])
        copy = method.visit(replacer)
        assert isinstance(copy, cst.FunctionDef)
        out.append(copy.with_changes(name=cst.Name(local_names[name]), params=params, decorators=(),
                                     leading_lines=(), returns=None))
    return out


def _decorator_name(decorator: cst.Decorator) -> str:
    d = decorator.decorator
    return d.value if isinstance(d, cst.Name) else ""


# ------------------------------------------------------------------------------- buffer rebinding
def buffer_rebinds(region, buffers: Set[str]) -> "Union[Dict[cst.Assign, str], str]":
    """`self.<buffer> = value` statements of the region (Assign node -> buffer name); a reason string
    when the region stores on `self` some other way."""
    tree = region.tree
    out: Dict[cst.Assign, str] = {}
    for node in region.of(cst.AugAssign, cst.Attribute, cst.Subscript):
        if isinstance(node, cst.AugAssign) and _self_root(node.target):
            return f"the region updates `{tree.code(node.target)}`"
        if not isinstance(node, (cst.Attribute, cst.Subscript)) or tree.contexts.get(node) != ExpressionContext.STORE \
                or not _self_root(node):
            continue
        assign = tree.parents.get(tree.parents.get(node))
        name = node.attr.value if isinstance(node, cst.Attribute) and isinstance(node.value, cst.Name) else None
        if not isinstance(assign, cst.Assign) or len(assign.targets) != 1 or name not in buffers:
            return (f"the region assigns `{tree.code(node)}`: module state set from a Proxy is never recorded "
                    "(only a registered buffer rebound by a plain `self.buf = value` is rewritten)")
        out[assign] = name
    return out


def _self_root(expr: cst.BaseExpression) -> bool:
    while isinstance(expr, (cst.Attribute, cst.Subscript)):
        expr = expr.value
    return isinstance(expr, cst.Name) and expr.value == "self"


def set_buffer(param: str, value: cst.BaseExpression) -> cst.Expr:
    """`<param>.set_(value)`: the rewritten `self.buf = value`."""
    return cst.Expr(cst.Call(func=cst.Attribute(value=cst.Name(param), attr=cst.Name("set_")),
                             args=[cst.Arg(value=value)]))


def local_method_names(methods: Dict[str, cst.FunctionDef], taken: Set[str]) -> Dict[str, str]:
    from fxlint.fix.plan import unique_name

    out: Dict[str, str] = {}
    for name in methods:
        out[name] = unique_name(name, taken)
        taken.add(out[name])
    return out


__all__: Tuple[str, ...] = ("inlinable_methods", "method_chains", "hidden_calls", "copied_definitions", "buffer_rebinds",
                            "set_buffer", "local_method_names", "method_names", "module_names", "rebound_free_names")
