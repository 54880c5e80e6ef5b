"""Where things are in one parsed module: positions, parents, enclosing statements and functions.

Fix runs only on files with findings, so positions of every node (a full re-render, as LibCST's
PositionProvider computes them: fxlint/fix/spans.py) are affordable here, unlike in `check` (see
fxlint/positions.py). Parents, expression contexts and the children the rewrites walk come from one
walk over the nodes' fields (:class:`_Index`): LibCST's visitor rebuilds every node it passes and
ExpressionContextProvider visits the module twice; with PositionProvider they were 55% of `fix` on timm.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from itertools import repeat
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import libcst as cst
from libcst.metadata import CodePosition, CodeRange, ExpressionContext

from fxlint.fix.spans import Span, spans_and_code

Pos = Tuple[int, int]  #: (line 1-based, column 0-based)


class _Ranges(Mapping):
    """PositionProvider-style CodeRanges, made on access from the spans (most nodes are never asked)."""

    def __init__(self, spans: Dict[cst.CSTNode, Span]) -> None:
        self._spans = spans

    def __getitem__(self, node: cst.CSTNode) -> CodeRange:
        sl, sc, el, ec = self._spans[node]
        return CodeRange(CodePosition(sl, sc), CodePosition(el, ec))

    def __contains__(self, node: object) -> bool:
        return node in self._spans

    def __iter__(self) -> Iterator[cst.CSTNode]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)


class NotItsText(ValueError):
    """A Tree was built from a module whose code is not the text handed with it (a rewrite whose
    result does not round-trip through LibCST)."""


class Tree:
    """A parsed module with the metadata the rewrites need; nodes are those of ``self.module``."""

    def __init__(self, text: str, module: Optional[cst.Module] = None) -> None:
        """``module``: ``text`` already parsed by the caller (nodes are never changed in place: the
        check of the same text may read them too)."""
        self.module: cst.Module = module if module is not None else cst.parse_module(text)
        self.text = text
        #: every node's (start line, start column, end line, end column), as PositionProvider's ranges
        self.spans: Dict[cst.CSTNode, Span]
        self.spans, code = spans_and_code(self.module)
        if module is not None and code != text:
            raise NotItsText("the module's code is not the text it was given with")
        self.ranges = _Ranges(self.spans)
        _CHILDREN.clear()
        _UNSORTED.clear()
        global _SPANS
        _SPANS = self.spans
        index = _Index(self.module, self.spans)
        self.contexts: Dict[cst.CSTNode, ExpressionContext] = index.contexts
        self.parents: Dict[cst.CSTNode, cst.CSTNode] = index.parents
        #: per-tree answers of whole-function or whole-class walks (a hoist asks once per call in a
        #: region: on a 4,500-line file the repeated walks made fix quadratic)
        self.memo: Dict[object, object] = {}
        self._names = frozenset(index.names)
        #: every Name node of the module, in no set order (for module-wide name sets)
        self.name_nodes: List[cst.Name] = index.name_nodes
        self._by_start: Dict[Pos, List[cst.CSTNode]] = {}
        by_start = self._by_start
        for node, span in self.spans.items():
            key = span[:2]
            found = by_start.get(key)
            if found is None:
                by_start[key] = [node]
            else:
                found.append(node)

    # ------------------------------------------------------------------ lookup
    def at(self, row: int, column: int, *types: type) -> Optional[cst.CSTNode]:
        """The outermost node of one of ``types`` starting at a diagnostic's 1-based row/column."""
        found = [n for n in self._by_start.get((row, column - 1), ()) if isinstance(n, types)]
        found.sort(key=lambda n: self.depth(n))
        return found[0] if found else None

    def deepest_at(self, row: int, column: int) -> Optional[cst.CSTNode]:
        """The innermost node starting at a diagnostic's position (an anchor for its statement)."""
        found = sorted(self._by_start.get((row, column - 1), ()), key=self.depth)
        return found[-1] if found else None

    def owner_of_test(self, row: int, column: int) -> Optional[cst.CSTNode]:
        """The If/While/IfExp whose condition starts at a diagnostic's position."""
        for node in self._by_start.get((row, column - 1), ()):
            parent = self.parents.get(node)
            if isinstance(parent, (cst.If, cst.While, cst.IfExp)) and parent.test is node:
                return parent
        return None

    def depth(self, node: cst.CSTNode) -> int:
        return sum(1 for _ in self.ancestors(node))

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        node = self.parents.get(node)
        while node is not None:
            yield node
            node = self.parents.get(node)

    def start(self, node: cst.CSTNode) -> Pos:
        return self.spans[node][:2]  # type: ignore[return-value]

    def end(self, node: cst.CSTNode) -> Pos:
        return self.spans[node][2:]  # type: ignore[return-value]

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        return self.start(outer) <= self.start(inner) and self.end(inner) <= self.end(outer)

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node).strip()

    # ------------------------------------------------------------------ structure
    def statement(self, node: cst.CSTNode) -> Optional[cst.BaseStatement]:
        """The innermost whole statement (a member of a block) containing ``node``; an `elif` climbs
        to its `if`, since it cannot stand alone."""
        current: Optional[cst.CSTNode] = node
        while current is not None:
            if isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                parent = self.parents.get(current)
                if isinstance(parent, (cst.IndentedBlock, cst.Module)):
                    return current  # type: ignore[return-value]
            current = self.parents.get(current)
        return None

    def block_of(self, stmt: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.parents.get(stmt)

    def function_of(self, node: cst.CSTNode) -> Optional[cst.FunctionDef]:
        for anc in self.ancestors(node):
            if isinstance(anc, cst.FunctionDef):
                return anc
            if isinstance(anc, (cst.ClassDef, cst.Lambda)):
                return None
        return None

    def names(self) -> "set[str]":
        """Every identifier in the module: a new top-level name must avoid all of them. A fresh set
        (callers add the names they take), collected with the parents in one visit."""
        return set(self._names)

    def label_of(self, func: cst.FunctionDef) -> str:
        """`Class.method` for a method, the function's name otherwise (for generated docstrings)."""
        cls = self.parents.get(self.parents.get(func))
        return f"{cls.name.value}.{func.name.value}" if isinstance(cls, cst.ClassDef) else func.name.value

    def typed(self, node: cst.CSTNode, *types: type) -> Tuple[cst.CSTNode, ...]:
        """The nodes under ``node`` (itself included) of these concrete LibCST classes, in :func:`walk`
        order, kept per tree: planning walks the same class or function body once per finding or
        candidate region. `type(n) in types` is `isinstance` for LibCST's concrete classes (none
        has subclasses) without ABCMeta's slow path. Blind spot: not for abstract bases
        (`BaseExpression`), which would match nothing."""
        key = ("typed", id(node), types)
        entry = self.memo.get(key)
        if entry is None or entry[0] is not node:  # type: ignore[index]
            entry = self.memo[key] = (node, tuple(n for n in walk(node) if type(n) in types))
        return entry[1]  # type: ignore[index]

    def top_level(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The module-level statement containing ``node``."""
        previous = node
        for anc in self.ancestors(node):
            if isinstance(anc, cst.Module):
                return previous
            previous = anc
        return None

    def in_loop_within(self, node: cst.CSTNode, func: cst.FunctionDef) -> bool:
        for anc in self.ancestors(node):
            if anc is func:
                return False
            if isinstance(anc, (cst.For, cst.While)):
                return True
        return False


#: the children of nodes walked, by id, each kept with its node (so the id stays that node's while
#: the entry lives): LibCST's `children` runs a visitor per call, and hoisting walks the same function
#: once per candidate region (x-transformers' 4,800-line module: ~70 % of a fix). Emptied whenever a
#: new Tree is built, so it holds the trees of one file's fixing at most.
_CHILDREN: Dict[int, Tuple[cst.CSTNode, Tuple[cst.CSTNode, ...]]] = {}


#: the children the current Tree's walk found, by id, in field order, until :func:`walk` first needs
#: them in source order (most nodes are never walked: sorting them all was a third of a Tree)
_UNSORTED: Dict[int, Tuple[cst.CSTNode, List[cst.CSTNode]]] = {}
_SPANS: Dict[cst.CSTNode, Span] = {}  #: the current Tree's spans, to sort them by


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under ``node`` (itself included), parents first."""
    cache = _CHILDREN
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        entry = cache.get(id(current))
        if entry is None or entry[0] is not current:
            entry = cache[id(current)] = (current, _children_in_order(current))
        stack.extend(reversed(entry[1]))


def children(node: cst.CSTNode) -> Tuple[cst.CSTNode, ...]:
    """LibCST's ``children`` of ``node`` (source order), kept as :func:`walk` keeps them."""
    entry = _CHILDREN.get(id(node))
    if entry is None or entry[0] is not node:
        entry = _CHILDREN[id(node)] = (node, _children_in_order(node))
    return entry[1]


def _children_in_order(node: cst.CSTNode) -> Tuple[cst.CSTNode, ...]:
    """LibCST's ``children`` (source order): from the current Tree's walk when it saw ``node``."""
    found = _UNSORTED.pop(id(node), None)
    if found is None or found[0] is not node:
        return () if node in _SPANS else tuple(node.children)  # the Tree's walk kept no empty list
    children = found[1]
    if len(children) > 1:
        children.sort(key=_SPANS.__getitem__)
    return tuple(children)


def paren(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` wrapped in parentheses unless it is an atom (safe as the base of `.attr`)."""
    atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString)
    if isinstance(expr, atoms) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


# ------------------------------------------------------------------------------ the one walk
_LOAD, _STORE, _DEL = ExpressionContext.LOAD, ExpressionContext.STORE, ExpressionContext.DEL
#: node classes that ExpressionContextProvider gives a context (Name, Attribute, ...): it sets the one
#: the walk carries into them
_HAS_CONTEXT = frozenset((cst.Name, cst.Attribute, cst.Subscript, cst.Tuple, cst.List, cst.StarredElement))


def _targets(node) -> Tuple[Tuple[cst.CSTNode, ExpressionContext], ...]:
    return ((node.target, _STORE),)


#: per node class: (the context its other children get: "same" as the node's or None for none,
#: the children with a context of their own). Mirrors libcst.metadata.ExpressionContextVisitor
#: (LibCST 1.x): a child it does not visit gets no context, nor does anything under it.
_SPECIAL: Dict[type, Tuple[Optional[str], Callable]] = {
    cst.Attribute: (None, lambda n: ((n.value, _LOAD),)),
    cst.Subscript: (None, lambda n: ((n.value, _LOAD),) + tuple((e, _LOAD) for e in n.slice)),
    cst.Assign: ("same", lambda n: tuple((t, _STORE) for t in n.targets)),
    cst.AnnAssign: ("same", _targets),
    cst.AugAssign: ("same", _targets),
    cst.NamedExpr: ("same", _targets),
    cst.CompFor: ("same", _targets),
    cst.For: ("same", _targets),
    cst.AsName: ("same", lambda n: ((n.name, _STORE),)),
    cst.Del: (None, lambda n: ((n.target, _DEL),)),
    cst.ClassDef: (None, lambda n: ((n.name, _STORE), (n.body, "same")) + tuple((b, "same") for b in n.bases)
                   + tuple((k, "same") for k in n.keywords) + tuple((d, "same") for d in n.decorators)),
    cst.FunctionDef: (None, lambda n: ((n.name, _STORE), (n.params, "same"), (n.body, "same"))
                      + tuple((d, "same") for d in n.decorators) + (((n.returns, "same"),) if n.returns else ())),
    cst.Param: (None, lambda n: ((n.name, _STORE),) + (((n.annotation, "same"),) if n.annotation else ())
                + (((n.default, "same"),) if n.default else ())),
}


class _Index:
    """Parents, expression contexts and Name values of a module from one walk over the nodes' fields
    (every child, whitespace included, as LibCST's ``children``); the children are kept for
    :func:`walk` in source order (sorted by position, which is LibCST's visiting order)."""

    def __init__(self, module: cst.Module, spans: Dict[cst.CSTNode, Span]) -> None:
        self.parents: Dict[cst.CSTNode, cst.CSTNode] = {}
        self.contexts: Dict[cst.CSTNode, ExpressionContext] = {}
        self.names: "set[str]" = set()
        self.name_nodes: List[cst.Name] = []
        parents, contexts, names, special_cases = self.parents, self.contexts, self.names, _SPECIAL
        name_nodes = self.name_nodes
        unsorted = _UNSORTED
        stack: List[Tuple[cst.CSTNode, Optional[ExpressionContext]]] = [(module, _LOAD)]
        pop, push = stack.pop, stack.extend
        while stack:  # one loop, few calls: it runs once per node (~14k per timm model file)
            node, context = pop()
            cls = node.__class__
            children = _all_children(node)
            if cls is cst.Name:
                names.add(node.value)  # type: ignore[attr-defined]
                name_nodes.append(node)  # type: ignore[arg-type]
            if not children:
                if context is not None and cls in _HAS_CONTEXT:
                    contexts[node] = context
                continue
            unsorted[id(node)] = (node, children)
            parents.update(dict.fromkeys(children, node))
            if context is None:
                push(zip(children, repeat(None)))
                continue
            if cls in _HAS_CONTEXT:  # LibCST's parser builds these classes, not subclasses
                contexts[node] = context
            special = special_cases.get(cls)
            if special is None:
                push(zip(children, repeat(context)))
                continue
            rest, own = special
            given = {id(c): (context if ctx == "same" else ctx) for c, ctx in own(node)}
            default = context if rest == "same" else None
            push([(c, given.get(id(c), default)) for c in children])


_FIELDS: Dict[type, Tuple[str, ...]] = {}
_IS_NODE: Dict[type, int] = {}


def _all_children(node: cst.CSTNode) -> List[cst.CSTNode]:
    """Every node held in ``node``'s fields (whitespace and punctuation included)."""
    names = _FIELDS.get(node.__class__)
    if names is None:
        names = _FIELDS[node.__class__] = _node_fields(node.__class__)
    out: List[cst.CSTNode] = []
    kinds = _IS_NODE
    for name in names:
        value = getattr(node, name)
        kind = kinds.get(value.__class__)
        if kind is None:
            kind = kinds[value.__class__] = _kind(value)
        if kind == 1:
            out.append(value)
        elif kind == 2:
            for v in value:
                k = kinds.get(v.__class__)
                if k is None:
                    k = kinds[v.__class__] = _kind(v)
                if k == 1:
                    out.append(v)
    return out


def _node_fields(node_type: type) -> Tuple[str, ...]:
    """The fields of ``node_type`` that may hold a node: not those annotated as plain values
    (`value: str` of a Name, `star: Literal["", "*"]` of a Param)."""
    try:
        hints = typing.get_type_hints(node_type)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: read the field
        hints = {}
    plain = (str, bool, int, float, bytes)
    return tuple(f.name for f in dataclasses.fields(node_type)
                 if not (hints.get(f.name) in plain or typing.get_origin(hints.get(f.name)) is typing.Literal))


def _kind(value: object) -> int:
    """1: a node, 2: a sequence that may hold nodes, 0: anything else (str, None, MaybeSentinel)."""
    if isinstance(value, cst.CSTNode):
        return 1
    return 2 if isinstance(value, (tuple, list)) else 0
