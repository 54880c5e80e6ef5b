"""Every rule's VALID examples stay clean and its INVALID examples are flagged where they say."""

import pytest

from fxlint import registry
from fxlint.testing import run_example

CASES = [(rule, kind, i, example) for rule in registry.all_rules()
         for kind, examples in (("valid", rule.VALID), ("invalid", rule.INVALID))
         for i, example in enumerate(examples)]


@pytest.mark.parametrize("rule,kind,index,example", CASES,
                         ids=[f"{r.code}-{k}-{i}" for r, k, i, _ in CASES])
def test_rule_example(rule, kind, index, example):
    found = run_example(example.code, example.helpers)
    mine = [d for d in found if d.code == rule.code]
    if kind == "valid":
        assert mine == [], f"{rule.code} flagged a VALID example: {[d.message for d in mine]}"
        return
    assert mine, f"{rule.code} missed an INVALID example; other findings: {[d.code for d in found]}"
    if example.message_contains:
        assert any(example.message_contains in d.message for d in mine), [d.message for d in mine]
    if example.line:
        assert mine[0].location.row == example.line, (mine[0].location, mine[0].message)


def test_valid_examples_are_clean_for_every_rule():
    """A VALID example of one rule must not trip any other rule either (no cross-rule noise)."""
    noisy = []
    for rule in registry.all_rules():
        for example in rule.VALID:
            found = run_example(example.code, example.helpers)
            noisy.extend(f"{rule.code} VALID -> {d.code}: {d.message}" for d in found)
    assert noisy == []
