"""Rule documentation in the forms the CLI and the README need (generated, never hand-written)."""

from __future__ import annotations

import json
from typing import Sequence


def rule_text(rule: type) -> str:
    head = f"# {rule.name()} ({rule.code})\n\nHazard class: {rule.hazard.value}\nFix: {rule.fix_availability.value}\n"
    return head + "\n" + rule.documentation() + "\n"


def rules_markdown_table(rules: Sequence[type]) -> str:
    lines = ["| code | name | hazard class | fix | what it finds |", "|---|---|---|---|---|"]
    for r in rules:
        lines.append(f"| {r.code} | `{r.name()}` | {r.hazard.value} | {r.fix_availability.value} | {r.summary} |")
    return "\n".join(lines)


def rules_json(rules: Sequence[type]) -> str:
    return json.dumps([{"code": r.code, "name": r.name(), "hazard": r.hazard.value, "summary": r.summary,
                        "fix": r.fix_availability.value} for r in rules], indent=2)
