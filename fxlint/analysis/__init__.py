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
    several times cheaper and the analysis never looks at whitespace.
    """
    names = _FIELDS.get(type(node))
    if names is None:
        names = _FIELDS[type(node)] = tuple(f.name for f in dataclasses.fields(node))
    out: List[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            if not isinstance(value, _SKIP):
                out.append(value)
        elif isinstance(value, (list, tuple)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode) and not isinstance(v, _SKIP))
    return out
