"""Index a dependency-only file with the stdlib ``ast``: imports, functions, classes, fx.wrap.

Mirrors :meth:`ModuleSource._index` (the LibCST version used for checked files); the LibCST
nodes of functions are looked up later, only for functions the analysis actually enters.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Tuple

from fxlint.analysis.project import FX_WRAP, ClassInfo, FunctionRef, ModuleSource, optional_import_target


def index_with_ast(module: ModuleSource, tree: Optional[object] = None) -> None:
    parsed = tree if isinstance(tree, ast.Module) else ast.parse(module.text)
    for stmt in parsed.body:
        _statement(module, stmt)
    _spans(module, parsed.body)


def _spans(module: ModuleSource, body: List[ast.stmt]) -> None:
    """Where each top-level class and def is defined: the lines of the top-level statement holding
    it (the def itself with its decorators, or the `if`/`try` around it), for partial parses. As in
    ``cst_function``, the first def of a name wins and the last class. A statement that shares a line with
    another (`x = 1; def f(): ...` is not valid, but `if a: x = 1` followed by `;` could be) is left
    out (None: parse the whole file), and so is a text with lone carriage returns (ast counts them as line breaks).
    The methods of a class with a span get spans of their own (see ``_method_spans``)."""
    text = module.text
    if "\r" in text and text.count("\r") != text.count("\r\n"):
        return
    firsts = [first_line(s) for s in body]
    for i, stmt in enumerate(body):
        last = stmt.end_lineno or stmt.lineno
        shared = (i > 0 and (body[i - 1].end_lineno or 0) >= firsts[i]) or (i + 1 < len(body) and firsts[i + 1] <= last)
        for kind, name, node in definitions(stmt):
            if kind == "class" or (kind, name) not in module.spans:  # the last class, the first def
                module.spans[(kind, name)] = None if shared else (firsts[i], last)
            if kind == "class":
                module.method_spans[name] = {} if shared else _method_spans(node)  # type: ignore[arg-type]


def _method_spans(cls: ast.ClassDef) -> Dict[str, Tuple[int, int]]:
    """First and last line of each method, decorators included, for parsing one method alone
    (ModuleSource.cst_function). The def ``cst_function`` finds in the whole class is the first of
    its name in the class body, looking into `if`/`try` blocks: a class body with such a block
    gets no method spans (its methods are parsed with the class), nor does a def sharing a line."""
    if any(isinstance(s, (ast.If, ast.Try)) for s in cls.body):
        return {}
    out: Dict[str, Tuple[int, int]] = {}
    body = cls.body
    for i, stmt in enumerate(body):
        if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) or stmt.name in out:
            continue
        first, last = first_line(stmt), stmt.end_lineno or stmt.lineno
        if (i > 0 and (body[i - 1].end_lineno or 0) >= first) or (i + 1 < len(body) and first_line(body[i + 1]) <= last):
            continue
        out[stmt.name] = (first, last)
    return out


def first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", ())])


def definitions(stmt: ast.stmt):
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        yield "def", stmt.name, stmt
    elif isinstance(stmt, ast.ClassDef):
        yield "class", stmt.name, stmt
    elif isinstance(stmt, (ast.If, ast.Try)):
        for child in _suites(stmt):
            yield from definitions(child)


def _statement(module: ModuleSource, stmt: ast.stmt) -> None:
    if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
        if stmt.name not in module.functions:
            module.functions[stmt.name] = FunctionRef(None, module, stmt.name)
        if any(module.resolve_name(_dotted(d)) in FX_WRAP for d in stmt.decorator_list):
            module.wrapped.add(stmt.name)
    elif isinstance(stmt, ast.ClassDef):
        _class(module, stmt)
    elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
        _import(module, stmt)
    elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        if module.resolve_name(_dotted(call.func)) in FX_WRAP and call.args:
            arg = call.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                module.wrapped.add(arg.value)
            elif isinstance(arg, ast.Name):
                module.wrapped.add(arg.id)
    elif isinstance(stmt, ast.Assign) and _optional_import(module, stmt):
        pass
    elif isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
        module.globals_assigned.update(t.id for t in targets if isinstance(t, ast.Name))
    elif isinstance(stmt, (ast.If, ast.Try)):
        for child in _suites(stmt):
            _statement(module, child)


def _optional_import(module: ModuleSource, node: ast.Assign) -> bool:
    """ModuleSource._index_optional_import for the `ast` index."""
    if len(node.targets) != 1:
        return False
    target, value = node.targets[0], node.value
    if isinstance(target, (ast.Tuple, ast.List)) and target.elts:
        target = target.elts[0]
    elif isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Constant) and value.slice.value == 0 \
            and type(value.slice.value) is int:
        value = value.value
    else:
        return False
    if not isinstance(target, ast.Name) or not isinstance(value, ast.Call):
        return False
    positional = [a for a in value.args if not isinstance(a, ast.Starred)]
    named = {k.arg: k.value for k in value.keywords if k.arg}
    strings = [_string(v) for v in (named.get("module", positional[0] if positional else None),
                                    named.get("name", positional[3] if len(positional) > 3 else None))]
    found = optional_import_target(_dotted(value.func), strings[0], strings[1])
    if found is None:
        return False
    module.imports[target.id] = found
    return True


def _string(node: Optional[ast.AST]) -> Optional[str]:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _import(module: ModuleSource, node: ast.stmt) -> None:
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.asname:
                module.imports[alias.asname] = alias.name
            else:
                top = alias.name.split(".")[0]
                module.imports.setdefault(top, top)
        return
    assert isinstance(node, ast.ImportFrom)
    base = _absolute(module, node.module or "", node.level)
    if base is None:
        return
    for alias in node.names:
        if alias.name == "*":
            continue
        module.imports[alias.asname or alias.name] = f"{base}.{alias.name}" if base else alias.name


def _absolute(module: ModuleSource, name: str, level: int) -> Optional[str]:
    if level == 0:
        return name
    parts = module.package.split(".") if module.package else []
    if level - 1 > len(parts):
        return None
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join(p for p in base + ([name] if name else []) if p)


def _class(module: ModuleSource, node: ast.ClassDef) -> None:
    bases = [module.resolve_name(_dotted(b)) for b in node.bases if _dotted(b)]
    info = ClassInfo(node.name, module, None, bases)
    for stmt in node.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            static = any(_dotted(d) == "staticmethod" for d in stmt.decorator_list)
            info.methods[stmt.name] = FunctionRef(None, module, f"{node.name}.{stmt.name}", info, static)
    module.classes[node.name] = info


def _suites(stmt: ast.stmt) -> List[ast.stmt]:
    out: List[ast.stmt] = list(getattr(stmt, "body", []))
    out += list(getattr(stmt, "orelse", []))
    for handler in getattr(stmt, "handlers", []):
        out += list(handler.body)
    out += list(getattr(stmt, "finalbody", []))
    return out


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else ""
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""
