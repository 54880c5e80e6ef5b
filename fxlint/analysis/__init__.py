"""The shared taint analysis: one pass over every traced function, read by every rule."""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Tuple

import libcst as cst


def dotted(node: Optional[cst.CSTNode]) -> str:
    """``a.b.c`` for a Name/Attribute chain (also through a Call's func for decorators), else ""."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    if isinstance(node, cst.Call):
        return dotted(node.func)
    return ""


_SKIP = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.Newline, cst.Comment, cst.LeftParen,
         cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
         cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.TrailingWhitespace,
         cst.ParenthesizedWhitespace, cst.SimpleWhitespace)
_FIELDS: Dict[type, Tuple[str, ...]] = {}


def child_nodes(node: cst.CSTNode) -> List[cst.CSTNode]:
    """Child nodes in field (≈ source) order, without whitespace and punctuation.

    LibCST's ``children`` property runs a visitor per call; reading the dataclass fields is
    several times cheaper and the analysis never looks at whitespace. LibCST's node bases are
    ABCs, whose ``isinstance`` is slow: decisions are cached per concrete type.
    """
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    out: List[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        kind = _KIND.get(type(value))
        if kind is None:
            kind = _KIND[type(value)] = _kind_of(value)
        if kind == _NODE:
            out.append(value)
        elif kind == _SEQUENCE:
            for v in value:
                k = _KIND.get(type(v))
                if k is None:
                    k = _KIND[type(v)] = _kind_of(v)
                if k == _NODE:
                    out.append(v)
    return out


_NODE, _SEQUENCE, _OTHER = 1, 2, 3
_KIND: Dict[type, int] = {}


def _kind_of(value: object) -> int:
    if isinstance(value, cst.CSTNode):
        return _OTHER if isinstance(value, _SKIP) else _NODE
    if isinstance(value, (list, tuple)):
        return _SEQUENCE
    return _OTHER


def small_statements(node: cst.CSTNode):
    """Every small statement (assignment, return, expression, ...) under ``node``, nested blocks included,
    in source order; expressions are not entered (no statements inside lambdas)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, cst.SimpleStatementLine):
            yield from current.body
            continue
        if isinstance(current, cst.BaseExpression):
            continue
        stack.extend(reversed(child_nodes(current)))
