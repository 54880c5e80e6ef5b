"""Positions of every node of a module, as LibCST's PositionProvider computes them, at a third of its cost.

PositionProvider regenerates the module's code through a codegen state that records where each
node starts and ends. Its state splits every token with a regular expression, builds two
CodePosition and one CodeRange per node, and enters a generator-based context manager per
syntactic node: on timm's fix that was 60% of building a :class:`~fxlint.fix.tree.Tree`. The state
below does the same bookkeeping with plain tuples, a newline test before any split, and a reusable
context object. It follows LibCST's codegen protocol (``before_codegen``/``after_codegen``,
``record_syntactic_position``, ``add_token``), an internal interface: :func:`spans_of` compares
itself with PositionProvider on a small module the first time, and any difference or error makes
it use PositionProvider from then on (tests/test_fix_spans.py compares the two on every fixture).
"""

from __future__ import annotations

import re
from typing import Dict, List, Optional, Tuple

import libcst as cst
from libcst.metadata import PositionProvider

try:  # LibCST's codegen state: internal, hence the self-test in spans_of
    from libcst._nodes.internal import CodegenState
except ImportError:  # pragma: no cover - a LibCST without it: the provider is used
    CodegenState = None  # type: ignore[assignment,misc]

Span = Tuple[int, int, int, int]  #: (start line, start column, end line, end column); lines 1-based
_NEWLINE = re.compile(r"\r\n?|\n")


if CodegenState is not None:
    class _SpanState(CodegenState):  # type: ignore[misc,valid-type]
        """A codegen state that records each node's span in ``spans`` (insertion order as the provider's)."""

        def __init__(self, module: cst.Module, spans: Dict[cst.CSTNode, Span]) -> None:
            super().__init__(default_indent=module.default_indent, default_newline=module.default_newline)
            self.spans = spans
            self.line = 1
            self.column = 0
            self._stack: List[Tuple[int, int]] = []
            self._syntactic = _Syntactic(self)

        def add_indent_tokens(self) -> None:
            for token in self.indent_tokens:
                self.add_token(token)

        def add_token(self, value: str) -> None:
            self.tokens.append(value)  # Module's codegen asks whether any token was added
            if "\n" in value or "\r" in value:
                segments = _NEWLINE.split(value)
                self.line += len(segments) - 1
                self.column = len(segments[-1])
            else:
                self.column += len(value)

        def before_codegen(self, node: cst.CSTNode) -> None:
            self._stack.append((self.line, self.column))

        def after_codegen(self, node: cst.CSTNode) -> None:
            line, column = self._stack.pop()
            if node not in self.spans:  # a syntactic position recorded inside stays
                self.spans[node] = (line, column, self.line, self.column)

        def record_syntactic_position(self, node: cst.CSTNode, *, start_node: Optional[cst.CSTNode] = None,
                                      end_node: Optional[cst.CSTNode] = None) -> "_Syntactic":
            return self._syntactic.open(node, start_node, end_node)


class _Syntactic:
    """``with state.record_syntactic_position(node, ...)``: the node's span without the whitespace
    it owns, or taken from its first/last syntactic child. Re-entrant through a stack."""

    def __init__(self, state: "_SpanState") -> None:
        self.state = state
        self.open_spans: List[Tuple[cst.CSTNode, Optional[cst.CSTNode], Optional[cst.CSTNode], int, int]] = []

    def open(self, node, start_node, end_node) -> "_Syntactic":
        self.open_spans.append((node, start_node, end_node, self.state.line, self.state.column))
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc) -> None:
        node, start_node, end_node, line, column = self.open_spans.pop()
        spans = self.state.spans
        start = spans[start_node][:2] if start_node is not None else (line, column)
        end = spans[end_node][2:] if end_node is not None else (self.state.line, self.state.column)
        spans[node] = start + end


_TRUSTED: Optional[bool] = None  #: did the fast state match the provider on the self-test?
_PROBE = '''import torch
@decorator(1)
class Net(Base, metaclass=Meta):  # comment
    """doc"""
    def forward(self, x, *args, y: int = 2, **kw) -> "T":
        if x is not None and (y > 1 or not kw):
            z = [a for a in x if a] + (lambda q: q)(y)
        elif y:
            pass
        else:
            del kw["k"]
        with ctx() as (m, n):
            return x[1:2, ...].sum(dim=-1) @ {1: 2}, \\
                f"{x!r:>3}"
'''


def spans_of(module: cst.Module) -> Dict[cst.CSTNode, Span]:
    """Every node's span, as PositionProvider's CodeRange would give it."""
    return spans_and_code(module)[0]


def spans_and_code(module: cst.Module) -> Tuple[Dict[cst.CSTNode, Span], str]:
    """Every node's span and the module's code, from one codegen (the code for free: a caller
    handed a module and its text checks they agree without a second codegen)."""
    global _TRUSTED
    if _TRUSTED is None:
        _TRUSTED = _self_test()
    if _TRUSTED:
        spans: Dict[cst.CSTNode, Span] = {}
        state = _SpanState(module, spans)
        module._codegen(state)
        return spans, "".join(state.tokens)
    return _provider_spans(module), module.code


def _provider_spans(module: cst.Module) -> Dict[cst.CSTNode, Span]:
    ranges = cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
    return {n: (r.start.line, r.start.column, r.end.line, r.end.column) for n, r in ranges.items()}


def _self_test() -> bool:
    if CodegenState is None:
        return False
    try:
        module = cst.parse_module(_PROBE)
        fast: Dict[cst.CSTNode, Span] = {}
        module._codegen(_SpanState(module, fast))
        return list(fast.items()) == list(_provider_spans(module).items())
    except Exception:  # noqa: BLE001 - an interface that changed: the provider it is
        return False
