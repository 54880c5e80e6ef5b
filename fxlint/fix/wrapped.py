"""Top-level functions FX treats as leaves: `@torch.fx.wrap` / `@fx.wrap` or `torch.fx.wrap("name")`.

FX never traces their bodies, but fxlint's analysis still reports hazards inside them when it checks
them as functions of their own. Fix ignores those findings, or it would hoist its own hoisted code
again. Which names are wrapped is the analysis's own index (`ModuleSource.wrapped`: decorators and
registrations, resolved through the module's imports), so check and fix agree. Blind spot: a wrap
registered under a different module's name is not recognised.
"""

from __future__ import annotations

from typing import List, Sequence, Tuple

import libcst as cst

from fxlint.analysis.project import ModuleSource
from fxlint.diagnostics import Diagnostic
from fxlint.fix.tree import Tree


def wrapped_spans(tree: Tree) -> List[Tuple[int, int]]:
    """(first row, last row) of every top-level function FX will not trace."""
    wrapped = wrapped_names(tree)
    return [(tree.start(stmt)[0], tree.end(stmt)[0]) for stmt in tree.module.body
            if isinstance(stmt, cst.FunctionDef) and stmt.name.value in wrapped]


def wrapped_names(tree: Tree) -> "set[str]":
    """Names of the module's functions FX will not trace."""
    return set(ModuleSource("<fix>", "<fix>", tree.text, tree=tree.module).wrapped)


def outside_wrapped(tree: Tree, diagnostics: Sequence[Diagnostic]) -> List[Diagnostic]:
    spans = wrapped_spans(tree)
    return [d for d in diagnostics if not any(a <= d.location.row <= b for a, b in spans)]
