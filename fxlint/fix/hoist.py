"""Hoisting: move a flagged statement (or the tail of a function, when it returns early) into a new
top-level ``@torch.fx.wrap`` function in the same file, so FX records one opaque call instead of
tracing through it (notes §4: fx.wrap patches the defining module's globals, so the function must
live beside its call site).

SAFE when the region only stops tracing (TRC1xx-TRC4xx) and calls no submodule: the same code runs,
eagerly, on every call, and only its own ops (Python arithmetic, a data-dependent loop, a numpy call)
are left out of quantization, which could not see them anyway. UNSAFE otherwise. A region that calls submodules is
hoisted with the submodules passed in as arguments (`experts=self.experts`, never `self`): FX
records a `get_attr` of each and one call, which traces, matches eager and runs under QAT prepare,
but the submodules are hidden from quantization and `convert_fx` (notes §5), so the fix's title
names them. A simple method of the class the region calls is copied into the wrapped function, and a
registered buffer the region rebinds becomes `buf.set_(value)` (fxlint/fix/methods.py). Declined when
the region calls something else not known to be a submodule (a method that itself needs `self`; FX
rejects a plain function as an argument; see `_unknown_callables`), mutates other module state (a
Proxy stored on `self` is never recorded, notes §6), or receives no traced value (FX would run the
function once at trace time and freeze its result, notes §4).

A submodule's hazard that cannot be hoisted where it is (it updates the submodule's state or calls
its methods, so it needs `self`) is hoisted one level up instead: the parent's statement that calls
the submodule (:func:`call_site_region`). Loops left by a `break`/`continue` of the region are
hoisted whole, and the statements just before a region that only make an index tensor or a numpy
value it reads join it (:func:`_with_producers`): neither may cross into a wrapped call under QAT.

Parameters and results come from a path-aware definite-assignment analysis (fxlint/fix/bindings.py,
see :func:`_interface`): a name read in the region and bound on only some paths into it widens the
region up to its binding; a result bound on only some paths through it widens the region to the
function's tail; otherwise the hoist is declined, never a maybe-unbound local passed or handed back.
A region that calls a tracing guard (:func:`tracing_guard`) is declined: the code's own tracing path
would see real values.

Blind spots: "read after the region" is textual (anything later, or anywhere when in a loop), so a
name rebound before its next read is still handed back; the taint that decides "receives a Proxy"
is a small name-level propagation from the function's parameters, not fxlint's full analysis;
attribute chains other than `self.<a>.<b>` are not recognised as submodule calls; a tracing guard is
recognised by name (one level of same-file wrapping), not through imports of another file's wrapper.
"""

from __future__ import annotations

import textwrap
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Sequence, Set, Tuple

import libcst as cst
from libcst.metadata import ExpressionContext

from fxlint.analysis import dotted
from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix import bindings
from fxlint.fix import methods as copied_methods
from fxlint.fix.plan import Decline, Plan, unique_name, wrapped_def
from fxlint.fix.tree import Tree, children, walk

#: methods of tensors/parameters that may be called on a `self.<attr>` inside a hoisted region
TENSOR_METHODS = {
    "size", "dim", "numel", "view", "reshape", "flatten", "transpose", "permute", "unsqueeze", "squeeze",
    "expand", "expand_as", "narrow", "contiguous", "sum", "mean", "max", "min", "abs", "t", "to", "type_as",
    "float", "clone", "detach", "item", "tolist", "numpy", "cpu", "exp", "log", "sqrt", "clamp", "softmax",
    "sigmoid", "tanh", "relu", "norm", "chunk", "split", "unbind", "repeat", "masked_fill", "index_select",
    "gather", "new_zeros", "new_ones", "new_full", "new_tensor", "keys", "values", "items", "get",
}
UNSAFE = Applicability.UNSAFE
SAFE = Applicability.SAFE
#: findings that stop `symbolic_trace` (control flow, Python numbers, foreign calls, containers): a
#: hoist of them that hides no submodule runs the very same code, eagerly, on every call, so it is
#: SAFE (ruff's sense: the program's meaning is kept). Silent and QAT findings, copied methods and
#: rebound buffers stay UNSAFE: there the hoist decides something on the user's behalf.
TRACE_ERRORS = ("TRC1", "TRC2", "TRC3", "TRC4")


class _Region:
    """The statements to hoist and what the analysis learned about them."""

    def __init__(self, tree: Tree, func: cst.FunctionDef, stmts: List[cst.BaseStatement], tail: bool) -> None:
        self.tree, self.func, self.stmts, self.tail = tree, func, stmts, tail
        self.start = tree.start(stmts[0])
        self.end = tree.end(stmts[-1])

    def inside(self, node: cst.CSTNode) -> bool:
        return self.start <= self.tree.start(node) and self.tree.end(node) <= self.end

    def of(self, *types: type) -> Tuple[cst.CSTNode, ...]:
        """The region's nodes of these concrete LibCST classes, parents first (:meth:`Tree.typed` of
        each statement, kept per tree): planning asks a region, and the regions widened from it, a
        dozen questions; walking it for each was ~7 M nodes on x-transformers' largest module."""
        return tuple(node for stmt in self.stmts for node in self.tree.typed(stmt, *types))


def region_for(tree: Tree, d: Diagnostic) -> "Optional[_Region] | Decline":
    """The smallest hoistable statement range holding ``d``: its statement, or the function's tail
    when that statement returns."""
    anchor = tree.owner_of_test(d.location.row, d.location.column) or tree.deepest_at(
        d.location.row, d.location.column) or _on_row(tree, d.location.row, d.location.column)
    stmt = tree.statement(anchor) if anchor is not None else None
    func = tree.function_of(stmt) if stmt is not None else None
    if stmt is None or func is None:
        return Decline("not inside a function body")
    return _region_of(tree, stmt, func)


def _region_of(tree: Tree, stmt: cst.BaseStatement, func: cst.FunctionDef) -> "_Region | Decline":
    if tree.function_of(func) is not None or any(isinstance(a, cst.FunctionDef) for a in tree.ancestors(func)):
        return Decline("inside a nested function")
    returns = any(isinstance(n, cst.Return) for n in _own_nodes(stmt))
    if returns:
        # a `return` in a nested block leaves the whole function: hoist from the outermost statement
        # holding it to the end, so every path returns the wrapped function's result
        outer = _outermost(tree, stmt, func)
        if outer is None:
            return Decline("a `return` outside the function's indented body")
        body = list(func.body.body)
        return _Region(tree, func, body[body.index(outer):], tail=True)
    return _Region(tree, func, [stmt], tail=False)


def call_site_region(tree: Tree, d: Diagnostic) -> "Optional[_Region]":
    """When a hazard inside a submodule cannot be hoisted where it is (it updates the submodule's
    state, calls its methods), the statement of the parent that calls that submodule: hoisted with
    the submodule passed in, its whole forward runs eagerly inside the wrapped call, state updates
    included. The deepest module boundary of ``d.reached_from`` (`Net.forward -> Rotary.forward`)
    whose caller is in this file is used, so as little as possible leaves the graph.

    Blind spots: the submodule must be assigned in the caller's class as `self.x = Callee(...)`
    (possibly inside a container constructor) and called as `self.x(...)`/`self.x[i](...)`; a
    submodule reached through a local (`for blk in self.blocks`) is not found."""
    chain = d.reached_from
    for caller, callee in reversed(list(zip(chain, chain[1:]))):
        if "." not in caller or not callee.endswith(".forward") or caller.split(".")[0] == callee.split(".")[0]:
            continue
        region = _submodule_call_site(tree, caller, callee.split(".")[0])
        if region is not None:
            return region
    return None


def _submodule_call_site(tree: Tree, caller: str, callee_class: str) -> "Optional[_Region]":
    """``caller``: "Class.method", or "Entry.forward (Base.forward)" for a method ``Entry``
    inherits: then the call site is in ``Base``'s method, and ``Entry``'s own factory methods may
    build the submodule (MONAI GlobalNet: `self.output_block = self.build_output_block()` in
    RegUNet, GlobalNet's `build_output_block` returning `AffineHead(...)`)."""
    key = (_submodule_call_site, caller, callee_class)
    if key not in tree.memo:  # asked once per finding reached through the call: walks whole classes
        tree.memo[key] = _call_site_statement(tree, caller, callee_class)
    found = tree.memo[key]
    if found is None:
        return None
    stmt, func = found
    region = _region_of(tree, stmt, func)
    return region if isinstance(region, _Region) else None


def _call_site_statement(tree: Tree, caller: str, callee_class: str):
    """(the statement of ``caller`` that calls its ``callee_class`` submodule, the method) or None."""
    entry_name = caller.split(".", 1)[0]
    defined = caller.partition(" (")[2].rstrip(")") if " (" in caller else caller
    cls_name, method = defined.split(".", 1) if "." in defined else (defined, "")
    classes = {c.name.value: c for c in tree.module.body if isinstance(c, cst.ClassDef)}
    cls = classes.get(cls_name)
    func = next((f for f in tree.typed(cls, cst.FunctionDef) if f.name.value == method), None) \
        if cls is not None else None
    if func is None:
        return None
    owners = [c for c in (cls, classes.get(entry_name)) if c is not None]
    builders = {f.name.value for owner in owners for f in tree.typed(owner, cst.FunctionDef)
                if any(_call_name(c.func) == callee_class for r in tree.typed(f, cst.Return)
                       if r.value is not None for c in tree.typed(r.value, cst.Call))}
    attrs = set()
    for node in tree.typed(cls, cst.Assign):
        if len(node.targets) == 1 and _root_name(node.targets[0].target) == "self" \
                and any(_call_name(c.func) == callee_class or (
                    _root_name(c.func) == "self" and _call_name(c.func) in builders) for c in tree.typed(node.value, cst.Call)):
            attrs.add(_self_attr(node.targets[0].target))
    calls = [n for n in tree.typed(func.body, cst.Call) if _root_name(n.func) == "self"
             and _self_attr(n.func) in attrs and _call_name(n.func) in attrs | {""}]
    if not calls:
        return None
    stmt = tree.statement(calls[0])
    return (stmt, func) if stmt is not None else None


def _on_row(tree: Tree, row: int, column: int) -> Optional[cst.CSTNode]:
    """A node of the finding's row when none starts exactly at its column (a `for` header's
    iterable may be reported at another column): the deepest one starting last before it."""
    nodes = [n for n, s in tree.spans.items() if s[0] == row and s[1] <= column - 1]
    if not nodes:
        return None
    return max(nodes, key=lambda n: (tree.spans[n][1], tree.depth(n)))


def _outermost(tree: Tree, stmt: cst.BaseStatement, func: cst.FunctionDef) -> Optional[cst.BaseStatement]:
    """The statement of ``func``'s own indented body that contains ``stmt``."""
    if not isinstance(func.body, cst.IndentedBlock):
        return None
    for node in (stmt, *tree.ancestors(stmt)):
        if tree.parents.get(node) is func.body:
            return node  # type: ignore[return-value]
    return None


def hoist(tree: Tree, region: _Region, diagnostics: Sequence[Diagnostic], taken: Set[str]) -> "Plan | Decline":
    """A plan that moves ``region`` into a new wrapped function (``taken``: names already in use)."""
    loop = _escaped_loop(region)
    if loop is not None:
        # `if stop: break` / `if empty: continue`: the loop it leaves is hoisted whole (its trip count
        # is data-dependent, so the loop cannot stay in the graph anyway)
        return hoist(tree, _Region(tree, region.func, [loop], False), diagnostics, taken)
    guard = tracing_guard(tree, region.of(cst.Call))
    if guard:
        return Decline(f"the region calls {guard}, which answers differently while FX traces: hoisted into a "
                       "wrapped function it would see real values (or hand a Proxy back) and the code's own "
                       "tracing path would break")
    rebinds = _buffer_rebinds(region)
    if isinstance(rebinds, Decline):
        return rebinds
    problem = _unsupported(region, allowed_stores=frozenset(rebinds))
    if problem:
        return Decline(problem)
    chains = _self_chains(region)
    unknown = _unknown_callables(region)
    silent_none = bool(diagnostics) and all(d.code == "TRC501" for d in diagnostics)
    methods = copied_methods.inlinable_methods(region, unknown, submodules=silent_none) if unknown else {}
    if isinstance(methods, str):
        return Decline(f"the region calls {', '.join(sorted(unknown))}, not known to be a submodule: a method "
                       "or plain function cannot be passed into a wrapped function (only `self` could carry "
                       "it), and {methods}; hoist by hand, or build it with a capitalised nn.Module constructor "
                       "in __init__".replace("{methods}", methods))
    method_calls = {node: text for node, text in chains.items() if text.split(".", 1)[1] in methods}
    chains = {node: text for node, text in chains.items() if node not in method_calls}
    hidden = _hidden_calls(region, chains) - {f"`{text}`" for text in method_calls.values()}
    hidden |= copied_methods.hidden_calls(region, methods)
    wider = _with_key_readers(region) or _with_producers(region)
    if wider is not None:
        return hoist(tree, wider, diagnostics, taken)
    names = _Names(region)
    io = _interface(region, names)
    if isinstance(io, Decline):
        return io
    if isinstance(io, _Region):
        return hoist(tree, io, diagnostics, taken)
    inputs, outputs = io
    containers = [n for n in outputs if _binds_container(region, n)]
    if containers:
        # a list/dict handed back to the graph reaches QAT as a "maybe tensor" and crashes the
        # prepared model (notes §5): hoist its consumer too.
        wider = _with_next(region)
        if wider is not None:
            return hoist(tree, wider, diagnostics, taken)
    tainted = _tainted(region, names)
    baked = [n for n in inputs if n in names.mutated and n not in tainted]
    if baked:
        # `out = []` then a loop filling it: a concrete object passed in would be baked into the
        # graph and shared by every call, so its creation moves into the region too.
        wider = _with_previous(region, baked)
        if wider is None:
            return Decline(f"the region fills `{', '.join(baked)}`, a Python object created earlier: FX would "
                           "bake it into the graph; create it inside the hoisted code by hand")
        return hoist(tree, wider, diagnostics, taken)
    positional = [n for n in inputs if n in tainted]
    keyword = [n for n in inputs if n not in tainted]
    guard = none_guard(region, outputs)
    guard = guard if guard is not None and set(positional) - {guard.name} else None  # else no Proxy comes back
    kept_none = {o: unique_name(f"{o}_hoisted", taken | set(names.all_names)) for o in outputs
                 if o in inputs and (guard is None or o != guard.name) and set(positional) - {o}
                 and _rebound_only_when_not_none(region, o)}
    flipping = [o for o in outputs if o not in kept_none and (guard is None or o != guard.name)
                and set(positional) - {o} and _none_tested(region, o) and not _none_path_rebinds(region, o)]
    if flipping:
        return Decline(f"`{', '.join(flipping)}` may be None after the region or not, depending on values the "
                       "wrapped call would decide: handed back from it, a None would be a Proxy while tracing "
                       "and later `is None` tests would take one path for good")
    made_none = [o for o in outputs if _may_bind_none(region, o) and _used_after_but_returned(region, o)]
    if made_none:
        # `if mask is not None: m = mask.view(...) else: m = None`: handed back, the None would be a
        # Proxy while tracing, and the code using it (a submodule's own `if mask is not None:`) would
        # be traced for a tensor. Its users join the region until it is no longer handed back.
        wider = _with_next(region, calls=True)
        if wider is not None:
            return hoist(tree, wider, diagnostics, taken)
        return Decline(f"`{', '.join(made_none)}` is set to None on some paths through the region and is used "
                       "after it: handed back from a wrapped call, it would be a Proxy while tracing even when "
                       "it is None, and the code using it would be traced for a value")
    if guard is not None:
        diagnostics = [d for d in diagnostics if not _on_guard(tree, guard, d)]
        if not diagnostics:
            return Decline(f"`{guard.name}` may still be None after this statement, and the statement passes "
                           "other traced values: handed back from a wrapped call it would be a Proxy while "
                           "tracing even when it is None, and later `is None` tests would take the wrong path")
    own_chains = dict(chains)
    chains.update(copied_methods.method_chains(region, methods))
    missing = sorted(_maybe_missing_attrs(region, set(chains.values())))
    if missing:
        return Decline(f"`{'`, `'.join('self.' + a for a in missing)}` is assigned in `__init__` only under a "
                       "condition, so it may not exist: passed into the wrapped function it would be read at the "
                       "call site on every call, where the code read it only on some paths (eager would raise "
                       "AttributeError)")
    chain_params = _chain_params(chains, set(names.all_names) | set(inputs) | copied_methods.method_names(region, methods))
    # a copy named like a module-level function would shadow it, for the region and the copies alike
    # (`def rotate(x)` copied beside a global `rotate` it calls recursed forever, issue 16)
    local_methods = copied_methods.local_method_names(methods, set(names.all_names) | set(chain_params.values())
                                                      | copied_methods.module_names(tree))
    traced_chain = [c for c in chain_params if d_source_matches(diagnostics, c)]
    if not positional and not traced_chain:
        return Decline("the region receives no traced value: FX would run a wrapped function once while "
                       "tracing and freeze its result")
    func_name = unique_name(f"_fx_{region.func.name.value}_{region.start[0]}", taken)
    taken.add(func_name)
    kw_chains = [c for c in chain_params if c not in traced_chain]
    shapes = _shape_only_inputs(region, positional, set(names.all_names) | set(inputs) | set(chain_params.values()))
    arg_text = ", ".join([f"{n}.shape" if n in shapes else n for n in positional] + traced_chain +
                         [f"{k}={k}" for k in keyword] + [f"{chain_params[c]}={c}" for c in kw_chains])
    params = [shapes[n][0] if n in shapes else n for n in positional] + [chain_params[c] for c in traced_chain] + \
        keyword + [chain_params[c] for c in kw_chains]
    shadowed = copied_methods.rebound_free_names(methods, {*params, *names.stores, *local_methods.values()})
    if shadowed:
        return Decline(f"the copied {', '.join(f'`self.{m}`' for m in methods)} reads {', '.join(shadowed)} from "
                       "the module, which the wrapped function binds itself: the copy would call something else")
    replaced = {node: shapes[n][0] for n in shapes for node in shapes[n][1]}
    replaced.update({node: local_methods[text.split(".", 1)[1]] for node, text in method_calls.items()})
    definition = _definition(tree, region, func_name, params, outputs, chains, chain_params, diagnostics, replaced,
                             methods, local_methods, rebinds, guard)
    call_stmt = _call_site(region, func_name, arg_text, outputs, guard, kept_none)
    replacements: Dict[cst.CSTNode, object] = {region.stmts[0]: call_stmt}
    for stmt in region.stmts[1:]:
        replacements[stmt] = cst.RemovalSentinel.REMOVE
    top = tree.top_level(region.func)
    codes = ", ".join(sorted({d.code for d in diagnostics}))
    hides = f"; hides {', '.join(sorted(hidden))} from quantization (convert_fx cannot convert them)" \
        if hidden else ""
    copies = f"; copies {', '.join(f'`self.{m}`' for m in methods)} into it" if methods else ""
    faithful = not hidden and not methods and not rebinds and all(d.code.startswith(TRACE_ERRORS) for d in diagnostics)
    return Plan(f"Hoist lines {region.start[0]}-{region.end[0]} into `@torch.fx.wrap` `{func_name}` ({codes})"
                + hides + copies, SAFE if faithful else UNSAFE, replacements, list(diagnostics), frozenset({"torch"}), (top, definition),
                priority=1, covers=tuple(methods.values()), hides=frozenset(hidden), moves=tuple(region.stmts))


def _interface(region: _Region, names: "_Names") -> "Tuple[List[str], List[str]] | _Region | Decline":
    """(parameters, outputs) of the region in first-seen order, from the path-aware definite-assignment
    analysis (fxlint/fix/bindings.py); a wider region when a name read inside is bound on some paths
    into it only (its binding joins the region) or a name handed back is bound on some paths through
    it only (the rest of the function joins: the wrapped function returns the result); else a Decline.
    Why: a local passed in or handed back that one path leaves unbound raises UnboundLocalError in
    eager at the wrapped call, where the original only read it on the paths that bound it."""
    read_after = set() if region.tail else names.read_outside
    io = bindings.interface(region.func, region.stmts, read_after, names.mutated)
    if io.problem:
        return Decline(f"cannot follow the region's names ({io.problem})")
    maybe = [n for n in io.maybe_unbound if n != "self"]
    if maybe:
        wider = _with_binding(region, maybe)
        return wider if wider is not None else Decline(
            f"`{', '.join(maybe)}` is read in the region but bound only on some paths before it: passed to a "
            "wrapped function it would raise UnboundLocalError in eager on the others")
    if io.partial_outputs:
        wider = _to_tail(region)
        return wider if wider is not None else Decline(
            f"`{', '.join(io.partial_outputs)}` is bound on some paths through the region only and not before it: "
            "handing it back would raise UnboundLocalError in eager on the others")
    order = {n: i for i, n in enumerate(names.first_seen)}
    ranked = lambda found: sorted((n for n in found if n != "self"), key=lambda n: order.get(n, len(order)))
    return ranked(io.params), ranked(io.outputs)


def _with_binding(region: _Region, wanted: Sequence[str]) -> Optional[_Region]:
    """The region grown upwards to the nearest earlier statement that binds one of ``wanted`` (climbing
    out of enclosing blocks of the function when its own block has none), so the maybe-bound name is
    bound, or not, inside the wrapped function exactly as it was. None when no such statement."""
    tree, func = region.tree, region.func
    stmts = list(region.stmts)
    while True:
        block = tree.block_of(stmts[0])
        body = list(getattr(block, "body", ()))
        index = body.index(stmts[0]) if stmts[0] in body else 0
        binders = [k for k in range(index) if _binds_any(tree, body[k], wanted)]
        if binders:
            wider = _Region(tree, func, [*body[binders[-1]:index], *stmts], region.tail)
            returns = any(isinstance(n, cst.Return) for stmt in wider.stmts for n in _own_nodes(stmt))
            # a `return` climbed into leaves the whole function: the rest of it goes too
            return _to_tail(wider) if returns and not wider.tail else wider
        outer = tree.statement(block) if block is not None and block is not func.body else None
        if outer is None or outer is func or tree.function_of(outer) is not func:
            return None
        stmts = [outer]


def _to_tail(region: _Region) -> Optional[_Region]:
    """The rest of the function from the function-level statement holding the region: the wrapped
    function then returns what the function returns, so no local has to be handed back."""
    outer = _outermost(region.tree, region.stmts[0], region.func)
    if outer is None:
        return None
    body = list(region.func.body.body)
    return _Region(region.tree, region.func, body[body.index(outer):], tail=True)


def _binds_any(tree: Tree, stmt: cst.CSTNode, wanted: Sequence[str]) -> bool:
    return not _stored_names(tree, stmt).isdisjoint(wanted)


def _stored_names(tree: Tree, stmt: cst.CSTNode) -> FrozenSet[str]:
    """Names ``stmt`` binds outside nested scopes; per tree (asked for every earlier statement of a
    block by each region grown upwards)."""
    key = (_stored_names, stmt)
    found = tree.memo.get(key)
    if found is None:
        found = tree.memo[key] = frozenset(n.value for n in _own_nodes(stmt) if isinstance(n, cst.Name)
                                           and tree.contexts.get(n) == ExpressionContext.STORE)
    return found  # type: ignore[return-value]


#: calls whose answer depends on FX tracing (True, or a Proxy, while FX traces): code written around
#: them has an FX path of its own, which a wrapped function would hide (inside it they see real
#: values). `is_tracing` is transformers' (it asks `is_torch_fx_proxy(x)`) and torch.jit's.
#: Compiler-only checks (`torch.compiler.is_compiling()`, `is_torchdynamo_compiling()`) are not here:
#: they answer False while FX traces and False inside a wrapped function run eagerly, and dynamo
#: traces through a wrapped function, so they answer the same on every side of a hoist.
TRACING_CALLS = {"is_torch_fx_proxy", "is_tracing", "is_fx_tracing", "is_fx_proxy", "is_proxy"}


def tracing_guard(tree: Tree, nodes: Iterable[cst.CSTNode]) -> str:
    """The first tracing-dependent call among ``nodes`` (as "`text`"), or "": a call in TRACING_CALLS,
    `isinstance(x, ...Proxy)`, or a call of a function of this module whose body makes one (one level
    of wrapping: transformers' `is_torchdynamo_compiling()` around `torch.compiler.is_compiling()`)."""
    wrappers = _guard_wrappers(tree)
    for node in nodes:
        if isinstance(node, cst.Call) and (_is_guard_call(tree, node) or _call_name(node.func) in wrappers
                                           and isinstance(node.func, cst.Name)):
            return f"`{tree.code(node)}`"
    return ""


def _is_guard_call(tree: Tree, call: cst.Call) -> bool:
    name = _call_name(call.func)
    if name in TRACING_CALLS:
        return True
    if name == "isinstance" and len(call.args) == 2:
        return "Proxy" in {n.value for n in walk(call.args[1].value) if isinstance(n, cst.Name)}
    return False


def _guard_wrappers(tree: Tree) -> Set[str]:
    """Module-level functions whose body makes a tracing-dependent call (cached on the tree)."""
    cached = getattr(tree, "_fxlint_guard_wrappers", None)
    if cached is None:
        cached = {f.name.value for f in tree.module.body if isinstance(f, cst.FunctionDef)
                  and any(isinstance(n, cst.Call) and _is_guard_call(tree, n) for n in walk(f.body))}
        setattr(tree, "_fxlint_guard_wrappers", cached)
    return cached


def _with_previous(region: _Region, names: Sequence[str]) -> Optional[_Region]:
    """The region grown by the simple statement just before it, when that binds one of ``names``."""
    block = region.tree.block_of(region.stmts[0])
    body = list(getattr(block, "body", ()))
    index = body.index(region.stmts[0]) if region.stmts[0] in body else 0
    if index == 0 or not isinstance(body[index - 1], cst.SimpleStatementLine):
        return None
    previous = body[index - 1]
    tree = region.tree
    bound = {n.value for n in walk(previous) if isinstance(n, cst.Name) and tree.contexts.get(n) == ExpressionContext.STORE}
    if not bound & set(names):
        return None
    return _Region(tree, region.func, [previous, *region.stmts], region.tail)


def _with_key_readers(region: _Region) -> Optional[_Region]:
    """The region grown by the next statement when that reads a key the region picks a submodule
    with (`self.experts[idx](x)`, then `gate[:, idx : idx + 1]`): the key is an integer tensor, and
    integer arithmetic left in the graph gets a FakeQuantize that fails at run time (notes §5)."""
    tree = region.tree
    keys = {n.value for node in region.of(cst.Call) if isinstance(node.func, cst.Subscript)
            and _root_name(node.func) == "self" for n in walk(node.func.slice[0]) if isinstance(n, cst.Name)}
    wider = _with_next(region) if keys else None
    if wider is None:
        return None
    reads = {n.value for n in walk(wider.stmts[-1]) if isinstance(n, cst.Name)
             and tree.contexts.get(n) == ExpressionContext.LOAD}
    return wider if reads & keys else None


CONTAINERS = (cst.List, cst.ListComp, cst.Dict, cst.DictComp)
#: builtins whose call builds a new list/dict (`list(x.shape)`): a container like a display
CONTAINER_BUILTINS = frozenset(("list", "dict", "sorted"))


def _is_container(region: _Region, value: cst.BaseExpression) -> bool:
    if isinstance(value, CONTAINERS):
        return True
    return isinstance(value, cst.Call) and isinstance(value.func, cst.Name) \
        and value.func.value in CONTAINER_BUILTINS and value.func.value not in _shadowing_names(region)


def _shadowing_names(region: _Region) -> Set[str]:
    """Names bound in the region's function or at module level (a local `list` is not the builtin)."""
    tree = region.tree
    module_names = tree.memo.get("module-names")
    if module_names is None:
        module_names = tree.memo["module-names"] = {
            n.value for n in tree.name_nodes if tree.contexts.get(n) == ExpressionContext.STORE
            and not isinstance(tree.top_level(n), cst.ClassDef)}
    return set(_locals(region.func, tree)) | module_names  # type: ignore[operator]


def _binds_container(region: _Region, name: str) -> bool:
    """Does the region bind ``name`` to a list/dict (`xs = []`, `xs = list(x.shape)`, or unpacked:
    `xs, ys = [], []`)?"""
    for node in region.of(cst.Assign):
        for t in node.targets:
            if isinstance(t.target, cst.Name) and t.target.value == name and _is_container(region, node.value):
                return True
            if isinstance(t.target, (cst.Tuple, cst.List)) and isinstance(node.value, (cst.Tuple, cst.List)) \
                    and len(t.target.elements) == len(node.value.elements):
                if any(isinstance(te.value, cst.Name) and te.value.value == name and isinstance(ve.value, CONTAINERS)
                       for te, ve in zip(t.target.elements, node.value.elements)):
                    return True
    return False


#: calls whose result is an integer/bool tensor (an index or a mask): handed from the graph into a
#: wrapped function through an observer-sharing op (`one_hot(...).permute(...)`), QAT gives it a
#: FakeQuantize that fails at run time (`expected scalar type Float but found Long`, notes §5)
INDEX_OPS = {"one_hot", "argmax", "argmin", "argsort", "nonzero", "long", "bool", "bucketize", "searchsorted"}
#: calls that leave torch: their result (an ndarray, a list) must not cross into a wrapped call either
#: (`fused_moving_avg_obs_fake_quant(): argument 'input' must be Tensor, not numpy.ndarray`)
FOREIGN_OPS = {"numpy", "tolist"}
FOREIGN_MODULES = {"np", "numpy"}


def _with_producers(region: _Region) -> Optional[_Region]:
    """The region grown by the simple statement just before it when that only computes a reshaped
    index or mask tensor (a call in INDEX_OPS, then more) or a non-torch value (`.numpy()`, `np.*`, or from a name bound
    so) that nothing after the region reads, and calls no submodule."""
    tree = region.tree
    block = tree.block_of(region.stmts[0])
    body = list(getattr(block, "body", ()))
    index = body.index(region.stmts[0]) if region.stmts[0] in body else 0
    if index == 0 or not isinstance(body[index - 1], cst.SimpleStatementLine):
        return None
    previous = body[index - 1]
    calls = [n for n in walk(previous) if isinstance(n, cst.Call)]
    if any(_root_name(c.func) == "self" and not _is_tensor_method(c.func) for c in calls):
        return None
    if not _reshaped_index(previous) and not _foreign(tree, region.func, previous):
        return None
    bound = {n.value for n in walk(previous) if isinstance(n, cst.Name)
             and tree.contexts.get(n) == ExpressionContext.STORE}
    wider = _Region(tree, region.func, [previous, *region.stmts], region.tail)
    if not bound or bound & _Names(wider).read_outside:
        return None
    return wider


def _reshaped_index(stmt: cst.SimpleStatementLine) -> bool:
    """`m = F.one_hot(i, n).permute(1, 0)`: an index/mask op whose result is processed further in the
    same assignment (an index handed over as is, `c = p.argmax()`, passes QAT: notes §5)."""
    small = stmt.body[0] if len(stmt.body) == 1 else None
    value = small.value if isinstance(small, cst.Assign) else None
    if not isinstance(value, cst.Call) or _call_name(value.func) in INDEX_OPS:
        return False
    return any(isinstance(c, cst.Call) and _call_name(c.func) in INDEX_OPS for c in walk(value))


def _foreign(tree: Tree, func: cst.FunctionDef, stmt: cst.CSTNode) -> bool:
    """Does ``stmt`` compute a non-torch value: a `.numpy()`/`.tolist()`/`np.*` call, or a read of a
    name some earlier statement of ``func`` bound from one (one level: `hm = t.numpy()`; `n = hm.shape`)?"""
    def leaves_torch(node: cst.CSTNode) -> bool:
        return any(isinstance(c, cst.Call) and (_call_name(c.func) in FOREIGN_OPS or _root_name(c.func) in FOREIGN_MODULES)
                   for c in walk(node))

    if leaves_torch(stmt):
        return True
    foreign = set()
    for line in walk(func.body):
        if isinstance(line, cst.SimpleStatementLine) and tree.start(line) < tree.start(stmt) and leaves_torch(line):
            foreign |= {n.value for n in walk(line) if isinstance(n, cst.Name)
                        and tree.contexts.get(n) == ExpressionContext.STORE}
    return any(isinstance(n, cst.Name) and tree.contexts.get(n) == ExpressionContext.LOAD and n.value in foreign
               for n in walk(stmt))


def _call_name(func: cst.BaseExpression) -> str:
    return func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""


def _with_next(region: _Region, calls: bool = False) -> Optional[_Region]:
    """The region grown by the simple statement just after it (no submodule calls in it, unless
    ``calls``: they are then passed into the wrapped function like the region's own)."""
    tree = region.tree
    block = tree.block_of(region.stmts[-1])
    body = list(getattr(block, "body", ()))
    index = body.index(region.stmts[-1]) + 1 if region.stmts[-1] in body else len(body)
    if region.tail or index >= len(body) or not isinstance(body[index], cst.SimpleStatementLine):
        return None
    nxt = body[index]
    if not calls and _hidden_calls(_Region(tree, region.func, [nxt], False), {}):
        return None
    tail = any(isinstance(n, cst.Return) for n in walk(nxt))
    if tail and block is not region.func.body:
        return None
    return _Region(tree, region.func, [*region.stmts, nxt], tail)


def merge(tree: Tree, regions: List[Tuple["_Region", List[Diagnostic]]]) -> List[Tuple["_Region", List[Diagnostic]]]:
    """Join regions of one block separated only by simple statements without submodule calls, so a
    value computed between them (a numpy array, a Python flag) never crosses a wrapped call."""
    out: List[Tuple[_Region, List[Diagnostic]]] = []
    for region, diags in sorted(regions, key=lambda r: r[0].start):
        if out:
            last, last_diags = out[-1]
            joined = _join(tree, last, region)
            if joined is not None:
                out[-1] = (joined, last_diags + diags)
                continue
        out.append((region, list(diags)))
    return out


def _join(tree: Tree, a: "_Region", b: "_Region") -> Optional["_Region"]:
    block = tree.block_of(a.stmts[0])
    if a.func is not b.func or a.tail or block is not tree.block_of(b.stmts[0]):
        return None
    body = list(block.body)
    i, j = body.index(a.stmts[0]), body.index(b.stmts[0])
    between = body[i + len(a.stmts):j]
    if not all(isinstance(s, cst.SimpleStatementLine) for s in between):
        return None
    if between and _hidden_calls(_Region(tree, a.func, between, False), {}):
        return None
    if tracing_guard(tree, (n for s in body[i:j + len(b.stmts)] for n in walk(s))):
        return None  # a guard's region is declined: it must not take a neighbour's fix down with it
    return _Region(tree, a.func, body[i:j + len(b.stmts)], b.tail)


def d_source_matches(diagnostics: Sequence[Diagnostic], chain: str) -> bool:
    """Does a finding name this `self.<attr>` chain as its traced source (an nn.Parameter)?"""
    return any(d.source and (chain == d.source or chain.startswith(d.source + ".")) for d in diagnostics)


# ------------------------------------------------------------------------------------------ checks
def _own_nodes(stmt: cst.CSTNode) -> Iterable[cst.CSTNode]:
    """Nodes of ``stmt`` outside nested functions, classes and lambdas."""
    stack = [stmt]
    while stack:
        node = stack.pop()
        yield node
        if node is not stmt and isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(children(node))


def _buffer_rebinds(region: _Region) -> "Dict[cst.Assign, str] | Decline":
    """`self.<buffer> = value` statements of the region, to become `<buffer>.set_(value)`."""
    if not any(isinstance(n, (cst.Attribute, cst.Subscript, cst.AugAssign)) and _stores_on_self(region.tree, n)
               for n in region.of(cst.Attribute, cst.Subscript, cst.AugAssign)):
        return {}
    from fxlint.fix.silent import _registered_buffers

    found = copied_methods.buffer_rebinds(region, _registered_buffers(region.tree, region.func))
    return Decline(found) if isinstance(found, str) else found


def _stores_on_self(tree: Tree, node: cst.CSTNode) -> bool:
    if isinstance(node, cst.AugAssign):
        return _root_name(node.target) == "self"
    return tree.contexts.get(node) == ExpressionContext.STORE and _root_name(node) == "self"


def _deletes_own_item(region: _Region, node: cst.Del) -> bool:
    """`del xs[i]` of a list/dict the region itself builds before it (`xs = list(x.shape)`): an
    item of the region's own object, not a name, and the same inside a wrapped function."""
    target = node.target
    if not (isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name)):
        return False
    name = target.value.value
    for stmt in region.stmts:
        if any(n is node for n in walk(stmt)):
            return False
        if _binds_container(_Region(region.tree, region.func, [stmt], False), name):
            return True
    return False


#: the node classes :func:`_unsupported` looks at
_UNSUPPORTED_KINDS = (cst.Yield, cst.Await, cst.Global, cst.Nonlocal, cst.FunctionDef, cst.ClassDef, cst.Lambda,
                      cst.Del, cst.Name, cst.Break, cst.Continue, cst.Attribute, cst.Subscript, cst.AugAssign)


def _unsupported(region: _Region, allowed_stores: "frozenset" = frozenset()) -> str:
    """Why the region cannot move into a function; ``allowed_stores``: Assign statements of buffer
    rebinds that are rewritten (see fxlint/fix/methods.py)."""
    tree = region.tree
    allowed_targets = {t.target for a in allowed_stores for t in a.targets}
    for node in region.of(*_UNSUPPORTED_KINDS):
        if node in allowed_targets:
            continue
        if isinstance(node, (cst.Yield, cst.Await)):
            return "the region yields or awaits"
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            return "the region declares `global`/`nonlocal` names"
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return "the region defines a function, class or lambda"
        if isinstance(node, cst.Del) and not _deletes_own_item(region, node):
            return "the region deletes names"
        if isinstance(node, cst.Name) and node.value == "super":
            return "the region calls `super()`"
        if isinstance(node, (cst.Break, cst.Continue)) and not _loop_inside(tree, node, region):
            return "`break`/`continue` leaves the region"
        if isinstance(node, cst.Name) and node.value == "self" and not isinstance(tree.parents.get(node), cst.Attribute):
            return "the region uses `self` itself"
        if isinstance(node, (cst.Attribute, cst.Subscript)) and tree.contexts.get(node) == ExpressionContext.STORE \
                and _root_name(node) == "self":
            return f"the region assigns `{tree.code(node)}`: module state set from a Proxy is never recorded"
        if isinstance(node, cst.AugAssign) and _root_name(node.target) == "self":
            return f"the region updates `{tree.code(node.target)}`: module state set from a Proxy is never recorded"
    return ""


def _escaped_loop(region: _Region) -> Optional[cst.BaseStatement]:
    """The outermost loop (of the same function) left by a `break`/`continue` of the region."""
    tree = region.tree
    loops = [_loop_of(tree, n) for n in region.of(cst.Break, cst.Continue)]
    outside = [loop for loop in loops if loop is not None and not region.inside(loop)]
    return min(outside, key=tree.start) if outside else None


def _loop_of(tree: Tree, node: cst.CSTNode) -> Optional[cst.BaseStatement]:
    for anc in tree.ancestors(node):
        if isinstance(anc, (cst.For, cst.While)):
            return anc
        if isinstance(anc, (cst.FunctionDef, cst.ClassDef)):
            return None
    return None


def _loop_inside(tree: Tree, node: cst.CSTNode, region: _Region) -> bool:
    for anc in tree.ancestors(node):
        if isinstance(anc, (cst.For, cst.While)):
            return region.inside(anc)
        if isinstance(anc, cst.FunctionDef):
            return False
    return False


def _root_name(expr: cst.BaseExpression) -> str:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return expr.value if isinstance(expr, cst.Name) else ""


def _self_chains(region: _Region) -> Dict[cst.Attribute, str]:
    """Maximal `self.a.b` attribute chains read in the region -> their text; for a called chain
    (`self.pos.flatten(2)`) the method name is left out."""
    tree = region.tree
    chains: Dict[cst.Attribute, str] = {}
    for node in region.of(cst.Attribute):
        if not _pure_chain(node):
            continue
        parent = tree.parents.get(node)
        if isinstance(parent, cst.Attribute) and parent.value is node and _pure_chain(parent):
            continue  # not maximal
        if isinstance(parent, cst.Call) and parent.func is node and isinstance(node.value, cst.Attribute):
            node = node.value  # `self.pos.flatten(2)` -> `self.pos`; `self.blocks.stem(x)` -> `self.blocks`
        # `self.fc(x)` keeps `self.fc`: the submodule itself is passed in (a method is declined earlier).
        # The dotted name, not the source text: a chain in parentheses, split over lines, would name
        # the parameter `default_k\n)` (fuzzing found it, tests/test_fix_fuzz.py)
        chains[node] = dotted(node)
    return chains


def _maybe_missing_attrs(region: _Region, chains: Set[str]) -> Set[str]:
    """First attrs of ``chains`` (`self.head` of `self.head.weight`) that the region's class's own
    `__init__` assigns only inside compound statements (`if`/`for`/`try`), never at its top level
    (x-transformers: `if add_continuous_pred_head: self.to_next_embed_pred = ...`, read only under
    `if return_next_embed_pred:`). Attrs `__init__` does not assign (inherited, set by a helper
    method, registered dynamically) are left as they were."""
    tree = region.tree
    cls = next((a for a in tree.ancestors(region.func) if isinstance(a, cst.ClassDef)), None)
    if cls is None or not chains:
        return set()
    key = ("attr-assignments", id(cls))
    found = tree.memo.get(key)
    if found is None:
        always: Set[str] = set()
        sometimes: Set[str] = set()
        init = next((f for f in getattr(cls.body, "body", ()) if isinstance(f, cst.FunctionDef)
                     and f.name.value == "__init__"), None)
        top = set(getattr(init.body, "body", ())) if init is not None else set()
        for node in walk(init) if init is not None else ():
            if isinstance(node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                names = {n.attr.value for t in targets for n in walk(t) if isinstance(n, cst.Attribute)
                         and isinstance(n.value, cst.Name) and n.value.value == "self"}
                if not names or (isinstance(node, cst.AnnAssign) and node.value is None):
                    continue
                line = tree.parents.get(node)
                (always if line in top else sometimes).update(names)
        found = tree.memo[key] = frozenset(sometimes - always)
    first = {c.split(".")[1] for c in chains if c.startswith("self.") and c.count(".") >= 1}
    return first & found  # type: ignore[operator]


def _pure_chain(node: cst.BaseExpression) -> bool:
    while isinstance(node, cst.Attribute):
        node = node.value
    return isinstance(node, cst.Name) and node.value == "self"


def _hidden_calls(region: _Region, chains: Dict[cst.Attribute, str]) -> Set[str]:
    """Calls that may run submodules: `self.x(...)`, `self.x.y(...)` (y not a tensor method),
    `self.xs[i](...)`, and calls of local names (`blk(x)` for `blk` from `self.blocks`)."""
    tree = region.tree
    local = _locals(region.func, tree)
    hidden = set()
    for node in region.of(cst.Call):
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Call):
            continue  # a method of a call's result (`self.q(x).view`): the inner call is checked itself
        if _root_name(func) == "self":
            if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Attribute) and _pure_chain(func) \
                    and func.attr.value in TENSOR_METHODS:
                continue
            hidden.add(f"`{tree.code(func)}`")
        elif isinstance(func, cst.Name) and func.value in local:
            hidden.add(f"local callable `{func.value}`")
    return hidden


def _unknown_callables(region: _Region) -> Set[str]:
    """Callees in the region that may not be submodules, so may not be passed to a wrapped function
    (FX can hand it a submodule as a `get_attr`, but a method needs `self` and a plain function is
    rejected: `NotImplementedError: argument of type ...`).

    A callee counts as a submodule when it is rooted at `self.<attr>` (`self.fc`, `self.heads[k]`,
    `self.blocks.stem`) or is a local bound only from such chains (`for blk in self.blocks`,
    `lateral = self.laterals[i]`), and the class assigns that attr from a constructor call whose name
    is capitalised (`nn.Linear(...)`, `nn.ModuleList(...)`, `Mlp(...)`). Blind spots, all declined,
    never mis-hoisted: submodules built by a lowercase factory (`create_act_layer(...)`), inherited
    ones, and ones registered with `add_module`/`setattr`."""
    tree = region.tree
    modules = _module_attrs(tree, region.func)
    out = set()
    for node in region.of(cst.Call):
        if _is_tensor_method(node.func):
            continue
        if isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Call):
            continue  # a method of a call's result: the inner call is checked itself
        if _root_name(node.func) == "self":
            if _self_attr(node.func) not in modules:
                out.add(f"`{tree.code(node.func)}`")
        elif isinstance(node.func, cst.Name) and node.func.value in _locals(region.func, tree):
            sources = _binding_sources(tree, region.func, node.func.value)
            attrs = [_self_attr(n) for src in sources for n in walk(src) if isinstance(n, cst.Attribute)
                     and isinstance(n.value, cst.Name) and n.value.value == "self"]
            if not sources or not attrs or any(a not in modules for a in attrs):
                out.add(f"local callable `{node.func.value}`")
    return out


def _is_tensor_method(func: cst.BaseExpression) -> bool:
    """`self.pos.flatten(2)`, `x.view(...)`: a method of a value, not a module call."""
    return isinstance(func, cst.Attribute) and func.attr.value in TENSOR_METHODS and not (
        isinstance(func.value, cst.Name) and func.value.value == "self")


def _self_attr(expr: cst.BaseExpression) -> str:
    """`fc` for `self.fc`, `self.heads[k]`, `self.blocks.stem` (the attr right after `self`)."""
    attr = ""
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        if isinstance(expr, cst.Attribute) and isinstance(expr.value, cst.Name) and expr.value.value == "self":
            attr = expr.attr.value
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return attr


def _module_attrs(tree: Tree, func: cst.FunctionDef) -> Set[str]:
    """Attrs the enclosing class assigns (`self.x = ...`, any method) only from capitalised
    constructor calls (`nn.Linear(...)`, `A(...) if flag else B(...)`)."""
    cls = next((a for a in tree.ancestors(func) if isinstance(a, cst.ClassDef)), None)
    key = ("module_attrs", id(cls))
    if key not in tree.memo:
        tree.memo[key] = _assigned_modules(cls, _module_factories(tree))
    return tree.memo[key]  # type: ignore[return-value]


def _assigned_modules(cls: Optional[cst.ClassDef], factories: "frozenset" = frozenset()) -> Set[str]:
    verdict: Dict[str, bool] = {}
    for node in walk(cls) if cls is not None else ():
        if isinstance(node, cst.Assign) and len(node.targets) == 1:
            target = node.targets[0].target
            if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name) \
                    and target.value.value == "self":
                name = target.attr.value
                verdict[name] = verdict.get(name, True) and (_constructs_module(node.value) or (
                    isinstance(node.value, cst.Call) and _root_name(node.value.func) == "self"
                    and isinstance(node.value.func, cst.Attribute) and isinstance(node.value.func.value, cst.Name)
                    and node.value.func.attr.value in factories))
    return {name for name, ok in verdict.items() if ok}


def _module_factories(tree: Tree) -> "frozenset":
    """Method names that every class of the file defining them uses as a submodule factory: each
    definition returns (at least once, and only) capitalised constructor calls (MONAI RegUNet's
    `build_output_block`, overridden by GlobalNet and LocalNet). A subclass elsewhere returning
    something else makes FX refuse the hoisted call loudly while tracing; eager is the same call."""
    key = "module_factories"
    if key not in tree.memo:
        verdict: Dict[str, bool] = {}
        for cls in tree.module.body:
            if not isinstance(cls, cst.ClassDef) or not isinstance(cls.body, cst.IndentedBlock):
                continue
            for f in cls.body.body:
                if isinstance(f, cst.FunctionDef):
                    returns = [r.value for r in tree.typed(f.body, cst.Return)]
                    verdict[f.name.value] = verdict.get(f.name.value, True) and bool(returns) and all(
                        v is not None and _constructs_module(v) for v in returns)
        tree.memo[key] = frozenset(name for name, ok in verdict.items() if ok and name != "forward")
    return tree.memo[key]  # type: ignore[return-value]


def _constructs_module(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.IfExp):
        return _constructs_module(value.body) and _constructs_module(value.orelse)
    if not isinstance(value, cst.Call):
        return False
    func = value.func
    last = func.attr.value if isinstance(func, cst.Attribute) else func.value if isinstance(func, cst.Name) else ""
    return last[:1].isupper()


def _binding_sources(tree: Tree, func: cst.FunctionDef, name: str) -> List[cst.BaseExpression]:
    """The expressions a local is bound from in ``func``: assignment values and `for` iterables
    (per tree: asked for each call of a local in each candidate region)."""
    key = (_binding_sources, func, name)
    if key not in tree.memo:
        tree.memo[key] = _find_binding_sources(tree, func, name)
    return list(tree.memo[key])  # type: ignore[call-overload]


#: the statements and clauses that bind names (:func:`_find_binding_sources`)
_BINDERS = (cst.Assign, cst.For, cst.CompFor, cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.WithItem)


def _find_binding_sources(tree: Tree, func: cst.FunctionDef, name: str) -> List[cst.BaseExpression]:
    out: List[cst.BaseExpression] = []
    for node in tree.typed(func.body, *_BINDERS):
        if isinstance(node, cst.Assign) and any(_binds(t.target, name) for t in node.targets):
            out.append(node.value)
        elif isinstance(node, (cst.For, cst.CompFor)) and _binds(node.target, name):
            out.append(node.iter)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign, cst.NamedExpr, cst.WithItem)) \
                and _binds(getattr(node, "target", None) or getattr(node, "asname", None), name):
            return []  # bound some other way: unknown
    return out


def _binds(target: Optional[cst.CSTNode], name: str) -> bool:
    if isinstance(target, cst.AsName):
        target = target.name
    return target is not None and any(isinstance(n, cst.Name) and n.value == name for n in walk(target))


def _locals(func: cst.FunctionDef, tree: Tree) -> Set[str]:
    key = ("locals", id(func))
    names = tree.memo.get(key)
    if names is None:
        names = {p.name.value for p in _params(func)}
        names |= {n.value for n in tree.typed(func.body, cst.Name) if tree.contexts.get(n) == ExpressionContext.STORE}
        tree.memo[key] = names
    return names  # type: ignore[return-value]


def _params(func: cst.FunctionDef) -> List[cst.Param]:
    p = func.params
    extra = [s for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param)]
    return [*p.posonly_params, *p.params, *p.kwonly_params, *extra]


# ------------------------------------------------------------------------------------------- names
class _Names:
    """Which names the region reads and binds, and which are bound before it or read after it."""

    def __init__(self, region: _Region) -> None:
        tree, func = region.tree, region.func
        self.region = region
        comp_targets = {id(n) for c in region.of(cst.CompFor) for n in walk(c.target) if isinstance(n, cst.Name)}
        self.loads: Set[str] = set()
        self.stores: Set[str] = set()
        self.first_seen: List[str] = []
        self.all_names: List[str] = []
        for node in region.of(cst.Name):
            if node.value == "self":
                continue
            ctx = tree.contexts.get(node)
            if ctx is not None:
                self.all_names.append(node.value)
            if ctx == ExpressionContext.LOAD and not _is_keyword(tree, node):
                self.loads.add(node.value)
            elif ctx == ExpressionContext.STORE and id(node) not in comp_targets:
                self.stores.add(node.value)
            if node.value not in self.first_seen and ctx in (ExpressionContext.LOAD, ExpressionContext.STORE):
                self.first_seen.append(node.value)
        self.mutated = _mutated(region)
        params = [p.name.value for p in _params(func) if p.name.value != "self"]
        self.params = params
        self.bound_before: Set[str] = set(params)
        self.read_outside: Set[str] = set()
        looped = tree.in_loop_within(region.stmts[0], func)
        for node in _names_in(tree, func):
            if region.inside(node):
                continue
            ctx = tree.contexts.get(node)
            if ctx == ExpressionContext.STORE and tree.start(node) < region.start:
                self.bound_before.add(node.value)
            elif ctx == ExpressionContext.LOAD and (looped or tree.start(node) > region.end):
                self.read_outside.add(node.value)
        # comprehension variables are local to the comprehension unless also bound in the function
        comp_only = {tree_name for tree_name in self.loads if tree_name not in self.bound_before
                     and tree_name not in self.stores}
        self.loads -= comp_only


#: methods that change their receiver in place (a list being filled, a tensor updated)
MUTATORS = {"append", "extend", "insert", "pop", "update", "setdefault", "clear", "remove", "add", "discard"}


def _mutated(region: _Region) -> Set[str]:
    """Names changed in place by the region: `x[i] = v`, `x.attr = v`, `xs.append(v)`, `t.add_(v)`."""
    tree = region.tree
    out = set()
    for node in region.of(cst.Subscript, cst.Attribute, cst.Call):
        if isinstance(node, (cst.Subscript, cst.Attribute)) and tree.contexts.get(node) == ExpressionContext.STORE:
            root = _root_name(node)
            if root and root != "self":
                out.add(root)
        elif isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name):
            method = node.func.attr.value
            if method in MUTATORS or (method.endswith("_") and not method.startswith("_")):
                out.add(node.func.value.value)
    return out


def _is_keyword(tree: Tree, node: cst.Name) -> bool:
    parent = tree.parents.get(node)
    return isinstance(parent, cst.Arg) and parent.keyword is node


def _names_in(tree: Tree, func: cst.FunctionDef) -> List[cst.Name]:
    """The Name nodes of ``func``'s body in walk order (per tree: every region of the function asks)."""
    key = (_names_in, func)
    if key not in tree.memo:
        tree.memo[key] = list(tree.typed(func.body, cst.Name))
    return tree.memo[key]  # type: ignore[return-value]


def _tainted(region: _Region, names: _Names) -> Set[str]:
    """Names that hold (or derive from) a traced value before the region: the function's parameters,
    then anything assigned from them or from a submodule call, propagated in source order."""
    tree = region.tree
    tainted = set(names.params)
    statements = [(flow, start) for flow, start in _statement_flows(tree, region.func) if start < region.start]
    for _ in range(2):  # twice: loop-carried assignments
        for (reads, calls_self, stores), _start in statements:
            if calls_self or not reads.isdisjoint(tainted):
                tainted |= stores
    return tainted


def _statement_flows(tree: Tree, func: cst.FunctionDef):
    """Per simple line / `for` / `with` header of ``func`` (walk order, nested ones included): ((names
    its sources read, whether they call a submodule, names its targets bind), its start). Per tree."""
    key = (_statement_flows, func)
    if key not in tree.memo:
        flows = []
        for stmt in walk(func.body):
            if not isinstance(stmt, (cst.SimpleStatementLine, cst.For, cst.With)):
                continue
            sources, targets = _flow(stmt)
            nodes = [n for s in sources for n in walk(s)]
            reads = frozenset(n.value for n in nodes if isinstance(n, cst.Name)
                              and tree.contexts.get(n) == ExpressionContext.LOAD)
            calls_self = any(isinstance(n, cst.Call) and _root_name(n.func) == "self" for n in nodes)
            stores = frozenset(n.value for t in targets for n in walk(t) if isinstance(n, cst.Name)
                               and tree.contexts.get(n) == ExpressionContext.STORE)
            flows.append(((reads, calls_self, stores), tree.start(stmt)))
        tree.memo[key] = flows
    return tree.memo[key]


def _flow(stmt: cst.CSTNode) -> Tuple[List[cst.CSTNode], List[cst.CSTNode]]:
    """(where values come from, where they are bound) for a simple line, a `for` header or a `with` header."""
    if isinstance(stmt, cst.For):
        return [stmt.iter], [stmt.target]
    if isinstance(stmt, cst.With):
        return [i.item for i in stmt.items], [i.asname for i in stmt.items if i.asname is not None]
    return [stmt], [stmt]


def _shape_only_inputs(region: _Region, positional: Sequence[str], used: Set[str]
                       ) -> Dict[str, Tuple[str, List[cst.CSTNode]]]:
    """Traced inputs the region reads only as `x.shape` / `x.size()`: {name: (parameter name, nodes)}.

    They are passed as `x.shape`, not `x`. Why: `prepare_qat_fx` decides whether a call's result is
    a tensor from its positional arguments only, and a `shape` node is a known non-tensor while a
    tensor is not. A wrapped call that receives only sizes and numbers then returns "no tensor" to
    QAT, which leaves its result alone; given the tensor, QAT fake-quantizes the Python number it
    returns where it feeds `F.interpolate(scale_factor=...)` or a `mul`, and the prepared model
    crashes. Proof obligation: the call evaluates `x.shape` before the region runs, so the region's
    first statement must read it unconditionally, or `x` must be a proven tensor (fxlint.fix.eager);
    where the region reads it on some paths only (transformers' `inputs_embeds`, None when
    `input_ids` is given) `x` itself is passed. Eager is then unchanged (the body reads the same sizes). Blind
    spot: `x.size(i)`, `x.dim()` and `x.ndim` reads keep `x` itself."""
    from fxlint.fix.eager import EagerKind, eager_kind

    tree, out = region.tree, {}
    taken = set(used)
    for name in positional:
        reads = [n for n in region.of(cst.Name) if n.value == name
                 and tree.contexts.get(n) is not None]
        uses = [_shape_use(tree, n) for n in reads]
        if not reads or any(u is None for u in uses):
            continue
        if not (_read_first(region, reads) or
                eager_kind(tree, region.func, cst.Name(name), at=region.stmts[0]) is EagerKind.TENSOR):
            continue  # `x.shape` would be read before the region, on every path: maybe None
        param = unique_name(f"{name}_shape", taken)
        taken.add(param)
        out[name] = (param, uses)
    return out


def _read_first(region: _Region, reads: Sequence[cst.Name]) -> bool:
    """Does the region's first statement read the name unconditionally (a simple statement, or the
    test of an `if`/`while` / the iterable of a `for`, without conditional expressions, `and`/`or`,
    lambdas or comprehensions)? Then reading `x.shape` at the call instead is the same read, with
    the same error if there is one."""
    first = region.stmts[0]
    if isinstance(first, (cst.If, cst.While)):
        first = first.test
    elif isinstance(first, cst.For):
        first = first.iter
    elif not isinstance(first, cst.SimpleStatementLine):
        return False
    inside = list(walk(first))
    if any(isinstance(n, (cst.IfExp, cst.BooleanOperation, cst.Lambda, cst.ListComp, cst.SetComp, cst.DictComp,
                          cst.GeneratorExp)) for n in inside):
        return False
    held = {id(n) for n in inside}
    return any(id(r) in held for r in reads)


def _shape_use(tree: Tree, name: cst.Name) -> Optional[cst.CSTNode]:
    """The `x.shape` / `x.size()` expression ``name`` is the receiver of, else None."""
    attr = tree.parents.get(name)
    if not isinstance(attr, cst.Attribute) or attr.value is not name or tree.contexts.get(name) is not ExpressionContext.LOAD:
        return None
    if attr.attr.value == "shape":
        return attr
    parent = tree.parents.get(attr)
    if attr.attr.value == "size" and isinstance(parent, cst.Call) and parent.func is attr and not parent.args:
        return parent
    return None


def _chain_params(chains: Dict[cst.Attribute, str], used: Set[str]) -> Dict[str, str]:
    """`self.window_size` -> `window_size` (or `self_window_size` when that name is in use)."""
    out: Dict[str, str] = {}
    taken = set(used)
    for text in sorted(set(chains.values()), key=list(chains.values()).index):
        base = "_".join(text.split(".")[1:])
        name = base if base not in taken else "self_" + base
        name = unique_name(name, taken)
        taken.add(name)
        out[text] = name
    return out


# ----------------------------------------------------------------------------------------- codegen
class _ReplaceChains(cst.CSTTransformer):
    """Original nodes -> parameter names; ``rebinds``: `self.buf = value` Assign nodes -> the buffer's
    parameter, rewritten `param.set_(value)` (one pass: a second transformer would see new nodes)."""

    def __init__(self, mapping: Dict[cst.CSTNode, str], rebinds: Optional[Dict[cst.Assign, str]] = None) -> None:
        self.mapping = mapping
        self.rebinds = rebinds or {}

    def on_leave(self, original_node, updated_node):
        name = self.mapping.get(original_node)
        if name is not None:
            return cst.Name(name, lpar=original_node.lpar, rpar=original_node.rpar)
        param = self.rebinds.get(original_node)
        if param is not None:
            return copied_methods.set_buffer(param, updated_node.value)
        return updated_node


def _definition(tree: Tree, region: _Region, name: str, params: List[str], outputs: List[str],
                chains: Dict[cst.Attribute, str], chain_params: Dict[str, str],
                diagnostics: Sequence[Diagnostic], replaced: Dict[cst.CSTNode, str],
                methods: Dict[str, cst.FunctionDef], local_methods: Dict[str, str],
                rebinds: Dict[cst.Assign, str], guard: "Optional[NoneGuard]" = None) -> cst.FunctionDef:
    mapping = {node: chain_params[text] for node, text in chains.items()}
    mapping.update(replaced)
    replacer = _ReplaceChains(mapping, {a: chain_params[f"self.{buffer}"] for a, buffer in rebinds.items()})
    body = [stmt.visit(replacer) for stmt in region.stmts]
    if guard is not None:  # the `x is not None` test stays at the call site (none_guard)
        body = _without_first_conjunct(body[0])
    body = [*copied_methods.copied_definitions(methods, replacer, local_methods), *body]
    body[0] = body[0].with_changes(leading_lines=())
    if outputs:
        body.append(cst.parse_statement(f"return {', '.join(outputs)}\n"))
    codes = ", ".join(sorted({d.code for d in diagnostics}))
    return wrapped_def(name, params, body,
                       f"Hoisted from `{region.func.name.value}` by `fxlint fix` ({codes}): FX records one call.")


def _call_site(region: _Region, name: str, arg_text: str, outputs: List[str],
               guard: "Optional[NoneGuard]" = None, kept_none: Optional[Dict[str, str]] = None):
    """The call replacing the region; ``kept_none`` (output -> temporary): outputs handed back only
    where they were not None (:func:`_rebound_only_when_not_none`)."""
    kept_none = kept_none or {}
    call_text = f"{name}({arg_text})"
    if region.tail:
        text = f"return {call_text}"
    elif not outputs:
        text = call_text
    else:
        text = f"{', '.join(kept_none.get(o, o) for o in outputs)} = {call_text}"
    text += "".join(f"\nif {o} is not None:\n    {o} = {temp}" for o, temp in kept_none.items())
    if guard is not None:
        text = f"if {guard.name} is not None:\n" + textwrap.indent(text, "    ")
    stmts = [cst.parse_statement(line + "\n") for line in _top_level_chunks(text)]
    stmts[0] = stmts[0].with_changes(leading_lines=region.stmts[0].leading_lines)
    return stmts[0] if len(stmts) == 1 else cst.FlattenSentinel(stmts)


def _top_level_chunks(text: str) -> List[str]:
    """``text`` split into its top-level statements (a line that is not indented starts one)."""
    chunks: List[str] = []
    for line in text.split("\n"):
        if chunks and line.startswith(" "):
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def _rebound_only_when_not_none(region: _Region, name: str) -> bool:
    """Is every binding of ``name`` in the region inside the body of an `if name is not None ...:` of
    the region (first conjunct)? Then the region never changes whether ``name`` is None, and the call
    site can hand the result back only where it was not None: a None that a wrapped call with other
    traced arguments would return as a Proxy while tracing stays None (transformers' sdpa attention:
    `position_bias` sliced under `if position_bias is not None:`, None for BERT, came back a Proxy
    and the traced model called `.contiguous()` on None). Eager: the same value either way."""
    tree = region.tree
    stores = [n for n in region.of(cst.Name) if n.value == name
              and tree.contexts.get(n) == ExpressionContext.STORE]
    return bool(stores) and all(_under_not_none_test(region, store, name) for store in stores)


def _may_bind_none(region: _Region, name: str) -> bool:
    """Does the region bind ``name`` to a literal None (`name = None`, `name = a if c else None`)?"""
    for node in region.of(cst.Assign, cst.AnnAssign):
        if isinstance(node, cst.Assign) and any(isinstance(t.target, cst.Name) and t.target.value == name
                                                for t in node.targets) and _none_literal(node.value):
            return True
        if isinstance(node, cst.AnnAssign) and isinstance(node.target, cst.Name) and node.target.value == name \
                and node.value is not None and _none_literal(node.value):
            return True
    return False


def _used_after_but_returned(region: _Region, name: str) -> bool:
    """Is ``name`` read after the region other than by a `return` of it (or of a tuple holding it)?
    Returned, a None that is a Proxy while tracing is None again at run time; tested, or handed to a
    submodule that tests it, it takes the path a value takes."""
    tree = region.tree
    for node in walk(region.func.body):
        if not (isinstance(node, cst.Name) and node.value == name and tree.contexts.get(node) == ExpressionContext.LOAD):
            continue
        if tree.start(node) <= region.end:
            continue
        parent = tree.parents.get(node)
        while isinstance(parent, (cst.Tuple, cst.Element)):
            parent = tree.parents.get(parent)
        if not isinstance(parent, cst.Return):
            return True
    return False


def _none_literal(value: cst.BaseExpression) -> bool:
    if isinstance(value, cst.Name):
        return value.value == "None"
    if isinstance(value, cst.IfExp):
        return _none_literal(value.body) or _none_literal(value.orelse)
    return False


def _none_tested(region: _Region, name: str) -> bool:
    """Does the region compare ``name`` with None (`is None` / `is not None`)?"""
    return any(_none_test(n) in ((name, True), (name, False)) for n in region.of(cst.Comparison))


def _none_test(node: cst.CSTNode) -> Optional[Tuple[str, bool]]:
    """(name, negated) for `name is None` (False) / `name is not None` (True), else None."""
    if not (isinstance(node, cst.Comparison) and isinstance(node.left, cst.Name) and len(node.comparisons) == 1):
        return None
    target = node.comparisons[0]
    if not (isinstance(target.operator, (cst.Is, cst.IsNot)) and isinstance(target.comparator, cst.Name)
            and target.comparator.value == "None"):
        return None
    return node.left.value, isinstance(target.operator, cst.IsNot)


def _none_path_rebinds(region: _Region, name: str) -> bool:
    """`if name is None: name = ...` (the binding unconditional in its body; an `else:` is the path where
    it was not None): ``name`` is not None after the region on either path (the `inputs_embeds =
    self.embed(input_ids)` idiom)."""
    stmt = region.stmts[0]
    if len(region.stmts) != 1 or not isinstance(stmt, cst.If) or isinstance(stmt.orelse, cst.If):
        return False
    if _none_test(stmt.test) != (name, False):
        return False
    return any(isinstance(line, cst.SimpleStatementLine) and any(
        isinstance(small, (cst.Assign, cst.AnnAssign)) and _binds(getattr(small, "target", None) or small.targets[0].target, name)
        for small in line.body) for line in getattr(stmt.body, "body", ()))


def _under_not_none_test(region: _Region, node: cst.CSTNode, name: str) -> bool:
    tree = region.tree
    child = node
    for parent in tree.ancestors(node):
        if isinstance(parent, cst.FunctionDef) or not region.inside(parent):
            return False
        if isinstance(parent, cst.If) and child is parent.body and _tests_not_none(parent.test, name):
            return True
        child = parent
    return False


def _tests_not_none(test: cst.BaseExpression, name: str) -> bool:
    """Is the first conjunct of ``test`` `name is not None`?"""
    return _none_test(_conjuncts(test)[0]) == (name, True)


class NoneGuard(NamedTuple):
    """`if <name> is not None and <rest>:` (no else) whose body rebinds ``name``: ``first`` is the
    `<name> is not None` test."""
    name: str
    first: cst.CSTNode


def none_guard(region: _Region, outputs: Sequence[str]) -> Optional[NoneGuard]:
    """The `x is not None` test a hoist keeps at its call site: when the region rebinds ``x`` and ``x``
    may still be None after it (the None path skips the body), a wrapped call that also receives
    other traced values would hand back a Proxy for a None while tracing, and every later `is None`
    test of ``x`` would take the wrong path (transformers' attention masks: `kv_length =
    attention_mask.shape[-1]` ran on None). `if x is not None: x = wrapped(...)` runs the same tests
    in the same order in eager. Blind spot: only the first conjunct, only `is not None` on a name."""
    stmt = region.stmts[0]
    if region.tail or len(region.stmts) != 1 or not isinstance(stmt, cst.If) or stmt.orelse is not None:
        return None
    first = _conjuncts(stmt.test)[0]
    test = _none_test(first)
    return NoneGuard(test[0], first) if test is not None and test[1] and test[0] in outputs else None


def _conjuncts(test: cst.BaseExpression) -> List[cst.BaseExpression]:
    """`a and b and c` -> [a, b, c] (LibCST nests `and` to the left); parenthesised groups stay whole."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And) and not test.lpar:
        return [*_conjuncts(test.left), test.right]
    return [test]


def _on_guard(tree: Tree, guard: NoneGuard, d: Diagnostic) -> bool:
    """Is ``d`` the `is None` finding of the guard itself (it stays at the call site, unfixed)?"""
    (row, col), (end_row, end_col) = tree.start(guard.first), tree.end(guard.first)
    return d.code == "TRC501" and (row, col) <= (d.location.row, d.location.column - 1) < (end_row, end_col)


def _without_first_conjunct(stmt: cst.If) -> List[cst.BaseStatement]:
    """The guarded statement without its first test: `if rest: body`, or the body when nothing is left."""
    parts = _conjuncts(stmt.test)[1:]
    if not parts:
        body = list(stmt.body.body) if isinstance(stmt.body, cst.IndentedBlock) else [cst.SimpleStatementLine(list(stmt.body.body))]
        return [body[0].with_changes(leading_lines=()), *body[1:]]
    rest = parts[0]
    for part in parts[1:]:
        rest = cst.BooleanOperation(left=rest, operator=cst.And(), right=part)
    return [stmt.with_changes(test=rest, leading_lines=())]


def region_key(region: _Region) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    return region.start, region.end
