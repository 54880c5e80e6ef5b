"""TRC403 `*shape` unpacked into a size argument: `y.view(*x.shape[:-1], h, d)` ->
`y.view(_fx_sizes_24(x.shape[:-1], h, d))`, where `_fx_sizes_24` is a tiny top-level
`@torch.fx.wrap` function that concatenates its parts. Only the size list leaves the graph: the
layer that produced `y` stays in it, where QAT sees it (hoisting the statement would hide `self.q`).

Why not in-graph `x.shape[:-1] + (h, d)`: it traces, but QAT treats the `add` node as "maybe a
tensor" (a tuple constant among its positional args) and puts a FakeQuantize on it, which fails at
run time with `must be Tensor, not torch.Size` (measured; notes §5). A wrapped call whose positional
args are shape getitems and ints is known tensor-free and gets none.

UNSAFE, as every wrapped call: a part that is not a sequence or int (a float, a tensor) would make
QAT observe the call again. Applies only when the starred value is visibly a shape (`.shape`,
`.size()`, or a slice/index of one) and the callee takes one size sequence.
"""

from __future__ import annotations

from typing import Set

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.plan import Decline, Plan
from fxlint.fix.tree import Tree, walk

#: tensor methods and torch factories whose sizes may be given as one sequence instead of varargs
SIZE_METHODS = {"view", "reshape", "expand", "repeat", "permute", "tile", "new_zeros", "new_ones", "new_empty"}
SIZE_FACTORIES = {"zeros", "ones", "empty", "rand", "randn"}


def star_shape_to_sizes(tree: Tree, d: Diagnostic):
    """The plan for one `*shape` finding, or None when this is not its shape."""
    arg = _starred_arg(tree, d)
    if arg is None:
        return None
    call = tree.parents.get(arg)
    if not isinstance(call, cst.Call) or not _takes_one_size(call.func):
        return None
    positional = [a for a in call.args if a.keyword is None]
    if any(a.star == "**" for a in call.args):
        return None
    if any(a.star == "*" and not _is_shape(a.value) for a in positional):
        return Decline("a starred argument that is not visibly a shape; pass one tuple of sizes by hand")
    names = {n.value for n in walk(tree.module) if isinstance(n, cst.Name)}
    helper = _unique(f"_fx_sizes_{d.location.row}", names)
    parts = ", ".join(tree.code(a.value) for a in positional)
    keywords = [a for a in call.args if a.keyword is not None]
    sizes = cst.Arg(value=cst.parse_expression(f"{helper}({parts})"),
                    comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if keywords else cst.MaybeSentinel.DEFAULT)
    new = call.with_changes(args=[sizes, *keywords])
    func = next((a for a in tree.ancestors(call) if isinstance(a, cst.FunctionDef)), None)
    top = tree.top_level(func if func is not None else call)
    title = (f"Pass the sizes of `{tree.code(call.func)}` as one list built by `@torch.fx.wrap` `{helper}` "
             "(the layers stay in the graph)")
    return Plan(title, Applicability.UNSAFE, {call: new}, [d], frozenset({"torch"}), (top, _definition(helper)))


def _starred_arg(tree: Tree, d: Diagnostic):
    """The `*value` argument the finding points at (at the star or at the value)."""
    for node in tree._by_start.get((d.location.row, d.location.column - 1), ()):
        if isinstance(node, cst.Arg) and node.star == "*":
            return node
        parent = tree.parents.get(node)
        if isinstance(parent, cst.Arg) and parent.star == "*" and parent.value is node:
            return parent
    return None


def _takes_one_size(func: cst.BaseExpression) -> bool:
    if not isinstance(func, cst.Attribute):
        return False
    name = func.attr.value
    if isinstance(func.value, cst.Name) and func.value.value == "torch":
        return name in SIZE_FACTORIES
    return name in SIZE_METHODS


def _is_shape(expr: cst.BaseExpression) -> bool:
    """`x.shape`, `x.size()`, or a subscript of one (`x.shape[:-1]`, `x.size()[2:]`)."""
    while isinstance(expr, cst.Subscript):
        expr = expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "shape"
    return isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute) \
        and expr.func.attr.value == "size"


def _definition(name: str) -> cst.BaseStatement:
    text = (
        "@torch.fx.wrap\n"
        f"def {name}(*parts):\n"
        '    """Sizes for a call that took `*shape` (by `fxlint fix`, TRC403): FX records one call, and QAT\n'
        '    leaves it alone because every positional argument is a shape or an int."""\n'
        "    sizes = []\n"
        "    for part in parts:\n"
        "        if isinstance(part, (tuple, list)):\n"
        "            sizes.extend(part)\n"
        "        else:\n"
        "            sizes.append(part)\n"
        "    return sizes\n"
    )
    return cst.parse_statement(text).with_changes(leading_lines=[cst.EmptyLine(), cst.EmptyLine()])


def _unique(name: str, taken: Set[str]) -> str:
    candidate, i = name, 2
    while candidate in taken:
        candidate, i = f"{name}_{i}", i + 1
    return candidate


#: code -> rewrites tried after fxlint/fix/inline.py's (same protocol: Plan, Decline or None)
STAR_SIZES = {"TRC403": (star_shape_to_sizes,)}
