"""What a rule sees: the shared analysis, seen from one traced function.

The engine walks every function that tracing reaches once, and calls each rule's
``visit_<NodeType>(node, ctx)``. ``ctx`` answers "what is this expression while tracing?"
(:meth:`RuleContext.value`), "what does this call resolve to?" (:meth:`qualified`), and takes
findings (:meth:`report`). Provenance and the call chain are attached automatically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import libcst as cst

from fxlint.analysis.interp import Analysis, Reach
from fxlint.analysis.project import ClassInfo, FunctionRef, ModuleSource
from fxlint.analysis.values import Kind, Taint, Value
from fxlint.diagnostics import Fix


@dataclass(frozen=True)
class Finding:
    """A diagnostic before positions are resolved (positions cost a code-generation pass)."""

    rule: type
    node: cst.CSTNode
    module: ModuleSource
    message: str
    value: Optional[Value]
    chain: Tuple[str, ...]
    fix: Optional[Fix] = None
    help: str = ""
    #: the innermost statement containing ``node`` (anchors its position)
    statement: Optional[cst.CSTNode] = None
    #: the LibCST module ``node`` belongs to (a dependency file's may be a partial tree)
    tree: Optional[cst.Module] = None
    #: the models ("module.Class") whose tracing reaches the reporting function
    entries: Tuple[str, ...] = ()
    #: a later statement the finding's span runs through (where FX stops because of ``node``: the
    #: `raise` a test sends tracing into), or None
    through: Optional[cst.CSTNode] = None


class RuleContext:
    """The analysis as seen from one reached function."""

    def __init__(self, analysis: Analysis, reach: Reach, sink: List[Finding]) -> None:
        self.analysis = analysis
        self.reach = reach
        #: parent of every node visited so far (filled by the engine's walk)
        self.parents: Dict[cst.CSTNode, cst.CSTNode] = {}
        #: innermost enclosing statement of every node visited so far
        self.statements: Dict[cst.CSTNode, Optional[cst.CSTNode]] = {}
        #: the node whose visit_* method is running
        self.current: Optional[cst.CSTNode] = None
        self._sink = sink
        self.rule: type = object
        #: node -> its code, kept by the engine while the tree lives (a helper's findings are
        #: reported again in the check of every file reaching it), or None
        self.codes: Optional[Dict[cst.CSTNode, str]] = None
        #: the last node ``qualified`` named, and its name: every rule's ``visit_Call`` asks for the
        #: callee of the same Call in turn (14 rules: 5.7 M lookups on transformers' models/). Facts
        #: do not change while the rules run.
        self._named: Tuple[Optional[cst.CSTNode], str] = (None, "")

    # ------------------------------------------------------------- where we are
    @property
    def function(self) -> FunctionRef:
        return self.reach.func

    @property
    def module(self) -> ModuleSource:
        return self.reach.func.module

    @property
    def owner(self) -> Optional[ClassInfo]:
        return self.reach.func.cls

    @property
    def is_forward(self) -> bool:
        return self.reach.func.node.name.value == "forward"

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        return self.parents.get(node)

    def is_condition(self, node: cst.CSTNode) -> bool:
        """Is ``node`` the test of an if/while/assert/ternary/comprehension filter (reported there)?"""
        parent = self.parent(node)
        if isinstance(parent, (cst.If, cst.While, cst.IfExp)) and parent.test is node:
            return True
        if isinstance(parent, cst.Assert) and parent.test is node:
            return True
        if isinstance(parent, cst.CompIf):
            return True
        if isinstance(parent, (cst.BooleanOperation, cst.UnaryOperation)):
            return self.is_condition(parent)
        return False

    # ------------------------------------------------------------- what things are
    def value(self, node: Optional[cst.CSTNode]) -> Optional[Value]:
        return self.analysis.facts.get(node) if node is not None else None

    def traced(self, node: Optional[cst.CSTNode]) -> Optional[Value]:
        """The value of ``node`` if it is a Proxy (or holds one) while tracing, else None."""
        v = self.value(node)
        return v if v is not None and v.traced else None

    def proxy(self, node: Optional[cst.CSTNode]) -> Optional[Value]:
        """The value of ``node`` if it is itself a Proxy, else None."""
        v = self.value(node)
        return v if v is not None and v.is_proxy else None

    def certain_proxy(self, node: Optional[cst.CSTNode]) -> Optional[Value]:
        """A Proxy that is surely not a Python container at run time (for iteration, `len`,
        item assignment, membership and container type checks)."""
        v = self.proxy(node)
        return v if v is not None and not v.opaque else None

    def qualified(self, node: cst.CSTNode) -> str:
        """Dotted name a callee denotes: "torch.zeros", "numpy.asarray", "builtins.len", or ""."""
        named = self._named
        if named[0] is node and node is not None:
            return named[1]
        v = self.value(node)
        name = "" if v is None else str(v.ref) if v.kind is Kind.EXTERNAL else \
            v.ref[0].qualname if v.kind is Kind.FUNCTION else ""
        self._named = (node, name)
        return name

    def external(self, node: cst.CSTNode) -> str:
        """Dotted name of a callee defined outside the checked files ("numpy.clip"), else ""."""
        v = self.value(node)
        return str(v.ref) if v is not None and v.kind is Kind.EXTERNAL else ""

    def code(self, node: cst.CSTNode) -> str:
        codes = self.codes
        text = codes.get(node) if codes is not None else None
        if text is None:
            text = self.function.tree.code_for_node(node).strip()
            if codes is not None:
                codes[node] = text
        return text if len(text) <= 60 else text[:57] + "..."

    def describe(self, value: Value, article: bool = True) -> str:
        """"the values of forward input `x`", "the shape of nn.Parameter `self.pos`", ..."""
        if value.scalar:
            return f"a Python number taken from {self._origin_text(value)}"
        what = "values" if value.taint & Taint.VALUE else "shape"
        return f"{'the ' if article else ''}{what} of {self._origin_text(value)}"

    def _origin_text(self, value: Value) -> str:
        origin = value.origin
        if origin is None:
            return "a traced value"
        if origin.kind == "parameter":
            return f"nn.Parameter `{origin.name}`"
        if origin.kind == "varkw":
            return f"`**{origin.name}`"
        if origin.kind == "varargs":
            return f"`*{origin.name}`"
        return f"forward input `{origin.name}`"


    # ------------------------------------------------------------- findings
    def report(self, node: cst.CSTNode, message: str, value: Optional[Value] = None,
               fix: Optional[Fix] = None, help: str = "", through: Optional[cst.CSTNode] = None) -> None:
        """``through``: a later statement of this function the finding's span extends to (see Finding)."""
        self._sink.append(Finding(self.rule, node, self.module, message, value, self.reach.chain, fix,
                                  help or getattr(self.rule, "help", ""), self.statement_of(node),
                                  self.reach.func.tree, self.analysis.entries_of(self.reach.func.node), through))

    def report_in(self, func: FunctionRef, node: cst.CSTNode, message: str, chain_tail: str) -> None:
        """Report ``node``, a statement of ``func`` (another function, maybe of another file) that
        this function's tracing runs without the analysis entering it (a decorator's wrapper): once
        at its own line, like a hazard in a shared helper, with this function's chain and entries."""
        self._sink.append(Finding(self.rule, node, func.module, message, None, self.reach.chain + (chain_tail,),
                                  None, getattr(self.rule, "help", ""), node, func.tree,
                                  self.analysis.entries_of(self.reach.func.node)))

    def statement_of(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The innermost statement containing ``node`` (a descendant of the node being visited)."""
        for candidate in (node, self.current):
            if isinstance(candidate, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
                return candidate
            if candidate in self.statements:
                return self.statements[candidate]
        return None


def condition_label(node: cst.CSTNode, parent: Optional[cst.CSTNode]) -> str:
    """How a user names the construct whose test ``node`` is: `if`, `elif`, `while`, ..."""
    if isinstance(node, cst.If):
        return "`elif`" if isinstance(parent, cst.If) and parent.orelse is node else "`if`"
    if isinstance(node, cst.While):
        return "`while`"
    if isinstance(node, cst.IfExp):
        return "conditional expression"
    if isinstance(node, cst.Assert):
        return "`assert`"
    return "condition"


def is_flag(value: Value) -> bool:
    """A forward parameter with a non-tensor default (`mode="a"`, `flag=False`) decides this value."""
    origin = value.origin
    return (origin is not None and origin.kind == "input" and origin.default is not None
            and origin.default != "None" and not (value.taint & ~Taint.VALUE))


FX_CONTROL_FLOW = ("FX cannot branch on a Proxy and stops with `TraceError: symbolically traced variables "
                   "cannot be used as inputs to control flow`")


def from_block_input(value: Value) -> bool:
    """Derived from an input of a block whose parent the analysis could not follow."""
    return value.origin is not None and value.origin.kind == "block-input"
