"""Definite assignment for hoist regions: which names a run of statements reads before writing them,
which it binds on every path, which only on some, and which names are definitely bound when control
reaches a given statement of a function.

Rope's Extract Method collects the same four sets (prewritten, read, written/maybe-written, postread),
but its "prewritten" is *some* earlier write. A hoist needs the path-aware version: a name bound only
in another branch is not bound at the region's entry, and passing it to the wrapped function raises
`UnboundLocalError` in eager on the path that skipped the binding (measured on transformers, issue 16).

The analysis is a forward pass over the LibCST statements with one state: the set of names
definitely bound (``None`` when the point is unreachable: after `return`, `raise`, `break`,
`continue`). Joins intersect. Loops run zero or more times (their body is analysed twice, the second
time from the join of entry and body exit, so a `del` in the body is seen at its top). `try` handlers
start from what was bound before the `try` minus what the body may delete; `finally` runs after the
normal paths. Comprehension targets stay in their own scope; a nested function or lambda reads its
free names (counted as read where it is defined). Walrus targets bind the enclosing function's name,
definitely only when the walrus is not under a short-circuit, conditional expression or comprehension.

Declined (``Flow.problem``): `global`/`nonlocal`, `match`, star-imports, nested classes.
Blind spots: names are function locals only (a read of a global that the function never binds is not
a parameter); `exec`/`locals()` tricks are not seen; an exception raised inside an expression is
assumed to leave the region (so it never makes a name look bound).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

State = Optional[FrozenSet[str]]  #: names definitely bound; None: unreachable


def _join(a: State, b: State) -> State:
    if a is None:
        return b
    if b is None:
        return a
    return a & b


@dataclass(frozen=True)
class Flow:
    """What a run of statements does to names, analysed with nothing bound at its start."""

    reads: Tuple[str, ...]  #: names read at some point where the statements had not surely bound them yet
    must: FrozenSet[str]  #: bound on every path that leaves the statements normally
    may: FrozenSet[str]  #: bound or deleted on some path
    problem: str = ""  #: why the statements cannot be analysed (then the other fields mean nothing)


class _Analysis:
    """One forward pass. ``record``: collect the entry state of every statement in ``entries``."""

    def __init__(self, record: bool = False) -> None:
        self.record = record
        #: statement -> (names definitely bound at every arrival (joined), names bound on some path
        #: before some arrival: so far in source order, and on the second pass of an enclosing loop
        #: the ones its body binds after the statement; an over-approximation)
        self.entries: Dict[cst.CSTNode, Tuple[State, Set[str]]] = {}
        self.reads: List[str] = []
        self.may: Set[str] = set()
        self.deleted: Set[str] = set()
        self.problem = ""
        self.loops: List[Tuple[List[State], List[State]]] = []  #: per loop: (break states, continue states)

    # ------------------------------------------------------------------ statements
    def block(self, stmts: Sequence[cst.CSTNode], state: State) -> State:
        for stmt in stmts:
            state = self.statement(stmt, state)
        return state

    def body(self, suite: cst.BaseSuite, state: State) -> State:
        if isinstance(suite, cst.IndentedBlock):
            return self.block(suite.body, state)
        return self.block([suite], state)  # SimpleStatementSuite: `if c: x = 1`

    def statement(self, stmt: cst.CSTNode, state: State) -> State:
        if self.record:
            at, maybe = self.entries.get(stmt, (None, set()))
            maybe |= self.may | (state or frozenset())
            self.entries[stmt] = (state if at is None else _join(at, state), maybe)
        if state is None:
            return None  # unreachable code binds nothing that matters
        handler = getattr(self, "_" + type(stmt).__name__, None)
        if handler is None:
            self.problem = self.problem or f"`{type(stmt).__name__}` statements are not analysed"
            return state
        return handler(stmt, state)

    def _SimpleStatementLine(self, stmt: cst.SimpleStatementLine, state: State) -> State:
        return self.block(stmt.body, state)

    def _SimpleStatementSuite(self, stmt: cst.SimpleStatementSuite, state: State) -> State:
        return self.block(stmt.body, state)

    def _Expr(self, stmt: cst.Expr, state: State) -> State:
        return self.expr(stmt.value, state)

    def _Assign(self, stmt: cst.Assign, state: State) -> State:
        state = self.expr(stmt.value, state)
        for target in stmt.targets:
            state = self.bind_target(target.target, state)
        return state

    def _AnnAssign(self, stmt: cst.AnnAssign, state: State) -> State:
        if stmt.value is None:
            return state  # `x: int` alone binds nothing
        return self.bind_target(stmt.target, self.expr(stmt.value, state))

    def _AugAssign(self, stmt: cst.AugAssign, state: State) -> State:
        state = self.expr(stmt.value, state)
        if isinstance(stmt.target, cst.Name):
            self.read(stmt.target.value, state)
            return self.bind(stmt.target.value, state)
        return self.expr(stmt.target, state)

    def _Return(self, stmt: cst.Return, state: State) -> State:
        if stmt.value is not None:
            self.expr(stmt.value, state)
        return None

    def _Raise(self, stmt: cst.Raise, state: State) -> State:
        for part in (stmt.exc, stmt.cause):
            if part is not None:
                self.expr(part, state)
        return None

    def _Assert(self, stmt: cst.Assert, state: State) -> State:
        state = self.expr(stmt.test, state)
        if stmt.msg is not None:
            self.expr(stmt.msg, state, conditional=True)
        return state

    def _Pass(self, stmt, state: State) -> State:
        return state

    def _Break(self, stmt, state: State) -> State:
        if self.loops:
            self.loops[-1][0].append(state)
        return None

    def _Continue(self, stmt, state: State) -> State:
        if self.loops:
            self.loops[-1][1].append(state)
        return None

    def _Del(self, stmt: cst.Del, state: State) -> State:
        return self.unbind_target(stmt.target, state)

    def _Import(self, stmt: cst.Import, state: State) -> State:
        for alias in stmt.names:
            if alias.asname is not None:
                state = self.bind_target(alias.asname.name, state)
            else:
                root = alias.name
                while isinstance(root, cst.Attribute):
                    root = root.value
                state = self.bind(root.value, state)
        return state

    def _ImportFrom(self, stmt: cst.ImportFrom, state: State) -> State:
        if isinstance(stmt.names, cst.ImportStar):
            self.problem = self.problem or "a star import"
            return state
        for alias in stmt.names:
            name = alias.asname.name if alias.asname is not None else alias.name
            state = self.bind_target(name, state)
        return state

    def _Global(self, stmt, state: State) -> State:
        self.problem = self.problem or "`global`/`nonlocal` names"
        return state

    _Nonlocal = _Global

    def _ClassDef(self, stmt, state: State) -> State:
        self.problem = self.problem or "a nested class"
        return state

    def _FunctionDef(self, stmt: cst.FunctionDef, state: State) -> State:
        for deco in stmt.decorators:
            state = self.expr(deco.decorator, state)
        state = self.params_defaults(stmt.params, state)
        self.free_reads(stmt, state)
        return self.bind(stmt.name.value, state)

    def _If(self, stmt: cst.If, state: State) -> State:
        state = self.expr(stmt.test, state)
        then = self.body(stmt.body, state)
        if stmt.orelse is None:
            other = state
        elif isinstance(stmt.orelse, cst.If):
            other = self.statement(stmt.orelse, state)
        else:
            other = self.body(stmt.orelse.body, state)
        return _join(then, other)

    def _While(self, stmt: cst.While, state: State) -> State:
        return self.loop(stmt, state, head=lambda s: self.expr(stmt.test, s))

    def _For(self, stmt: cst.For, state: State) -> State:
        state = self.expr(stmt.iter, state)
        return self.loop(stmt, state, head=lambda s: self.bind_target(stmt.target, s), head_binds=True)

    def loop(self, stmt, state: State, head, head_binds: bool = False) -> State:
        """Zero or more runs of the body; `else` runs when the loop ends without `break`."""
        entry = state if head_binds else head(state)
        top = entry
        for _ in range(2):
            self.loops.append(([], []))
            body_entry = head(top) if head_binds else top
            end = self.body(stmt.body, body_entry)
            breaks, continues = self.loops.pop()
            back = end
            for s in continues:
                back = _join(back, s)
            # the loop head is reached from the entry and from the end of every run of the body
            top = _join(entry, back if head_binds else (head(back) if back is not None else None))
        exhausted = top
        after = self.body(stmt.orelse.body, exhausted) if stmt.orelse is not None else exhausted
        for s in breaks:
            after = _join(after, s)
        return after

    def _Try(self, stmt: cst.Try, state: State) -> State:
        return self.try_(stmt, state, stmt.handlers)

    def _TryStar(self, stmt, state: State) -> State:
        return self.try_(stmt, state, stmt.handlers)

    def try_(self, stmt, state: State, handlers) -> State:
        before = set(self.deleted)
        body_end = self.body(stmt.body, state)
        deleted = self.deleted - before
        normal = self.body(stmt.orelse.body, body_end) if stmt.orelse is not None else body_end
        # an exception may leave the body at any point: a handler sees what was bound before it
        failed: State = frozenset(state - deleted) if state is not None else None
        for handler in handlers:
            h_state = failed
            if handler.type is not None:
                h_state = self.expr(handler.type, h_state)
            name = handler.name.name if handler.name is not None else None
            if isinstance(name, cst.Name):
                h_state = self.bind(name.value, h_state)
            h_end = self.body(handler.body, h_state)
            if isinstance(name, cst.Name) and h_end is not None:
                h_end = h_end - {name.value}  # Python deletes the `as` name when the handler ends
            normal = _join(normal, h_end)
        if stmt.finalbody is None:
            return normal
        self.body(stmt.finalbody.body, failed)  # the exceptional path: reads checked against little
        return self.body(stmt.finalbody.body, normal) if normal is not None else None

    def _With(self, stmt: cst.With, state: State) -> State:
        for item in stmt.items:
            state = self.expr(item.item, state)
            if item.asname is not None:
                state = self.bind_target(item.asname.name, state)
        # a context manager may swallow an exception: names bound in the body are then unbound
        # after it. Torch's managers (no_grad, autocast) do not, so the body is trusted.
        return self.body(stmt.body, state)

    def _Match(self, stmt, state: State) -> State:
        self.problem = self.problem or "a `match` statement"
        return state

    # ------------------------------------------------------------------ expressions
    def expr(self, node: cst.CSTNode, state: State, conditional: bool = False,
             local: FrozenSet[str] = frozenset()) -> State:
        """Reads of ``node`` in evaluation order; returns the state after it (walrus binds)."""
        if state is None:
            return None
        if isinstance(node, cst.Name):
            if node.value not in local:
                self.read(node.value, state)
            return state
        if isinstance(node, cst.NamedExpr):
            state = self.expr(node.value, state, conditional, local)
            name = node.target.value if isinstance(node.target, cst.Name) else ""
            self.may.add(name)
            return state if conditional else state | {name}
        if isinstance(node, cst.Attribute):
            return self.expr(node.value, state, conditional, local)
        if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
            return self.comprehension(node, state, local)
        if isinstance(node, cst.Lambda):
            state = self.params_defaults(node.params, state)
            self.free_reads(node, state, local)
            return state
        if isinstance(node, cst.BooleanOperation):
            state = self.expr(node.left, state, conditional, local)
            self.expr(node.right, state, True, local)
            return state
        if isinstance(node, cst.IfExp):
            state = self.expr(node.test, state, conditional, local)
            self.expr(node.body, state, True, local)
            self.expr(node.orelse, state, True, local)
            return state
        if isinstance(node, cst.Arg) and node.keyword is not None:
            return self.expr(node.value, state, conditional, local)
        for child in node.children:
            state = self.expr(child, state, conditional, local)
        return state

    def comprehension(self, node, state: State, local: FrozenSet[str]) -> State:
        """The first iterable is read outside; targets are local to the comprehension."""
        fors: List[cst.CompFor] = []
        clause = node.for_in
        while clause is not None:
            fors.append(clause)
            clause = clause.inner_for_in
        inner = set(local)
        for i, comp in enumerate(fors):
            self.expr(comp.iter, state, True, frozenset(inner) if i else local)
            inner |= _target_names(comp.target)
            for cond in comp.ifs:
                self.expr(cond.test, state, True, frozenset(inner))
        elements = [node.key, node.value] if isinstance(node, cst.DictComp) else [node.elt]
        for element in elements:
            self.expr(element, state, True, frozenset(inner))
        return state

    def params_defaults(self, params: cst.Parameters, state: State) -> State:
        for p in [*params.posonly_params, *params.params, *params.kwonly_params]:
            if p.default is not None:
                state = self.expr(p.default, state)
        return state

    def free_reads(self, func, state: State, local: FrozenSet[str] = frozenset()) -> None:
        """A nested function or lambda reads its free names when called; counted at its definition."""
        inner = _Analysis()
        entry = frozenset(set(local) | _param_names(func.params) | _stored_names(func.body))
        if isinstance(func, cst.Lambda):
            inner.expr(func.body, entry)
        else:
            inner.body(func.body, entry)
        if inner.problem:
            self.problem = self.problem or inner.problem
        for name in inner.reads:
            self.read(name, state)

    # ------------------------------------------------------------------ names
    def read(self, name: str, state: State) -> None:
        if state is not None and name not in state and name not in self.reads:
            self.reads.append(name)

    def bind(self, name: str, state: State) -> State:
        self.may.add(name)
        return None if state is None else state | {name}

    def bind_target(self, target: cst.CSTNode, state: State) -> State:
        if isinstance(target, cst.Name):
            return self.bind(target.value, state)
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                state = self.bind_target(element.value, state)
            return state
        if isinstance(target, cst.StarredElement):
            return self.bind_target(target.value, state)
        return self.expr(target, state)  # `x[i] = v`, `x.a = v`: reads x

    def unbind_target(self, target: cst.CSTNode, state: State) -> State:
        if isinstance(target, cst.Name):
            self.read(target.value, state)
            self.may.add(target.value)
            self.deleted.add(target.value)
            return None if state is None else state - {target.value}
        if isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                state = self.unbind_target(element.value, state)
            return state
        return self.expr(target, state)  # `del x[i]`


def _walk(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(current.children)


def _target_names(target: cst.CSTNode) -> Set[str]:
    return {n.value for n in _walk(target) if isinstance(n, cst.Name)}


def _param_names(params: cst.Parameters) -> Set[str]:
    out = {p.name.value for p in [*params.posonly_params, *params.params, *params.kwonly_params]}
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            out.add(star.name.value)
    return out


def _stored_names(body: cst.CSTNode) -> Set[str]:
    """Names a nested function binds itself (its locals): assignment, loop, with and import targets."""
    out: Set[str] = set()
    for node in _walk(body):
        if isinstance(node, cst.Assign):
            for t in node.targets:
                out |= _plain_targets(t.target)
        elif isinstance(node, (cst.AnnAssign, cst.AugAssign)):
            out |= _plain_targets(node.target)
        elif isinstance(node, (cst.For, cst.CompFor)):
            out |= _plain_targets(node.target)
        elif isinstance(node, cst.AsName):
            out |= _plain_targets(node.name)
        elif isinstance(node, cst.NamedExpr):
            out |= _plain_targets(node.target)
        elif isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            out.add(node.name.value)
            if isinstance(node, cst.FunctionDef):
                out |= _param_names(node.params)
        elif isinstance(node, cst.Lambda):
            out |= _param_names(node.params)
    return out


def _plain_targets(target: cst.CSTNode) -> Set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        return {n for e in target.elements for n in _plain_targets(e.value)}
    if isinstance(target, cst.StarredElement):
        return _plain_targets(target.value)
    return set()


# ---------------------------------------------------------------------------------------- entry
def flow(stmts: Sequence[cst.CSTNode]) -> Flow:
    """What ``stmts`` read before binding, bind on every normal path, and bind on some path."""
    analysis = _Analysis()
    end = analysis.block(stmts, frozenset())
    must = frozenset(analysis.may) if end is None else end  # no normal exit: vacuously everything
    return Flow(tuple(analysis.reads), frozenset(must), frozenset(analysis.may), analysis.problem)


def bound_at(func: cst.FunctionDef, stmt: cst.CSTNode) -> Tuple[FrozenSet[str], FrozenSet[str], str]:
    """(names definitely bound whenever control reaches ``stmt``, names that may be bound then (a
    superset), a problem or ""). ``stmt``: a statement of ``func``'s body (any depth, not inside a
    nested function)."""
    analysis, params = _entries(func)
    if stmt not in analysis.entries:
        return frozenset(), params, analysis.problem or "the region is not reached by the analysis"
    at, maybe = analysis.entries[stmt]
    return (at or frozenset()), params | frozenset(maybe), analysis.problem


#: func -> its pass with every statement's entry state: a hoist asks for each candidate region (one
#: pass per region was 40% of fixing x-transformers' 5,000-line module). The last few functions only:
#: keyed by the node itself, so an entry keeps its tree alive until it is pushed out.
_ENTRIES: "OrderedDict[cst.FunctionDef, Tuple[_Analysis, FrozenSet[str]]]" = OrderedDict()
_MAX_ENTRIES = 16


def _entries(func: cst.FunctionDef) -> Tuple[_Analysis, FrozenSet[str]]:
    found = _ENTRIES.get(func)
    if found is None:
        analysis = _Analysis(record=True)
        params = frozenset(_param_names(func.params))
        analysis.body(func.body, params)
        found = _ENTRIES[func] = (analysis, params)
        while len(_ENTRIES) > _MAX_ENTRIES:
            _ENTRIES.popitem(last=False)
    return found


@dataclass(frozen=True)
class Interface:
    """How a region hoisted into a function talks to its surroundings (names in first-read order)."""

    params: Tuple[str, ...]  #: read before the region binds them, or handed back after some paths: passed in
    outputs: Tuple[str, ...]  #: bound (or changed in place) in the region and read after it: handed back
    #: names read in the region that are bound on some paths into it only: widen or decline
    maybe_unbound: Tuple[str, ...] = ()
    #: outputs bound on some paths through the region only, and not surely bound before it
    partial_outputs: Tuple[str, ...] = ()
    problem: str = ""


def interface(func: cst.FunctionDef, stmts: Sequence[cst.CSTNode], read_after: Set[str],
              changed: Set[str] = frozenset()) -> Interface:
    """Parameters and outputs of ``stmts`` (a run of statements of ``func``) as a hoisted function.

    ``read_after``: names read after the region (textually later, or anywhere when the region is in
    a loop). ``changed``: names the region mutates in place (`xs.append(v)`), handed back like bound
    ones. A name read in the region that the function never binds is a global and stays free."""
    region = flow(stmts)
    entry, possible, problem = bound_at(func, stmts[0])
    problem = region.problem or problem
    if problem:
        return Interface((), (), problem=problem)
    params: List[str] = []
    maybe: List[str] = []
    for name in region.reads:
        if name in entry:
            params.append(name)
        elif name in possible:
            maybe.append(name)
        # else bound on no path into the region: a global (the wrapped function reads the same one)
        # or a local the region binds itself, unbound where it was unbound before
    outputs = [n for n in [*region.reads, *sorted(region.may | set(changed))]
               if n in read_after and (n in region.may or n in changed)]
    outputs = list(dict.fromkeys(outputs))
    partial: List[str] = []
    for name in outputs:
        if name in region.must:
            continue
        if name in entry:
            if name not in params:
                params.append(name)  # passed in, so each path hands back the value it leaves
        elif name not in maybe:
            partial.append(name)  # unbound after the region on the paths that skip its binding
    return Interface(tuple(params), tuple(outputs), tuple(maybe), tuple(partial))
