"""Rewrites for silent mistraces (TRC5xx): code that traces but bakes a wrong graph.

* TRC504 frozen randomness: the call moves into a top-level `@torch.fx.wrap` function that also
  receives a forward() input (the *anchor*, unused inside). A wrapped call with a Proxy argument is
  recorded as a node, so it runs on every call and draws from the same RNG stream, in the same order,
  as eager (Python `random` stays Python `random`).
* TRC505 `with torch.no_grad():` -> the block's statements, and every name the block binds that is
  read after it gets `.detach()`: same values, same `requires_grad=False`; the intermediates now
  build an autograd graph (memory), so UNSAFE. autocast has no in-graph equivalent: guidance only.
* TRC503 registered-buffer updates (`self.b += v`, `self.b = expr`, `self.b.add_(v)`) move into a
  wrapped function that receives the buffer and an anchor and updates it in place. `self.b = expr`
  becomes `b.copy_(expr)`: the same values while `expr` keeps the buffer's shape and dtype (the EMA
  pattern), but the buffer keeps its identity instead of being rebound. Plain Python attributes
  (`self.n += 1` on an int) are left to guidance: they would have to become buffers.
* TRC502 `if isinstance(x, torch.Tensor):` -> the branch `x` takes when its eager type is proven
  (fxlint.fix.eager: an annotated `Tensor` input, a torch op's result, `*args`); declined otherwise.

Every rewrite is UNSAFE: each assumes something about callers that the source cannot prove.
Blind spots: the anchor is forward()'s first input, so these rewrites only run in a `forward`; a
forward reached from a parent that passes a Python constant there would freeze the call again.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple, Union

import libcst as cst
from libcst.metadata import ExpressionContext

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.eager import EagerKind, eager_kind, not_proven
from fxlint.fix.plan import Decline, Plan, unique_name, wrapped_def
from fxlint.fix.tensor_attributes import TENSOR_ATTRIBUTES
from fxlint.fix.tree import Tree, paren, walk
from fxlint.fix.wrapped import wrapped_names

UNSAFE = Applicability.UNSAFE
Outcome = Union[Plan, Decline, None]

NO_GRAD = {"torch.no_grad", "torch.inference_mode", "no_grad", "inference_mode"}
AUTOCAST = {"torch.autocast", "torch.amp.autocast", "torch.cpu.amp.autocast", "torch.cuda.amp.autocast", "autocast"}
TENSOR_TYPES = {"torch.Tensor", "Tensor"}
#: container types a tensor input is not (checked against a forward input annotated as a tensor)
CONTAINER_TYPES = {"dict", "list", "tuple", "Mapping", "Sequence", "abc.Mapping", "collections.abc.Mapping",
                   "typing.Mapping", "Dict", "List", "Tuple"}


# --------------------------------------------------------------------------------- shared helpers
def _forward_anchor(tree: Tree, node: cst.CSTNode) -> "Tuple[cst.FunctionDef, str] | Decline":
    """The enclosing `forward` and its first input (a Proxy while tracing; its value is unused)."""
    func = tree.function_of(node)
    if func is None or func.name.value != "forward" or tree.function_of(func) is not None:
        return Decline("only a `forward` method's own code is rewritten (its inputs are the anchor)")
    params = [p for p in [*func.params.posonly_params, *func.params.params] if p.name.value != "self"]
    if not params:
        return Decline("forward() has no input to anchor the wrapped call on")
    return func, params[0].name.value


def _module_names(tree: Tree) -> Set[str]:
    """Names bound at module level (imports, functions, classes, constants)."""
    names: Set[str] = {n.value for n in tree.name_nodes
                       if tree.contexts.get(n) == ExpressionContext.STORE and tree.function_of(n) is None}
    for stmt in tree.module.body:
        if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            names.add(stmt.name.value)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        bound = alias.asname.name if alias.asname else alias.name
                        names.add(bound.value if isinstance(bound, cst.Name) else tree.code(bound).split(".")[0])
    return names


class _Params:
    """Turns the expressions a moved piece of code reads into parameters of the wrapped function:
    `self.a.b` -> `a_b` (`self_a_b` when taken), a local name stays itself; module-level names
    (imports, constants) and literals stay inline."""

    def __init__(self, tree: Tree, module_names: Set[str], taken: Set[str]) -> None:
        self.tree, self.module_names = tree, module_names
        self.taken = set(taken)
        self.by_text: Dict[str, str] = {}  #: expression text -> parameter name
        self.order: List[str] = []

    def local(self, node: cst.CSTNode) -> bool:
        """A Name read from forward()'s scope (not an attribute, keyword, module-level name or `self`)."""
        parent = self.tree.parents.get(node)
        return isinstance(node, cst.Name) and self.tree.contexts.get(node) == ExpressionContext.LOAD \
            and not (isinstance(parent, cst.Arg) and parent.keyword is node) \
            and node.value not in self.module_names and node.value not in ("True", "False", "None", "self")

    def name_for(self, text: str, base: str) -> str:
        if text not in self.by_text:
            if text != base:  # a `self.` chain: never shadow a local name
                base = unique_name(base if base not in self.taken else "self_" + base, self.taken)
            self.taken.add(base)
            self.by_text[text] = base
            self.order.append(text)
        return self.by_text[text]

    def rewrite(self, node: cst.CSTNode) -> cst.CSTNode:
        self.taken |= {n.value for n in walk(node) if self.local(n)}
        return node.visit(_Substitute(self))


class _Substitute(cst.CSTTransformer):
    def __init__(self, params: _Params) -> None:
        self.params = params

    def visit_Attribute(self, node: cst.Attribute) -> bool:
        return _self_chain(node) is None or self._called_chain(node)

    def leave_Attribute(self, original: cst.Attribute, updated: cst.Attribute) -> cst.BaseExpression:
        text = _self_chain(original)
        if text is None or self._called_chain(original):
            return updated
        return cst.Name(self.params.name_for(text, "_".join(text.split(".")[1:])), lpar=original.lpar,
                        rpar=original.rpar)

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if self.params.local(original):
            self.params.name_for(original.value, original.value)
        return updated

    def _called_chain(self, node: cst.Attribute) -> bool:
        """`self.buf.add_` in `self.buf.add_(1)`: the method stays, its receiver becomes a parameter."""
        parent = self.params.tree.parents.get(node)
        return isinstance(parent, cst.Call) and parent.func is node and isinstance(node.value, cst.Attribute)


def _self_chain(node: cst.CSTNode) -> Optional[str]:
    """`self.a.b` -> "self.a.b" for a pure attribute chain rooted at `self`, else None."""
    parts = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name) and node.value == "self" and parts:
        return ".".join(["self", *reversed(parts)])
    return None


# ---------------------------------------------------------------------------------------- TRC504
def fresh_random(tree: Tree, d: Diagnostic) -> Outcome:
    """`torch.randn(self.dim)` -> `_fx_random_forward_22(ids, dim=self.dim)`, a wrapped function that
    receives forward()'s first input so FX records it and it draws fresh numbers on every call."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None:
        return None
    anchor = _forward_anchor(tree, node)
    if isinstance(anchor, Decline):
        return anchor
    func, anchor_name = anchor
    if _decides_control_flow(tree, node, func):
        return _hoisted_region(tree, d) or Decline("the random value decides Python control flow, which FX cannot record even when it is "
                       "drawn on every call, and no rewrite keeps eager's RNG stream and skipped work: by hand, "
                       "draw a tensor mask (`keep = torch.rand(x.shape[:1], device=x.device) >= p`) and select "
                       "with `torch.where`/multiplication (timm's DropPath), or trace the model in eval mode "
                       "where a `self.training and ...` guard keeps the branch out of the graph")
    if any(isinstance(n, (cst.Lambda, cst.NamedExpr, cst.Await, cst.Yield)) for n in walk(node)):
        return Decline("the call contains a lambda, walrus, await or yield")
    params = _Params(tree, _module_names(tree), {anchor_name})
    body_call = params.rewrite(node)
    if any(isinstance(n, cst.Name) and n.value == "self" for n in walk(body_call)):
        return Decline("the call uses `self` itself")
    taken = tree.names()
    name = unique_name(f"_fx_random_{func.name.value}_{d.location.row}", taken)
    names = [params.by_text[t] for t in params.order]
    if anchor_name in names:
        names.remove(anchor_name)
    args = ", ".join([anchor_name] + [f"{params.by_text[t]}={t}" for t in params.order
                                      if params.by_text[t] != anchor_name])
    doc = (f"Moved from `{tree.label_of(func)}` by `fxlint fix` (TRC504): `{anchor_name}` is unused; it makes\n"
           "    FX record this call, so it runs on every call instead of once at trace time.\n    ")
    ret = cst.SimpleStatementLine(body=[cst.Return(value=body_call)])
    definition = wrapped_def(name, [anchor_name, *names], [ret], doc)
    new = cst.parse_expression(f"{name}({args})").with_changes(lpar=node.lpar, rpar=node.rpar)
    return Plan(f"Draw `{tree.code(node.func)}` in `@torch.fx.wrap` `{name}` on every call", UNSAFE, {node: new},
                [d], frozenset({"torch"}), (tree.top_level(func), definition))


def _decides_control_flow(tree: Tree, node: cst.CSTNode, func: cst.FunctionDef) -> bool:
    """Is the call inside an `if`/`while`/ternary condition or an `and`/`or`/`not`? Wrapped, it would
    return a Proxy there and tracing would stop (stochastic depth: `if random.random() < p: return x`).
    Blind spot: a value stored in a name first and branched on later is not followed."""
    child: cst.CSTNode = node
    for anc in tree.ancestors(node):
        if anc is func:
            return False
        if isinstance(anc, (cst.If, cst.While, cst.IfExp)) and anc.test is child:
            return True
        if isinstance(anc, cst.BooleanOperation) or (isinstance(anc, cst.UnaryOperation)
                                                     and isinstance(anc.operator, cst.Not)):
            return True
        if isinstance(anc, cst.BaseStatement):
            return False
        child = anc
    return False


# ---------------------------------------------------------------------------------------- TRC505
def drop_no_grad(tree: Tree, d: Diagnostic) -> Outcome:
    """`with torch.no_grad(): t = teacher(x)` -> `t = teacher(x)` + `t = t.detach()`."""
    item = tree.at(d.location.row, d.location.column, cst.Call, cst.Attribute, cst.Name)
    with_item = tree.parents.get(item) if item is not None else None
    node = tree.parents.get(with_item) if isinstance(with_item, cst.WithItem) else None
    if not isinstance(node, cst.With):
        return None
    callee = tree.code(item.func if isinstance(item, cst.Call) else item)
    if callee not in NO_GRAD:
        return (_drop_disabled_autocast(tree, node, item, d) or _hoisted_region(tree, d, node)
                or _autocast_decline(tree, node, tree.code(item)))
    if len(node.items) != 1 or with_item.asname is not None or node.asynchronous is not None:
        return Decline("the `with` has several items or binds a name")
    func = tree.function_of(node)
    if func is None or not isinstance(node.body, cst.IndentedBlock):
        return None
    problem = _no_grad_problem(tree, node)
    if problem:
        return Decline(problem)
    later = _read_after(tree, func, node)
    bound = [n for n in _bound_in(tree, node) if n in later]
    body = list(node.body.body)
    body[0] = body[0].with_changes(leading_lines=[*node.leading_lines, *body[0].leading_lines])
    body += [cst.parse_statement(f"{n} = {n}.detach()\n") for n in bound]
    return Plan("Drop `torch.no_grad()` and `.detach()` what the block computes", UNSAFE,
                {node: cst.FlattenSentinel(body)}, [d])


def _drop_disabled_autocast(tree: Tree, node: cst.With, item: cst.CSTNode, d: Diagnostic) -> Optional[Plan]:
    """`with torch.autocast(..., enabled=False): body` -> `body`. A disabled autocast only matters when
    the caller runs the model under autocast (timm's EfficientViT keeps its linear attention in
    float32 that way); the traced graph records no autocast at all, so the body is what it runs.
    UNSAFE: under a caller's autocast the body now runs in reduced precision, traced or not."""
    if not (isinstance(item, cst.Call) and tree.code(item.func) in AUTOCAST and len(node.items) == 1
            and node.items[0].asname is None and isinstance(node.body, cst.IndentedBlock)):
        return None
    enabled = next((a.value for a in item.args if a.keyword is not None and a.keyword.value == "enabled"), None)
    if not (isinstance(enabled, cst.Name) and enabled.value == "False"):
        return None
    body = list(node.body.body)
    body[0] = body[0].with_changes(leading_lines=[*node.leading_lines, *body[0].leading_lines])
    return Plan("Drop the disabled `torch.autocast(..., enabled=False)` block (the graph records no autocast)",
                UNSAFE, {node: cst.FlattenSentinel(body)}, [d])


def _hoisted_region(tree: Tree, d: Diagnostic, whole: Optional[cst.CSTNode] = None) -> Optional[Plan]:
    """The statement holding ``d`` (or the function's tail, when it returns) hoisted into a wrapped
    function, where it runs eagerly on every call. For a `with torch.autocast(...):` block (``whole``:
    the region must be exactly that block) the wrapped function enters the context when it runs; for
    stochastic depth (`if self.training and random.random() < p: return x`) it draws from Python's
    RNG on every call, as eager does, and skips the same work. Eager and traced outputs match
    (measured on fixtures/models/silent/silent_{autocast_block,stochastic_depth}.py, QAT included).
    UNSAFE, like every hoist: the ops inside are opaque to quantization, and the submodules the
    region calls are passed in and hidden from it (the plan's title names them; `convert_fx` cannot
    convert them)."""
    from fxlint.fix import hoist as hoisting  # hoist builds on this module's neighbours; import late

    region = hoisting.region_for(tree, d)
    if not isinstance(region, hoisting._Region) or (whole is not None and region.stmts != [whole]):
        return None
    plan = hoisting.hoist(tree, region, [d], tree.names())
    return plan if isinstance(plan, Plan) else None


def _autocast_decline(tree: Tree, node: cst.CSTNode, mode: str) -> Decline:
    """autocast (or a grad mode other than no_grad) has no graph equivalent: explicit `.to(dtype)`
    casts cannot reproduce autocast's per-op casting of module weights, and hoisting the block into a
    wrapped function would hide the submodules it calls from quantization."""
    body = node.body if isinstance(node, (cst.With, cst.FunctionDef)) else node
    hidden = sorted({tree.code(n.func) for n in walk(body) if isinstance(n, cst.Call)
                     and (_self_chain(n.func) or "").count(".") == 1})
    hides = f"; hoisting the block into a `@torch.fx.wrap` function would hide {', '.join(hidden)} from quantization" \
        if hidden else ""
    return Decline(f"`{mode}` has no equivalent in the graph{hides}: remove it from the module and enter it "
                   f"around the call of the traced model instead (`with {mode}: out = traced(x)` applies it "
                   "to every op of the GraphModule), or cast explicitly with `.to(dtype)` where the block needs it")


# ------------------------------------------------------------------------ TRC505 as a decorator
def no_grad_decorator(tree: Tree, d: Diagnostic) -> Outcome:
    """`@torch.no_grad()` on a function -> no decorator, and every `return v` -> `return
    _fx_detached(v)`: a wrapped helper that detaches every tensor in `v` (also inside tuples, lists
    and dicts). Same values and `requires_grad=False` as under no_grad; the function's intermediates
    now build an autograd graph (memory), so UNSAFE like the `with` rewrite.

    Declined when a return hands back a value no_grad leaves untouched: one of the function's own
    inputs or a `self.` attribute (a Parameter keeps requires_grad=True under no_grad; `.detach()`
    would drop it). Blind spot: such a value reached through a local alias (`y = x; return y`) or an
    identity submodule is detached anyway, and tensors inside other containers are not detached."""
    node = tree.at(d.location.row, d.location.column, cst.Decorator)
    func = tree.parents.get(node) if node is not None else None
    if not isinstance(func, cst.FunctionDef):
        return None
    expr = node.decorator
    if tree.code(expr.func if isinstance(expr, cst.Call) else expr) not in NO_GRAD:
        return _autocast_decline(tree, func, tree.code(expr))
    if isinstance(expr, cst.Call) and expr.args:
        return Decline("the decorator has arguments")
    problem = _no_grad_problem(tree, func, returns_ok=True)
    if problem:
        return Decline(problem.replace("the block", "the function"))
    inputs = {p.name.value for p in [*func.params.posonly_params, *func.params.params, *func.params.kwonly_params]}
    returns = [n for n in walk(func.body) if isinstance(n, cst.Return) and n.value is not None]
    passthrough = [tree.code(r.value) for r in returns if (isinstance(r.value, cst.Name) and r.value.value in inputs)
                   or _self_chain(r.value) is not None]
    if passthrough:
        return Decline(f"it returns `{passthrough[0]}` unchanged, which no_grad leaves as it is and `.detach()` "
                       "would not: detach what it computes by hand")
    wrapped = wrapped_names(tree)
    opaque = [tree.code(r.value) for r in returns if isinstance(r.value, cst.Call)
              and tree.code(r.value.func) in wrapped]
    if opaque:
        return Decline(f"it returns `{opaque[0]}`, a `@torch.fx.wrap` function that may hand back an input "
                       "unchanged: detach what it computes by hand")
    helper, definition = _detached_helper(tree)
    replacements: Dict[cst.CSTNode, object] = {node: cst.RemovalSentinel.REMOVE}
    replacements.update({r: r.with_changes(value=cst.parse_expression(f"{helper}(x)").with_changes(
        args=[cst.Arg(value=paren(r.value) if isinstance(r.value, cst.Tuple) else r.value)])) for r in returns})
    hoisted = (tree.top_level(func), definition) if definition is not None else None
    return Plan(f"Drop `@{tree.code(expr)}` and detach what `{func.name.value}` returns", UNSAFE, replacements,
                [d], frozenset({"torch"}), hoisted)


def _detached_helper(tree: Tree) -> "Tuple[str, Optional[cst.FunctionDef]]":
    """The name of the module's `_fx_detached` helper, and its definition when it must be added
    (an earlier round may have added it; two plans of one round add the same text, added once)."""
    taken = tree.names()
    for stmt in tree.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value.startswith("_fx_detached") \
                and tree.code(stmt) == tree.code(_detached_def(stmt.name.value)):
            return stmt.name.value, None
    name = unique_name("_fx_detached", taken)
    return name, _detached_def(name)


def _detached_def(name: str) -> cst.FunctionDef:
    body = [cst.parse_statement(line) for line in (
        "if isinstance(value, torch.Tensor):\n    return value.detach()\n",
        f"if type(value) in (tuple, list):\n    return type(value)({name}(v) for v in value)\n",
        f"if isinstance(value, tuple) and hasattr(value, \"_fields\"):\n"
        f"    return type(value)(*[{name}(v) for v in value])\n",
        f"if type(value) is dict:\n    return {{k: {name}(v) for k, v in value.items()}}\n",
        "return value\n")]
    doc = ("Added by `fxlint fix` (TRC505) in place of a no_grad decorator: what the function returns,\n"
           "    with every tensor detached (also inside tuples, lists and dicts); FX records one call.\n    ")
    return wrapped_def(name, ["value"], body, doc)


def _no_grad_problem(tree: Tree, node: cst.CSTNode, returns_ok: bool = False) -> str:
    for n in walk(node.body):
        if isinstance(n, (cst.Return, cst.Yield, cst.Global, cst.Nonlocal, cst.FunctionDef, cst.Lambda)) \
                and not (returns_ok and isinstance(n, cst.Return)):
            return "the block returns, yields or defines functions: detach its results by hand"
        if isinstance(n, cst.AugAssign) or (isinstance(n, (cst.Attribute, cst.Subscript))
                                             and tree.contexts.get(n) == ExpressionContext.STORE):
            return "the block updates values in place, which no_grad allows on leaves: keep it outside the graph"
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value.endswith("_") \
                and not n.func.attr.value.startswith("_"):
            return "the block calls an in-place method, which no_grad allows on leaves"
        if isinstance(n, cst.AssignTarget) and not isinstance(n.target, (cst.Name, cst.Tuple)):
            return "the block assigns something other than names"
    return ""


def _bound_in(tree: Tree, node: cst.CSTNode) -> List[str]:
    out: List[str] = []
    for n in walk(node):
        if isinstance(n, cst.Name) and tree.contexts.get(n) == ExpressionContext.STORE and n.value not in out:
            out.append(n.value)
    return out


def _read_after(tree: Tree, func: cst.FunctionDef, node: cst.CSTNode) -> Set[str]:
    end = tree.end(node)
    looped = tree.in_loop_within(node, func)
    return {n.value for n in walk(func.body) if isinstance(n, cst.Name)
            and tree.contexts.get(n) == ExpressionContext.LOAD and (looped or tree.start(n) >= end)}


# ---------------------------------------------------------------------------------------- TRC503
def buffer_update_in_place(tree: Tree, d: Diagnostic) -> Outcome:
    """`self.b += v` / `self.b = expr` / `self.b.add_(v)` on a registered buffer -> a wrapped call
    `_fx_update_forward_N(x, b=self.b, ...)` that updates the buffer in place on every call."""
    anchor_node = tree.deepest_at(d.location.row, d.location.column)
    stmt = tree.statement(anchor_node) if anchor_node is not None else None
    if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
        return None
    small = stmt.body[0]
    buffers = _registered_buffers(tree, stmt)
    target = _buffer_target(small)
    if target is None:
        return Decline("only `self.<buffer> op= v`, `self.<buffer> = v` and `self.<buffer>.<op>_(...)` statements "
                       "are moved; keep the state in a registered buffer updated in place")
    if target not in buffers:
        return Decline(f"`self.{target}` is a plain Python attribute, not a registered buffer (a tensor in its "
                       "place changes every Python expression that reads it): by hand, register it in __init__ "
                       "(`self.register_buffer("
                       f"\"{target}\", torch.zeros(()), persistent=False)`), update it in place "
                       f"(`self.{target}.add_(1)`, which `fxlint fix --unsafe-fixes` then records), and compute what "
                       "reads it with tensor ops (`torch.clamp` for `min`/`max`, `torch.pow` for `**`)")
    anchor = _forward_anchor(tree, stmt)
    if isinstance(anchor, Decline):
        return anchor
    func, anchor_name = anchor
    hidden = [tree.code(n.func) for n in walk(small) if isinstance(n, cst.Call) and _calls_module(n.func, buffers)]
    if hidden:
        return Decline(f"the update calls {', '.join(hidden)}: moving it would hide it from quantization")
    if not _only_ifs_between(tree, stmt, func):
        return Decline("the update sits inside a loop, `with` or `try`: move it to forward()'s own body by hand")
    params = _Params(tree, _module_names(tree), {anchor_name})
    new_small = _in_place(params.rewrite(small))
    taken = tree.names()
    name = unique_name(f"_fx_update_{func.name.value}_{d.location.row}", taken)
    names = [params.by_text[t] for t in params.order if params.by_text[t] != anchor_name]
    positional = [anchor_name] + [params.by_text[t] for t in params.order
                                  if t.startswith("self.") and t.split(".", 1)[1] in buffers]
    keyword = [n for n in names if n not in positional]
    texts = {v: k for k, v in params.by_text.items()}
    args = ", ".join(positional[:1] + [texts[p] for p in positional[1:]] + [f"{k}={texts[k]}" for k in keyword])
    inner = params.by_text.get(f"self.{target}", target)
    doc = (f"Moved from `{tree.label_of(func)}` by `fxlint fix` (TRC503): updates buffer `{target}` in place\n"
           f"    on every call and returns it; `{anchor_name}` makes FX record the call.\n    ")
    body = [cst.SimpleStatementLine(body=[new_small]), cst.parse_statement(f"return {inner}\n")]
    definition = wrapped_def(name, positional + keyword, body, doc)
    # later reads use the returned buffer: a read with no Proxy in it would be computed once while
    # tracing and stored as a constant (the buffer's value before any update)
    reads = _later_reads(tree, func, stmt, target)
    if any(tree.block_of(tree.statement(r)) is not tree.block_of(stmt) and not _in_block(tree, r, tree.block_of(stmt))
           for r in reads):
        return Decline(f"`self.{target}` is read after the `if` that updates it: move the update to forward()'s "
                       "own body by hand")
    in_scope = {n.value for n in walk(func) if isinstance(n, cst.Name) and tree.contexts.get(n) is not None}
    local = unique_name(target, in_scope | _module_names(tree) | {name}) if reads else ""
    text = f"{local} = {name}({args})\n" if reads else f"{name}({args})\n"
    replacements: Dict[cst.CSTNode, object] = {stmt: cst.parse_statement(text).with_changes(
        leading_lines=stmt.leading_lines)}
    replacements.update({r: cst.Name(local, lpar=r.lpar, rpar=r.rpar) for r in reads})
    return Plan(f"Update buffer `self.{target}` in place in `@torch.fx.wrap` `{name}`", UNSAFE, replacements,
                [d], frozenset({"torch"}), (tree.top_level(func), definition))


def _later_reads(tree: Tree, func: cst.FunctionDef, stmt: cst.CSTNode, target: str) -> List[cst.Attribute]:
    """`self.<target>` read after ``stmt`` in ``func`` (stores, nested functions and the other
    branches of the `if`s around ``stmt``, which never run after it, excluded)."""
    end = tree.end(stmt)
    exclusive = [a.orelse for a in tree.ancestors(stmt) if isinstance(a, cst.If) and a.orelse is not None
                 and tree.contains(a.body, stmt)]
    return [n for n in walk(func.body) if isinstance(n, cst.Attribute) and _self_chain(n) == f"self.{target}"
            and tree.start(n) >= end and tree.contexts.get(n) == ExpressionContext.LOAD
            and tree.function_of(n) is func and not any(tree.contains(e, n) for e in exclusive)]


def _only_ifs_between(tree: Tree, stmt: cst.CSTNode, func: cst.FunctionDef) -> bool:
    """Is ``stmt`` in forward()'s body or in `if`/`else` branches only? The wrapped call then runs
    exactly when the update did (the branch conditions are Python values fixed while tracing, or
    other findings)."""
    for anc in tree.ancestors(stmt):
        if anc is func:
            return True
        if not isinstance(anc, (cst.IndentedBlock, cst.If, cst.Else)):
            return False
    return False


def _in_block(tree: Tree, node: cst.CSTNode, block: cst.CSTNode) -> bool:
    return any(a is block for a in tree.ancestors(node))


def _buffer_target(small: cst.BaseSmallStatement) -> Optional[str]:
    """The buffer name a simple update statement writes, or None for any other shape."""
    if isinstance(small, cst.AugAssign):
        return _one_attr(small.target)
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        return _one_attr(small.targets[0].target)
    if isinstance(small, cst.Expr):
        receiver = _in_place_receiver(small.value)
        return _one_attr(receiver) if receiver is not small.value else None
    return None


def _in_place_receiver(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`self.b` in `self.b.mul_(m).add_(v)`: the receiver of a chain of in-place method calls."""
    while isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value.endswith("_") and not expr.func.attr.value.startswith("_"):
        expr = expr.func.value
    return expr


def _one_attr(expr: cst.BaseExpression) -> Optional[str]:
    chain = _self_chain(expr)
    return chain.split(".")[1] if chain is not None and chain.count(".") == 1 else None


def _in_place(small: cst.BaseSmallStatement) -> cst.BaseSmallStatement:
    """`b = expr` -> `b.copy_(expr)`; `b += v` and `b.add_(v)` already update the tensor in place."""
    if isinstance(small, cst.Assign):
        target = small.targets[0].target
        return cst.Expr(cst.Call(func=cst.Attribute(value=target, attr=cst.Name("copy_")),
                                 args=[cst.Arg(value=small.value)]))
    return small


def _calls_module(func: cst.BaseExpression, buffers: Set[str]) -> bool:
    """A call that may run a submodule: `self.x(...)`, or a method of a non-buffer `self.x`."""
    chain = _self_chain(func)
    if chain is None:
        return False
    parts = chain.split(".")
    return len(parts) == 2 or parts[1] not in buffers


def _registered_buffers(tree: Tree, node: cst.CSTNode) -> Set[str]:
    """Names registered with `self.register_buffer("name", ...)` in the enclosing class's methods."""
    cls = next((a for a in tree.ancestors(node) if isinstance(a, cst.ClassDef)), None)
    out: Set[str] = set()
    if cls is None:
        return out
    for n in walk(cls):
        if isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and n.func.attr.value == "register_buffer" \
                and _self_chain(n.func.value) is None and isinstance(n.func.value, cst.Name) \
                and n.func.value.value == "self" and n.args and isinstance(n.args[0].value, cst.SimpleString):
            out.add(n.args[0].value.evaluated_value)
    return out


# ---------------------------------------------------------------------------------------- TRC502
def tensor_branch(tree: Tree, d: Diagnostic, pinned_tensor: bool = False) -> Outcome:
    """`if isinstance(x, torch.Tensor): A [else: B]` -> A when `x` is proven a tensor in eager mode,
    B when it is proven not one (fxlint.fix.eager: an annotated `Tensor` input, a torch op's result;
    `*args`, a display, `None`); otherwise declined: a traced Proxy says nothing about what callers
    pass, and keeping the tensor branch would change what a list or `None` input gets.
    ``pinned_tensor``: the user named the input's type (`--pin Net.forward.x=Tensor`, fxlint/fix/pin.py)."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is not None and tree.code(node.func) == "hasattr":
        return _hasattr_branch(tree, node, d)
    if node is None or tree.code(node.func) not in ("isinstance", "torch.is_tensor"):
        return None
    subject = node.args[0].value
    func = tree.function_of(node)
    if _tuple_check(tree, node, func):
        # TRC502 reports a tuple check on a computed value only for a tuple-returning nn leaf
        # (MultiheadAttention, LSTM, ...): at run time the answer is True
        return _keep_branch(tree, node, d, f"Keep the branch the tuple output of `{tree.code(subject)}` takes",
                            func, subject, check_reassigned=False)
    if tree.code(node.func) == "isinstance" and len(node.args) == 2 \
            and tree.code(node.args[1].value) in CONTAINER_TYPES:
        return _not_a_container(tree, node, d, func, subject, pinned_tensor)
    if tree.code(node.func) == "isinstance" and (len(node.args) != 2 or tree.code(node.args[1].value)
                                                  not in TENSOR_TYPES):
        return Decline("only `isinstance(x, torch.Tensor)` has a known answer for tensor inputs")
    kind = EagerKind.TENSOR if pinned_tensor else eager_kind(tree, func, subject)
    if kind is EagerKind.UNKNOWN:
        from fxlint.fix.pin import pin_key, pin_option

        key = pin_key(d)
        how = f"; if the deployed model only gets tensors, pin its type with {pin_option(key, 'Tensor')}" if key else ""
        return Decline(not_proven(tree, func, subject, EagerKind.TENSOR) + "; which branch it takes is not known" + how)
    what = "a tensor" if kind is EagerKind.TENSOR else "a non-tensor"
    return _keep_branch(tree, node, d, f"Keep the branch {what} `{tree.code(subject)}` takes", func, subject,
                        check_reassigned=False, answer=kind is EagerKind.TENSOR)


def _not_a_container(tree: Tree, node: cst.Call, d: Diagnostic, func, subject, pinned: bool = False) -> Outcome:
    """`isinstance(x, dict)` where `x` is proven a tensor in eager mode -> False, the answer tracing
    gives too (a Proxy is no dict either): the `if` keeps its other branch, an expression gets
    `False`. An input annotated `Union[torch.Tensor, Dict[...]]` (timm NaFlexViT's `input_is_dict`)
    may really be a dict: the container path exists in eager mode, so only a type pin the user names
    (`--pin Net.forward.x=Tensor`) takes it away; otherwise manual work naming that option."""
    from fxlint.fix.pin import pin_key, pin_option

    kind = tree.code(node.args[1].value)
    if pinned:
        param = _forward_param(func, subject)
        if param is None:
            return Decline("the checked value is not a forward() input: its type is not known")
        if _reassigned(tree, func, subject.value, node):
            return Decline(f"`{subject.value}` is reassigned before the check")
        title = f"Keep the answer for a tensor `{subject.value}` (pinned by `--pin {pin_key(d)}=Tensor`): not a {kind}"
    elif eager_kind(tree, func, subject) is EagerKind.TENSOR:
        title = f"Keep the answer for a tensor `{tree.code(subject)}`: not a {kind}"
    else:
        key = pin_key(d)
        how = f"pin its type with {pin_option(key, 'Tensor')}" if key else "pin the input type by hand"
        return Decline(not_proven(tree, func, subject, EagerKind.TENSOR) +
                       f"; a container input would lose its branch: if the deployed model only gets tensors, {how}")
    parent = tree.parents.get(node)
    if isinstance(parent, cst.If) and parent.test is node or isinstance(parent, cst.UnaryOperation):
        outcome = _keep_branch(tree, node, d, title, func, subject, check_reassigned=False, answer=False)
        if isinstance(outcome, Plan):
            return outcome
    return Plan(title, UNSAFE, {node: cst.Name("False", lpar=node.lpar, rpar=node.rpar)}, [d])


def _forward_param(func, subject) -> Optional[cst.Param]:
    if func is None or func.name.value != "forward" or not isinstance(subject, cst.Name):
        return None
    return next((p for p in func.params.params if p.name.value == subject.value), None)


def _hasattr_branch(tree: Tree, node: cst.Call, d: Diagnostic) -> Outcome:
    """`if hasattr(x, "name"): A [else: B]` on a forward() input: a Proxy has every attribute, so
    tracing always takes A; a tensor `x` has `name` only when `torch.Tensor` does (the generated
    `dir(torch.Tensor)` list), so the branch a tensor takes is kept: B for `.tensors` (an ImageList
    unwrapped), A for `.shape`. Proof obligation: `x` is a tensor in eager mode (fxlint.fix.eager);
    an unannotated input may be an ImageList. Blind spot: attributes set on a tensor instance at run
    time."""
    func = tree.function_of(node)
    if len(node.args) != 2 or not isinstance(node.args[1].value, cst.SimpleString):
        return Decline("`hasattr` with a computed name: its answer for a tensor is not known")
    subject, name = node.args[0].value, node.args[1].value.evaluated_value
    if eager_kind(tree, func, subject) is not EagerKind.TENSOR:
        return Decline(not_proven(tree, func, subject, EagerKind.TENSOR) + "; its answer is not known")
    if not isinstance(subject, cst.Name):
        return Decline("`hasattr` of an expression: keep the check")
    has = name in TENSOR_ATTRIBUTES
    title = f"Keep the branch a tensor `{subject.value}` takes (`torch.Tensor` has {'' if has else 'no '}`{name}`)"
    return _keep_branch(tree, node, d, title, func, subject, answer=has)


#: spellings of a tuple type check whose answer is True for a leaf module's tuple output
TUPLE_TYPES = ("tuple", "(tuple, list)", "(list, tuple)", "(tuple,)")


def _tuple_check(tree: Tree, node: cst.Call, func) -> bool:
    """`isinstance(out, tuple)` where `out` is a local name assigned from a `self.<submodule>(...)` call."""
    if func is None or tree.code(node.func) != "isinstance" or len(node.args) != 2:
        return False
    subject = node.args[0].value
    if tree.code(node.args[1].value) not in TUPLE_TYPES or not isinstance(subject, cst.Name):
        return False
    if subject.value in {p.name.value for p in func.params.params}:
        return False
    return any(isinstance(n, cst.Assign) and isinstance(n.value, cst.Call) and tree.code(n.value.func).startswith("self.")
               and any(isinstance(t.target, cst.Name) and t.target.value == subject.value for t in n.targets)
               for n in walk(func.body))


def _keep_branch(tree: Tree, node: cst.Call, d: Diagnostic, title: str, func, subject,
                 check_reassigned: bool = True, answer: bool = True) -> Outcome:
    """Replace the `if` whose whole condition is ``node`` (or `not node`) by the branch ``answer`` takes."""
    test: cst.CSTNode = node
    parent = tree.parents.get(node)
    negated = isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not)
    if negated:
        test, parent = parent, tree.parents.get(parent)
    if not isinstance(parent, cst.If) or parent.test is not test or isinstance(tree.parents.get(parent), cst.If):
        return Decline("the type check is not the whole condition of an `if`")
    if parent.orelse is not None and not isinstance(parent.orelse, cst.Else):
        return Decline("an `elif` chain: pin the branch by hand")
    if check_reassigned and _reassigned(tree, func, subject.value, parent):
        return Decline(f"`{subject.value}` is reassigned before the check")
    takes_body = answer != negated
    kept = parent.body if takes_body else (parent.orelse.body if parent.orelse is not None else None)
    if kept is None:
        return Plan(title, UNSAFE, {parent: cst.RemovalSentinel.REMOVE}, [d])
    body = list(kept.body)
    body[0] = body[0].with_changes(leading_lines=[*parent.leading_lines, *body[0].leading_lines])
    return Plan(title, UNSAFE, {parent: cst.FlattenSentinel(body)}, [d])


def _reassigned(tree: Tree, func: cst.FunctionDef, name: str, before: cst.CSTNode) -> bool:
    limit = tree.start(before)
    return any(isinstance(n, cst.Name) and n.value == name and tree.contexts.get(n) == ExpressionContext.STORE
               and tree.start(n) < limit for n in walk(func.body))
