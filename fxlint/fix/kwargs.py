"""TRC402: `**kwargs` of forward() made explicit, in the graph.

`def forward(self, src, **kwargs)` that pops its own options (`kwargs.pop("k", default)`) and
forwards the rest to a submodule whose class is defined in this file (`self.encoder(src, **kwargs)`)
becomes `def forward(self, src, k=default, mask=None)` with `k` read directly and the submodule's
remaining keyword parameters (its forward's defaulted parameters not already given) passed one by one.

UNSAFE: the signature changes. A call with keys the submodule accepts behaves as before, and one with
other keys failed before too (the submodule rejected them); but positional arguments beyond the old
ones would now bind to the new parameters instead of raising, and a key the submodule takes through
its own `**kwargs` is no longer forwarded.

Declined (None: guidance only) when `kwargs` is used any other way (`kwargs["k"]`, `.get` — the key
would still be forwarded —, iteration), a pop has no literal default or comes after the forwarding
call, the submodule's class is not in this file, or a default is not a literal.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.plan import Plan
from fxlint.fix.tree import Tree, walk

LITERALS = (cst.Integer, cst.Float, cst.SimpleString)


def explicit_kwargs(tree: Tree, d: Diagnostic) -> Optional[Plan]:
    func = tree.function_of(tree.deepest_at(d.location.row, d.location.column) or tree.module)
    star = func.params.star_kwarg if func is not None else None
    if func is None or not isinstance(star, cst.Param) or isinstance(func.params.star_arg, cst.Param):
        return None
    name = star.name.value
    uses = [n for n in walk(func.body) if isinstance(n, cst.Name) and n.value == name]
    pops: Dict[cst.Call, Tuple[str, cst.BaseExpression]] = {}
    forwards: List[cst.Arg] = []
    for use in uses:
        parent = tree.parents.get(use)
        grand = tree.parents.get(parent) if parent is not None else None
        if isinstance(parent, cst.Arg) and parent.star == "**":
            forwards.append(parent)
        elif isinstance(parent, cst.Attribute) and parent.attr.value == "pop" and isinstance(grand, cst.Call):
            popped = _popped(grand)
            if popped is None:
                return None
            pops[grand] = popped
        else:
            return None
    if len(forwards) != 1:
        return None
    forward_call = tree.parents.get(forwards[0])
    if not isinstance(forward_call, cst.Call) or any(tree.start(p) > tree.start(forward_call) for p in pops):
        return None
    passed = _callee_keywords(tree, func, forward_call)
    if passed is None:
        return None
    own = [(key, default) for key, default in pops.values()]
    taken = {p.name.value for p in func.params.params} | {k for k, _ in own}
    passed = [(k, v) for k, v in passed if k not in taken]
    params = [*func.params.params, *(_param(k, v) for k, v in own + passed)]
    new_func = func.visit(_Rewrite(pops, forwards[0], [k for k, _ in passed]))
    new_func = new_func.with_changes(params=func.params.with_changes(params=params, star_kwarg=None))
    title = f"Make `**{name}` explicit keyword parameters ({', '.join(k for k, _ in own + passed)})"
    return Plan(title, Applicability.UNSAFE, {func: new_func}, [d])


def _popped(call: cst.Call) -> Optional[Tuple[str, cst.BaseExpression]]:
    if len(call.args) != 2 or not isinstance(call.args[0].value, cst.SimpleString):
        return None
    key = call.args[0].value.evaluated_value
    default = call.args[1].value
    if not isinstance(key, str) or not key.isidentifier() or not _literal(default):
        return None
    return key, default


def _literal(expr: cst.BaseExpression) -> bool:
    if isinstance(expr, cst.Name):
        return expr.value in ("None", "True", "False")
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return isinstance(expr.expression, (cst.Integer, cst.Float))
    return isinstance(expr, LITERALS)


def _callee_keywords(tree: Tree, func: cst.FunctionDef, call: cst.Call) -> Optional[List[Tuple[str, cst.BaseExpression]]]:
    """The defaulted parameters of the called submodule's forward not already given by ``call``."""
    target = call.func
    if not (isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) and target.value.value == "self"):
        return None
    cls = next((a for a in tree.ancestors(func) if isinstance(a, cst.ClassDef)), None)
    built = {_callee_name(n.value) for n in walk(cls) if isinstance(n, cst.Assign) and len(n.targets) == 1
             and _is_self_attr(n.targets[0].target, target.attr.value) and isinstance(n.value, cst.Call)} \
        if cls is not None else set()
    classes = [c for c in tree.module.body if isinstance(c, cst.ClassDef) and c.name.value in built]
    if len(built) != 1 or len(classes) != 1:
        return None
    forward = next((f for f in classes[0].body.body if isinstance(f, cst.FunctionDef) and f.name.value == "forward"), None)
    if forward is None or isinstance(forward.params.star_kwarg, cst.Param):
        return None
    positional = sum(1 for a in call.args if a.keyword is None and not a.star)
    given = {a.keyword.value for a in call.args if a.keyword is not None}
    out = []
    for index, param in enumerate([*forward.params.params[1:], *forward.params.kwonly_params]):
        if index < positional or param.name.value in given:
            continue
        if param.default is None or not _literal(param.default):
            return None
        out.append((param.name.value, param.default))
    return out


def _callee_name(func: cst.BaseExpression) -> str:
    """`blk` for `self.blk(...)` or `blk(...)`; "" for anything else."""
    if not isinstance(func, cst.Call):
        return ""
    if isinstance(func.func, cst.Attribute):
        return func.func.attr.value
    return func.func.value if isinstance(func.func, cst.Name) else ""


def _is_self_attr(expr: cst.BaseExpression, attr: str) -> bool:
    return isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self" \
        and expr.attr.value == attr


def _param(name: str, default: cst.BaseExpression) -> cst.Param:
    return cst.Param(name=cst.Name(name), default=default.deep_clone(),
                     equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                           whitespace_after=cst.SimpleWhitespace("")))


class _Rewrite(cst.CSTTransformer):
    """`kwargs.pop("k", d)` -> `k`; `**kwargs` -> `a=a, b=b`."""

    def __init__(self, pops, forward: cst.Arg, names: List[str]) -> None:
        self.pops, self.forward, self.names = pops, forward, names

    def leave_SimpleStatementLine(self, original_node, updated_node):
        # `flag = kwargs.pop("flag", False)` would become `flag = flag`: the parameter is enough
        small = original_node.body[0] if len(original_node.body) == 1 else None
        if isinstance(small, cst.Assign) and small.value in self.pops and len(small.targets) == 1 \
                and isinstance(small.targets[0].target, cst.Name) \
                and small.targets[0].target.value == self.pops[small.value][0]:
            return cst.RemoveFromParent()
        return updated_node

    def leave_Call(self, original_node, updated_node):
        if original_node in self.pops:
            return cst.Name(self.pops[original_node][0])
        return updated_node

    def leave_Arg(self, original_node, updated_node):
        if original_node is not self.forward:
            return updated_node
        if not self.names:
            return cst.RemoveFromParent()
        args = [cst.Arg(value=cst.Name(n), keyword=cst.Name(n),
                        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                              whitespace_after=cst.SimpleWhitespace("")),
                        comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if i < len(self.names) - 1
                        else original_node.comma)
                for i, n in enumerate(self.names)]
        return cst.FlattenSentinel(args)
