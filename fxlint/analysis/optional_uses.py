"""How an Optional ``forward()`` input is used where tracing reaches: only forwarded, or operated on.

``if mask is not None:`` is always true while tracing, so the branch is baked into the graph. That
only matters if the baked code would then misbehave when the traced module gets ``mask=None``. It
does when something *operates* on the value (``x + mask``, ``mask.float()``, ``masked_fill(mask)``,
``torch.cat([x, mask])``) outside a None check of its own. It usually does not when the value is only
handed on: passed by keyword to a call (``F.scaled_dot_product_attention(q, k, v, attn_mask=mask)``,
``blk(x, attn_mask=mask)``), passed positionally to user code the analysis enters, aliased or
returned — torch's Optional keyword arguments take ``None`` at run time, and what user code does
with it is classified at its own lines (its uses are facts with the same ``param``).

A use inside a branch guarded by *another* None check of the same input belongs to that check's
verdict, not to this one's (timm's ``resolve_self_attn_mask``: ``elif attn_mask is None: ... else:
attn_mask.dtype``).

Blind spot (deliberate): a forwarded-only Optional whose *not-taken* branch computes something
else (``if mask is not None: y = f(x, mask=mask) else: y = g(x)``) bakes ``f`` for the None case too;
fxlint does not compare branches. A check whose branch never mentions the input
(``if mask is not None: x = x * 2``) is always reported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import libcst as cst

from fxlint.analysis import child_nodes, dotted
from fxlint.analysis.project import ClassInfo
from fxlint.analysis.values import Kind, Origin, Value

CHECK, FORWARD, STRICT = "check", "forward", "strict"
_BRANCHING_TYPES = frozenset((cst.If, cst.IfExp, cst.While))


@dataclass(frozen=True)
class Use:
    """One occurrence of the input's own value (not something derived from it)."""

    node: cst.Name
    kind: str  #: CHECK (a None comparison), FORWARD (handed on) or STRICT (operated on)
    #: the branching statements/expressions around the use whose test is a None check of the input
    guards: Tuple[cst.CSTNode, ...]


Key = Tuple[str, Optional[Origin]]


class OptionalUses:
    """Every use of every forward input's own value in one analysis, computed once on demand."""

    def __init__(self, facts: Dict[cst.CSTNode, Value], reached: Dict[cst.FunctionDef, object],
                 names_of: Optional[Callable[[cst.FunctionDef, object], List[NameSite]]] = None) -> None:
        """The analysis's facts and reached functions, not the analysis itself: the analysis holds
        this object, and a reference back would make a cycle that only the cyclic GC frees (with
        every tree and Value of the check in it: 8 M objects and ~15 s on transformers' models/).
        ``names_of(func, reach)``: ``name_sites(func)``, kept by the caller while the tree lives
        (the engine: a function is reached by several checks); default: computed here."""
        self.facts = facts
        self.reached = reached
        self._names_of = names_of
        self._uses: Optional[Dict[Key, List[Use]]] = None

    def uses(self, value: Value) -> List[Use]:
        if self._uses is None:
            self._uses = {}
            facts, uses, names_of = self.facts, self._uses, self._names_of
            for func, reach in list(self.reached.items()):
                for node, parent, grandparent, guards in (names_of(func, reach) if names_of is not None
                                                          else name_sites(func)):
                    value_ = facts.get(node)
                    name = value_.param or value_.maybe_param if value_ is not None else None
                    if name is not None:
                        kind = _classify(node, parent, grandparent, facts)  # type: ignore[arg-type]
                        uses.setdefault((name, value_.origin), []).append(Use(node, kind, guards))
        return self._uses.get((value.param or value.maybe_param, value.origin), [])

    def only_forwarded(self, value: Value, branching: cst.CSTNode) -> bool:
        """Is the None check heading ``branching`` harmless when the traced module gets None: the
        branch mentions the input, and every use outside other None checks only forwards it?"""
        mentioned = False
        for use in self.uses(value):
            if use.kind == CHECK:
                continue
            if branching in use.guards:
                mentioned = True
            elif any(g is not branching for g in use.guards):
                continue  # decided by that other check
            if use.kind == STRICT:
                return False
        return mentioned


#: a Name under a function, its parent and grandparent, and the None-check branches around it
NameSite = Tuple[cst.Name, Optional[cst.CSTNode], Optional[cst.CSTNode], Tuple[cst.CSTNode, ...]]


def name_sites(root: cst.CSTNode) -> List[NameSite]:
    """Every Name under ``root`` with its parent, grandparent and the None checks around it (of any
    name: which input a Name is comes from the facts), in pre-order. It depends on the tree only,
    not on the analysis. A loop over a stack, deciding by exact type (LibCST's node bases are ABCs,
    whose ``isinstance`` is slow): a walk of every reached function, as long as the rules' own."""
    out: List[NameSite] = []
    add = out.append
    stack: List[Tuple[cst.CSTNode, Tuple[cst.CSTNode, ...], Optional[cst.CSTNode], Optional[cst.CSTNode]]]
    stack = [(root, (), None, None)]
    pop, push = stack.pop, stack.append
    while stack:
        node, guards, parent, grandparent = pop()
        if node.__class__ is cst.Name:
            add((node, parent, grandparent, guards))  # type: ignore[arg-type]
            continue
        children = child_nodes(node)
        if not children:
            continue
        inner, test = guards, None
        if node.__class__ in _BRANCHING_TYPES:
            test = node.test  # type: ignore[attr-defined]
            if _is_none_check(test):
                inner = guards + (node,)
        for child in reversed(children):
            push((child, guards if child is test else inner, node, parent))
    return out


def _is_none_check(test: cst.CSTNode) -> bool:
    if isinstance(test, cst.Comparison):
        return any(isinstance(t.operator, (cst.Is, cst.IsNot, cst.Equal, cst.NotEqual))
                   and (dotted(t.comparator) == "None" or dotted(test.left) == "None") for t in test.comparisons)
    if isinstance(test, cst.BooleanOperation):
        return _is_none_check(test.left) or _is_none_check(test.right)
    if isinstance(test, cst.UnaryOperation):
        return _is_none_check(test.expression)
    return False


def _classify(node: cst.Name, parent, grandparent, facts) -> str:
    if isinstance(parent, cst.Comparison) or isinstance(parent, cst.ComparisonTarget):
        if _is_none_check(parent if isinstance(parent, cst.Comparison) else grandparent):
            return CHECK
        return STRICT
    if isinstance(parent, cst.Return) or (isinstance(parent, cst.AnnAssign) and isinstance(parent.target, cst.Name)):
        return FORWARD
    if isinstance(parent, cst.Assign) and all(isinstance(t.target, cst.Name) for t in parent.targets):
        return FORWARD  # an alias (unpacking `a, b = mask` operates on it)
    if isinstance(parent, cst.Arg) and isinstance(grandparent, cst.Call) and parent.value is node:
        if parent.keyword is not None:
            return FORWARD  # torch's Optional keyword arguments accept None; user code is seen inside
        callee = facts.get(grandparent.func)
        if callee is not None and callee.kind in (Kind.FUNCTION, Kind.MODULE, Kind.SELF) and _user_code(callee):
            return FORWARD
    return STRICT


def _user_code(callee: Value) -> bool:
    """A function or submodule of the checked files (the analysis follows the value into it)."""
    if callee.kind is Kind.FUNCTION:
        return True
    options = callee.items if callee.kind is Kind.MODULE and callee.items else (callee,)
    return all(isinstance(o.ref, ClassInfo) for o in options)
