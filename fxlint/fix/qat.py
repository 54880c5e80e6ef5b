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
from libcst.metadata import ExpressionContext

from fxlint.analysis import dotted
from fxlint.analysis.dtypes import names_float_dtype
from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.eager import EagerKind, eager_kind, is_tensor, not_proven
from fxlint.fix.plan import Decline, Plan, call, torch_attr, unique_name
from fxlint.fix.tree import Tree, walk

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
Outcome = Union[Plan, Decline, None]


# ---------------------------------------------------------------------------------------- TRC601
def number_operand_to_tensor(tree: Tree, d: Diagnostic) -> Outcome:
    """`t * (1.0 / math.sqrt(n))` -> `t * torch.scalar_tensor(1.0 / math.sqrt(n))`.

    Proof obligations (fxlint.fix.eager): the operand is a Python number in eager mode (not a numpy
    value: `torch.scalar_tensor` of a numpy array raises, of a numpy float keeps nothing of its
    dtype), and the arithmetic it is in meets a proven tensor through operations on numbers only,
    so the result was a tensor already.
    Unsafe for the stated difference: a float32 0-dim tensor replaces the Python number (see
    TRC601's Fix safety for the dtype cases)."""
    node = _operand_at(tree, d)
    if node is None:
        return None
    func = tree.function_of(node)
    if eager_kind(tree, func, node) is not EagerKind.NUMBER:
        return Decline(not_proven(tree, func, node, EagerKind.NUMBER))
    if _meets_tensor(tree, func, node) is None:
        return Decline(f"`{tree.code(node)}` is not proven to end up in arithmetic with a tensor; "
                       "a 0-dim tensor would change the type of a Python result")
    inner = node.with_changes(lpar=[], rpar=[])
    wrapped = call(torch_attr("scalar_tensor"), inner)  # a call needs no parentheses of its own
    title = f"Make `{tree.code(inner)}` a 0-dim tensor (`torch.scalar_tensor`)"
    return Plan(title, Applicability.UNSAFE, {node: wrapped}, [d], frozenset({"torch"}))


def _meets_tensor(tree: Tree, func, node: cst.BaseExpression) -> Optional[cst.BinaryOperation]:
    """The arithmetic that combines the number ``node`` with a proven tensor: the nearest enclosing
    operation that is a tensor in eager mode, reached through operations that are numbers (so only
    intermediate Python numbers become 0-dim tensors, and the final result was a tensor already)."""
    current: cst.CSTNode = node
    while True:
        parent = tree.parents.get(current)
        if not isinstance(parent, cst.BinaryOperation):
            return None
        kind = eager_kind(tree, func, parent)
        if kind is EagerKind.TENSOR:
            return parent
        if kind is not EagerKind.NUMBER:
            return None
        current = parent


def _operand_at(tree: Tree, d: Diagnostic) -> Optional[cst.BaseExpression]:
    """The expression spanning exactly the finding (`x.size(1)`, not the `x.size(1) * 0.01` that starts
    at the same column). Diagnostic columns count the expression's own parentheses, LibCST's do not."""
    start = (d.location.row, d.location.column - 1)
    end = (d.end_location.row, d.end_location.column - 1)
    found = [n for n, (sl, sc, el, ec) in tree.spans.items()
             if sl == start[0] and el == end[0] and isinstance(n, cst.BaseExpression)
             and (sl, sc - len(getattr(n, "lpar", ()))) == start
             and (el, ec + len(getattr(n, "rpar", ()))) == end]
    found.sort(key=tree.depth)
    return found[0] if found else None


# ---------------------------------------------------------------------------------------- TRC602
def size_concat_to_wrapped_join(tree: Tree, d: Diagnostic) -> Outcome:
    """`x.view(x.size()[:-1] + (h, d))` -> `x.view(_fx_sizes_forward_24(x.size()[:-1], (h, d)))`: the
    same sizes, joined by the tiny `@torch.fx.wrap` function TRC403's fix writes. FX records one
    call of it, which QAT leaves alone (it is no quantizable pattern), instead of an `add` it would
    fake-quantize. Only sizes are joined: nothing quantizable leaves the graph.

    Proof obligation: the left operand is `t.shape` / `t.size()` (sliced) of a proven tensor `t`
    (fxlint.fix.eager) and the right one a tuple display or such sizes, so the `+` was a `torch.Size`
    concatenation, not tensor arithmetic. SAFE when the joined sizes are a call's argument (every
    callee takes a tuple like the `torch.Size` it replaces); UNSAFE otherwise, since kept sizes may
    be used as a `torch.Size`."""
    node = tree.at(d.location.row, d.location.column, cst.BinaryOperation)
    func = tree.function_of(node) if node is not None else None
    if node is None or func is None or not isinstance(node.operator, cst.Add):
        return None
    if not (_tensor_sizes(tree, func, node.left) and _size_sequence(tree, func, node.right)):
        return Decline(f"`{tree.code(node.left)}` is not proven the sizes of a tensor joined with a tuple or sizes; "
                       "`+` may be tensor arithmetic there")
    name = unique_name(f"_fx_sizes_{func.name.value}_{d.location.row}", tree.names())
    joined = call(cst.Name(name), _bare(node.left), _bare(node.right)).with_changes(lpar=node.lpar, rpar=node.rpar)
    definition = join_sizes_definition(name, "`fxlint fix`, TRC602")
    safe = _passed_to_calls_only(tree, node, func)
    return Plan(f"Join the sizes `{tree.code(node)}` in a wrapped function", SAFE if safe else UNSAFE,
                {node: joined}, [d], frozenset({"torch"}), (tree.top_level(func), definition))


def _tensor_sizes(tree: Tree, func: cst.FunctionDef, expr: cst.BaseExpression) -> bool:
    """`t.shape` / `t.size()`, sliced, of a proven tensor `t`: a `torch.Size`, which `+` concatenates."""
    if isinstance(expr, cst.Subscript) and all(isinstance(e.slice, cst.Slice) for e in expr.slice):
        expr = expr.value
    if isinstance(expr, cst.Attribute) and expr.attr.value == "shape":
        return is_tensor(tree, func, expr.value)
    return isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute) \
        and expr.func.attr.value == "size" and is_tensor(tree, func, expr.func.value)


def _size_sequence(tree: Tree, func: cst.FunctionDef, expr: cst.BaseExpression) -> bool:
    """A tuple display (`(h, d)`) or a tensor's sizes: what `torch.Size + ...` concatenates."""
    return isinstance(expr, cst.Tuple) or _tensor_sizes(tree, func, expr)


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


# ---------------------------------------------------------------------------------------- TRC603
#: shape ops a following float cast can move behind (values, dtype and aliasing unchanged). Not
#: `expand` (a cast after it materializes; before it, in-place writes would hit a stride-0 view) and
#: not `clamp` (clamping before or after the cast differs for fractional bounds).
_CAST_COMMUTES = frozenset({"unsqueeze", "reshape", "view", "repeat", "squeeze", "transpose", "permute",
                            "contiguous", "flatten", "repeat_interleave"})
_FLOAT_CASTS = frozenset({"float", "half", "double", "bfloat16", "type_as", "to"})
#: `torch.f(t, ...)` spelled as the unobserved method `t.f(...)`
_FUNCTION_TO_METHOD = {"torch.add": "add", "torch.mul": "mul", "torch.flatten": "flatten",
                       "torch.unsqueeze": "unsqueeze", "torch.transpose": "transpose"}
_ATOMS = (cst.Name, cst.Attribute, cst.Call, cst.Subscript)
#: after hoisting (priority 1): code a hoist moves into a `@torch.fx.wrap` body runs eagerly, where
#: QAT never sees the op, so a rewrite there would be churn; where no hoist claims the code, it applies
_AFTER_HOISTS = 2


def integral_op_rewrite(tree: Tree, d: Diagnostic) -> Outcome:
    """Spell the QAT-observed op on an integer tensor with an equivalent the x86 backend configuration
    does not list (torch 2.13, measured; see TRC603's docs): `t.unsqueeze(1)` -> `t[:, None]`,
    `t + 1` -> `t.add(1)`, `t.repeat(r)` -> `t.tile(r)`, ..., or move a following float cast before
    the shape op. Proof obligation: the receiver (the integer tensor) is a tensor in eager mode
    (fxlint.fix.eager), and for an operator the other operand is a tensor or a Python number (what
    `Tensor.add`/`mul`/`div` accept as the operator did). SAFE: the same values, dtype and view-ness.
    The replacement is a call or a subscript, which needs no grouping parentheses: the replaced
    expression's own are dropped."""
    node = _operand_at(tree, d)
    if node is None:
        return None
    func = tree.function_of(node)
    parent = tree.parents.get(node)
    operand = isinstance(parent, cst.BinaryOperation) and node in (parent.left, parent.right)
    receiver = node if operand else _receiver_node(node)
    if receiver is None or not is_tensor(tree, func, receiver):
        return Decline(not_proven(tree, func, receiver or node, EagerKind.TENSOR) +
                       "; the unobserved spelling is a tensor method")
    if operand:
        return _operator_to_method(tree, d, parent, node)
    if isinstance(node, cst.Call):
        return _cast_first(tree, d, node) or _observed_call(tree, d, node)
    return None


def _receiver_node(node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """The integer tensor the finding is about: the operand itself (operators), or the receiver of
    the shape op (`m` of `m.unsqueeze(-1)`, of `torch.add(m, 1)`)."""
    if not isinstance(node, cst.Call):
        return node
    if dotted(node.func) in _FUNCTION_TO_METHOD:
        return node.args[0].value if node.args and not node.args[0].keyword and not node.args[0].star else None
    return node.func.value if isinstance(node.func, cst.Attribute) else None


def _operator_to_method(tree: Tree, d: Diagnostic, op: cst.BinaryOperation, tensor: cst.BaseExpression) -> Outcome:
    other = op.right if tensor is op.left else op.left
    if eager_kind(tree, tree.function_of(op), other) not in (EagerKind.TENSOR, EagerKind.NUMBER):
        return Decline(not_proven(tree, tree.function_of(op), other, EagerKind.TENSOR) +
                       " or a number; the method may not accept it")
    other = _bare(other)
    receiver = _receiver(tensor)
    if isinstance(op.operator, cst.FloorDivide):
        if tensor is not op.left:
            return Decline("`number // integer tensor` has no unobserved method spelling; use `torch.div(...)`")
        floor = cst.Arg(cst.SimpleString('"floor"'), keyword=cst.Name("rounding_mode"), equal=_TIGHT_EQUAL)
        new = _method(receiver, "div", [cst.Arg(other), floor])
    else:
        new = _method(receiver, "add" if isinstance(op.operator, cst.Add) else "mul", [cst.Arg(other)])
    new = _grouped(op, new)
    return Plan(f"Spell `{_flat(tree.code(op))}` as `{_shown(new)}` (QAT does not observe it)", SAFE, {op: new}, [d],
                priority=_AFTER_HOISTS)


def _cast_first(tree: Tree, d: Diagnostic, shape_call: cst.Call) -> Optional[Plan]:
    """`m.unsqueeze(-1).to(h.dtype)` -> `m.to(h.dtype).unsqueeze(-1)`: the cast is elementwise, so it
    commutes with the shape op, and the shape op then sees a float tensor."""
    func = shape_call.func
    attribute = tree.parents.get(shape_call)
    cast = tree.parents.get(attribute) if isinstance(attribute, cst.Attribute) else None
    if not (isinstance(func, cst.Attribute) and func.attr.value in _CAST_COMMUTES and isinstance(cast, cst.Call)
            and cast.func is attribute and attribute.attr.value in _FLOAT_CASTS):
        return None
    if attribute.attr.value == "to" and not any(names_float_dtype(a) for a in cast.args):
        return None
    # the two calls swap their names and arguments; each dot (and the line break or comment around
    # it, in a method chain split over lines) stays where it was
    casted = cst.Call(func=func.with_changes(value=_receiver(func.value), attr=attribute.attr), args=cast.args,
                      whitespace_after_func=cast.whitespace_after_func,
                      whitespace_before_args=cast.whitespace_before_args)
    new = cst.Call(func=attribute.with_changes(value=casted, attr=func.attr), args=shape_call.args,
                   whitespace_after_func=shape_call.whitespace_after_func,
                   whitespace_before_args=shape_call.whitespace_before_args)
    new = _grouped(cast, new)
    return Plan(f"Cast before `.{func.attr.value}()`: `{_shown(new)}`", SAFE, {cast: new}, [d], priority=_AFTER_HOISTS)


def _observed_call(tree: Tree, d: Diagnostic, node: cst.Call) -> Outcome:
    func = node.func
    name = dotted(func)
    dot = None
    if name in _FUNCTION_TO_METHOD and node.args and not node.args[0].keyword and not node.args[0].star:
        receiver, method, rest = node.args[0].value, _FUNCTION_TO_METHOD[name], node.args[1:]
    elif isinstance(func, cst.Attribute):
        receiver, method, rest, dot = func.value, func.attr.value, node.args, func.dot
    else:
        return None
    new = _method_spelling(_receiver(receiver), method, list(rest), dot)
    if new is None:
        return Decline(f"no unobserved spelling of `{method}` for an integer tensor: cast it to float first, "
                       "or keep it out of the traced graph")
    new = _grouped(node, new)
    return Plan(f"Spell `{_flat(tree.code(node))}` as `{_shown(new)}` (QAT does not observe it)", SAFE, {node: new},
                [d], frozenset({"torch"}), priority=_AFTER_HOISTS)


def _method_spelling(receiver: cst.BaseExpression, method: str, args, dot) -> Optional[cst.BaseExpression]:
    """The unobserved spelling, built from the original nodes (never from their text: a receiver or
    an argument may span lines, hold comments or backslash continuations)."""
    plain = [a for a in args if a.keyword is None and not a.star]
    if len(plain) != len(args) and method not in ("add", "mul", "flatten"):
        return None
    if method in ("add", "mul", "flatten"):
        return _method(receiver, method, _without_trailing_comma(args), dot)
    if method == "unsqueeze" and len(plain) == 1:
        index = _unsqueeze_index(plain[0].value)
        return cst.Subscript(value=receiver, slice=index) if index is not None else None
    if not plain:
        return None
    if method in ("reshape", "permute"):
        return call(torch_attr(method), receiver, _sizes(plain))
    if method == "expand":
        return call(torch_attr("broadcast_to"), receiver, _sizes(plain))
    if method == "repeat":
        return _method(receiver, "tile", [cst.Arg(_sizes(plain))], dot)
    if method == "transpose" and len(plain) == 2:
        return _method(receiver, "swapaxes", _without_trailing_comma(plain), dot)
    return None


def _unsqueeze_index(dim: cst.BaseExpression) -> Optional[list]:
    """`unsqueeze(2)` -> `:, :, None`; `unsqueeze(-1)` -> `..., None`; `unsqueeze(-2)` -> `..., None, :`."""
    every, new_axis = cst.Slice(lower=None, upper=None), cst.Index(cst.Name("None"))
    if isinstance(dim, cst.Integer):
        parts = [every] * int(dim.value) + [new_axis]
    elif isinstance(dim, cst.UnaryOperation) and isinstance(dim.operator, cst.Minus) \
            and isinstance(dim.expression, cst.Integer):
        parts = [cst.Index(cst.Ellipsis()), new_axis] + [every] * (int(dim.expression.value) - 1)
    else:
        return None
    return [cst.SubscriptElement(part) for part in parts]


_TIGHT_EQUAL = cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace(""))


def _method(receiver: cst.BaseExpression, name: str, args, dot=None) -> cst.Call:
    attribute = cst.Attribute(value=receiver, attr=cst.Name(name))
    return cst.Call(func=attribute.with_changes(dot=dot) if dot is not None else attribute, args=args)


def _sizes(args) -> cst.BaseExpression:
    """One size argument as it is; several as one tuple (their commas, comments included, kept)."""
    if len(args) == 1:
        return args[0].value
    elements = [cst.Element(a.value, comma=a.comma) for a in args]
    elements[-1] = elements[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return cst.Tuple(elements)


def _without_trailing_comma(args) -> list:
    args = list(args)
    if args and args[-1].comma is not cst.MaybeSentinel.DEFAULT and not _has_comment(args[-1].comma):
        args[-1] = args[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
    return args


def _has_comment(node: cst.CSTNode) -> bool:
    return "#" in cst.Module([]).code_for_node(node)


def _receiver(expr: cst.BaseExpression) -> cst.BaseExpression:
    """``expr`` as a method receiver: parenthesized unless it is an atom or has parentheses already."""
    if isinstance(expr, _ATOMS) or expr.lpar:
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def _grouped(original: cst.BaseExpression, new: cst.BaseExpression) -> cst.BaseExpression:
    """The replacement is a call or a subscript, which needs no grouping parentheses: the replaced
    expression's own are dropped, unless the new code spans lines. Then they may be what makes the
    line breaks legal (`(x\\n .view(-1, 1)\\n .repeat(1, w))`): they are kept."""
    if original.lpar and "\n" in _code(new):
        return new.with_changes(lpar=original.lpar, rpar=original.rpar)
    return new


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def _flat(text: str) -> str:
    """Code as one line for a title (a fix's title is one line of the report)."""
    return " ".join(text.split())


def _shown(node: cst.CSTNode) -> str:
    return _flat(_code(node).strip())
