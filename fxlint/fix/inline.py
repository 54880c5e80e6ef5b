"""In-graph rewrites: the fixed code is still recorded as ordinary FX nodes, so QAT sees it.

Each function takes the parsed tree and one diagnostic and returns a :class:`Plan`, a
:class:`Decline` (this finding's shape is not handled, or its proof obligation fails, and why), or
None (not this rewrite's job). A Plan is offered only where the rewrite's obligation, written in its
docstring and in the rule's "Fix safety", holds for the *eager* types (fxlint.fix.eager): a traced
Proxy says nothing about what a value is when the model runs normally. No rewrite applies in a
module function a `@torch.fx.wrap` function calls (fxlint.fix.wrapped.eager_callers).
Measured facts behind each one: shared/notes/fx-hazards.md §3 (fix column) and §5.
"""

from __future__ import annotations

import functools
from typing import List, Optional, Sequence, Set, Union

import libcst as cst

from fxlint.analysis import dotted as _dotted
from libcst.metadata import ExpressionContext

from fxlint.diagnostics import Applicability, Diagnostic
from fxlint.fix.eager import (EagerKind, bindings, definitely_bound, eager_kind, integer, is_tensor, not_proven,
                              reaching_bindings)
from fxlint.fix.kwargs import explicit_kwargs
from fxlint.fix.plan import Decline, Plan, call, torch_attr, unique_name
from fxlint.fix.pin import pin_optional_input
from fxlint.fix.qat import (integral_op_rewrite, join_sizes_definition, number_operand_to_tensor,
                            size_concat_to_wrapped_join)
from fxlint.fix.silent import buffer_update_in_place, drop_no_grad, fresh_random, no_grad_decorator, tensor_branch
from fxlint.fix.tree import Tree, paren, walk
from fxlint.fix.wrapped import eager_caller_of

SAFE, UNSAFE = Applicability.SAFE, Applicability.UNSAFE
Outcome = Union[Plan, Decline, None]


# ---------------------------------------------------------------------------------------- TRC102
def assert_to_torch_assert(tree: Tree, d: Diagnostic) -> Outcome:
    """`assert a and b, m` -> `torch._assert(a, m)` + `torch._assert(b, m)`: same checks, same order,
    and recorded by FX. Blind spot: the message is now evaluated eagerly on every call."""
    node = tree.at(d.location.row, d.location.column, cst.Assert)
    if node is None:
        return None
    parts = _and_parts(node.test)
    if any(_truthiness_left(p) for p in parts):
        return Decline("the condition uses `or`/`not` on a traced value; write it with `|`/`~` by hand")
    message = node.msg if node.msg is not None else cst.SimpleString('""')
    exprs = [cst.Expr(call(torch_attr("_assert"), p, message)) for p in parts]
    line = tree.parents[node]
    if not isinstance(line, cst.SimpleStatementLine):
        return None
    if len(line.body) == 1:
        lines = [line.with_changes(body=[exprs[0]])]
        lines += [cst.SimpleStatementLine(body=[e]) for e in exprs[1:]]
        replacement = cst.FlattenSentinel(lines) if len(lines) > 1 else lines[0]
        return Plan("Replace `assert` with `torch._assert`", SAFE, {line: replacement}, [d], frozenset({"torch"}))
    semis = [e.with_changes(semicolon=cst.Semicolon(whitespace_after=cst.SimpleWhitespace(" "))) for e in exprs]
    semis[-1] = semis[-1].with_changes(semicolon=node.semicolon)
    return Plan("Replace `assert` with `torch._assert`", SAFE, {node: cst.FlattenSentinel(semis)}, [d],
                frozenset({"torch"}))


def _and_parts(expr: cst.BaseExpression) -> List[cst.BaseExpression]:
    if isinstance(expr, cst.BooleanOperation) and isinstance(expr.operator, cst.And):
        return _and_parts(expr.left) + _and_parts(expr.right)
    return [expr]


def _truthiness_left(expr: cst.BaseExpression) -> bool:
    """Would Python still take the truth value of a sub-expression (`or`, `and`, `not`)?"""
    return any(isinstance(n, cst.BooleanOperation) or (isinstance(n, cst.UnaryOperation) and
                                                        isinstance(n.operator, cst.Not)) for n in walk(expr))


# ---------------------------------------------------------------------------------------- TRC204
def len_to_size(tree: Tree, d: Diagnostic) -> Outcome:
    """`len(t)` -> `t.size(0)`; `len(t.shape)` / `len(t.size())` -> `t.ndim`.

    Proof obligation: `t` is a tensor in eager mode on every path reaching the call
    (fxlint.fix.eager; a traced Proxy proves nothing: a `list[Tensor]` input, a `*args` tuple and a
    list built in the code are Proxies too). Then `len(t) == t.size(0)` for rank >= 1, and a 0-dim
    tensor makes both raise (`TypeError` from `len`, `IndexError` from `size(0)`: the one difference).
    `len(t.shape) == t.ndim` always. `ndim` rather than the rule's suggested `dim()`: QAT treats a
    `getattr(x, "ndim")` node as a non-tensor, but puts a fake-quant on arithmetic with a `dim()`
    node and then crashes (notes §5)."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None or not _is_name(node.func, "len") or len(node.args) != 1:
        return None
    arg = node.args[0].value
    base = _shape_base(arg)
    if base is None and (SHAPE_DERIVED in d.message or isinstance(arg, cst.Subscript)):
        # a size sequence (`x.shape[2:]`, `sizes = x.size()[1:]`) or a slice is not a tensor: `.size(0)`
        # would fail on it at run time; the finding is left to a hoist
        return None
    func = tree.function_of(node)
    subject = base if base is not None else arg
    if not is_tensor(tree, func, subject):
        return Decline(not_proven(tree, func, subject, EagerKind.TENSOR))
    if base is not None:
        new = cst.Attribute(value=paren(base), attr=cst.Name("ndim"))
        title = f"Replace `len({tree.code(arg)})` with `{tree.code(base)}.ndim`"
    else:
        new = call(cst.Attribute(value=paren(arg), attr=cst.Name("size")), cst.Integer("0"))
        title = f"Replace `len({tree.code(arg)})` with `.size(0)`"
    return Plan(title, SAFE, {node: new.with_changes(lpar=node.lpar, rpar=node.rpar)}, [d])


#: how RuleContext.describe words a shape-only value in a message (TRC204's `derived from shape of ...`)
SHAPE_DERIVED = "derived from shape of"


def _shape_base(arg: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    if isinstance(arg, cst.Attribute) and arg.attr.value == "shape":
        return arg.value
    if isinstance(arg, cst.Call) and not arg.args and isinstance(arg.func, cst.Attribute) \
            and arg.func.attr.value == "size":
        return arg.func.value
    return None


# ---------------------------------------------------------------------------------------- TRC207
def varargs_to_tuple(tree: Tree, d: Diagnostic) -> Outcome:
    """`torch.zeros(b, n, dtype=...)` -> `torch.zeros((b, n), dtype=...)`: the same call."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None:
        return None
    if any(a.star for a in node.args):
        return Decline("starred size arguments; pass one tuple of sizes by hand")
    positional = [a for a in node.args if a.keyword is None]
    keywords = [a for a in node.args if a.keyword is not None]
    if len(positional) < 2:
        return None
    sizes = cst.Tuple([cst.Element(value=a.value) for a in positional])
    first = cst.Arg(value=sizes, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if keywords
                    else cst.MaybeSentinel.DEFAULT)
    new = node.with_changes(args=[first, *keywords])
    return Plan(f"Pass the sizes of `{tree.code(node.func)}` as one tuple", SAFE, {node: new}, [d])


# ---------------------------------------------------------------------------------------- TRC303
def math_by_module(tree: Tree, d: Diagnostic) -> Outcome:
    """`ceil(v)` (from `from math import ceil`) -> `math.ceil(v)`: attribute access goes through the
    `math` module the tracer patches."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None or not isinstance(node.func, cst.Name):
        return None
    original = _math_imports(tree.module).get(node.func.value)
    if original is None:
        return Decline(f"`{node.func.value}` is not imported from `math` at module level")
    new = node.with_changes(func=cst.Attribute(value=cst.Name("math"), attr=cst.Name(original)))
    return Plan(f"Call `math.{original}` instead of the imported `{node.func.value}`", SAFE, {node: new}, [d],
                frozenset({"math"}))


def _math_imports(module: cst.Module) -> dict:
    found = {}
    for stmt in module.body:
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.ImportFrom) and _dotted(small.module) == "math" \
                    and not isinstance(small.names, cst.ImportStar):
                for alias in small.names:
                    bound = alias.asname.name.value if alias.asname else alias.name.value
                    found[bound] = alias.name.value
    return found


# ---------------------------------------------------------------------------------------- TRC205
# No in-graph rewrite: `buf.narrow(dim, 0, T)` records the slice but raises where Python's slice
# clamps a stop past the end of the dimension, and an unsafe fix must never raise where the original
# did not. The statement is hoisted instead (the buffer is passed in; the same slice runs eagerly).


# ------------------------------------------------------------------------------- TRC201 pad guard
PAD_CALLEES = {"F.pad", "nn.functional.pad", "torch.nn.functional.pad", "functional.pad"}


def unconditional_pad(tree: Tree, d: Diagnostic) -> Outcome:
    """`if ph > 0 or pw > 0: x = F.pad(x, (0, pw, 0, ph))` -> the pad alone: a zero pad is a no-op.

    Proof obligation: the padded value is a tensor in eager mode (fxlint.fix.eager), so the zero pad
    runs where the guard skipped it without raising, and gives the same values (a new tensor rather
    than the same object: the one difference). SAFE when the guard is `!= 0`, or `> 0` on amounts
    computed as `(...) % m` (never negative for a positive modulus such as a window or stride size:
    the Swin/SAM pattern). Otherwise UNSAFE: a negative amount, skipped by the guard, would crop."""
    node = tree.owner_of_test(d.location.row, d.location.column)
    if not isinstance(node, cst.If) or node.orelse is not None or tree.parents.get(node) is None:
        return None
    if isinstance(tree.parents.get(node), cst.If):
        return None  # an `elif`
    body = node.body.body
    if len(body) != 1 or not isinstance(body[0], cst.SimpleStatementLine) or len(body[0].body) != 1:
        return None
    pad = _pad_assignment(tree, body[0].body[0])
    if pad is None:
        return None
    guarded = _guard_names(node.test)
    amounts = pad
    if guarded is None or set(guarded) != set(amounts):
        return None
    func = tree.function_of(node)
    padded = body[0].body[0].value.args[0].value
    if not is_tensor(tree, func, padded):
        return Decline(not_proven(tree, func, padded, EagerKind.TENSOR) +
                       "; padding it on every call could raise where the guard skipped it")
    nonneg = func is not None and all(op == "!=" or _modulo_only(tree, func, name) for name, op in guarded.items())
    title = "Pad unconditionally (a zero pad is a no-op)"
    replacement = body[0].with_changes(leading_lines=[*node.leading_lines, *body[0].leading_lines])
    return Plan(title, SAFE if nonneg else UNSAFE, {node: replacement}, [d])


def _pad_assignment(tree: Tree, small: cst.BaseSmallStatement) -> Optional[List[str]]:
    """Names among the pad amounts of `x = F.pad(x, (...))`; None when the shape differs."""
    if not isinstance(small, cst.Assign) or len(small.targets) != 1:
        return None
    value = small.value
    if not isinstance(value, cst.Call) or tree.code(value.func) not in PAD_CALLEES or len(value.args) < 2:
        return None
    amounts = value.args[1].value
    if not isinstance(amounts, (cst.Tuple, cst.List)):
        return None
    names = []
    for element in amounts.elements:
        v = element.value
        if isinstance(v, cst.Integer) and v.value == "0":
            continue
        if not isinstance(v, cst.Name):
            return None
        names.append(v.value)
    return names


def _guard_names(test: cst.BaseExpression) -> Optional[dict]:
    """{name: "!=" | ">"} for `a > 0 or b != 0 ...`; None for any other shape."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        left, right = _guard_names(test.left), _guard_names(test.right)
        if left is None or right is None:
            return None
        return {**left, **right}
    if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
        return None
    target = test.comparisons[0]
    op, right = target.operator, target.comparator
    if isinstance(test.left, cst.Name) and isinstance(right, cst.Integer) and right.value == "0":
        if isinstance(op, cst.GreaterThan):
            return {test.left.value: ">"}
        if isinstance(op, cst.NotEqual):
            return {test.left.value: "!="}
    if isinstance(right, cst.Name) and isinstance(test.left, cst.Integer) and test.left.value == "0" \
            and isinstance(op, cst.LessThan):
        return {right.value: ">"}
    return None


def _modulo_only(tree: Tree, func: cst.FunctionDef, name: str) -> bool:
    """Is every assignment of ``name`` in ``func`` a `... % m` with m a positive literal or an attribute
    (a configured size, assumed positive)?"""
    values = []
    for n in walk(func):
        if isinstance(n, cst.Assign):
            if any(isinstance(t.target, cst.Name) and t.target.value == name for t in n.targets):
                values.append(n.value)
            elif any(name in _target_names(t.target) for t in n.targets):
                return False
        elif isinstance(n, (cst.AugAssign, cst.AnnAssign)) and name in _target_names(n.target):
            return False
    if not values:
        return False
    for v in values:
        if not (isinstance(v, cst.BinaryOperation) and isinstance(v.operator, cst.Modulo)):
            return False
        m = v.right
        if not ((isinstance(m, cst.Integer) and int(m.value, 0) > 0) or isinstance(m, cst.Attribute)):
            return False
    return True


def _target_names(target: cst.BaseExpression) -> Set[str]:
    return {n.value for n in walk(target) if isinstance(n, cst.Name)}


# ------------------------------------------------------------------------------ TRC101 torch.where
#: conditions that are Python bools in eager mode although FX sees a Proxy: torch.where would reject them
BOOL_CALLS = {"equal", "allclose", "is_nonzero", "is_tensor", "is_floating_point", "isinstance", "hasattr",
              "bool", "any", "all", "item", "tolist", "callable"}
#: methods of a dict (`kwargs.pop("flag", False)`): what they return is a Python value, not a tensor
DICT_METHODS = {"pop", "get", "setdefault", "keys", "values", "items", "copy"}
RANDOM_HINTS = ("rand", "dropout", "bernoulli", "normal", "multinomial", "poisson", "uniform")


def conditional_to_where(tree: Tree, d: Diagnostic) -> Outcome:
    """`a if c else b`, `if c: y = a [else: y = b]`, `if c: return a` + `return b` -> `torch.where`.

    Proof obligations (fxlint.fix.eager), each failing one a Decline: the condition is a 0-dim bool
    tensor in eager mode (a comparison, `&`/`|`/`~` of comparisons, `.any()`/`.all()`, of tensors
    reduced to 0-dim and numbers), so `torch.where` accepts it and broadcasting it adds no dimension;
    both branches are proven tensors of the same shape (elementwise expressions of one tensor and
    numbers / 0-dim tensors, so `torch.where` cannot fail to broadcast them); evaluating the branch
    that was not taken has no side effects (no submodule, helper, random or in-place call) and cannot
    raise (only elementwise ops, every local it reads bound on every path). UNSAFE for the stated
    differences: both branches are computed (cost); the result is a new tensor (not the branch's own
    object), of the two branches' promoted dtype and requiring grad when either does."""
    if d.code != "TRC101":
        return None
    node = tree.owner_of_test(d.location.row, d.location.column)
    func = tree.function_of(node) if node is not None else None
    if node is None or func is None or not (isinstance(node, cst.IfExp) or (
            isinstance(node, cst.If) and not isinstance(tree.parents.get(node), cst.If))):
        return None
    if not _where_condition(node.test) or not _bool_scalar(tree, func, node.test, 6):
        return Decline(f"the condition `{tree.code(node.test)}` is not proven a 0-dim bool tensor in eager mode "
                       "(torch.where needs one)")
    if isinstance(node, cst.IfExp):
        return _where_ifexp(tree, func, node, d)
    if isinstance(node, cst.If) and not isinstance(tree.parents.get(node), cst.If):
        return _where_if_assign(tree, func, node, d) or _where_if_return(tree, func, node, d)
    return None


def _where_plan(tree: Tree, func: cst.FunctionDef, d: Diagnostic, a: cst.BaseExpression, b: cst.BaseExpression,
                at: cst.CSTNode, replacements) -> Outcome:
    """The Plan when both branches meet the obligations, else the Decline naming the first that fails."""
    for branch in (a, b):
        if not is_tensor(tree, func, branch, at):
            return Decline(f"`{tree.code(branch) if branch in tree.ranges else branch.value}` is not proven a "
                           "tensor in eager mode; torch.where would change its type")
        if not _pure(branch):
            return Decline(f"`{tree.code(branch)}` has side effects or calls code fxlint cannot see into; "
                           "torch.where would run it on every call")
        unbound = [n.value for n in walk(branch) if isinstance(n, cst.Name) and tree.contexts.get(n) == ExpressionContext.LOAD
                   and not _attribute_name(tree, n) and _local(tree, func, n.value)
                   and not definitely_bound(tree, func, n.value, at)]
        if unbound:
            return Decline(f"`{unbound[0]}` may be unbound where the other branch runs; torch.where would read it")
    root_a, root_b = _shape_root(tree, func, a, 6, at), _shape_root(tree, func, b, 6, at)
    if root_a is None or root_b is None or root_a != root_b:
        return Decline(f"`{tree.code(a)}` and `{tree.code(b)}` are not proven to have the same shape "
                       "(torch.where would broadcast or raise)")
    return Plan("Select with `torch.where` (both branches are computed)", UNSAFE, replacements, [d],
                frozenset({"torch"}))


def _where_ifexp(tree: Tree, func: cst.FunctionDef, node: cst.IfExp, d: Diagnostic) -> Outcome:
    new = call(torch_attr("where"), node.test, node.body, node.orelse).with_changes(lpar=node.lpar, rpar=node.rpar)
    return _where_plan(tree, func, d, node.body, node.orelse, node, {node: new})


def _where_if_assign(tree: Tree, func: cst.FunctionDef, node: cst.If, d: Diagnostic) -> Outcome:
    then = _single_assign(node.body)
    if then is None:
        return None
    name, a = then
    if node.orelse is None:
        if not definitely_bound(tree, func, name, node):
            return Decline(f"`{name}` is not bound on every path before the `if`; torch.where would read it")
        b: cst.BaseExpression = _name_before(tree, func, name, node)
    else:
        if not isinstance(node.orelse, cst.Else):
            return None
        other = _single_assign(node.orelse.body)
        if other is None or other[0] != name:
            return None
        b = other[1]
    stmt = cst.SimpleStatementLine(
        body=[cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=call(torch_attr("where"), node.test, a, b))],
        leading_lines=node.leading_lines)
    return _where_plan(tree, func, d, a, b, node, {node: stmt})


def _name_before(tree: Tree, func: cst.FunctionDef, name: str, node: cst.If) -> cst.BaseExpression:
    """A Name node of ``tree`` reading ``name`` at ``node``: the `if`'s own test when it reads it (so the
    eager view sees the value before the `if`), else a fresh Name (proven through the If's position)."""
    for n in walk(node.test):
        if isinstance(n, cst.Name) and n.value == name:
            return n
    return cst.Name(name)  # read at the `if` (the eager view is told so: `at`)


def _where_if_return(tree: Tree, func: cst.FunctionDef, node: cst.If, d: Diagnostic) -> Outcome:
    """`if c: return a` directly followed by a final `return b`."""
    if node.orelse is not None:
        return None
    a = _single_return(node.body)
    block = tree.parents.get(node)
    if a is None or not isinstance(block, cst.IndentedBlock) or not isinstance(tree.parents.get(block), cst.FunctionDef):
        return None
    stmts = list(block.body)
    index = stmts.index(node)
    if index != len(stmts) - 2:
        return None
    b = _single_return(cst.IndentedBlock(body=[stmts[-1]]))
    if b is None:
        return None
    b = stmts[-1].body[0].value  # the tree's own node (the eager view needs its position)
    ret = cst.SimpleStatementLine(body=[cst.Return(value=call(torch_attr("where"), node.test, a, b))],
                                  leading_lines=node.leading_lines)
    return _where_plan(tree, func, d, a, b, node, {node: ret, stmts[-1]: cst.RemovalSentinel.REMOVE})


def _single_assign(block: cst.BaseSuite):
    if not isinstance(block, cst.IndentedBlock) or len(block.body) != 1:
        return None
    line = block.body[0]
    if not isinstance(line, cst.SimpleStatementLine) or len(line.body) != 1:
        return None
    small = line.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        return small.targets[0].target.value, small.value
    return None


def _single_return(block: cst.BaseSuite) -> Optional[cst.BaseExpression]:
    if not isinstance(block, cst.IndentedBlock) or len(block.body) != 1:
        return None
    line = block.body[0]
    if isinstance(line, cst.SimpleStatementLine) and len(line.body) == 1 and isinstance(line.body[0], cst.Return):
        return line.body[0].value
    return None


def _where_condition(test: cst.BaseExpression) -> bool:
    if _truthiness_left(test):
        return False
    for n in walk(test):
        if isinstance(n, cst.Call) and _callee_name(n.func) in BOOL_CALLS - {"any", "all"}:
            return False
    return True


#: methods / `torch.` functions of one tensor that keep its shape and cannot raise
ELEMENTWISE = frozenset({"abs", "neg", "exp", "log", "sigmoid", "tanh", "relu", "sqrt", "rsqrt", "sin", "cos",
                         "sign", "reciprocal", "square", "floor", "ceil", "clone", "detach", "contiguous"})
#: methods reducing a whole tensor to 0-dim when called without arguments
REDUCE_ALL = frozenset({"sum", "mean", "max", "min", "amax", "amin", "any", "all", "prod", "norm", "std", "var"})
_ORDERING = (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual, cst.Equal, cst.NotEqual)


def _bool_scalar(tree: Tree, func: cst.FunctionDef, test: cst.BaseExpression, depth: int) -> bool:
    """Is ``test`` a 0-dim bool tensor: an ordering of 0-dim tensors / numbers with a tensor among
    them, `&`/`|`/`~` of such, or `.any()`/`.all()` of a tensor?"""
    if depth <= 0 or not is_tensor(tree, func, test):
        return False
    if isinstance(test, cst.Comparison):
        return len(test.comparisons) == 1 and isinstance(test.comparisons[0].operator, _ORDERING) and all(
            _zero_dim(tree, func, e, depth - 1) for e in (test.left, test.comparisons[0].comparator))
    if isinstance(test, cst.BinaryOperation) and isinstance(test.operator, (cst.BitAnd, cst.BitOr)):
        return _bool_scalar(tree, func, test.left, depth - 1) and _bool_scalar(tree, func, test.right, depth - 1)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.BitInvert):
        return _bool_scalar(tree, func, test.expression, depth - 1)
    if isinstance(test, cst.Call) and isinstance(test.func, cst.Attribute) and not test.args:
        return test.func.attr.value in ("any", "all")
    return False


def _zero_dim(tree: Tree, func: cst.FunctionDef, expr: cst.BaseExpression, depth: int,
              at: Optional[cst.CSTNode] = None) -> bool:
    """Is ``expr`` a Python number or a 0-dim tensor (a whole-tensor reduction, elementwise ops and
    arithmetic of such, a name every reaching binding of which is one)?"""
    kind = eager_kind(tree, func, expr, at)
    if kind is EagerKind.NUMBER:
        return True
    if kind is not EagerKind.TENSOR or depth <= 0:
        return False
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        method = expr.func.attr.value
        return (method in REDUCE_ALL and not expr.args) or (
            method in ELEMENTWISE and not expr.args and _zero_dim(tree, func, expr.func.value, depth - 1))
    if isinstance(expr, cst.BinaryOperation):
        return _zero_dim(tree, func, expr.left, depth - 1) and _zero_dim(tree, func, expr.right, depth - 1)
    if isinstance(expr, cst.UnaryOperation):
        return _zero_dim(tree, func, expr.expression, depth - 1)
    if isinstance(expr, cst.Name):
        values = _plain_values(tree, func, expr if expr in tree.ranges or at is None else at, expr.value)
        return bool(values) and all(_zero_dim(tree, func, v, depth - 1) for v in values)
    return False


def _shape_root(tree: Tree, func: cst.FunctionDef, expr: cst.BaseExpression, depth: int,
                at: Optional[cst.CSTNode] = None) -> Optional[str]:
    """The one tensor whose shape ``expr`` has ("" for a number or 0-dim tensor): an elementwise
    expression of it and scalars; None when not proven."""
    if _zero_dim(tree, func, expr, depth, at):
        return ""
    if depth <= 0:
        return None
    if isinstance(expr, (cst.Name, cst.Attribute)) and is_tensor(tree, func, expr, at):
        return cst.Module([]).code_for_node(expr).strip()
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and expr.func.attr.value in ELEMENTWISE:
        if not expr.args and _dotted(expr.func.value) != "torch":
            return _shape_root(tree, func, expr.func.value, depth - 1)
        if len(expr.args) == 1 and not expr.args[0].keyword and not expr.args[0].star \
                and _dotted(expr.func.value) == "torch":
            return _shape_root(tree, func, expr.args[0].value, depth - 1)
        return None
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        return _shape_root(tree, func, expr.expression, depth - 1)
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Subtract, cst.Multiply,
                                                                            cst.Divide)):
        left, right = _shape_root(tree, func, expr.left, depth - 1), _shape_root(tree, func, expr.right, depth - 1)
        if left is None or right is None:
            return None
        if left and right and left != right:
            return None
        return left or right
    return None


def _plain_values(tree: Tree, func: cst.FunctionDef, use: cst.CSTNode, name: str) -> List[cst.BaseExpression]:
    """Values of the reaching plain `name = value` bindings at ``use``; [] if any is something else."""
    reaching = reaching_bindings(tree, func, use, name)
    if any(b.how != "value" for b in reaching):
        return []
    return [b.value for b in reaching]


def _attribute_name(tree: Tree, n: cst.Name) -> bool:
    parent = tree.parents.get(n)
    return isinstance(parent, cst.Attribute) and parent.attr is n


def _local(tree: Tree, func: cst.FunctionDef, name: str) -> bool:
    return bool(bindings(tree, func, name))


def _pure(expr: cst.BaseExpression) -> bool:
    """Side-effect free and cheap to compute twice: no submodule/local callables, random or in-place ops.
    A tuple/list/dict/set is not a tensor `torch.where` can select (`return a, b` vs `return a`)."""
    if isinstance(expr, (cst.Tuple, cst.List, cst.Dict, cst.Set, cst.ListComp, cst.DictComp, cst.SetComp,
                         cst.GeneratorExp, cst.SimpleString, cst.FormattedString)):
        return False
    for n in walk(expr):
        if isinstance(n, (cst.Lambda, cst.NamedExpr, cst.Yield, cst.Await)):
            return False
        if isinstance(n, cst.Call):
            name = _callee_name(n.func)
            if isinstance(n.func, cst.Name) and name not in {"abs", "float", "int"}:
                return False
            if _rooted_at_self(n.func) or name.endswith("_") or any(h in name for h in RANDOM_HINTS):
                return False
    return True


def _callee_name(func: cst.BaseExpression) -> str:
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return ""


def _rooted_at_self(expr: cst.BaseExpression) -> bool:
    while isinstance(expr, (cst.Attribute, cst.Subscript, cst.Call)):
        expr = expr.func if isinstance(expr, cst.Call) else expr.value
    return isinstance(expr, cst.Name) and expr.value == "self"


def _all_params(func: cst.FunctionDef) -> Sequence[cst.Param]:
    p = func.params
    extra = [s for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param)]
    return [*p.posonly_params, *p.params, *p.kwonly_params, *extra]


def _is_name(expr: cst.BaseExpression, value: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == value


# ---------------------------------------------------------------------------------------- TRC403
#: tensor methods / torch factories that take their sizes either spread out or as one sequence
SIZE_METHODS = {"view", "reshape", "expand", "repeat", "permute", "tile", "new_zeros", "new_ones", "new_empty"}
SIZE_FACTORIES = {"torch.zeros", "torch.ones", "torch.empty", "torch.rand", "torch.randn"}


def star_sizes_to_tuple(tree: Tree, d: Diagnostic) -> Outcome:
    """`t.view(*x.shape[:-1], h, d)` -> `t.view(_fx_sizes_forward_24(x.shape[:-1], (h, d)))`: the same
    call with one size sequence, joined by a tiny `@torch.fx.wrap` function.

    Why wrapped and not `x.shape[:-1] + (h, d)` in the graph: that traces, but FX QAT treats the
    recorded `operator.add` as a quantizable add and fake-quantizes the `torch.Size` it returns, so
    the prepared model crashes (measured on fixtures/models/shape/shape_multihead_star_view.py).
    The wrapped function only joins Python sizes: nothing quantizable is hidden, eager is unchanged
    (a tuple instead of a `torch.Size` is the same argument to every callee below), hence SAFE.
    Proof obligation: a method's receiver is a proven tensor (fxlint.fix.eager): every SIZE_METHODS
    method of a tensor takes its sizes spread out or as one sequence alike (numpy's do not); the
    joiner iterates the unpacked sequence exactly as `*` does, whatever it is."""
    value = tree.at(d.location.row, d.location.column, cst.BaseExpression)
    arg = tree.parents.get(value) if value is not None else None
    if not isinstance(arg, cst.Arg):
        return None
    node = tree.parents.get(arg)
    if not isinstance(node, cst.Call) or arg.star != "*":
        return None
    callee = _callee_name(node.func)
    if not ((isinstance(node.func, cst.Attribute) and callee in SIZE_METHODS) or tree.code(node.func) in SIZE_FACTORIES):
        return Decline("unpacking into a call that does not take one size sequence; index the sizes explicitly")
    positional = [a for a in node.args if a.keyword is None]
    if any(a.star for a in node.args if a is not arg) or positional != list(node.args[:len(positional)]):
        return Decline("several starred or interleaved keyword arguments; pass one tuple of sizes by hand")
    if _shape_base(_unsliced(arg.value)) is None:
        return Decline("only `*t.shape[...]` / `*t.size()[...]` become a size tuple; index other sequences explicitly")
    func = tree.function_of(node)
    if func is None:
        return None
    # proof obligation: a method's receiver is a tensor (numpy's `repeat` / `view` take sizes
    # differently); whatever sequence is unpacked, the joiner yields the same sizes in the same order
    if isinstance(node.func, cst.Attribute) and tree.code(node.func) not in SIZE_FACTORIES \
            and not is_tensor(tree, func, node.func.value):
        return Decline(not_proven(tree, func, node.func.value, EagerKind.TENSOR))
    index = positional.index(arg)
    before, after = positional[:index], positional[index + 1:]
    parts = ([_tuple_of(before)] if before else []) + [arg.value] + ([_tuple_of(after)] if after else [])
    name = unique_name(f"_fx_sizes_{func.name.value}_{d.location.row}", tree.names())
    joined = call(cst.Name(name), *parts)
    keywords = node.args[len(positional):]
    first = cst.Arg(value=joined, comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")) if keywords
                    else cst.MaybeSentinel.DEFAULT)
    definition = join_sizes_definition(name, f"for `{tree.code(node.func)}`; `fxlint fix`, TRC403")
    return Plan(f"Pass the sizes of `{tree.code(node.func)}` as one sequence", SAFE,
                {node: node.with_changes(args=[first, *keywords])}, [d], frozenset({"torch"}),
                (tree.top_level(func), definition))


def _tuple_of(args: Sequence[cst.Arg]) -> cst.Tuple:
    elements = [cst.Element(a.value) for a in args]
    if len(elements) == 1:
        elements[0] = elements[0].with_changes(comma=cst.Comma())
    return cst.Tuple(elements)


def _unsliced(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`x.shape[:-1]` -> `x.shape` (a slice of a Size is a Size); other expressions unchanged."""
    if isinstance(expr, cst.Subscript) and all(isinstance(e.slice, cst.Slice) for e in expr.slice):
        return expr.value
    return expr


# ------------------------------------------------------------------------------- TRC101 / TRC201
#: calls a condition may make and still be free of side effects
_PURE_CALLS = {"torch.jit.is_scripting", "torch.jit.is_tracing", "torch.is_tensor", "isinstance", "len", "hasattr"}
_PURE_METHODS = {"size", "dim", "numel"}


def identical_branches(tree: Tree, d: Diagnostic) -> Outcome:
    """`if c: A else: A` -> `A`: a branch on a traced value whose two arms are the same code (what is
    left of timm's `if not is_scripting() and v.device.type != 'meta': with autocast(enabled=False):
    out = f(v) else: out = f(v)` once the disabled autocast is dropped). Proof obligation: evaluating
    the condition has no side effects (attributes, comparisons, `and`/`or`/`not`, `size()`/`dim()`,
    `is_scripting()`): then both paths run the same code. SAFE; the one difference is where the
    condition itself raised (an ambiguous truth value), which the original did not accept anyway.
    Blind spot: a property or `__bool__` with side effects."""
    node = tree.owner_of_test(d.location.row, d.location.column)
    if not isinstance(node, cst.If) or not isinstance(node.orelse, cst.Else):
        return None
    if not node.body.deep_equals(node.orelse.body) or not _side_effect_free(node.test):
        return None
    body = list(node.body.body)
    body[0] = body[0].with_changes(leading_lines=[*node.leading_lines, *body[0].leading_lines])
    return Plan("Drop the `if` whose branches are identical", SAFE, {node: cst.FlattenSentinel(body)}, [d])


def _side_effect_free(expr: cst.BaseExpression) -> bool:
    for n in walk(expr):
        if isinstance(n, (cst.NamedExpr, cst.Await, cst.Yield, cst.Lambda)):
            return False
        if isinstance(n, cst.Call):
            name = _dotted(n.func)
            method = n.func.attr.value if isinstance(n.func, cst.Attribute) else ""
            if name not in _PURE_CALLS and method not in _PURE_METHODS:
                return False
    return True


# ---------------------------------------------------------------------------------------- TRC202
#: integer-valued in eager Python when their arguments are numbers (`math` calls are auto-wrapped by
#: FX wherever they are reached as `math.f`, so they stay in the graph as call_function nodes)
_INT_VALUED_CALLS = {"math.ceil", "math.floor"}
_INT_CLOSED = (cst.Multiply, cst.Add, cst.Subtract, cst.FloorDivide)


def int_of_int_arithmetic(tree: Tree, d: Diagnostic) -> Outcome:
    """`int(math.ceil(h / p) * p)` -> `math.ceil(h / p) * p`; `int(h / p)` -> `h // p`.

    The `int()` call is what stops tracing; the arithmetic inside stays in the graph as size nodes
    (which QAT knows are not tensors). Proof obligations (fxlint.fix.eager `integer`): for dropping
    `int()`, every leaf of the arithmetic is a proven int (sizes of proven tensors, int literals,
    `len`, `math.ceil`/`math.floor`), so the value is already that int; for `h / p` -> `h // p`,
    `h` and `p` are proven non-negative ints (`int()` truncates toward zero, `//` floors) below 2**52
    (where float division rounds exactly enough; sizes are). Then SAFE; otherwise declined (a float
    `self.ratio` makes `math.ceil(h / p) * self.ratio` a float `int()` truncated)."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None or not _is_name(node.func, "int") or len(node.args) != 1 or node.args[0].keyword:
        return None
    inner = node.args[0].value
    func = tree.function_of(node)
    if isinstance(inner, cst.BinaryOperation) and isinstance(inner.operator, cst.Divide) \
            and _int_arithmetic(inner.left) and _int_arithmetic(inner.right):
        unproven = [e for e in (inner.left, inner.right) if integer(tree, func, e) is not True]
        if unproven:
            return Decline(f"`{tree.code(unproven[0])}` is not proven a non-negative int; `//` would differ from "
                           "`int(... / ...)`")
        replacement: cst.BaseExpression = inner.with_changes(operator=cst.FloorDivide(
            whitespace_before=inner.operator.whitespace_before, whitespace_after=inner.operator.whitespace_after))
    elif _int_arithmetic(inner) and any(isinstance(n, cst.Call) or (isinstance(n, cst.BinaryOperation)
                                           and isinstance(n.operator, cst.FloorDivide)) for n in walk(inner)):
        if integer(tree, func, inner) is None:
            return Decline(f"`{tree.code(inner)}` is not proven an int (a float attribute or input would make "
                           "`int()` truncate it)")
        replacement = inner  # an int made by `math.ceil`/`math.floor`/`//`, not a bare name
    else:
        return None
    replacement = replacement.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()]) \
        if _needs_parens(tree, node) and isinstance(replacement, cst.BinaryOperation) else \
        replacement.with_changes(lpar=[], rpar=[])
    return Plan(f"Drop `int()` around the integer arithmetic `{tree.code(inner)}`", SAFE,
                {node: replacement}, [d])


def _int_arithmetic(expr: cst.BaseExpression) -> bool:
    """Is ``expr`` built only from ints, names/attributes (taken for ints), `math.ceil`/`math.floor`
    calls and `*`, `+`, `-`, `//`? (A `/` inside a `math.ceil` argument is fine: ceil makes an int.)"""
    if isinstance(expr, (cst.Integer, cst.Name, cst.Attribute)):
        return True
    if isinstance(expr, cst.Call):
        return _dotted(expr.func) in _INT_VALUED_CALLS
    if isinstance(expr, cst.BinaryOperation):
        return isinstance(expr.operator, _INT_CLOSED) and _int_arithmetic(expr.left) and _int_arithmetic(expr.right)
    if isinstance(expr, cst.Subscript):  # `x.shape[-1]`, `x.size()[0]`; not `coords[b, 0]` (a numpy float)
        base = expr.value
        return (isinstance(base, cst.Attribute) and base.attr.value == "shape") or (
            isinstance(base, cst.Call) and _dotted(base.func).endswith(".size") and not base.args)
    return False


def _needs_parens(tree: Tree, node: cst.CSTNode) -> bool:
    """Does the `int(...)` call sit inside a larger expression, where bare arithmetic could rebind?"""
    return isinstance(tree.parents.get(node), (cst.BinaryOperation, cst.UnaryOperation, cst.Attribute,
                                               cst.Subscript, cst.Call))


def _in_traced_code(rewrite):
    """``rewrite``, declined in a module-level function a `@torch.fx.wrap` function calls: that code
    runs eagerly on real values, where an in-graph rewrite gains nothing and may only break it
    (the findings there come from other, traced callers: left to a hoist or to the user)."""
    @functools.wraps(rewrite)
    def guarded(tree: Tree, d: Diagnostic) -> Outcome:
        node = tree.deepest_at(d.location.row, d.location.column)
        caller = eager_caller_of(tree, node) if node is not None else None
        if caller is not None:
            return Decline(f"this function also runs eagerly, called from the `@torch.fx.wrap` function `{caller}`; "
                           "an in-graph rewrite would change that eager code")
        return rewrite(tree, d)
    return guarded


#: code -> rewrites tried in order; the first that returns a Plan or Decline wins
INLINE = {
    "TRC102": (assert_to_torch_assert,),
    "TRC204": (len_to_size,),
    "TRC202": (int_of_int_arithmetic,),
    "TRC207": (varargs_to_tuple,),
    "TRC303": (math_by_module,),
    "TRC201": (identical_branches, unconditional_pad),
    "TRC101": (identical_branches, conditional_to_where),
    "TRC403": (star_sizes_to_tuple,),
}
INLINE.update({
    "TRC504": (fresh_random,),
    "TRC505": (drop_no_grad, no_grad_decorator),
    "TRC503": (buffer_update_in_place,),
    "TRC501": (pin_optional_input,),
    "TRC502": (tensor_branch,),
    "TRC402": (explicit_kwargs,),
})
INLINE.update({
    "TRC601": (number_operand_to_tensor,),
    "TRC602": (size_concat_to_wrapped_join,),
    "TRC603": (integral_op_rewrite,),
})
INLINE = {code: tuple(_in_traced_code(r) for r in rewrites) for code, rewrites in INLINE.items()}
