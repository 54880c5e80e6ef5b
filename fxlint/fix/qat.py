"""Rewrites for code that traces and matches eager but whose QAT-prepared model crashes (TRC6xx).

Measured facts: shared/notes/fx-hazards.md §5 and issue 4's fixture runs (torch 2.13): a Python
number node that `prepare_qat_fx` takes for a tensor gets a fake-quant where it feeds a quantized
`mul`/`add`; made a 0-dim tensor with `torch.scalar_tensor(...)` at that point, it is observed as a
float32 tensor and the prepared model runs. Wrapping a whole `*`/`+` of such numbers does not help
(the inner `mul`/`add` is observed itself), which is why the rule reports the innermost operands.
"""

from __future__ import annotations

from typing import Optional, Union

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.plan import Decline, Plan, call, torch_attr
from fxlint.fix.tree import Tree

Outcome = Union[Plan, Decline, None]


# ---------------------------------------------------------------------------------------- TRC601
def number_operand_to_tensor(tree: Tree, d: Diagnostic) -> Outcome:
    """`t * (1.0 / math.sqrt(n))` -> `t * torch.scalar_tensor(1.0 / math.sqrt(n))`. Unsafe: a float32
    0-dim tensor replaces a Python number (see TRC601's Fix safety for the dtype cases)."""
    node = _operand_at(tree, d)
    if node is None:
        return None
    inner = node.with_changes(lpar=[], rpar=[])
    wrapped = call(torch_attr("scalar_tensor"), inner)  # a call needs no parentheses of its own
    title = f"Make `{tree.code(inner)}` a 0-dim tensor (`torch.scalar_tensor`)"
    return Plan(title, Applicability.UNSAFE, {node: wrapped}, [d], frozenset({"torch"}))


def _operand_at(tree: Tree, d: Diagnostic) -> Optional[cst.BaseExpression]:
    """The expression spanning exactly the finding (`x.size(1)`, not the `x.size(1) * 0.01` that starts
    at the same column). Diagnostic columns count the expression's own parentheses, LibCST's do not."""
    start = (d.location.row, d.location.column - 1)
    end = (d.end_location.row, d.end_location.column - 1)
    found = [n for n, rng in tree.ranges.items()
             if isinstance(n, cst.BaseExpression)
             and (rng.start.line, rng.start.column - len(getattr(n, "lpar", ()))) == start
             and (rng.end.line, rng.end.column + len(getattr(n, "rpar", ()))) == end]
    found.sort(key=tree.depth)
    return found[0] if found else None
