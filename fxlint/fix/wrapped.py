"""Top-level functions FX treats as leaves: `@torch.fx.wrap` / `@fx.wrap` or `torch.fx.wrap("name")`.

FX never traces their bodies, but fxlint's analysis (fxlint/analysis) does not know that yet and
reports hazards inside them. Fix ignores those findings, or it would hoist its own hoisted code
again. Blind spot: a wrap registered under a different module's name is not recognised.
"""

from __future__ import annotations

from typing import List, Sequence, Set, Tuple

import libcst as cst

from fxlint.analysis import dotted as _dotted

from fxlint.diagnostics import Diagnostic
from fxlint.fix.tree import Tree

WRAP_NAMES = {"torch.fx.wrap", "fx.wrap", "wrap"}


def wrapped_spans(tree: Tree) -> List[Tuple[int, int]]:
    """(first row, last row) of every top-level function FX will not trace."""
    registered = _registered_by_name(tree.module)
    spans = []
    for stmt in tree.module.body:
        if isinstance(stmt, cst.FunctionDef) and (stmt.name.value in registered or any(
                _dotted(d.decorator) in WRAP_NAMES for d in stmt.decorators)):
            spans.append((tree.start(stmt)[0], tree.end(stmt)[0]))
    return spans


def outside_wrapped(tree: Tree, diagnostics: Sequence[Diagnostic]) -> List[Diagnostic]:
    spans = wrapped_spans(tree)
    return [d for d in diagnostics if not any(a <= d.location.row <= b for a, b in spans)]


def _registered_by_name(module: cst.Module) -> Set[str]:
    names = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) \
                        and _dotted(small.value.func) in WRAP_NAMES and small.value.args:
                    arg = small.value.args[0].value
                    if isinstance(arg, cst.SimpleString):
                        names.add(arg.value.strip("'\""))
    return names


