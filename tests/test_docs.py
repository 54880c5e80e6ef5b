"""The README's rules table is generated from rules/ and must stay current."""

from pathlib import Path

from fxlint import registry
from fxlint.docs import rules_markdown_table

README = Path(__file__).resolve().parent.parent / "README.md"


def test_rules_table_is_current():
    text = README.read_text()
    start = text.index("<!-- rules-table")
    start = text.index("\n", start) + 1
    end = text.index("<!-- end rules-table -->")
    assert text[start:end].strip() == rules_markdown_table(registry.all_rules()).strip(), (
        "README rules table is stale: paste the output of `fxlint rules --format markdown`")


def test_every_rule_documents_itself():
    for rule in registry.all_rules():
        doc = rule.documentation()
        for section in ("## What it does", "## Why is this bad?", "## Example"):
            assert section in doc, f"{rule.code} lacks {section}"
        assert rule.summary and rule.INVALID


def test_fix_availability_matches_what_the_fixer_handles():
    """A rule documented as never fixable gets no plan from `fxlint fix`, and every code the fixer
    plans for (in-graph rewrites, hoists) documents when and how safely (``## Fix safety``)."""
    from fxlint.diagnostics import FixAvailability
    from fxlint.fix.api import HOIST_PREFIXES
    from fxlint.fix.inline import INLINE
    from fxlint.registry import all_rules

    for rule in all_rules():
        handled = rule.code.startswith(HOIST_PREFIXES) or rule.code in INLINE
        documented = rule.fix_availability is not FixAvailability.NEVER
        assert handled == documented, (rule.code, handled, rule.fix_availability)
        assert not documented or "## Fix safety" in rule.__doc__
