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


#: module-level layout a statement-by-statement reparse must keep: header comments, comments and
#: blank lines between statements, a block's deeper trailing comments, no final newline
_LAYOUT_CASE = '''# licence header

"""doc"""
import torch
# about Net


class Net(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            x = x * 2
        return x
        # deeper trailing comment

    # body-level trailing comment
# column-zero comment


def helper(x):  # trailing
    return len(x)
'''


def _first_round(text, filename="case.py"):
    """(tree, the module round 1's plans make) of ``text``, or None when nothing is planned."""
    from fxlint.api import check_source
    from fxlint.fix.api import plan_round
    from fxlint.fix.apply import choose, rewritten
    from fxlint.fix.tree import Tree

    tree = Tree(text)
    plans = choose(tree, plan_round(tree, check_source(text, filename, (), (), tree.module), unsafe=True))
    return (tree, rewritten(tree, plans)) if plans else None


def _fix_inputs():
    yield "layout", _LAYOUT_CASE
    yield "layout-no-final-newline", _LAYOUT_CASE.rstrip("\n")
    for rel in SOURCES:
        text = (ROOT / rel).read_text(encoding="utf-8")
        if "forward" in text and not rel.endswith(".fixed.py"):  # a golden output has nothing left to fix
            yield rel, text


@pytest.mark.parametrize("name,text", list(_fix_inputs()), ids=lambda v: v if len(v) < 80 else None)
def test_reparsed_rewrite_is_what_the_parser_makes(name, text):
    """fix re-parses only the module-level statements a round rewrote (fxlint/fix/apply.py
    `reparsed`): the result must be exactly LibCST's parse of the new text."""
    from fxlint.fix.apply import reparsed

    try:
        cst.parse_module(text)
    except cst.ParserSyntaxError:
        pytest.skip("a fixture that does not parse, on purpose")
    planned = _first_round(text, name)
    if planned is None:
        pytest.skip("nothing to rewrite")
    tree, new = planned
    new_text, module = reparsed(tree.module, new)
    assert new_text == new.code
    assert module.deep_equals(cst.parse_module(new_text))
    assert module.code == new_text
    kept = {id(s) for s in tree.module.body}
    if name.startswith("layout") and new.has_trailing_newline:
        assert any(id(s) in kept for s in module.body)  # untouched statements are reused, not re-parsed
