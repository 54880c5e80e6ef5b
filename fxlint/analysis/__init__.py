"""The shared taint analysis: one pass over every traced function, read by every rule."""

from __future__ import annotations

from typing import Optional

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
