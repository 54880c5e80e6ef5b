"""``__init__`` read from the stdlib ``ast`` instead of LibCST, for the attribute scan.

What a class's ``__init__`` registers (``self.x = Block(...)``, ``register_buffer``, ...) is read by
``semantics._InitScanner`` for every class whose attributes a traced ``forward`` reads; the
analysis never enters ``__init__`` itself. Its LibCST parse was a fifth of the lines fxlint parses on
transformers, and ``ast.parse`` is ~10x cheaper. The scanner sees the method through an adapter
(:class:`AstSyntax` here, ``semantics.CstSyntax`` for LibCST) that must answer exactly as the LibCST
one does: the order in which calls are met decides the order of a submodule's candidate classes, so
:meth:`AstSyntax.calls` walks the ``ast`` in LibCST's field order (``func`` then the arguments in
source order, a dict's keys and values interleaved, an ``except`` body before its type). An
``__init__`` holding a construct whose order was not checked against LibCST's (a nested def, class
or lambda, ``match``, ``async``, ``try/except*``) is read with LibCST as before
(tests/test_init_syntax.py compares both scanners on every class of the fixtures).
"""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Iterator, List, Optional, Tuple, Union

from fxlint.analysis.light_index import definitions, first_line
from fxlint.analysis.project import ModuleSource, lines_of

#: node types whose children :func:`_children` puts in LibCST's order; anything else: LibCST is used
_KNOWN = frozenset({
    ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Return, ast.Delete, ast.Pass, ast.Break,
    ast.Continue, ast.Raise, ast.Assert, ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom, ast.If,
    ast.For, ast.While, ast.With, ast.Try, ast.ExceptHandler, ast.withitem, ast.alias,
    ast.BoolOp, ast.NamedExpr, ast.BinOp, ast.UnaryOp, ast.IfExp, ast.Dict, ast.Set, ast.ListComp,
    ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.Await, ast.Yield, ast.YieldFrom,
    ast.Compare, ast.Call, ast.keyword, ast.FormattedValue, ast.JoinedStr, ast.Constant, ast.Attribute,
    ast.Subscript, ast.Starred, ast.Name, ast.List, ast.Tuple, ast.Slice,
    ast.Load, ast.Store, ast.Del,
}) | frozenset(c for base in (ast.operator, ast.boolop, ast.unaryop, ast.cmpop) for c in base.__subclasses__())


def init_syntax(module: ModuleSource, owner: str) -> Optional["AstSyntax"]:
    """``owner.__init__`` of a file indexed with `ast` (ModuleSource), as an ``ast`` def, if its lines
    are known (the method spans ModuleSource.cst_function parses from) and every construct in it is
    one :class:`AstSyntax` orders as LibCST does; else None."""
    if module.parsed_whole or module.spans.get(("class", owner)) is None:
        return None
    lines = module.method_spans.get(owner, {}).get("__init__")
    if lines is None:
        return None
    func, text = _kept_def(module, owner, lines[0])
    if func is None:
        func, text = _parsed_def(module, owner, lines)
    if not isinstance(func, ast.FunctionDef) or func.name != "__init__":
        return None
    if not all(type(node) in _KNOWN for stmt in func.body for node in ast.walk(stmt)):
        return None
    return AstSyntax(func, text)


def _kept_def(module: ModuleSource, owner: str, first: int) -> Tuple[Optional[ast.AST], str]:
    """The ``__init__`` starting at line ``first`` in the `ast` of the file being checked, if the
    engine keeps it (``ModuleSource.kept_ast``): no second parse of its lines."""
    tree = module.kept_ast
    span = module.spans.get(("class", owner))
    if tree is None or span is None:
        return None, ""
    for stmt in tree.body:
        if first_line(stmt) != span[0]:
            continue
        for kind, name, node in definitions(stmt):
            if kind == "class" and name == owner:
                for member in node.body:  # type: ignore[attr-defined]
                    if isinstance(member, ast.FunctionDef) and first_line(member) == first:
                        return member, module.text
    return None, ""


def _parsed_def(module: ModuleSource, owner: str, lines: Tuple[int, int]) -> Tuple[Optional[ast.AST], str]:
    """The method's lines parsed alone, under a made-up ``class owner:`` line."""
    body = lines_of(module.text, lines[0], lines[1])
    text = f"class {owner}:" + ("\r\n" if body.split("\n", 1)[0].endswith("\r") else "\n") + body
    try:
        parsed = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None, ""
    return parsed.body[0].body[0], text  # type: ignore[attr-defined]


Node = Union[ast.AST, List[ast.stmt]]


class AstSyntax:
    """What _InitScanner asks of an ``__init__``, answered from its ``ast``."""

    def __init__(self, func: ast.FunctionDef, text: str) -> None:
        self.func = func
        self.text = text

    @property
    def body(self) -> List[ast.stmt]:
        return self.func.body

    def param_defaults(self) -> List[Tuple[str, str]]:
        """(name, dotted default) of the parameters with a default, positional-only ones aside."""
        args = self.func.args
        first = len(args.posonlyargs) + len(args.args) - len(args.defaults)  # defaults fill the last ones
        out = []
        for i, arg in enumerate(args.args, start=len(args.posonlyargs)):
            if i >= first:
                out.append((arg.arg, dotted(args.defaults[i - first])))
        out += [(arg.arg, dotted(d)) for arg, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
        return out

    @staticmethod
    def annotation(stmt: ast.stmt) -> str:
        """The dotted annotation of an annotated assignment (`self.x: Block = x`), else ""."""
        return annotation_name(stmt.annotation) if isinstance(stmt, ast.AnnAssign) else ""

    def calls(self, node: Node) -> Iterator[ast.Call]:
        """The calls under ``node`` (itself included) in the order LibCST's walk meets them: pre-order,
        the last child first (semantics._walk_expressions)."""
        stack: List[Node] = [node]
        while stack:
            current = stack.pop()
            if isinstance(current, ast.Call):
                yield current
            stack.extend(_children(current))

    def small_statements(self, body: List[ast.stmt]) -> Iterator[ast.stmt]:
        """Simple statements in source order, into every block (analysis.small_statements)."""
        for stmt in body:
            if isinstance(stmt, (ast.If, ast.For, ast.While)):
                yield from self.small_statements(stmt.body)
                yield from self.small_statements(stmt.orelse)
            elif isinstance(stmt, ast.With):
                yield from self.small_statements(stmt.body)
            elif isinstance(stmt, ast.Try):
                yield from self.small_statements(stmt.body)
                for handler in stmt.handlers:
                    yield from self.small_statements(handler.body)
                yield from self.small_statements(stmt.orelse)
                yield from self.small_statements(stmt.finalbody)
            else:
                yield stmt

    @staticmethod
    def assignment(stmt: ast.stmt) -> Optional[Tuple[List[ast.expr], ast.expr]]:
        if isinstance(stmt, ast.Assign):
            return stmt.targets, stmt.value
        if isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            return [stmt.target], stmt.value
        return None

    @staticmethod
    def expression_call(stmt: ast.stmt) -> Optional[ast.Call]:
        return stmt.value if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call) else None

    @staticmethod
    def self_attribute(target: ast.expr) -> Optional[str]:
        if isinstance(target, ast.Attribute) and dotted(target.value) == "self":
            return target.attr
        return None

    @staticmethod
    def is_name_target(target: ast.AST) -> bool:
        return isinstance(target, ast.Name)

    @staticmethod
    def name(node: ast.AST) -> Optional[str]:
        """The identifier of a plain name (LibCST spells None/True/False as names too)."""
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, ast.Constant) and (node.value is None or node.value is True or node.value is False):
            return str(node.value)
        return None

    @staticmethod
    def is_call(node: ast.AST) -> bool:
        return isinstance(node, ast.Call)

    @staticmethod
    def is_dict(node: ast.AST) -> bool:
        return isinstance(node, (ast.Dict, ast.DictComp))

    @staticmethod
    def is_choice(node: ast.AST) -> bool:
        return isinstance(node, (ast.IfExp, ast.BoolOp))

    @staticmethod
    def callee(call: ast.Call) -> str:
        return dotted(call.func)

    @staticmethod
    def arguments(call: ast.Call) -> List[ast.expr]:
        """The argument values in source order (LibCST keeps keywords among the positional ones)."""
        return [a.value if isinstance(a, (ast.Starred, ast.keyword)) else a for a in _arguments(call)]

    def string(self, node: ast.AST) -> Tuple[bool, object]:
        """(True, its value) for one plain string literal (LibCST's SimpleString: not an f-string, not
        implicitly concatenated), else (False, None)."""
        if not isinstance(node, ast.Constant) or not isinstance(node.value, (str, bytes)):
            return False, None
        segment = ast.get_source_segment(self.text, node)
        try:
            tokens = [t for t in tokenize.generate_tokens(io.StringIO(segment or "").readline)
                      if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)]
        except (tokenize.TokenError, SyntaxError):
            return False, None
        return (True, node.value) if len(tokens) == 1 and tokens[0].type == tokenize.STRING else (False, None)

    @staticmethod
    def dotted(node: Optional[ast.AST]) -> str:
        return dotted(node)


def dotted(node: Optional[ast.AST]) -> str:
    """fxlint.analysis.dotted for an ``ast`` expression (None/True/False are names in LibCST)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and (node.value is None or node.value is True or node.value is False):
        return str(node.value)
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call):
        return dotted(node.func)
    return ""


def annotation_name(node: Optional[ast.AST]) -> str:
    """``Block`` / ``layers.Block`` of an annotation, also written as a string (``"Block"``); "" for
    anything else (``Optional[Block]``, a union: the value may be something else)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        text = node.value.strip()
        return text if all(part.isidentifier() for part in text.split(".")) else ""
    return dotted(node) if isinstance(node, (ast.Name, ast.Attribute)) else ""


def _arguments(call: ast.Call) -> List[ast.AST]:
    return sorted([*call.args, *call.keywords], key=lambda a: (a.lineno, a.col_offset))


def _children(node: Node) -> List[Node]:
    """Child nodes in LibCST's field order (see the module docstring)."""
    if isinstance(node, list):
        return list(node)
    kind = type(node)
    if kind is ast.Call:
        return [node.func, *_arguments(node)]  # type: ignore[attr-defined]
    if kind is ast.Dict:
        out: List[Node] = []
        for key, value in zip(node.keys, node.values):  # type: ignore[attr-defined]
            if key is not None:
                out.append(key)
            out.append(value)
        return out
    if kind is ast.ExceptHandler:
        return [*node.body, *([node.type] if node.type is not None else [])]  # type: ignore[attr-defined]
    out = []
    for field in node._fields:
        value = getattr(node, field, None)
        if isinstance(value, ast.AST):
            out.append(value)
        elif isinstance(value, list):
            out.extend(v for v in value if isinstance(v, ast.AST))
    return out
