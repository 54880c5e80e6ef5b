"""The taint interpreter: one abstract run of every ``forward`` in the checked files.

It walks the LibCST tree of each traced function the way ``symbolic_trace`` runs it, with
:class:`~fxlint.analysis.values.Value` in place of real objects, and records the value of every
expression it evaluates (joined over every context that reaches it). Calls into ``self``
methods, staticmethods, module-level functions (same file or other checked files) and the
``forward`` of user-defined submodules are followed with the taint of their arguments and
memoised by argument signature (recursion-safe). ``torch.nn`` built-ins are leaves.

Rules never re-derive data flow: they read :class:`Analysis` through
:class:`fxlint.analysis.context.RuleContext`.

Blind spots (deliberate, to stay fast and avoid false alarms): objects created from unknown
classes are concrete; attributes not assigned in ``__init__`` are concrete; loops are run twice
(enough for loop-carried taint in model code); exceptions do not change control flow.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Callable, Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import libcst as cst

from fxlint.analysis import child_nodes, dotted, dtypes
from fxlint.analysis.project import MODULE_CONTAINERS, NN_PREFIX, ClassInfo, FunctionRef, ModuleSource
from fxlint.analysis.values import (
    CONCRETE,
    NONE_VALUE,
    Kind,
    Origin,
    Taint,
    Value,
    const,
    element_of,
    join,
    proxy_from,
    taint_of,
)

SHAPE_ATTRS = {"shape", "ndim", "dtype", "device", "is_cuda", "layout", "is_sparse", "is_quantized", "is_meta"}
SHAPE_METHODS = {"size", "dim", "numel", "ndimension", "nelement", "get_device", "is_contiguous", "is_floating_point",
                 "is_complex", "stride", "element_size"}
SCALAR_METHODS = {"item", "tolist", "numpy", "__index__", "__int__", "__float__"}
CONCRETE_BUILTINS = {"isinstance", "issubclass", "hasattr", "callable", "type", "id", "print", "repr", "super",
                     "globals", "locals", "vars", "dir", "open", "input", "setattr", "delattr"}
BUILTIN_NAMES = set(dir(builtins))
MAX_DEPTH = 16


@dataclass
class Reach:
    """How the interpreter got to a function: first call chain and every entry module."""

    func: FunctionRef
    chain: Tuple[str, ...]  #: e.g. ("Net.forward", "Block.forward", "window_pad")
    entry_modules: Set[str] = field(default_factory=set)  #: modules of the traced forward(s) reaching it


@dataclass
class Frame:
    func: FunctionRef
    env: Dict[str, Value]
    self_value: Optional[Value]
    chain: Tuple[str, ...]
    entry_module: str
    returns: List[Value] = field(default_factory=list)
    stmt: Optional[cst.CSTNode] = None  #: the small statement being run (for provenance)

    @property
    def module(self) -> ModuleSource:
        return self.func.module


class Analysis:
    """The shared result: per-expression values and the functions tracing reaches."""

    def __init__(self, project: "ProjectLike") -> None:
        self.project = project
        self.facts: Dict[cst.CSTNode, Value] = {}
        self.reached: Dict[cst.FunctionDef, Reach] = {}
        self._memo: Dict[tuple, Value] = {}
        self._active: Set[tuple] = set()
        self._optional_uses = None
        #: ``(func, reach) -> optional_uses.name_sites(func)`` kept by the caller across analyses, or None
        self.name_sites: Optional[Callable] = None
        #: the `forward` definitions run as traced roots (not blocks analyzed alone for want of a
        #: parent): what `symbolic_trace(model)` calls with placeholders
        self.roots: Set[cst.FunctionDef] = set()
        #: every traced root analyzed ("module.Class", its forward): a model one would trace
        self.entry_points: List[Tuple[str, cst.FunctionDef]] = []
        #: function -> the functions it calls (memoised calls included): who reaches what
        self.calls: Dict[cst.FunctionDef, Set[cst.FunctionDef]] = {}
        self._calling: List[cst.FunctionDef] = []
        self._entries: Optional[Dict[cst.FunctionDef, Tuple[str, ...]]] = None

    @property
    def optional_uses(self):
        """How each forward input's own value is used (for `is None` rules), computed on first use."""
        if self._optional_uses is None:
            from fxlint.analysis.optional_uses import OptionalUses

            self._optional_uses = OptionalUses(self.facts, self.reached, self.name_sites)
        return self._optional_uses

    # ----------------------------------------------------------------- entry points
    def analyze_class(self, cls: ClassInfo, as_block: bool = False) -> None:
        """Run ``cls.forward`` as a traced entry point. ``as_block``: the class is a building block
        whose parent the analysis could not follow, so its inputs may be lists or Optionals the
        parent resolves; they are marked opaque and parameter-level rules stay quiet."""
        forward = self.project.find_method(cls, "forward")
        if forward is None:
            return
        self_value = Value(Kind.SELF, ref=cls)
        args = self._entry_arguments(forward.node, "block-input" if as_block else "input")
        entry = f"{cls.name}.forward" if forward.cls is cls else f"{cls.name}.forward ({forward.qualname})"
        if not as_block:  # a block analyzed alone for want of a parent is no model one traces
            self.roots.add(forward.node)
            self.entry_points.append((f"{cls.module.name}.{cls.name}" if cls.module.name else cls.name, forward.node))
            self._entries = None
        self.invoke(forward, args, {}, self_value, (entry,), cls.module.name)

    def entries_of(self, func: cst.FunctionDef) -> Tuple[str, ...]:
        """The entries (models one would trace, "module.Class") whose tracing reaches ``func``."""
        if self._entries is None:
            found: Dict[cst.FunctionDef, Set[str]] = {}
            for name, root in self.entry_points:
                stack, seen = [root], {root}
                while stack:
                    node = stack.pop()
                    found.setdefault(node, set()).add(name)
                    for callee in self.calls.get(node, ()):
                        if callee not in seen:
                            seen.add(callee)
                            stack.append(callee)
            self._entries = {node: tuple(sorted(names)) for node, names in found.items()}
        return self._entries.get(func, ())

    def value(self, node: cst.CSTNode) -> Optional[Value]:
        return self.facts.get(node)

    def _entry_arguments(self, node: cst.FunctionDef, kind: str) -> List[Value]:
        params = node.params
        out: List[Value] = []
        for p in list(params.posonly_params) + list(params.params)[1:] + list(params.kwonly_params):
            default = _code(p.default) if p.default is not None else None
            origin = Origin(p.name.value, kind, default)
            out.append(Value(Kind.PROXY, Taint.VALUE, origin, param=p.name.value, opaque=kind == "block-input"))
        return out

    # ----------------------------------------------------------------- calls
    def invoke(self, func: FunctionRef, args: Sequence[Value], kwargs: Dict[str, Value],
               self_value: Optional[Value], chain: Tuple[str, ...], entry_module: str) -> Value:
        node = func.node
        reach = self.reached.get(node)
        if reach is None:
            reach = self.reached[node] = Reach(func, chain)
        reach.entry_modules.add(entry_module)
        if self._calling:
            self.calls.setdefault(self._calling[-1], set()).add(node)
        if len(chain) > MAX_DEPTH:
            return proxy_from(list(args) + list(kwargs.values()))
        env = self._bind(func, args, kwargs, self_value, is_entry=len(chain) == 1)
        key = (id(node), entry_module, tuple([_signature(v) for v in env.values()]))
        if key in self._memo:
            return self._memo[key]
        if key in self._active:  # recursion: assume the result is traced if an argument is
            return proxy_from(list(env.values()))
        self._active.add(key)
        frame = Frame(func, env, self_value, chain, entry_module)
        self._calling.append(node)
        try:
            self.run_block(node.body, frame)
        finally:
            self._calling.pop()
        self._active.discard(key)
        result: Optional[Value] = None
        for r in frame.returns:
            result = join(result, r)
        result = result if result is not None else NONE_VALUE
        self._memo[key] = result
        return result

    def _bind(self, func: FunctionRef, args: Sequence[Value], kwargs: Dict[str, Value],
              self_value: Optional[Value], is_entry: bool) -> Dict[str, Value]:
        params = func.node.params
        positional = list(params.posonly_params) + list(params.params)
        env: Dict[str, Value] = {}
        if func.cls is not None and not func.is_static and positional:
            env[positional[0].name.value] = self_value if self_value is not None else CONCRETE
            positional = positional[1:]
        rest = list(args)
        for p in positional:
            name = p.name.value
            if name in kwargs:
                env[name] = kwargs.pop(name)
            elif rest:
                env[name] = rest.pop(0)
            else:
                env[name] = self._default_value(p.default, func.module) if p.default is not None else CONCRETE
        for p in params.kwonly_params:  # never bound by position
            name = p.name.value
            if name in kwargs:
                env[name] = kwargs.pop(name)
            else:
                env[name] = self._default_value(p.default, func.module) if p.default is not None else CONCRETE
        if isinstance(params.star_arg, cst.Param):
            name = params.star_arg.name.value
            env[name] = (Value(Kind.PROXY, Taint.VALUE, Origin(name, "varargs"), param=name) if is_entry
                         else Value(Kind.CONTAINER, _taint_of(rest), items=tuple(rest)))
        if params.star_kwarg is not None:
            name = params.star_kwarg.name.value
            env[name] = (Value(Kind.PROXY, Taint.VALUE, Origin(name, "varkw"), param=name) if is_entry
                         else Value(Kind.CONTAINER, _taint_of(list(kwargs.values())), items=tuple(kwargs.values())))
        return env

    def _default_value(self, node: cst.BaseExpression, module: ModuleSource) -> Value:
        literal = _literal(node)
        return literal if literal is not None else CONCRETE

    # ----------------------------------------------------------------- statements
    def run_block(self, body: cst.BaseSuite, frame: Frame) -> None:
        if isinstance(body, cst.IndentedBlock):
            for stmt in body.body:
                self.run_statement(stmt, frame)
        elif isinstance(body, cst.SimpleStatementSuite):
            for small in body.body:
                self.run_small(small, frame)

    def run_statement(self, stmt: cst.CSTNode, frame: Frame) -> None:
        handler = _STMT_HANDLERS.get(stmt.__class__, _MISSING)
        if handler is _MISSING:
            handler = _STMT_HANDLERS[stmt.__class__] = getattr(Analysis, f"_stmt_{stmt.__class__.__name__}", None)
        if handler is not None:
            handler(self, stmt, frame)

    def _stmt_SimpleStatementLine(self, stmt: cst.SimpleStatementLine, frame: Frame) -> None:
        for small in stmt.body:
            self.run_small(small, frame)

    def run_small(self, small: cst.CSTNode, frame: Frame) -> None:
        """One small statement, by its exact type (LibCST's node classes are ABCs: a chain of
        ``isinstance`` misses cost ~0.3 us each; none of these classes has subclasses)."""
        frame.stmt = small
        handler = _SMALL_HANDLERS.get(small.__class__)
        if handler is not None:
            handler(self, small, frame)

    def _small_Assign(self, small: cst.Assign, frame: Frame) -> None:
        value = self.eval(small.value, frame)
        for target in small.targets:
            self.bind_target(target.target, value, frame)

    def _small_AnnAssign(self, small: cst.AnnAssign, frame: Frame) -> None:
        if small.value is not None:
            self.bind_target(small.target, self.eval(small.value, frame), frame)

    def _small_AugAssign(self, small: cst.AugAssign, frame: Frame) -> None:
        current = self.eval(small.target, frame)
        value = self.eval(small.value, frame)
        self.bind_target(small.target, _arith(current, value), frame, augmented=True)

    def _small_Expr(self, small: cst.Expr, frame: Frame) -> None:
        self.eval(small.value, frame)

    def _small_Return(self, small: cst.Return, frame: Frame) -> None:
        frame.returns.append(self.eval(small.value, frame) if small.value is not None else NONE_VALUE)

    def _small_Assert(self, small: cst.Assert, frame: Frame) -> None:
        self.eval(small.test, frame)
        if small.msg is not None:
            self.eval(small.msg, frame)

    def _small_Raise(self, small: cst.Raise, frame: Frame) -> None:
        if small.exc is not None:
            self.eval(small.exc, frame)

    def _stmt_If(self, stmt: cst.If, frame: Frame) -> None:
        test = self.eval(stmt.test, frame)
        # decided while tracing (e.g. `proxy is not None`); on an omittable input, both ways
        if test.has_const and not test.traced and not test.plain_only:
            # the other path is not analyzed, but it runs in eager: a name narrowed for the block and
            # not rebound in it is as it was after the `if`
            narrowed = _narrow(frame.env, _not_none_names(stmt.test)[0 if test.const else 1])
            if test.const:
                self.run_block(stmt.body, frame)
            elif isinstance(stmt.orelse, cst.If):
                self._stmt_If(stmt.orelse, frame)
            elif isinstance(stmt.orelse, cst.Else):
                self.run_block(stmt.orelse.body, frame)
            for name, (new, old) in narrowed.items():
                if frame.env.get(name) is new:
                    frame.env[name] = old
            return
        before = dict(frame.env)
        body_not_none, else_not_none = _not_none_names(stmt.test)
        _narrow(frame.env, body_not_none)
        self.run_block(stmt.body, frame)
        after_body = frame.env
        frame.env = dict(before)
        _narrow(frame.env, else_not_none)
        if isinstance(stmt.orelse, cst.If):
            self._stmt_If(stmt.orelse, frame)
        elif isinstance(stmt.orelse, cst.Else):
            self.run_block(stmt.orelse.body, frame)
        frame.env = _join_env(after_body, frame.env)

    def _stmt_For(self, stmt: cst.For, frame: Frame) -> None:
        iterable = self.eval(stmt.iter, frame)
        frame.stmt = stmt
        for _ in range(2):  # a second run carries loop-carried taint around the back edge
            before = dict(frame.env)
            self.bind_target(stmt.target, element_of(iterable), frame)
            self.run_block(stmt.body, frame)
            frame.env = _join_env(before, frame.env, paths=False)
        if stmt.orelse is not None:
            self.run_block(stmt.orelse.body, frame)

    def _stmt_While(self, stmt: cst.While, frame: Frame) -> None:
        for _ in range(2):
            self.eval(stmt.test, frame)
            before = dict(frame.env)
            self.run_block(stmt.body, frame)
            frame.env = _join_env(before, frame.env, paths=False)
        if stmt.orelse is not None:
            self.run_block(stmt.orelse.body, frame)

    def _stmt_With(self, stmt: cst.With, frame: Frame) -> None:
        for item in stmt.items:
            value = self.eval(item.item, frame)
            if item.asname is not None:
                self.bind_target(item.asname.name, value, frame)
        self.run_block(stmt.body, frame)

    def _stmt_Try(self, stmt: cst.Try, frame: Frame) -> None:
        before = dict(frame.env)
        self.run_block(stmt.body, frame)
        env = frame.env
        for handler in stmt.handlers:
            frame.env = dict(before)
            if handler.type is not None:
                self.eval(handler.type, frame)
            self.run_block(handler.body, frame)
            env = _join_env(env, frame.env)
        frame.env = env
        if stmt.orelse is not None:
            self.run_block(stmt.orelse.body, frame)
        if stmt.finalbody is not None:
            self.run_block(stmt.finalbody.body, frame)

    def _stmt_FunctionDef(self, stmt: cst.FunctionDef, frame: Frame) -> None:
        # A nested def is a closure: analyzed when called, with the enclosing env visible.
        ref = FunctionRef(stmt, frame.module, f"{frame.func.qualname}.{stmt.name.value}", tree=frame.func.tree)
        frame.env[stmt.name.value] = Value(Kind.FUNCTION, ref=(ref, None, dict(frame.env)))

    # ----------------------------------------------------------------- binding
    def bind_target(self, target: cst.BaseExpression, value: Value, frame: Frame, augmented: bool = False) -> None:
        step = (frame.func, frame.stmt) if frame.stmt is not None else None  # the function knows its tree
        stepped = value.with_step(step) if step is not None else value
        kind = target.__class__  # exact types: see run_small
        if kind is cst.Name:
            if (value.param is not None and stepped.param is None) or \
                    (value.maybe_param is not None and stepped.maybe_param is None):
                # `mask = attention_mask` is still the input, unchanged: its `is None` test is the
                # input's (transformers' OPT: `position_attention_mask = attention_mask` then
                # `if position_attention_mask is None:` builds the mask a caller omitting it gets)
                stepped = stepped.derived(param=value.param, maybe_param=value.maybe_param, not_none=value.not_none)
            frame.env[target.value] = stepped
            self._record(target, stepped)
        elif kind is cst.Tuple or kind is cst.List:
            self._record(target, value)
            self._unpack(target, value, frame)
        elif kind is cst.Attribute or kind is cst.Subscript:
            self.eval(target.value, frame)
            if kind is cst.Subscript:
                self._eval_slices(target, frame)
            self._record(target, stepped)
        elif kind is cst.StarredElement:
            self.bind_target(target.value, value, frame)

    def _unpack(self, target: cst.BaseExpression, value: Value, frame: Frame) -> None:
        elements = target.elements  # type: ignore[attr-defined]
        starred = any(isinstance(e, cst.StarredElement) for e in elements)
        items = value.items if value.kind is Kind.CONTAINER and value.items is not None else None
        for i, element in enumerate(elements):
            if items is not None and not starred and i < len(items):
                part = items[i]
            elif isinstance(element, cst.StarredElement):
                part = Value(Kind.CONTAINER, value.taint, value.origin, value.steps) if value.traced else CONCRETE
            else:
                part = element_of(value) if value.kind is not Kind.PROXY else _proxy_element(value, i)
            self.bind_target(element.value, part, frame)

    # ----------------------------------------------------------------- expressions
    def eval(self, node: cst.BaseExpression, frame: Frame) -> Value:
        handler = _EX_HANDLERS.get(type(node), _MISSING)
        if handler is _MISSING:
            handler = _EX_HANDLERS[type(node)] = getattr(Analysis, f"_ex_{type(node).__name__}", None)
        value = handler(self, node, frame) if handler is not None else self._ex_children(node, frame)
        old = self.facts.setdefault(node, value)  # _record, inlined: ~5M evaluations on transformers
        if old is not value:
            self._rejoin(node, old, value)
        return value

    def _record(self, node: cst.CSTNode, value: Value) -> None:
        old = self.facts.setdefault(node, value)  # one lookup for a node seen the first time
        if old is not value:
            self._rejoin(node, old, value)

    def _rejoin(self, node: cst.CSTNode, old: Value, value: Value) -> None:
        """Record ``value`` for a node that already has ``old``: their join."""
        joined = join(old, value)
        if joined.param is None and joined.is_proxy and (old.param is None) != (value.param is None) \
                and old.origin == value.origin:
            # the same read is the forward input itself in some calls (a head passes `input_ids`)
            # and a value made from it in others (a head passes `input_ids.view(-1, n)`): its `is
            # None` test is the input's where it is the input (transformers' MPNet heads)
            joined = joined.derived(param=old.param or value.param)
        self.facts[node] = joined

    def _ex_children(self, node: cst.CSTNode, frame: Frame) -> Value:
        values = [self.eval(c, frame) for c in _subexpressions(node)]
        return proxy_from(values) if any(v.traced for v in values) else CONCRETE

    def _ex_Name(self, node: cst.Name, frame: Frame) -> Value:
        name = node.value
        if name in _KEYWORD_CONSTANTS:
            return _KEYWORD_CONSTANTS[name]
        if name in frame.env:
            return frame.env[name]
        return self.project.global_value(frame.module, name)

    def _ex_Integer(self, node: cst.Integer, frame: Frame) -> Value:
        # a literal evaluated before (a loop's second run, another call) has its constant recorded:
        # reading the text again made an equal Value (and an escaped string costs an `ast` parse)
        known = self.facts.get(node)
        return known if known is not None else _number_literal(node)

    _ex_Float = _ex_Integer

    def _ex_SimpleString(self, node: cst.SimpleString, frame: Frame) -> Value:
        known = self.facts.get(node)  # see _ex_Integer
        return known if known is not None else _string_literal(node)

    def _ex_FormattedString(self, node: cst.FormattedString, frame: Frame) -> Value:
        values = [self.eval(p.expression, frame) for p in node.parts if isinstance(p, cst.FormattedStringExpression)]
        traced = [v for v in values if v.traced]
        if traced:
            return Value(Kind.FSTRING, proxy_from(traced).taint, traced[0].origin, traced[0].steps)
        return CONCRETE

    def _ex_Attribute(self, node: cst.Attribute, frame: Frame) -> Value:
        base = self.eval(node.value, frame)
        return self.project.attribute(base, node.attr.value, frame)

    def _ex_Tuple(self, node: cst.Tuple, frame: Frame) -> Value:
        return self._container(node.elements, frame)

    _ex_List = _ex_Tuple
    _ex_Set = _ex_Tuple

    def _container(self, elements: Iterable[cst.BaseElement], frame: Frame) -> Value:
        items: List[Value] = []
        known = True
        for element in elements:
            v = self.eval(element.value, frame)
            if isinstance(element, cst.StarredElement):
                known = False
                if v.kind is Kind.CONTAINER and v.items is not None:
                    items.extend(v.items)
                    known = True
                    continue
            items.append(v)
        return Value(Kind.CONTAINER, _taint_of(items), items=tuple(items) if known else None,
                     origin=next((i.origin for i in items if i.traced), None))

    def _ex_Dict(self, node: cst.Dict, frame: Frame) -> Value:
        items: List[Value] = []
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                self.eval(element.key, frame)
            items.append(self.eval(element.value, frame))
        return Value(Kind.CONTAINER, _taint_of(items), items=None,
                     origin=next((i.origin for i in items if i.traced), None), mapping=True)

    def _ex_BinaryOperation(self, node: cst.BinaryOperation, frame: Frame) -> Value:
        left, right = self.eval(node.left, frame), self.eval(node.right, frame)
        out = _arith(left, right)
        if out.is_proxy and dtypes.arithmetic_result(node.operator, left, right):
            return out.derived(integral=True)
        return out

    def _ex_UnaryOperation(self, node: cst.UnaryOperation, frame: Frame) -> Value:
        operand = self.eval(node.expression, frame)
        if operand.traced:
            return proxy_from([operand]).derived(integral=operand.integral and operand.is_proxy)
        if operand.has_const and isinstance(node.operator, cst.Not):
            return const(not operand.const).derived(plain_only=operand.plain_only)
        return operand if operand.has_const else CONCRETE

    def _ex_BooleanOperation(self, node: cst.BooleanOperation, frame: Frame) -> Value:
        left = self.eval(node.left, frame)
        if left.has_const and not left.traced:  # Python short-circuits: the right side may never run
            if bool(left.const) == isinstance(node.operator, cst.Or):
                return left
            right = self.eval(node.right, frame)
            return right.derived(plain_only=True) if left.plain_only and right.has_const else right
        return join(left, self.eval(node.right, frame))

    def _ex_Comparison(self, node: cst.Comparison, frame: Frame) -> Value:
        values = [self.eval(node.left, frame)]
        concrete_result = False
        compared = False
        for target in node.comparisons:
            values.append(self.eval(target.comparator, frame))
            # `is`/`is not` compare identities (never traced); `in` on a Proxy raises (rule TRC401)
            operator = target.operator.__class__  # exact types: see run_small
            if operator in _IDENTITY_OR_MEMBERSHIP:
                concrete_result = True
            # `x.dtype in (torch.float16, torch.bfloat16)`: membership in a tuple/list display
            # compares with `==`, and Python takes the truth of each Proxy result: traced. Only for
            # a dtype/device read (a `len()` of a maybe-list input may be a real int: quiet)
            if (operator is cst.In or operator is cst.NotIn) and isinstance(target.comparator, (cst.Tuple, cst.List)) \
                    and _dtype_read(node.left) and values[-2].is_proxy and not values[-2].opaque:
                compared = True
        if compared:
            return proxy_from(values[:1])
        if concrete_result:
            return _identity_test(node, values)
        if not any(v.traced for v in values):
            return CONCRETE
        # a comparison of tensors is a bool tensor (of Python numbers: a Python bool)
        return proxy_from(values).derived(integral=any(v.is_proxy and not v.scalar and not v.shape_only
                                                       for v in values))

    def _ex_IfExp(self, node: cst.IfExp, frame: Frame) -> Value:
        self.eval(node.test, frame)
        return join(self.eval(node.body, frame), self.eval(node.orelse, frame))

    def _ex_NamedExpr(self, node: cst.NamedExpr, frame: Frame) -> Value:
        value = self.eval(node.value, frame)
        self.bind_target(node.target, value, frame)
        return value

    def _ex_Lambda(self, node: cst.Lambda, frame: Frame) -> Value:
        return CONCRETE  # analysed where it is called only when bound by a def; lambdas are rare in forward

    def _ex_Subscript(self, node: cst.Subscript, frame: Frame) -> Value:
        base = self.eval(node.value, frame)
        index_values = self._eval_slices(node, frame)
        return self.project.subscript(base, index_values, node, frame)

    def _eval_slices(self, node: cst.Subscript, frame: Frame) -> List[Value]:
        out: List[Value] = []
        for element in node.slice:
            inner = element.slice
            if isinstance(inner, cst.Index):
                out.append(self.eval(inner.value, frame))
            elif isinstance(inner, cst.Slice):
                parts = [self.eval(p, frame) for p in (inner.lower, inner.upper, inner.step) if p is not None]
                out.append(proxy_from(parts) if any(p.traced for p in parts) else CONCRETE)
        return out

    def _ex_Call(self, node: cst.Call, frame: Frame) -> Value:
        callee = self.eval(node.func, frame)
        args: List[Value] = []
        kwargs: Dict[str, Value] = {}
        for arg in node.args:
            v = self.eval(arg.value, frame)
            if arg.keyword is not None:
                kwargs[arg.keyword.value] = v
            elif arg.star == "*":
                args.extend(v.items if v.kind is Kind.CONTAINER and v.items is not None else [v])
            elif arg.star == "**":
                kwargs[f"**{len(kwargs)}"] = v
            else:
                args.append(v)
        return self.project.call(callee, args, kwargs, node, frame, self)

    def _ex_ListComp(self, node: cst.BaseComp, frame: Frame) -> Value:
        saved = dict(frame.env)
        self._comp_for(node.for_in, frame)
        element = self.eval(node.elt, frame)  # type: ignore[attr-defined]
        frame.env = saved
        return Value(Kind.CONTAINER, element.taint, element.origin, element.steps)

    _ex_SetComp = _ex_ListComp
    _ex_GeneratorExp = _ex_ListComp

    def _ex_DictComp(self, node: cst.DictComp, frame: Frame) -> Value:
        saved = dict(frame.env)
        self._comp_for(node.for_in, frame)
        self.eval(node.key, frame)
        element = self.eval(node.value, frame)
        frame.env = saved
        return Value(Kind.CONTAINER, element.taint, element.origin, element.steps, mapping=True)

    def _comp_for(self, comp: cst.CompFor, frame: Frame) -> None:
        iterable = self.eval(comp.iter, frame)
        self.bind_target(comp.target, element_of(iterable), frame)
        for condition in comp.ifs:
            self.eval(condition.test, frame)
        if comp.inner_for_in is not None:
            self._comp_for(comp.inner_for_in, frame)

    def _ex_Await(self, node: cst.Await, frame: Frame) -> Value:
        return self.eval(node.expression, frame)


_MISSING = object()
_EX_HANDLERS: Dict[type, object] = {}  #: expression type -> unbound handler (or None)
_STMT_HANDLERS: Dict[type, object] = {}  #: statement type -> unbound ``_stmt_`` handler (or None)
#: small statement type -> unbound handler (`del`, `pass`, `import`, ...: nothing to run)
_SMALL_HANDLERS = {cls: getattr(Analysis, f"_small_{cls.__name__}")
                   for cls in (cst.Assign, cst.AnnAssign, cst.AugAssign, cst.Expr, cst.Return, cst.Assert, cst.Raise)}


class ProjectLike:  # pragma: no cover - the protocol Analysis needs (implemented in semantics.py)
    def find_method(self, cls: ClassInfo, name: str) -> Optional[FunctionRef]: ...
    def global_value(self, module: ModuleSource, name: str) -> Value: ...
    def attribute(self, base: Value, attr: str, frame: Frame) -> Value: ...
    def subscript(self, base: Value, index: List[Value], node: cst.Subscript, frame: Frame) -> Value: ...
    def call(self, callee: Value, args: List[Value], kwargs: Dict[str, Value], node: cst.Call,
             frame: Frame, analysis: Analysis) -> Value: ...


# --------------------------------------------------------------------- helpers
def _proxy_element(value: Value, index: int) -> Value:
    """One target of unpacking a Proxy (`maxvals, idx = torch.max(x, 2)`)."""
    if value.indices_pair:
        return value.derived(param=None, maybe_param=None, not_none=False, indices_pair=False,
                             integral=index == 1)
    return value.derived(param=None, maybe_param=None, not_none=False)


def _arith(a: Value, b: Value) -> Value:
    if a.kind is Kind.CONTAINER and b.kind is Kind.CONTAINER:
        # `[B] + sizes`: list/tuple concatenation stays a Python sequence even when it holds Proxies
        # (its `len` is a plain int while tracing); the elements are kept when both sides know them
        return _concatenation(a, b)
    if a.traced or b.traced:
        return proxy_from([a, b])
    return CONCRETE


def _concatenation(a: Value, b: Value) -> Value:
    traced = [v for v in (a, b) if v.traced]
    items = a.items + b.items if a.items is not None and b.items is not None and not (a.opaque or b.opaque) \
        else None
    return Value(Kind.CONTAINER, _taint_of((a, b)), traced[0].origin if traced else None,
                 traced[0].steps if traced else (), items=items)


_IDENTITY_OR_MEMBERSHIP = frozenset((cst.Is, cst.IsNot, cst.In, cst.NotIn))
_KEYWORD_CONSTANTS = {"None": const(None), "True": const(True), "False": const(False)}


def _dtype_read(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value in ("dtype", "device")


def _omittable(value: Value) -> bool:
    """A traced entry's own input that defaults to None: `symbolic_trace(model)` makes it a Proxy
    (never None), but a root that calls the model without it (`self.model(input_ids=ids)`, the way
    transformers models are traced) takes the `is None` path."""
    origin = value.origin
    if origin is None or origin.kind != "input" or origin.default != "None":
        return False
    return value.param is not None or (value.maybe_param is not None and value.maybe_param == origin.name)


def _identity_test(node: cst.Comparison, values: List[Value]) -> Value:
    """`proxy is None` is False and `proxy is not None` True while tracing: a Proxy is never None."""
    if len(node.comparisons) == 1 and isinstance(node.comparisons[0].operator, (cst.Is, cst.IsNot)):
        left, right = values
        if (left.is_proxy and right.has_const and right.const is None) or \
                (right.is_proxy and left.has_const and left.const is None):
            answer = const(isinstance(node.comparisons[0].operator, cst.IsNot))
            return answer.derived(plain_only=True) if _omittable(left if left.is_proxy else right) else answer
    return CONCRETE


def _taint_of(values: Iterable[Value]) -> Taint:
    return taint_of(values)


def _not_none_names(test: cst.BaseExpression) -> Tuple[FrozenSet[str], FrozenSet[str]]:
    """(names known not None where ``test`` is true, where it is false): `m is not None` -> ({m}, {}),
    `m is None` -> ({}, {m}), through `not`, `and` (true: either side's; false: both sides') and `or`
    (the dual)."""
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and isinstance(test.left, cst.Name):
        target = test.comparisons[0]
        if isinstance(target.comparator, cst.Name) and target.comparator.value == "None":
            name = frozenset((test.left.value,))
            if isinstance(target.operator, cst.IsNot):
                return name, frozenset()
            if isinstance(target.operator, cst.Is):
                return frozenset(), name
        return frozenset(), frozenset()
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        true, false = _not_none_names(test.expression)
        return false, true
    if isinstance(test, cst.BooleanOperation):
        lt, lf = _not_none_names(test.left)
        rt, rf = _not_none_names(test.right)
        if isinstance(test.operator, cst.And):
            return lt | rt, lf & rf
        return lt & rt, lf | rf
    return frozenset(), frozenset()


def _narrow(env: Dict[str, Value], names: FrozenSet[str]) -> Dict[str, Tuple[Value, Value]]:
    """On a path where ``names`` are known not None: an input there is not None (``not_none``), and a
    value that was the input only on some paths is not the input (``maybe_param``) there.
    -> name -> (narrowed value, value before)."""
    out: Dict[str, Tuple[Value, Value]] = {}
    for name in names:
        value = env.get(name)
        if value is None:
            continue
        if value.param is not None and not value.not_none:
            env[name] = value.derived(not_none=True)
        elif value.param is None and value.maybe_param is not None:
            env[name] = value.derived(maybe_param=None)
        else:
            continue
        out[name] = (env[name], value)
    return out


def _join_env(a: Dict[str, Value], b: Dict[str, Value], paths: bool = True) -> Dict[str, Value]:
    """``paths``: see :func:`join`; a loop's join is not one (its zero-trip path is taken as unknown)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = join(out.get(k), v, paths=paths) if k in out else v
    return out


def _signature(v: Value) -> tuple:
    # Only literal constants take part: a submodule's display name ("self.tree1.tree2") must not,
    # or recursive module structures (DLA trees) defeat the memo and the recursion guard.
    c = v.const if v.kind is Kind.CONST and isinstance(v.const, (int, float, str, bool, type(None))) else None
    return (v.kind, v.taint.value, id(v.ref) if v.ref is not None else 0, c, v.param is not None,
            v.maybe_param is not None)


def _literal(node: cst.BaseExpression) -> Optional[Value]:
    if isinstance(node, cst.Name) and node.value in ("None", "True", "False"):
        return const({"None": None, "True": True, "False": False}[node.value])
    if isinstance(node, cst.SimpleString):
        return _string_literal(node)
    if isinstance(node, (cst.Integer, cst.Float)):
        return _number_literal(node)
    return None


def _string_literal(node: cst.SimpleString) -> Value:
    """The value of a plain string literal; LibCST's evaluated_value runs ast.literal_eval (slow)."""
    raw = node.value
    quote = raw[-1:]
    if raw[:1] in ("'", '"') and "\\" not in raw and not raw.startswith(quote * 3):
        return const(raw[1:-1])
    try:
        return const(node.evaluated_value)
    except Exception:  # noqa: BLE001 - odd prefixes: a concrete string all the same
        return CONCRETE


def _number_literal(node: cst.BaseNumber) -> Value:
    text = node.value.replace("_", "")
    try:
        if isinstance(node, cst.Integer):
            return const(int(text, 0) if not (len(text) > 1 and text[0] == "0" and text.isdigit()) else int(text))
        return const(float(text))
    except ValueError:
        return CONCRETE


def _subexpressions(node: cst.CSTNode) -> List[cst.BaseExpression]:
    out: List[cst.BaseExpression] = []
    for child in child_nodes(node):
        if isinstance(child, cst.BaseExpression):
            out.append(child)
        elif not isinstance(child, (cst.BaseSuite, cst.BaseStatement)):
            out.extend(_subexpressions(child))
    return out


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


__all__ = ["Analysis", "Frame", "Reach"]
