"""The shared taint analysis: one pass over every traced function, read by every rule."""

from __future__ import annotations

import collections.abc
import dataclasses
import typing
from typing import Callable, Dict, List, Optional

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


def _identity_hash_in_c() -> None:
    """LibCST nodes hash by identity through a Python method (``CSTNode.__hash__`` returns
    ``id(self)``, copied into every node class by ``CSTNode.__init_subclass__``), so every dict
    lookup keyed by a node runs Python code: the analysis's facts, the rules' parents and the memo
    tables do ~40 M of them on transformers' models/. ``object.__hash__`` is the same identity hash
    (equality stays identity) computed in C, ~3x cheaper per lookup. Only the hash *values* change;
    they were addresses already, so nothing could depend on them. Node classes defined later inherit
    it through ``__init_subclass__``."""
    python_hash = cst.CSTNode.__dict__.get("__hash__")
    if python_hash is None:
        return
    pending = [cst.CSTNode]
    while pending:
        cls = pending.pop()
        if cls.__dict__.get("__hash__") is python_hash:
            cls.__hash__ = object.__hash__  # type: ignore[assignment]
        pending.extend(cls.__subclasses__())


_identity_hash_in_c()

_SKIP = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.Newline, cst.Comment, cst.LeftParen,
         cst.RightParen, cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
         cst.Comma, cst.Dot, cst.Colon, cst.Semicolon, cst.AssignEqual, cst.TrailingWhitespace,
         cst.ParenthesizedWhitespace, cst.SimpleWhitespace)


def child_nodes(node: cst.CSTNode) -> List[cst.CSTNode]:
    """Child nodes in field (≈ source) order, without whitespace and punctuation.

    LibCST's ``children`` property runs a visitor per call; reading the dataclass fields is
    several times cheaper and the analysis never looks at whitespace. Per node type, a function
    generated from the fields' annotations reads only the fields that can hold a node the walk
    keeps (a Name has none, a Call two of seven), without a type test where the annotation leaves
    no choice; LibCST's node bases are ABCs, whose ``isinstance`` is slow. The rest of a walk's
    time was spent reading whitespace fields (~580k calls per 150 transformers files).
    """
    reader = _READERS.get(node.__class__)
    if reader is None:
        reader = _READERS[node.__class__] = _reader_for(node.__class__)
    return reader(node)


_NODE, _SEQUENCE, _OTHER = 1, 2, 3
_KIND: Dict[type, int] = {}
_READERS: Dict[type, Callable[[cst.CSTNode], List[cst.CSTNode]]] = {}


def _kind_of(value: object) -> int:
    if isinstance(value, cst.CSTNode):
        return _OTHER if isinstance(value, _SKIP) else _NODE
    if isinstance(value, (list, tuple)):
        return _SEQUENCE
    return _OTHER


def _add_checked(out: List[cst.CSTNode], value: object) -> None:
    """The generic case: decide by the value's own type (and each element's, for a sequence)."""
    kind = _KIND.get(value.__class__)
    if kind is None:
        kind = _KIND[value.__class__] = _kind_of(value)
    if kind == _NODE:
        out.append(value)  # type: ignore[arg-type]
    elif kind == _SEQUENCE:
        for v in value:  # type: ignore[attr-defined]
            k = _KIND.get(v.__class__)
            if k is None:
                k = _KIND[v.__class__] = _kind_of(v)
            if k == _NODE:
                out.append(v)


_NOTHING = (type(None), cst.MaybeSentinel)


def _reader_for(node_type: type) -> Callable[[cst.CSTNode], List[cst.CSTNode]]:
    """Generated code reading ``node_type``'s fields in order. A field annotated only with
    whitespace/punctuation, strings, flags or sentinels is never read; one annotated with node
    classes that are neither skipped nor bases of skipped classes (``BaseExpression``,
    ``Sequence[Arg]``) is taken as is, None and MaybeSentinel aside; anything else is decided per
    value as before. LibCST's parser builds nodes of the annotated types (tests/test_child_nodes.py
    compares with the per-value decision on real files)."""
    try:
        hints = typing.get_type_hints(node_type)
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: decide per value
        hints = {}
    lines = ["def read(node):", "    out = []"]
    for f in dataclasses.fields(node_type):
        plan = _field_plan(hints.get(f.name))
        name = f.name
        if plan == "never":
            continue
        if plan == "node":
            lines.append(f"    out.append(node.{name})")
        elif plan == "optional":
            lines += [f"    v = node.{name}", "    if v is not None and v.__class__ is not _SENTINEL:",
                      "        out.append(v)"]
        elif plan == "sequence":
            lines.append(f"    out.extend(node.{name})")
        else:
            lines.append(f"    _add_checked(out, node.{name})")
    lines.append("    return out")
    namespace = {"_add_checked": _add_checked, "_SENTINEL": cst.MaybeSentinel}
    exec("\n".join(lines), namespace)  # noqa: S102 - code built above from field names
    return namespace["read"]


def _field_plan(annotation: object) -> str:
    """never | node | optional | sequence | checked"""
    if annotation is None:
        return "checked"
    options = _union_options(annotation)
    sequences = [o for o in options if typing.get_origin(o) in (collections.abc.Sequence, list, tuple)]
    plain = [o for o in options if o not in sequences]
    if sequences:
        if plain or len(sequences) > 1:
            return "checked" if any(_may_hold_node(o) for o in options) else "never"
        elements = _union_options(typing.get_args(sequences[0])[0]) if typing.get_args(sequences[0]) else [object]
        if not any(_may_hold_node(e) for e in elements):
            return "never"
        return "sequence" if all(_kept_node_class(e) for e in elements) else "checked"
    if not any(_may_hold_node(o) for o in plain):
        return "never"
    nodes = [o for o in plain if o not in _NOTHING]
    if all(_kept_node_class(o) for o in nodes):
        return "node" if len(nodes) == len(plain) else "optional"
    return "checked"


def _union_options(annotation: object) -> List[object]:
    if typing.get_origin(annotation) is typing.Union:
        return list(typing.get_args(annotation))
    return [annotation]


def _may_hold_node(annotation: object) -> bool:
    """Could a value of this annotation be (or hold) a node the walk keeps?"""
    if typing.get_origin(annotation) is typing.Literal or annotation in _NOTHING:
        return False
    if typing.get_origin(annotation) is not None:
        return True  # a generic we do not take apart: decide per value
    if not isinstance(annotation, type):
        return True
    if issubclass(annotation, cst.CSTNode):
        return not issubclass(annotation, _SKIP)
    return annotation not in (str, bool, int, float, bytes)


def _kept_node_class(annotation: object) -> bool:
    """Every value of this annotation is a node the walk keeps: a node class that is not skipped
    and that no skipped class derives from."""
    return (isinstance(annotation, type) and issubclass(annotation, cst.CSTNode)
            and not issubclass(annotation, _SKIP) and not any(issubclass(s, annotation) for s in _SKIP))


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
