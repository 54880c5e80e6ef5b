"""What a rewrite proposes: node replacements, module-level additions, and its applicability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic

Replacement = Union[cst.CSTNode, cst.FlattenSentinel, cst.RemovalSentinel]


@dataclass
class Plan:
    """One fix: replace these original nodes; optionally add a top-level function and imports."""

    title: str
    applicability: Applicability
    replacements: Dict[cst.CSTNode, Replacement]
    diagnostics: List[Diagnostic] = field(default_factory=list)  #: the findings it addresses
    imports: FrozenSet[str] = frozenset()  #: modules that must be bound at top level ("torch", "math")
    #: (module-level statement to insert before, new statement) for hoisted functions
    hoisted: Optional[Tuple[cst.CSTNode, cst.BaseStatement]] = None
    priority: int = 0  #: lower first: in-graph rewrites win over hoisting in the same round
    #: ("Net.forward", "mask"): entry inputs this plan makes constants while tracing; other findings
    #: from them wait a round (they may be gone then, rather than hoisted now)
    settles: FrozenSet[Tuple[str, str]] = frozenset()
    #: code the plan takes out of the traced path (methods copied into a hoisted function): plans
    #: inside it wait a round, when their findings are usually gone
    covers: Tuple[cst.CSTNode, ...] = ()
    hides: FrozenSet[str] = frozenset()  #: submodules a hoist hides from quantization (named in the title)
    #: statements a hoist moves into a wrapped function: other plans inside them wait a round, when
    #: their code runs eagerly inside the wrapped function and is left as it is
    moves: Tuple[cst.CSTNode, ...] = ()
    #: a pin the user named (`--pin`): applied without `--unsafe-fixes`, which never implies one
    named: bool = False


@dataclass(frozen=True)
class Decline:
    """Why no fix is offered for a finding (shown as manual work)."""

    reason: str
    #: no hoist either: a hoist would only move the finding (a stored `is None` check), or take a path
    #: away that only the user may take (fxlint/fix/pin.py)
    final: bool = False


def torch_attr(*names: str) -> cst.BaseExpression:
    """``torch.a.b`` as an expression."""
    expr: cst.BaseExpression = cst.Name("torch")
    for name in names:
        expr = cst.Attribute(value=expr, attr=cst.Name(name))
    return expr


def call(func: cst.BaseExpression, *args: cst.BaseExpression) -> cst.Call:
    return cst.Call(func=func, args=[cst.Arg(value=a) for a in args])


def unique_name(name: str, taken: Set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... : the first not in ``taken``."""
    if name not in taken:
        return name
    i = 2
    while f"{name}_{i}" in taken:
        i += 1
    return f"{name}_{i}"


def wrapped_def(name: str, params: Sequence[str], body: Sequence[cst.BaseStatement], doc: str) -> cst.FunctionDef:
    """A top-level ``@torch.fx.wrap`` function with a docstring, two blank lines before it."""
    template = cst.parse_statement(f"@torch.fx.wrap\ndef {name}({', '.join(params)}):\n    pass\n")
    assert isinstance(template, cst.FunctionDef)
    docstring = cst.parse_statement(f'"""{doc}"""\n')
    return template.with_changes(body=cst.IndentedBlock(body=[docstring, *body]),
                                 leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
