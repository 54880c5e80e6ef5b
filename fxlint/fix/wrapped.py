"""Top-level functions FX treats as leaves: `@torch.fx.wrap` / `@fx.wrap` / `@wrap`, a
`torch.fx.wrap("name")` / `torch.fx.wrap(name)` registration, or `name = torch.fx.wrap(name)`.

FX never traces their bodies, but fxlint's analysis still reports hazards inside them when it checks
them as functions of their own. Fix ignores those findings, or it would hoist its own hoisted code
again. Which names are wrapped is the analysis's own index (`ModuleSource.wrapped`: decorators and
registrations, resolved through the module's imports), so check and fix agree; the assignment form
is added here.

A module-level function that a wrapped function calls (directly or through other such functions)
also runs eagerly on real values: an in-graph rewrite there (`.size(0)`, `torch.where`,
`torch.scalar_tensor`) gains nothing and may only break it, so :func:`eager_callers` names them and
in-graph rewrites decline there (fxlint.fix.inline). Blind spots: a wrap registered under a different
module's name, a function reached through an alias or passed as a value.
"""

from __future__ import annotations

import weakref
from typing import Dict, List, Optional, Sequence, Tuple

import libcst as cst

from fxlint.analysis import dotted
from fxlint.analysis.project import FX_WRAP, ModuleSource
from fxlint.diagnostics import Diagnostic
from fxlint.fix.tree import Tree, walk


def wrapped_spans(tree: Tree) -> List[Tuple[int, int]]:
    """(first row, last row) of every top-level function FX will not trace."""
    wrapped = wrapped_names(tree)
    return [(tree.start(stmt)[0], tree.end(stmt)[0]) for stmt in tree.module.body
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in wrapped]


def wrapped_names(tree: Tree) -> "set[str]":
    """Names of the module's functions FX will not trace."""
    source = ModuleSource("<fix>", "<fix>", tree.text, tree=tree.module)
    names = set(source.wrapped)
    for stmt in tree.module.body:  # `f = torch.fx.wrap(f)`
        for small in stmt.body if isinstance(stmt, cst.SimpleStatementLine) else ():
            if isinstance(small, cst.Assign) and isinstance(small.value, cst.Call) and small.value.args \
                    and source.resolve_name(dotted(small.value.func)) in FX_WRAP:
                arg = small.value.args[0].value
                if isinstance(arg, cst.Name):
                    names.add(arg.value)
                elif isinstance(arg, cst.SimpleString) and isinstance(arg.evaluated_value, str):
                    names.add(arg.evaluated_value)
    return names


_EAGER: "weakref.WeakKeyDictionary[Tree, Dict[str, str]]" = weakref.WeakKeyDictionary()


def eager_callers(tree: Tree) -> Dict[str, str]:
    """Module-level functions that run eagerly because a wrapped function calls them (by their bare
    name, directly or through each other) -> the wrapped function they run under."""
    if tree not in _EAGER:
        _EAGER[tree] = _eager_callers(tree)
    return _EAGER[tree]


def _eager_callers(tree: Tree) -> Dict[str, str]:
    functions = {s.name.value: s for s in tree.module.body if isinstance(s, cst.FunctionDef)}
    wrapped = wrapped_names(tree)
    out: Dict[str, str] = {}
    todo = [(name, name) for name in wrapped if name in functions]
    while todo:
        name, root = todo.pop()
        for n in walk(functions[name]):
            if isinstance(n, cst.Call) and isinstance(n.func, cst.Name) and n.func.value in functions \
                    and n.func.value not in wrapped and n.func.value not in out:
                out[n.func.value] = root
                todo.append((n.func.value, root))
    return out


def eager_caller_of(tree: Tree, node: cst.CSTNode) -> Optional[str]:
    """The wrapped function under which the module-level function holding ``node`` runs eagerly."""
    top = tree.top_level(node)
    if not isinstance(top, cst.FunctionDef):
        return None
    return eager_callers(tree).get(top.name.value)


def outside_wrapped(tree: Tree, diagnostics: Sequence[Diagnostic]) -> List[Diagnostic]:
    spans = wrapped_spans(tree)
    return [d for d in diagnostics if not any(a <= d.location.row <= b for a, b in spans)]
