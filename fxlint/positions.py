"""Source positions for the few nodes that get reported, without LibCST's PositionProvider.

PositionProvider regenerates the whole module to count characters and costs 1-2x a parse
(shared/notes/performance-anchors.md); on timm it was 75% of fxlint's time. Instead:

1. statements are anchored by walking LibCST's statement tree beside the stdlib ``ast`` of the
   same text (``ast.parse`` is ~10x cheaper than LibCST's parser), which has line/column
   positions for free;
2. an expression inside a statement is found by searching its source text (LibCST is lossless,
   so ``code_for_node`` is a verbatim slice, except the indentation of continuation lines) from
   the statement's start, taking the n-th occurrence when the same text appears earlier in that
   statement.

When the two parsers disagree (syntax newer than the running Python), it falls back to
PositionProvider for that module.

A tree may hold one statement of a file, parsed from that statement's lines alone
(ModuleSource.cst_function): ``line_offset`` file lines come before its text.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from fxlint.analysis import child_nodes
from fxlint.diagnostics import physical_lines

Span = Tuple[int, int, int, int]  #: (line, column, end line, end column); lines 1-based, columns 0-based


class _Mismatch(Exception):
    pass


@dataclass
class _Anchor:
    line: int
    col: int  #: 0-based character column


class PositionIndex:
    """Positions of nodes of one module, computed on demand."""

    def __init__(self, tree: cst.Module, text: str, line_offset: int = 0,
                 syntax_body: Optional[List[ast.stmt]] = None) -> None:
        """``syntax_body``: the statements of the stdlib `ast` of ``text`` if the caller has them
        already (from a parse of the whole file: their line numbers are the file's)."""
        self.tree = tree
        self.text = text
        self.line_offset = line_offset
        self.lines = physical_lines(text, keepends=True)
        self._offsets = _line_offsets(self.lines)
        self._anchors: Dict[cst.CSTNode, _Anchor] = {}
        #: spans found, by (node, statement): a helper's finding recurs in the check of every file
        #: reaching it, and its span costs a code generation and a text search
        self._spans: Dict[Tuple[cst.CSTNode, Optional[cst.CSTNode]], Span] = {}
        self._fallback: Optional[Dict[cst.CSTNode, object]] = None
        #: subtracted from the `ast`'s line numbers to get lines of ``text``
        self._ast_offset = line_offset if syntax_body is not None else 0
        try:
            self._anchor_block(tree.body, syntax_body if syntax_body is not None else ast.parse(text).body)
        except (_Mismatch, SyntaxError, ValueError, RecursionError):
            self._use_position_provider()

    # ----------------------------------------------------------------- public
    def span(self, node: cst.CSTNode, statement: Optional[cst.CSTNode]) -> Span:
        """Where ``node`` is; ``statement`` is a statement containing it (or the node itself)."""
        if self._fallback is not None:  # from then on every span is the provider's
            return self._provider_span(node)
        key = (node, statement)
        found = self._spans.get(key)
        if found is None:
            found = self._span(node, statement)
            if self._fallback is None:
                self._spans[key] = found
        return found

    def _span(self, node: cst.CSTNode, statement: Optional[cst.CSTNode]) -> Span:
        if self._fallback is not None:
            return self._provider_span(node)
        anchor_node = node if node in self._anchors else statement if statement in self._anchors else node
        anchor = self._anchors.get(anchor_node)
        if anchor is None:
            return self._provider_span(node)
        start = self._offsets[anchor.line - 1] + anchor.col
        if anchor_node is node:  # a statement: its first line is what a reader looks for
            line_end = self.text.find("\n", start)
            return self._to_span(start, line_end if line_end >= 0 else len(self.text))
        code = self.tree.code_for_node(node)
        stripped = code.strip()
        if not stripped:
            begin = start + len(code) - len(code.lstrip())
            return self._to_span(begin, begin)
        nth = _occurrence_index(anchor_node, node, stripped, self.tree) if anchor_node is not node else 0
        found = _find_nth(self.text, stripped, start, nth)
        if found is None:
            return self._provider_span(node)
        # unlike PositionProvider, a parenthesized expression's span includes its own parentheses
        return self._to_span(*found)

    def statement_line(self, statement: cst.CSTNode) -> Optional[int]:
        anchor = self._anchors.get(statement)
        if anchor is not None:
            return anchor.line + self.line_offset
        if self._fallback is not None:
            return self._provider_span(statement)[0]
        return None

    # ----------------------------------------------------------------- anchoring
    def _anchor_block(self, statements: Sequence[cst.CSTNode], nodes: List[ast.stmt]) -> None:
        flat: List[cst.CSTNode] = []
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine):
                if stmt.body:
                    self._anchors[stmt] = None  # type: ignore[assignment]  # set with its first small stmt
                flat.extend(stmt.body)
            else:
                flat.append(stmt)
        if len(flat) != len(nodes):
            raise _Mismatch()
        for c, a in zip(flat, nodes):
            self._anchor(c, a)
        for stmt in statements:
            if isinstance(stmt, cst.SimpleStatementLine) and stmt.body:
                self._anchors[stmt] = self._anchors[stmt.body[0]]

    def _anchor(self, c: cst.CSTNode, a: ast.stmt) -> None:
        line = a.lineno - self._ast_offset
        if isinstance(a, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and a.decorator_list:
            line = a.decorator_list[0].lineno - self._ast_offset
            self._anchors[c] = _Anchor(line, self._char_col(line, a.decorator_list[0].col_offset) - 1)
        else:
            self._anchors[c] = _Anchor(line, self._char_col(line, a.col_offset))
        for c_body, a_body in _child_blocks(c, a):
            self._anchor_block(c_body, a_body)

    def _char_col(self, line: int, byte_col: int) -> int:
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", "replace"))

    def _to_span(self, begin: int, end: int) -> Span:
        l1, c1 = self._line_col(begin)
        l2, c2 = self._line_col(end)
        return l1 + self.line_offset, c1, l2 + self.line_offset, c2

    def _line_col(self, offset: int) -> Tuple[int, int]:
        lo, hi = 0, len(self._offsets) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._offsets[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, offset - self._offsets[lo]

    # ----------------------------------------------------------------- fallback
    def _use_position_provider(self) -> None:
        from libcst.metadata import MetadataWrapper, PositionProvider

        wrapper = MetadataWrapper(self.tree, unsafe_skip_copy=True)
        self._fallback = dict(wrapper.resolve(PositionProvider))

    def _provider_span(self, node: cst.CSTNode) -> Span:
        if self._fallback is None:
            self._use_position_provider()
        assert self._fallback is not None
        r = self._fallback.get(node)
        if r is None:
            return 1, 0, 1, 0
        return (r.start.line + self.line_offset, r.start.column,  # type: ignore[attr-defined]
                r.end.line + self.line_offset, r.end.column)  # type: ignore[attr-defined]


def _line_offsets(lines: List[str]) -> List[int]:
    out, total = [], 0
    for line in lines:
        out.append(total)
        total += len(line)
    out.append(total)
    return out


def _suite(body: cst.CSTNode) -> Sequence[cst.CSTNode]:
    return getattr(body, "body", ())


def _child_blocks(c: cst.CSTNode, a: ast.stmt):
    if isinstance(c, (cst.FunctionDef, cst.ClassDef, cst.With)):
        yield _suite(c.body), a.body
    elif isinstance(c, cst.If):
        yield _suite(c.body), a.body
        if isinstance(c.orelse, cst.If):
            if len(a.orelse) != 1:
                raise _Mismatch()
            yield [c.orelse], a.orelse
        elif isinstance(c.orelse, cst.Else):
            yield _suite(c.orelse.body), a.orelse
    elif isinstance(c, (cst.For, cst.While)):
        yield _suite(c.body), a.body
        if c.orelse is not None:
            yield _suite(c.orelse.body), a.orelse
    elif isinstance(c, (cst.Try, cst.TryStar)):
        yield _suite(c.body), a.body
        if len(c.handlers) != len(a.handlers):
            raise _Mismatch()
        for ch, ah in zip(c.handlers, a.handlers):
            yield _suite(ch.body), ah.body
        if c.orelse is not None:
            yield _suite(c.orelse.body), a.orelse
        if c.finalbody is not None:
            yield _suite(c.finalbody.body), a.finalbody
    elif isinstance(c, cst.Match):
        for cc, ac in zip(c.cases, a.cases):
            yield _suite(cc.body), ac.body


def _find_nth(text: str, code: str, start: int, nth: int) -> Optional[Tuple[int, int]]:
    """(begin, end) of the ``nth`` (0-based) occurrence of a node's generated ``code`` in ``text`` from ``start``.

    ``code_for_node`` generates a node on its own, without the indentation of the blocks around it:
    the continuation lines of a multi-line expression inside a function lack the function's indent.
    So a multi-line node is matched line by line, any run of spaces or tabs allowed at the start of
    each continuation line (before this, such a node sent the whole module to PositionProvider,
    seconds on a large file)."""
    if "\n" not in code:
        offset = start
        for _ in range(nth + 1):
            found = text.find(code, offset)
            if found < 0:
                return None
            offset = found + 1
        return offset - 1, offset - 1 + len(code)
    lines = code.split("\n")
    pattern = re.compile(re.escape(lines[0]) + "".join(r"\n[ \t\f]*" + re.escape(line.lstrip(" \t\f"))
                                                      for line in lines[1:]))
    offset = start
    for _ in range(nth + 1):
        match = pattern.search(text, offset)
        if match is None:
            return None
        offset = match.start() + 1
    return match.start(), match.end()


def _occurrence_index(root: cst.CSTNode, target: cst.CSTNode, text: str, tree: cst.Module) -> int:
    """How many other nodes with the same source text come before ``target`` in ``root`` (pre-order)."""
    count = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node is target:
            return count
        if type(node) is type(target) and node is not root and isinstance(node, cst.BaseExpression):
            if tree.code_for_node(node).strip() == text:  # generated once (it was twice per candidate)
                count += 1
                continue  # its children cannot be a different match at the same text start
        stack.extend(reversed(child_nodes(node)))
    return 0
