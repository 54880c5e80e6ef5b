"""Pinning an Optional forward() input to its default: the source spelling of
`symbolic_trace(model, concrete_args={"mask": None})`, for a branch that is fixed at deployment.

    def forward(self, x, mask=None):                def forward(self, x, mask=None):
        x = self.forward_features(x, mask=mask)  ->     _fxlint_expect_none(mask, name="mask")
        if mask is None:                                mask = None
            x = self.forward_head(x)                    x = self.forward_features(x, mask=mask)
        return x                                        ...

`mask = None` makes the input a Python constant while tracing, so every `is None` test on it (here and
in the helpers and submodules it is handed to) takes the path a call without `mask` takes, and that
path is recorded with its submodules in the graph, where quantization sees them. In eager mode the
rebinding changes nothing for a caller that passes None. `_fxlint_expect_none` is a top-level
`@torch.fx.wrap` function: FX records it as a call on the `mask` placeholder, so the traced module,
like the eager one, raises a clear error when a caller does pass `mask`, instead of silently ignoring
it (FX's own `concrete_args` inserts the same kind of check, `_assert_is_none`).

Explicit opt-in only: a pin takes away the path a caller passing the input takes (a training call
passing `targets` would raise), so no flag implies one, `--unsafe-fixes` included. The user names it
(`fxlint fix --pin Net.forward.mask=None`, or `pin = {"Net.forward.mask" = "None"}` under
`[tool.fxlint.fix]`), keyed by the entry class, its `forward` and the input; a named pin is applied
even where a hoist exists (the user chose the traced path). Unnamed, TRC501 is hoisted where the
hoist machinery can (both paths kept, decided at run time), else reported as manual work naming the
`--pin` option that would fix it. `--pin Net.forward.x=Tensor` names an input's type instead: the
type checks on it (`isinstance(x, dict)` -> False) take a tensor's answer (fxlint/fix/silent.py).
Other findings from a pinned input wait a round (`Plan.settles`): most are gone once it is a constant.

Blind spots: only an input of the entry class's own `forward` with a literal `None` default is
pinned (the chain's first function, in this file): a key naming a submodule's `forward` matches
nothing. A pinned class constructed by a parent that passes the input raises loudly there. A type pin
writes no guard: a dict passed to a `Tensor`-pinned input takes the tensor path.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Mapping, Optional, Union

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.plan import Decline, Plan, unique_name, wrapped_def
from fxlint.fix.tree import Tree

Outcome = Union[Plan, Decline, None]

GUARD = "_fxlint_expect_none"


def pin_key(d: Diagnostic) -> Optional[str]:
    """`Net.forward.mask`: the key a pin of the finding's input is named by (entry forward, input)."""
    entry = d.reached_from[0] if d.reached_from else ""
    if not entry.endswith(".forward") or not d.source or not d.source.isidentifier():
        return None
    return f"{entry}.{d.source}"


def pin_option(key: str, value: str) -> str:
    return f"`--pin {key}={value}`"


def named_pin(tree: Tree, d: Diagnostic, pins: Mapping[str, str]) -> Outcome:
    """The rewrite of a pin the user named for the finding's input, or None (no pin names it)."""
    key = pin_key(d) if pins else None
    value = pins.get(key) if key is not None else None
    if value == "None" and d.code == "TRC501":
        plan = _pin_to_none(tree, d)
        return plan if plan is not None else Decline(
            f"{pin_option(key, value)} names an input that is not an Optional input of the entry class's own "
            "`forward` with a `None` default in this file; it cannot be pinned here")
    if value == "Tensor" and d.code == "TRC502":
        from fxlint.fix.silent import tensor_branch  # silent imports this module's helpers lazily too

        outcome = tensor_branch(tree, d, pinned_tensor=True)
        return replace(outcome, named=True) if isinstance(outcome, Plan) else outcome
    return None


def pin_optional_input(tree: Tree, d: Diagnostic) -> Outcome:
    """TRC501 with no pin named: None where a hoist decides the branch at run time (both paths kept),
    else manual work naming the `--pin` option that would pin the input (never a pin by itself)."""
    from fxlint.fix import hoist as hoisting  # hoist imports the rewrites' helpers; avoid a cycle

    stored = not _decides_branch(tree, d)
    why = "the check is stored before it is branched on (a hoist would only move it)"
    if not stored:
        region = hoisting.region_for(tree, d)
        hoisted = hoisting.hoist(tree, region, [d], tree.names()) \
            if region is not None and not isinstance(region, Decline) else region
        if isinstance(hoisted, Plan):
            return None  # a hoist decides at run time and keeps both paths: prefer it
        why = f"no hoist keeps both paths ({hoisted.reason})" if isinstance(hoisted, Decline) \
            else "no hoist keeps both paths"
    key = pin_key(d)
    if key is None or _pinnable_param(tree, d) is None:
        # a stored check gets no hoist: the later `if` would branch on the wrapped call's Proxy
        return Decline(f"{why}; `{d.source}` is not an Optional input of the entry model's forward()",
                       final=True) if stored else None
    return Decline(f"{why}; if the deployed model is never passed `{d.source}`, pin it to its default with "
                   f"{pin_option(key, 'None')} (callers passing it then get an error)", final=True)


def _pinnable_param(tree: Tree, d: Diagnostic) -> Optional[cst.Param]:
    """The entry forward's parameter named by the finding, when its default is a literal None."""
    forward = _entry_forward(tree, d)
    if forward is None:
        return None
    param = next((p for p in [*forward.params.posonly_params, *forward.params.params, *forward.params.kwonly_params]
                  if p.name.value == d.source), None)
    if param is None or param.default is None or tree.code(param.default) != "None":
        return None
    return param


def _pin_to_none(tree: Tree, d: Diagnostic) -> Optional[Plan]:
    """Rebind the entry forward's Optional input to None behind a recorded guard."""
    param = _pinnable_param(tree, d)
    forward = _entry_forward(tree, d)
    anchor = _first_statement(forward) if param is not None and forward is not None else None
    if anchor is None:
        return None
    name = param.name.value
    guard, definition = _guard(tree)
    pinned = list(cst.parse_module(f'{guard}({name}, name="{name}")\n{name} = None\n').body)
    pinned[0] = pinned[0].with_changes(leading_lines=anchor.leading_lines)
    anchor_kept = anchor.with_changes(leading_lines=())
    title = (f"Pin `{name}` to None, its default, while tracing (as `concrete_args={{\"{name}\": None}}` would; "
             f"named by {pin_option(pin_key(d), 'None')}); a caller passing `{name}` now gets an error")
    return Plan(title, Applicability.UNSAFE, {anchor: cst.FlattenSentinel([*pinned, anchor_kept])}, [d],
                frozenset({"torch"}), (tree.top_level(forward), definition) if definition is not None else None,
                settles=frozenset({(d.reached_from[0], name)}), named=True)


def _decides_branch(tree: Tree, d: Diagnostic) -> bool:
    """The None check is (part of) an if/while/ternary test. Otherwise its result is stored
    (`naflex_mode = x is not None`) and a hoist would only move it: the later `if naflex_mode:` then
    branches on the wrapped call's Proxy."""
    node = tree.at(d.location.row, d.location.column, cst.Comparison)
    parent = tree.parents.get(node) if node is not None else None
    while isinstance(parent, (cst.BooleanOperation, cst.UnaryOperation)):
        node, parent = parent, tree.parents.get(parent)
    return isinstance(parent, (cst.If, cst.While, cst.IfExp)) and parent.test is node


def _entry_forward(tree: Tree, d: Diagnostic) -> Optional[cst.FunctionDef]:
    """The `forward` the finding is reached from first (`Net.forward` in `Net.forward -> helper`), when
    its class is defined at this module's top level."""
    entry = d.reached_from[0] if d.reached_from else ""
    cls_name, _, method = entry.partition(".")
    if method != "forward":
        return None
    cls = next((c for c in tree.module.body if isinstance(c, cst.ClassDef) and c.name.value == cls_name), None)
    if cls is None or not isinstance(cls.body, cst.IndentedBlock) or _built_elsewhere(tree, cls):
        return None
    return next((f for f in cls.body.body if isinstance(f, cst.FunctionDef) and f.name.value == "forward"), None)


def _built_elsewhere(tree: Tree, cls: cst.ClassDef) -> bool:
    """Is the class constructed in another class of this file (a submodule, whose parent's forward
    may well pass the input)? Then it is not pinned. A factory like `make()` does not count."""
    return any(owner is not cls for owner in _builders(tree).get(cls.name.value, ()))


def _builders(tree: Tree) -> Dict[str, List[cst.ClassDef]]:
    """Called name (`Name(...)`, `x.Name(...)`) -> the classes whose code makes such a call. One walk
    of the module per tree: asked once per finding, the walk was a tenth of fixing transformers."""
    found = tree.memo.get(_builders)
    if found is None:
        found = {}
        for node in tree.typed(tree.module, cst.Call):
            func = node.func
            name = func.value if isinstance(func, cst.Name) else func.attr.value if isinstance(func, cst.Attribute) else None
            owner = next((a for a in tree.ancestors(node) if isinstance(a, cst.ClassDef)), None) if name else None
            if owner is not None:
                found.setdefault(name, []).append(owner)
        tree.memo[_builders] = found
    return found  # type: ignore[return-value]


def _first_statement(func: cst.FunctionDef) -> Optional[cst.BaseStatement]:
    """The statement the pin goes before: the first after the docstring and any earlier pins."""
    if not isinstance(func.body, cst.IndentedBlock):
        return None
    for index, stmt in enumerate(func.body.body):
        if index == 0 and _is_docstring(stmt):
            continue
        if _is_pin(stmt):
            continue
        return stmt
    return None


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr) \
        and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString))


def _is_pin(stmt: cst.CSTNode) -> bool:
    """`_fxlint_expect_none(x, name="x")` or the `x = None` after it."""
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return False
    small = stmt.body[0]
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
        return isinstance(small.value.func, cst.Name) and small.value.func.value.startswith(GUARD)
    return isinstance(small, cst.Assign) and isinstance(small.value, cst.Name) and small.value.value == "None" \
        and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name)


def _guard(tree: Tree) -> "tuple[str, Optional[cst.FunctionDef]]":
    """The guard's name, and its definition when the module has none yet."""
    for stmt in tree.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value.startswith(GUARD) \
                and any(tree.code(dec.decorator) in ("torch.fx.wrap", "fx.wrap") for dec in stmt.decorators):
            return stmt.name.value, None
    name = unique_name(GUARD, tree.names())
    body = cst.parse_module(
        "if value is not None:\n"
        "    raise ValueError(f\"`{name}` was pinned to None by `fxlint fix` (TRC501) so that the traced \"\n"
        "                     \"graph takes the path a call without it takes; trace the model again without the \"\n"
        "                     \"pin to use it\")\n").body
    doc = "Raises when a forward() input pinned to None is passed (recorded by FX as a call)."
    return name, wrapped_def(name, ["value", "name"], body, doc)

