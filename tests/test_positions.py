"""PositionIndex places reported nodes where LibCST's PositionProvider does, without running it."""

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from fxlint.positions import PositionIndex

# Multi-line expressions inside indented blocks: code_for_node generates their continuation
# lines without the enclosing indentation, so the plain text search used to miss them.
SOURCE = '''\
import torch


class Net(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            y = torch.zeros(
                x.shape[0], 1, dtype=x.dtype
            )
            z = (
                isinstance(self.fc2.weight, torch.Tensor)
                and y.dtype != torch.int8
            )
            w = torch.zeros(
                x.shape[0], 1, dtype=x.dtype
            )
        v = (x + 1) * (y) + x.view(-1)[(0)]
        return foo(x,
                   bar(
                       1),  # a comment
                   """doc
  keeps its own indent""")
'''


def _expressions_with_statements(tree):
    """(expression, innermost enclosing statement) for every expression of the module."""
    out = []

    def visit(node, statement, parent=None):
        if isinstance(parent, cst.Arg) and node is parent.keyword or isinstance(parent, cst.Attribute) \
                and node is parent.attr:
            return  # keyword and attribute names are never reported (their field order is not source order)
        if isinstance(node, (cst.ClassDef, cst.FunctionDef)):
            statement = None  # headers are not what rules report on: only function bodies
        elif isinstance(node, (cst.BaseSmallStatement, cst.BaseCompoundStatement)):
            statement = node
        if isinstance(node, cst.BaseExpression) and statement is not None:
            out.append((node, statement))
        for child in node.children:
            visit(child, statement, node)

    visit(tree, None)
    return out


def test_spans_match_position_provider_without_falling_back():
    tree = cst.parse_module(SOURCE)
    expected = MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)
    index = PositionIndex(tree, SOURCE)
    pairs = _expressions_with_statements(tree)
    multi_line = [n for n, _ in pairs if "\n" in tree.code_for_node(n).strip()]
    assert len(multi_line) >= 6  # the case under test is really there
    for node, statement in pairs:
        r = expected[node]
        got = index.span(node, statement)
        if node.lpar:  # fxlint's spans keep an expression's own parentheses around PositionProvider's span
            begin, end = index._offsets[got[0] - 1] + got[1], index._offsets[got[2] - 1] + got[3]
            inner = index._offsets[r.start.line - 1] + r.start.column, index._offsets[r.end.line - 1] + r.end.column
            assert SOURCE[begin] == "(" and SOURCE[end - 1] == ")" and begin < inner[0] <= inner[1] < end
            assert SOURCE[begin + 1:inner[0]].strip() == "" and SOURCE[inner[1]:end - 1].strip() == ""
            continue
        assert got == (r.start.line, r.start.column, r.end.line, r.end.column), tree.code_for_node(node)
    assert index._fallback is None  # PositionProvider (a whole-module code generation) was never needed


def test_second_identical_multi_line_expression_is_placed_on_its_own_lines():
    tree = cst.parse_module(SOURCE)
    index = PositionIndex(tree, SOURCE)
    calls = [n for n, _ in _expressions_with_statements(tree)
             if isinstance(n, cst.Call) and tree.code_for_node(n).startswith("torch.zeros(")]
    body = tree.body[1].body.body[0].body.body[0]  # the `if` in forward
    assert [index.span(c, body)[0] for c in calls] == [7, 14]


def test_a_test_that_sends_tracing_into_a_raise_spans_through_the_raise():
    """FX's traceback ends at the `raise` (transformers: `raise ValueError("You cannot specify both
    input_ids and inputs_embeds ...")`), the line a user searches for; the finding starts at the test
    that decides it and runs through that line."""
    from fxlint.api import check_source

    source = (
        "import torch.nn as nn\n\n\n"
        "class M(nn.Module):\n"
        "    def forward(self, input_ids=None, inputs_embeds=None):\n"
        "        if input_ids is not None and inputs_embeds is not None:\n"
        "            raise ValueError('both')\n"
        "        return input_ids\n"
    )
    found = [d for d in check_source(source, "m.py") if d.code == "TRC501"]
    assert found and all((d.location.row, d.end_location.row) == (6, 7) for d in found)
    assert all(d.end_location.column == len("            raise ValueError('both')") + 1 for d in found)
