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
from fxlint.fix.plan import Decline, Plan, call, torch_attr, unique_name
from libcst.metadata import ExpressionContext

from fxlint.fix.tree import Tree, walk

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
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


# ---------------------------------------------------------------------------------------- TRC602
def size_concat_to_wrapped_join(tree: Tree, d: Diagnostic) -> Outcome:
    """`x.view(x.size()[:-1] + (h, d))` -> `x.view(_fx_sizes_forward_24(x.size()[:-1], (h, d)))`: the
    same sizes, joined by the tiny `@torch.fx.wrap` function TRC403's fix writes. FX records one
    call of it, which QAT leaves alone (it is no quantizable pattern), instead of an `add` it would
    fake-quantize. Only sizes are joined: nothing quantizable leaves the graph.

    SAFE when the joined sizes are a call's argument (every callee takes a tuple like the
    `torch.Size` it replaces); UNSAFE otherwise, since kept sizes may be used as a `torch.Size`."""
    node = tree.at(d.location.row, d.location.column, cst.BinaryOperation)
    func = tree.function_of(node) if node is not None else None
    if node is None or func is None or not isinstance(node.operator, cst.Add):
        return None
    name = unique_name(f"_fx_sizes_{func.name.value}_{d.location.row}", tree.names())
    joined = call(cst.Name(name), _bare(node.left), _bare(node.right)).with_changes(lpar=node.lpar, rpar=node.rpar)
    definition = join_sizes_definition(name, "`fxlint fix`, TRC602")
    safe = _passed_to_calls_only(tree, node, func)
    return Plan(f"Join the sizes `{tree.code(node)}` in a wrapped function", SAFE if safe else UNSAFE,
                {node: joined}, [d], frozenset({"torch"}), (tree.top_level(func), definition))


def _bare(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` without grouping parentheses (a call argument needs none); a tuple keeps its own."""
    return expr if isinstance(expr, cst.Tuple) else expr.with_changes(lpar=[], rpar=[])


def _passed_to_calls_only(tree: Tree, node: cst.BaseExpression, func: cst.FunctionDef) -> bool:
    """Is ``node`` a call's argument, or assigned to a local name (`new_shape = ...`) that is only
    ever read as a call's argument in ``func``? Then a tuple serves as well as a `torch.Size`."""
    parent = tree.parents.get(node)
    if isinstance(parent, cst.Arg):
        return True
    if not (isinstance(parent, cst.Assign) and len(parent.targets) == 1
            and isinstance(parent.targets[0].target, cst.Name)):
        return False
    name = parent.targets[0].target.value
    reads = [n for n in walk(func) if isinstance(n, cst.Name) and n.value == name
             and tree.contexts.get(n) is ExpressionContext.LOAD]
    return bool(reads) and all(isinstance(tree.parents.get(n), cst.Arg) and not tree.parents[n].star
                               for n in reads)


def join_sizes_definition(name: str, why: str) -> cst.BaseStatement:
    """A top-level `@torch.fx.wrap` function that joins size sequences into one tuple."""
    return cst.parse_statement(
        f"@torch.fx.wrap\ndef {name}(*parts):\n"
        f'    """Joins size sequences ({why}): FX records one call, not an `add` QAT would fake-quantize."""\n'
        "    return tuple(size for part in parts for size in part)\n").with_changes(
        leading_lines=[cst.EmptyLine(), cst.EmptyLine()])
