"""The fixer's Tree builds positions, parents, expression contexts and children from its own walks
(fxlint/fix/spans.py, fxlint/fix/tree.py `_Index`) instead of LibCST's metadata providers and
visitors. They must give exactly what LibCST gives: every span of PositionProvider (in its order),
ExpressionContextProvider's contexts, a visitor's parents, and `children` in LibCST's order (for the
nodes the rewrites look at: whitespace and punctuation aside), on every fixture and on odd syntax."""

from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import ExpressionContextProvider

from fxlint.fix import spans as spans_module
from fxlint.fix import tree as tree_module
from fxlint.fix.spans import _provider_spans, spans_of
from tests.test_child_nodes import SYNTAX

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "fixtures").rglob("*.py"))
_LAYOUT = (cst.SimpleWhitespace, cst.ParenthesizedWhitespace, cst.TrailingWhitespace, cst.EmptyLine,
           cst.Newline, cst.Comment)


class _Parents(cst.CSTVisitor):
    def __init__(self) -> None:
        self.parents = {}
        self.stack = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self.stack:
            self.parents[node] = self.stack[-1]
        self.stack.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self.stack.pop()


def _texts():
    yield "syntax", SYNTAX
    for rel in SOURCES:
        yield rel, (ROOT / rel).read_text(encoding="utf-8")


@pytest.mark.parametrize("name,text", list(_texts()), ids=lambda v: v if len(v) < 80 else None)
def test_tree_matches_libcst(name, text):
    module = cst.parse_module(text)
    fast = spans_of(module)
    assert spans_module._TRUSTED, "the fast position state failed its self-test on this LibCST"
    assert list(fast.items()) == list(_provider_spans(module).items())
    tree_module._CHILDREN.clear()
    tree_module._UNSORTED.clear()
    tree_module._SPANS = fast
    index = tree_module._Index(module, fast)
    visitor = _Parents()
    module.visit(visitor)
    assert index.parents == visitor.parents
    contexts = dict(cst.MetadataWrapper(module, unsafe_skip_copy=True).resolve(ExpressionContextProvider))
    assert index.contexts == contexts
    for node in fast:
        children = tree_module._children_in_order(node)
        expected = tuple(node.children)
        assert set(children) == set(expected)
        assert [c for c in children if not isinstance(c, _LAYOUT)] == [c for c in expected if not isinstance(c, _LAYOUT)]
