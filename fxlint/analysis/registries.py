"""Module-level registries of functions: what a dispatch like ``ATTENTION_FUNCTIONS[impl](...)`` may call.

Real libraries pick an implementation at run time from a dict of functions — a dict display
(``MASKS = {"sdpa": sdpa_mask, "eager": eager_mask}``) or an instance of a class whose body holds
one (transformers' ``ALL_MASK_ATTENTION_FUNCTIONS = AttentionMaskInterface()`` with
``_global_mapping = {...}``). Which key is used depends on configuration the analysis does not
see, so every function of the registry is a possible callee (path-insensitive, like the rest).

Read lazily with the stdlib ``ast`` from the module's text, once per module (most registries
are never consulted). Blind spot: entries added at run time (``register(...)``) are not seen.

A *class* registry builds an object on every lookup: transformers' ``ACT2FN = ClassInstantier(ACT2CLS)``,
whose ``__getitem__`` returns ``cls(**kwargs)`` for ``ACT2CLS = {"relu": nn.ReLU, "gelu_10":
(ClippedGELUActivation, {...}), ...}``. ``ACT2FN[name](x)`` in ``forward`` therefore calls a module
built during the call (TRC406); ``class_registry_names`` lists the classes it may build.
"""

from __future__ import annotations

import ast
from typing import Dict, List, Optional, Tuple


#: (path, hash of text) -> (function registries, class registries) of the module, from one `ast` parse
_CACHE: Dict[Tuple[str, int], Tuple[Dict[str, Tuple[str, ...]], Dict[str, Tuple[str, ...]]]] = {}


def registry_names(module, name: str) -> Tuple[str, ...]:
    """The dotted names (as written, unresolved) of the functions module-level ``name`` holds: a
    dict display of names, or a call of a class of the same module whose body assigns one."""
    return _tables(module)[0].get(name, ())


def class_registry_names(module, name: str) -> Tuple[str, ...]:
    """The dotted class names (as written, unresolved) that module-level ``name`` instantiates on
    lookup: ``name = Builder(TABLE)`` (or ``Builder({...})``) where ``Builder`` is a class of the same
    module whose ``__getitem__`` returns a call, and ``TABLE`` a module-level dict display of class
    names or ``(class, kwargs)`` pairs."""
    return _tables(module)[1].get(name, ())


def _tables(module) -> Tuple[Dict[str, Tuple[str, ...]], Dict[str, Tuple[str, ...]]]:
    key = (module.path, hash(module.text))
    found = _CACHE.get(key)
    if found is None:
        # the `ast` of the file being checked, if the engine keeps it (ModuleSource.kept_ast): the
        # same parse of the same text, not a second one (transformers' `logger.warning_once(...)` in
        # a forward asks for the tables of nearly every checked file)
        tree = getattr(module, "kept_ast", None)
        if tree is None:
            try:
                tree = ast.parse(module.text)
            except (SyntaxError, ValueError, RecursionError):
                tree = ast.Module(body=[], type_ignores=[])
        found = _CACHE[key] = (_read(tree), _read_class_registries(tree))
    return found


def _read(tree: ast.Module) -> Dict[str, Tuple[str, ...]]:
    class_dicts: Dict[str, Tuple[str, ...]] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.ClassDef):
            names: List[str] = []
            for inner in stmt.body:
                value = _assigned_value(inner)
                if isinstance(value, ast.Dict):
                    names.extend(_function_names(value))
            if names:
                class_dicts[stmt.name] = tuple(names)
    out: Dict[str, Tuple[str, ...]] = {}
    for stmt in tree.body:
        value = _assigned_value(stmt)
        target = _single_target(stmt)
        if value is None or target is None:
            continue
        if isinstance(value, ast.Dict):
            names = _function_names(value)
            if names:
                out[target] = tuple(names)
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in class_dicts:
            out[target] = class_dicts[value.func.id]
    return out


def _read_class_registries(tree: ast.Module) -> Dict[str, Tuple[str, ...]]:
    builders = {stmt.name for stmt in tree.body if isinstance(stmt, ast.ClassDef) and _builds_on_lookup(stmt)}
    if not builders:
        return {}
    tables: Dict[str, ast.Dict] = {}
    out: Dict[str, Tuple[str, ...]] = {}
    for stmt in tree.body:
        value, target = _assigned_value(stmt), _single_target(stmt)
        if value is None or target is None:
            continue
        if isinstance(value, ast.Dict):
            tables[target] = value
        elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in builders \
                and len(value.args) == 1:
            arg = value.args[0]
            table = tables.get(arg.id) if isinstance(arg, ast.Name) else arg if isinstance(arg, ast.Dict) else None
            names = _class_names(table) if table is not None else []
            if names:
                out[target] = tuple(names)
    return out


def _builds_on_lookup(cls: ast.ClassDef) -> bool:
    """Its `__getitem__` returns a call (`return cls(**kwargs)`)."""
    for item in cls.body:
        if isinstance(item, ast.FunctionDef) and item.name == "__getitem__":
            return any(isinstance(node, ast.Return) and isinstance(node.value, ast.Call) for node in ast.walk(item))
    return False


def _class_names(value: ast.Dict) -> List[str]:
    """The class of every entry (`nn.ReLU`, or the first element of `(ClippedGELU, {...})`); a display
    with any other entry is not a table of classes."""
    names = [_dotted(v.elts[0] if isinstance(v, ast.Tuple) and v.elts else v) for v in value.values]
    return names if names and all(names) else []


def _assigned_value(stmt: ast.stmt) -> Optional[ast.expr]:
    if isinstance(stmt, ast.Assign):
        return stmt.value
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value
    return None


def _single_target(stmt: ast.stmt) -> Optional[str]:
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
        return stmt.targets[0].id
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return stmt.target.id
    return None


def _function_names(value: ast.Dict) -> List[str]:
    """Every value of the display that names something (`sdpa_mask`, `flex.attention`); a display
    with other values (numbers, strings, calls) is configuration, not a registry."""
    names = [_dotted(v) for v in value.values]
    return names if names and all(names) else []


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else ""
    return ""
