"""Where things are in one parsed module: positions, parents, enclosing statements and functions.

Fix runs only on files with findings, so LibCST's PositionProvider (a full re-render) is affordable
here, unlike in `check` (see fxlint/positions.py).
"""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Tuple

import libcst as cst
from libcst.metadata import CodeRange, ExpressionContext, ExpressionContextProvider, PositionProvider

Pos = Tuple[int, int]  #: (line 1-based, column 0-based)


class _Parents(cst.CSTVisitor):
    def __init__(self) -> None:
        self.parents: Dict[cst.CSTNode, cst.CSTNode] = {}
        self.stack: List[cst.CSTNode] = []
        self.names: "set[str]" = set()

    def on_visit(self, node: cst.CSTNode) -> bool:
        if isinstance(node, cst.Name):
            self.names.add(node.value)
        if self.stack:
            self.parents[node] = self.stack[-1]
        self.stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


class Tree:
    """A parsed module with the metadata the rewrites need; nodes are those of ``self.module``."""

    def __init__(self, text: str, module: Optional[cst.Module] = None) -> None:
        """``module``: ``text`` already parsed by the caller (who then holds it no more)."""
        # the module was parsed here and nobody else holds it: the defensive deep copy
        # MetadataWrapper makes by default cost as much as the parse (measured on timm's fix)
        wrapper = cst.MetadataWrapper(module if module is not None else cst.parse_module(text), unsafe_skip_copy=True)
        self.module: cst.Module = wrapper.module
        self.text = text
        self.ranges: Dict[cst.CSTNode, CodeRange] = dict(wrapper.resolve(PositionProvider))
        self.contexts: Dict[cst.CSTNode, ExpressionContext] = dict(wrapper.resolve(ExpressionContextProvider))
        collector = _Parents()
        self.module.visit(collector)
        _CHILDREN.clear()
        self.parents = collector.parents
        #: per-tree answers of whole-function or whole-class walks (a hoist asks once per call in a
        #: region: on a 4,500-line file the repeated walks made fix quadratic)
        self.memo: Dict[object, object] = {}
        self._names = frozenset(collector.names)
        self._by_start: Dict[Pos, List[cst.CSTNode]] = {}
        for node, rng in self.ranges.items():
            self._by_start.setdefault((rng.start.line, rng.start.column), []).append(node)

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
        r = self.ranges[node]
        return r.start.line, r.start.column

    def end(self, node: cst.CSTNode) -> Pos:
        r = self.ranges[node]
        return r.end.line, r.end.column

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


def walk(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Every node under ``node`` (itself included), parents first."""
    cache = _CHILDREN
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        entry = cache.get(id(current))
        if entry is None or entry[0] is not current:
            entry = cache[id(current)] = (current, tuple(current.children))
        stack.extend(reversed(entry[1]))


def paren(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` wrapped in parentheses unless it is an atom (safe as the base of `.attr`)."""
    atoms = (cst.Name, cst.Attribute, cst.Call, cst.Subscript, cst.Integer, cst.Float, cst.SimpleString)
    if isinstance(expr, atoms) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
