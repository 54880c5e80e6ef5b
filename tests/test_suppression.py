"""Suppression comments are found on the rows the parsers give findings, whatever the line endings."""

import pytest

from fxlint.api import check_source
from fxlint.suppression import Suppressions

MODEL = """\
import torch


class Net(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:{comment}
            return x
        return -x
"""


def test_rows_and_codes():
    text = "a = 1\nb = 2  # noqa: TRC101, TRC2\nc = 3  # NOQA\nd = 4  # fxlint: ignore[TRC4]\ne = 5  # noqa\n"
    found = Suppressions(text).by_line
    assert found == {2: {"TRC101", "TRC2"}, 3: {""}, 4: {"TRC4"}, 5: {""}}


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_line_endings_count_as_the_parsers_count_them(newline):
    text = newline.join(["x = 1", "# a noqa word in a comment only", "y = 2  # noqa: TRC101", ""])
    assert Suppressions(text).by_line == {3: {"TRC101"}}


def test_a_form_feed_is_not_a_line_break():
    # str.splitlines splits at "\f"; Python's tokenizer (and LibCST, ast) do not
    text = "x = 1\n\f\ny = 2  # noqa: TRC101\n"
    assert Suppressions(text).by_line == {3: {"TRC101"}}


def test_two_mentions_on_one_line_are_read_once():
    text = "x = 1  # fxlint: ignore[TRC101]  # noqa: TRC2\n"
    assert Suppressions(text).by_line == {1: {"TRC101"}}


@pytest.mark.parametrize("comment, expected", [
    ("", ["TRC101"]),
    ("  # NOQA: TRC101", []),
    ("  # noqa: TRC2", ["TRC101"]),
])
def test_a_finding_is_suppressed_on_its_row(comment, expected):
    text = "\f\n" + MODEL.format(comment=comment)  # a form feed line first: rows after it must still match
    assert [d.code for d in check_source(text, "net.py")] == expected


def test_unknown_codes_are_warned_about_on_their_rows_whatever_the_case():
    from fxlint import registry
    from fxlint.noqa_check import unknown_codes_in_text

    known = [rule.code for rule in registry.all_rules()]
    text = "x = 1\n\f\ny = 2  # NOQA: TRC10L\nz = 3  # noqa: TRC101\n"
    assert [(row, code) for row, _, code in unknown_codes_in_text(text, known)] == [(3, "TRC10L")]


def test_codes_of_other_linters_in_noqa_are_theirs():
    """Like ruff's `external`: in a shared `# noqa`, only TRC codes are fxlint's (issue 17: NC001)."""
    from fxlint import registry
    from fxlint.noqa_check import unknown_codes_in_text

    known = [rule.code for rule in registry.all_rules()]
    text = "a = 1  # noqa: NC001\nb = 2  # noqa: XYZ123, E501\nc = 3  # noqa: NC001, TRC999\n"
    assert [(row, code) for row, _, code in unknown_codes_in_text(text, known)] == [(3, "TRC999")]
