"""The eager-type view: what a value *is* when the model runs normally, proven from the source.

Fix needs two type views (shared/notes/fix-soundness.md). The taint analysis answers "is this a
Proxy while tracing?"; a forward input that callers fill with a `list[Tensor]`, a `*args` tuple,
`None` and a tensor are all Proxies then. Whether `len(x)` -> `x.size(0)` or `a if c else b` ->
`torch.where(c, a, b)` keeps meaning depends on the eager type, which this module proves over the
CST of one function: :func:`eager_kind` returns

* ``TENSOR`` only on positive evidence: an allow-listed `torch.*` / `F.*` op or tensor method (on a
  proven tensor), arithmetic or a comparison between a proven tensor and a tensor or number, a call
  of a built-in `nn` layer bound once in the class (`self.conv = nn.Conv2d(...)`), an `nn.Parameter`
  or a buffer registered with a proven tensor, a parameter annotated `Tensor` / `torch.Tensor`
  (without a default), a local name whose every reaching binding is one of these;
* ``NUMBER`` for a Python int/float/bool: literals, `len`/`int`/`float`/`bool`, `math.*`, sizes of a
  proven tensor (`t.size(0)`, `t.shape[1]`, `t.dim()`, `t.item()`), arithmetic of numbers;
* ``NOT_TENSOR`` for values proven something else: `None`, strings, displays and comprehensions,
  `*args`/`**kwargs`, a `torch.Size`;
* ``UNKNOWN`` for everything else: unannotated forward inputs, helpers, user submodules (their
  forward may return a tuple), numpy values, names bound by loops, unpacking of unknown values,
  `global`/`nonlocal`, a walrus in a comprehension, an `Optional[Tensor]` parameter.

Every verdict means "if evaluating the expression does not raise": the rewrites that use it keep the
expression's own evaluation, so a raise happens in the same place. Reaching bindings are computed
conservatively: a plain assignment earlier in the same block as the use (or as a statement around
it) kills the bindings before it; otherwise every binding textually before the use counts, and so
does every binding inside a loop around the use (the back edge), and the parameter itself.

Blind spots (each errs towards UNKNOWN, or is stated): a tensor subclass whose operators return
something else; a class attribute rebound from outside the class (or by a subclass, a property of a
base class, `setattr` with a literal name is seen, `self.__dict__` writes are not); `torch`, `F`
or `nn` rebound at module level after their import; `exec`/`locals()` writes.
"""

from __future__ import annotations

import contextlib
import enum
import weakref
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Sequence, Tuple

import libcst as cst

from fxlint.analysis import dotted
from fxlint.analysis.project import ModuleSource
from fxlint.fix.tree import Tree, walk


class EagerKind(enum.Enum):
    """What an expression is when the model runs eagerly (a closed set; see the module docs)."""

    TENSOR = "a tensor"
    NUMBER = "a Python number"
    NOT_TENSOR = "not a tensor"
    UNKNOWN = "of unknown type"


TENSOR, NUMBER, NOT_TENSOR, UNKNOWN = EagerKind.TENSOR, EagerKind.NUMBER, EagerKind.NOT_TENSOR, EagerKind.UNKNOWN

# ----------------------------------------------------------------------------------- allow-lists
#: `torch.<f>(...)` that returns one tensor for every accepted argument list. Not here on purpose:
#: `is_tensor`/`equal`/`allclose` (bools), `max`/`min`/`sort`/`topk`/`median`/`mode`/`unique`/
#: `split`/`chunk`/`unbind`/`meshgrid`/`broadcast_tensors`/`std_mean`/`var_mean` (tuples for some
#: arguments), `Size`/`finfo`/`iinfo`/`get_default_dtype` (no tensor), `where` with one argument.
TORCH_TENSOR_FUNCTIONS = frozenset("""
abs add addmm arange argmax argmin as_tensor atan2 baddbmm bmm bucketize cat ceil clamp clip clone
concat concatenate cos cosh cumprod cumsum diag diagonal diff div einsum empty empty_like eq erf exp
expm1 eye flatten flip floor fmod full full_like gather ge gelu gt index_select isfinite isinf isnan
layer_norm le lerp linspace log log1p log2 log_softmax logical_and logical_not logical_or logsumexp
lt masked_fill matmul maximum mean minimum mm mul narrow ne neg norm ones ones_like outer permute pow
prod rand rand_like randint randn randn_like reciprocal relu remainder repeat_interleave reshape roll
round rsqrt scalar_tensor sigmoid sign sin sinh softmax sqrt square squeeze stack std sub sum
tanh tensor tile transpose tril triu true_divide unsqueeze var view_as_complex view_as_real zeros
zeros_like amax amin any all bernoulli multinomial polar complex floor_divide
""".split())
#: `torch.nn.functional.<f>(...)` returning one tensor (not `max_pool*`: `return_indices=True`)
FUNCTIONAL_TENSOR_FUNCTIONS = frozenset("""
adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d avg_pool1d avg_pool2d avg_pool3d
batch_norm conv1d conv2d conv3d conv_transpose1d conv_transpose2d cross_entropy dropout dropout1d dropout2d
elu embedding gelu glu group_norm hardsigmoid hardswish hardtanh instance_norm interpolate layer_norm
leaky_relu linear log_softmax logsigmoid mish mse_loss normalize one_hot pad pixel_shuffle pixel_unshuffle
relu relu6 rms_norm scaled_dot_product_attention selu sigmoid silu softmax softplus tanh unfold fold
""".split())
#: `t.<m>(...)` on a proven tensor `t` that returns one tensor
TENSOR_METHODS = frozenset("""
abs add addmm all amax amin any argmax argmin bmm bool byte ceil clamp clamp_max clamp_min clip
clone contiguous cos cumsum detach div double eq exp expand expand_as flatten flip float floor
gather ge gt half index_select int le log log_softmax logical_and logical_not logical_or long lt
masked_fill matmul mean mm mul narrow ne neg new_empty new_full new_ones new_tensor new_zeros norm
permute pow prod reciprocal relu repeat repeat_interleave reshape reshape_as roll round rsqrt
sigmoid sign sin softmax sqrt square squeeze std sub sum swapaxes t tanh tile to transpose tril
triu type_as unflatten unsqueeze var view view_as where bfloat16 masked_fill_ add_ mul_ div_ sub_
clamp_ zero_ fill_ copy_ floor_divide remainder fmod exp_ sigmoid_ relu_ normal_ uniform_
""".split())
#: `t.<m>(...)` on a proven tensor that returns a Python int (`size` only with an argument)
NUMBER_METHODS = frozenset({"dim", "ndimension", "numel", "nelement", "element_size", "item", "get_device"})
#: `t.<a>` on a proven tensor that is a tensor (not `grad`: None before backward)
TENSOR_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "data", "real", "imag"})
#: methods whose result, unpacked, is tensors only (`q, k, v = t.split(d, dim=2)`)
TENSOR_SEQUENCE_METHODS = frozenset({"split", "chunk", "unbind", "tensor_split"})
#: methods / `torch.` functions returning a (values, indices) pair of tensors when given a dim
#: (`peak, where = torch.max(scores, 1)`, `scores.topk(2).indices`)
TENSOR_PAIR_METHODS = frozenset({"topk", "sort", "kthvalue", "max", "min", "median", "mode", "aminmax"})
#: keywords that turn a tensor-returning call into a tuple-returning one
TUPLE_KEYWORDS = frozenset({"as_tuple", "return_indices", "return_inverse", "return_counts", "out"})
#: `torch.nn.<Layer>` built-ins whose call returns one tensor (not RNNs / MultiheadAttention: tuples;
#: not containers; `Identity` returns its input and is handled apart)
NN_TENSOR_LAYERS = frozenset("""
AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AvgPool1d AvgPool2d AvgPool3d BatchNorm1d
BatchNorm2d BatchNorm3d Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d Dropout
Dropout1d Dropout2d Dropout3d ELU Embedding Flatten GELU GLU GroupNorm Hardsigmoid Hardswish Hardtanh
InstanceNorm1d InstanceNorm2d InstanceNorm3d LayerNorm LeakyReLU Linear LocalResponseNorm LogSoftmax
Mish PReLU PixelShuffle PixelUnshuffle RMSNorm ReLU ReLU6 SELU SiLU Sigmoid Softmax Softplus Tanh
Unflatten Upsample Bilinear
""".split())
#: `math.<f>(...)`: a Python number (or a raise); `math.<c>` constants
MATH_NUMBER = frozenset("""
ceil floor sqrt exp log log2 log10 log1p pow sin cos tan asin acos atan atan2 sinh cosh tanh fabs
trunc gcd lcm isqrt factorial radians degrees hypot copysign fmod erf erfc gamma lgamma expm1 cbrt
exp2 pi e tau inf nan isfinite isinf isnan isclose
""".split())
#: builtins that return a Python number (or raise) whatever they are given
NUMBER_BUILTINS = frozenset({"len", "int", "float", "bool", "isinstance", "hasattr", "callable", "issubclass"})
_SEQUENCE_TYPES = (cst.Tuple, cst.List, cst.Dict, cst.Set, cst.ListComp, cst.SetComp, cst.DictComp,
                   cst.GeneratorExp, cst.SimpleString, cst.ConcatenatedString, cst.FormattedString, cst.Lambda)
_ARITHMETIC = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power,
               cst.BitAnd, cst.BitOr, cst.BitXor, cst.LeftShift, cst.RightShift)
_ORDERING = (cst.LessThan, cst.GreaterThan, cst.LessThanEqual, cst.GreaterThanEqual, cst.Equal, cst.NotEqual)
_MEMBERSHIP = (cst.In, cst.NotIn, cst.Is, cst.IsNot)
_SCOPES = (cst.FunctionDef, cst.Lambda, cst.ClassDef)
_COMPREHENSIONS = (cst.ListComp, cst.SetComp, cst.DictComp, cst.GeneratorExp)
#: nested expressions and binding links followed (`x = x.view(...)` chains of HF code are long);
#: a few Python frames each, well inside the interpreter's recursion limit
_DEPTH = 120


#: expressions one proof may look at, nested proofs of method results included. Names bound in
#: loops are proven under hypotheses and their verdicts are not kept, so a function where many
#: names feed each other around loops made the search exponential: one transformers module
#: (qwen2_5_omni, fixed with the whole package's findings) ran for over 30 minutes in it. The
#: largest proof measured took 343 steps (MONAI networks; timm 49, x-transformers 41, 7 transformers
#: model folders 16, the fixtures 25).
_MAX_STEPS = 10_000
#: steps left in the running outermost proof (empty: none is running)
_STEPS: List[int] = []


class _OutOfSteps(Exception):
    """A proof took more than _MAX_STEPS steps: it proves nothing (the rewrite needing it declines)."""


@contextlib.contextmanager
def _budget():
    outermost = not _STEPS
    if outermost:
        _STEPS.append(_MAX_STEPS)
    try:
        yield
    finally:
        if outermost:
            _STEPS.clear()


# ----------------------------------------------------------------------------------------- API
def eager_kind(tree: Tree, func: Optional[cst.FunctionDef], expr: cst.BaseExpression,
               at: Optional[cst.CSTNode] = None) -> EagerKind:
    """What ``expr`` (a node of ``tree``, inside ``func``) is in eager mode, on every path reaching it.
    ``at``: where a Name that is not a node of ``tree`` (built by a rewrite) would be read."""
    if func is None:
        return UNKNOWN
    try:
        with _budget():
            return _Prover(tree, func, at).kind(expr, _DEPTH)
    except (RecursionError, _OutOfSteps):  # deeper than the interpreter allows, or too long: no proof
        return UNKNOWN


def is_tensor(tree: Tree, func: Optional[cst.FunctionDef], expr: cst.BaseExpression,
              at: Optional[cst.CSTNode] = None) -> bool:
    return eager_kind(tree, func, expr, at) is TENSOR


def is_number(tree: Tree, func: Optional[cst.FunctionDef], expr: cst.BaseExpression) -> bool:
    return eager_kind(tree, func, expr) is NUMBER


def integer(tree: Tree, func: Optional[cst.FunctionDef], expr: cst.BaseExpression) -> Optional[bool]:
    """Is ``expr`` a Python int in eager mode? None: not proven; False: an int of unknown sign;
    True: a non-negative int (sizes, `len`, literals, and `+`, `*`, `//`, `%` of such)."""
    if func is None:
        return None
    try:
        with _budget():
            return _Prover(tree, func).integer(expr, _DEPTH)
    except (RecursionError, _OutOfSteps):
        return None


def definitely_bound(tree: Tree, func: Optional[cst.FunctionDef], name: str, use: cst.CSTNode) -> bool:
    """Is the local ``name`` bound on every path reaching ``use`` (a parameter never deleted, or a
    plain assignment that runs before it on every path)? Reading it there cannot raise `NameError`."""
    if func is None:
        return False
    every = bindings(tree, func, name)
    if not every or any(isinstance(b.node, (cst.Global, cst.Nonlocal)) for b in every):
        return False
    if _dominating(tree, func, use, every) is not None:
        return True
    deleted = any(isinstance(tree.parents.get(b.node), cst.Del) or isinstance(b.node, cst.Del) for b in every) \
        or any(isinstance(n, cst.Del) for n in walk(func.body))
    return any(b.how == "param" for b in every) and not deleted


def not_proven(tree: Tree, func: Optional[cst.FunctionDef], expr: cst.BaseExpression, want: EagerKind) -> str:
    """"`x` is not proven a tensor in eager (it is of unknown type: ...)" for a Decline's reason."""
    got = eager_kind(tree, func, expr)
    hint = {UNKNOWN: "an unannotated input, a loop variable or a helper's result may be a list, a tuple or None",
            NOT_TENSOR: "a container, None or a size sequence", NUMBER: "a Python number",
            TENSOR: "a tensor"}[got]
    return f"`{tree.code(expr)}` is not proven {want.value} in eager mode ({got.value}: {hint})"


# -------------------------------------------------------------------------------- module facts
@dataclass(frozen=True)
class ClassFacts:
    """What a class's methods bind on `self`, once each: ``tensors`` (an `nn.Parameter`, or a buffer
    registered with a proven tensor), ``layers`` (attribute -> built-in `nn` layer class) and
    ``numbers`` (set once, in `__init__`, to a proven Python number: `self.width = int(width)`);
    ``bound``: every attribute name bound on `self` in any way (a method of that name is shadowed)."""

    tensors: FrozenSet[str]
    layers: Tuple[Tuple[str, str], ...]
    numbers: FrozenSet[str] = frozenset()
    bound: FrozenSet[str] = frozenset()

    def layer(self, name: str) -> Optional[str]:
        return dict(self.layers).get(name)


_SOURCES: "weakref.WeakKeyDictionary[Tree, ModuleSource]" = weakref.WeakKeyDictionary()
_CLASSES: "weakref.WeakKeyDictionary[Tree, Dict[int, ClassFacts]]" = weakref.WeakKeyDictionary()


def qualified(tree: Tree, expr: cst.BaseExpression) -> str:
    """`F.relu` -> "torch.nn.functional.relu" through the module's imports; "" for an unimported head."""
    name = dotted(expr) if isinstance(expr, (cst.Name, cst.Attribute)) else ""
    if not name:
        return ""
    source = _SOURCES.get(tree)
    if source is None:
        source = _SOURCES[tree] = ModuleSource("<fix>", "<fix>", tree.text, tree=tree.module)
    head = name.partition(".")[0]
    return source.resolve_name(name) if head in source.imports else ""


def class_facts(tree: Tree, func: cst.FunctionDef) -> ClassFacts:
    """Facts of the class ``func`` is a method of (empty for a plain function)."""
    block = tree.parents.get(func)
    cls = tree.parents.get(block) if block is not None else None
    if not isinstance(cls, cst.ClassDef):
        return ClassFacts(frozenset(), ())
    cache = _CLASSES.setdefault(tree, {})
    if id(cls) not in cache:
        cache[id(cls)] = ClassFacts(frozenset(), ())  # while reading it (a buffer built from `self.x`)
        cache[id(cls)] = _read_class(tree, cls)
    return cache[id(cls)]


def _read_class(tree: Tree, cls: cst.ClassDef) -> ClassFacts:
    """Every way a method binds `self.<name>`; a name bound more than once, or by anything other than
    `nn.Parameter(...)`, `register_buffer("name", <proven tensor>)` or a built-in layer, is left out."""
    sites: Dict[str, List[Tuple[str, str]]] = {}
    poisoned = False
    for method in (s for s in cls.body.body if isinstance(s, cst.FunctionDef)):
        for n in walk(method):
            if isinstance(n, cst.Attribute) and _is_self(n.value) and _stored(tree, n):
                sites.setdefault(n.attr.value, []).append(_attribute_site(tree, method, n))
            elif isinstance(n, cst.Call) and isinstance(n.func, cst.Attribute) and _is_self(n.func.value):
                kind = n.func.attr.value
                if kind in ("register_buffer", "register_parameter", "add_module", "register_module"):
                    name = _literal(n.args[0].value) if n.args else None
                    if name is None:
                        poisoned = True
                        continue
                    value = n.args[1].value if len(n.args) > 1 else None
                    proven = kind != "add_module" and kind != "register_module" and value is not None \
                        and eager_kind(tree, method, value) is TENSOR
                    sites.setdefault(name, []).append(("tensor" if proven else "other", ""))
            elif isinstance(n, cst.Call) and dotted(n.func) in ("setattr", "delattr"):
                name = _literal(n.args[1].value) if len(n.args) > 1 else None
                if name is None:
                    poisoned = True
                else:
                    sites.setdefault(name, []).append(("other", ""))
    for stmt in cls.body.body:  # a class-level attribute of the same name
        if isinstance(stmt, cst.SimpleStatementLine):
            for n in walk(stmt):
                if isinstance(n, cst.Name) and tree.contexts.get(n) is not None and _stored(tree, n):
                    sites.setdefault(n.value, []).append(("other", ""))
    if poisoned:
        return ClassFacts(frozenset(), (), bound=frozenset(sites) | {"*"})
    once = {name: s[0] for name, s in sites.items() if len(s) == 1}
    return ClassFacts(frozenset(n for n, (k, _) in once.items() if k == "tensor"),
                      tuple(sorted((n, layer) for n, (k, layer) in once.items() if k == "layer")),
                      frozenset(n for n, (k, _) in once.items() if k == "number"), frozenset(sites))


def _attribute_site(tree: Tree, method: cst.FunctionDef, target: cst.Attribute) -> Tuple[str, str]:
    owner = tree.parents.get(tree.parents.get(target))
    if not (isinstance(owner, cst.Assign) and len(owner.targets) == 1 and owner.targets[0].target is target):
        return "other", ""
    if method.name.value == "__init__" and eager_kind(tree, method, owner.value) is NUMBER:
        return "number", ""
    if not isinstance(owner.value, cst.Call):
        return "other", ""
    callee = qualified(tree, owner.value.func)
    if callee in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
        return "tensor", ""
    if callee.startswith("torch.nn.") and callee.rpartition(".")[2] in NN_TENSOR_LAYERS | {"Identity"} \
            and not any(a.keyword and a.keyword.value in TUPLE_KEYWORDS
                                                         for a in owner.value.args):
        return "layer", callee.rpartition(".")[2]
    return "other", ""


def _stored(tree: Tree, node: cst.CSTNode) -> bool:
    """Is ``node`` a target of an assignment, augmented assignment, `del`, loop or `with ... as`?"""
    parent = tree.parents.get(node)
    while isinstance(parent, (cst.Tuple, cst.List, cst.Element, cst.StarredElement)):
        node, parent = parent, tree.parents.get(parent)
    if isinstance(parent, (cst.AssignTarget, cst.Del, cst.AsName)):
        return True
    if isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is node:
        return True
    if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is node:
        return True
    return isinstance(parent, cst.NamedExpr) and parent.target is node


def _is_self(expr: cst.BaseExpression) -> bool:
    return isinstance(expr, cst.Name) and expr.value == "self"


def _literal(expr: cst.BaseExpression) -> Optional[str]:
    if isinstance(expr, cst.SimpleString):
        value = expr.evaluated_value
        return value if isinstance(value, str) else None
    return None


# ---------------------------------------------------------------------------------- bindings
@dataclass(frozen=True)
class Binding:
    """One way ``name`` gets a value in a function: ``how`` is "value" (``value`` is bound), "unpack"
    (``value`` is unpacked and ``path`` indexes the target), "aug" (``node`` is an AugAssign),
    "param" (``node`` is the Param) or "other" (unknown: loops, `with`, imports, `global`, ...)."""

    how: str
    node: cst.CSTNode
    value: Optional[cst.BaseExpression] = None
    path: Tuple[int, ...] = ()


_BINDINGS: "weakref.WeakKeyDictionary[Tree, Dict[int, Dict[str, List[Binding]]]]" = weakref.WeakKeyDictionary()


def bindings(tree: Tree, func: cst.FunctionDef, name: str) -> List[Binding]:
    """Every binding of ``name`` in ``func``'s own scope (nested defs and comprehensions are other
    scopes; a walrus inside a comprehension binds here, as "other"). Indexed once per function."""
    per_tree = _BINDINGS.setdefault(tree, {})
    if id(func) not in per_tree:
        per_tree[id(func)] = _index_bindings(tree, func)
    index = per_tree[id(func)]
    return index.get(name, []) + index.get("*", [])


def _index_bindings(tree: Tree, func: cst.FunctionDef) -> Dict[str, List[Binding]]:
    found: Dict[str, List[Binding]] = {}

    def add(name: str, binding: Binding) -> None:
        found.setdefault(name, []).append(binding)

    for p in _params(func):
        add(p.name.value, Binding("param", p))
    stack: List[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            add(node.name.value, Binding("other", node))
            stack.extend(d for d in node.decorators)
            continue
        if isinstance(node, cst.Lambda):
            continue
        if isinstance(node, _COMPREHENSIONS):
            for n in walk(node):
                if isinstance(n, cst.NamedExpr) and isinstance(n.target, cst.Name):
                    add(n.target.value, Binding("other", n))
            continue
        if isinstance(node, (cst.Global, cst.Nonlocal)):
            for a in node.names:
                add(a.name.value, Binding("other", node))
        elif isinstance(node, cst.Name) and _stored(tree, node):
            add(node.value, _binding_of(tree, node))
        elif isinstance(node, (cst.Import, cst.ImportFrom)):
            if isinstance(node.names, cst.ImportStar):
                add("*", Binding("other", node))
            else:
                for alias in node.names:
                    bound = alias.asname.name if alias.asname else alias.name
                    add(dotted(bound).partition(".")[0], Binding("other", node))
        elif isinstance(node, (cst.MatchAs, cst.MatchStar)) and getattr(node, "name", None) is not None:
            add(node.name.value, Binding("other", node))
        stack.extend(reversed(node.children))
    return found


def _binding_of(tree: Tree, target: cst.Name) -> Binding:
    path: List[int] = []
    node: cst.CSTNode = target
    parent = tree.parents.get(node)
    while isinstance(parent, (cst.Element, cst.Tuple, cst.List, cst.StarredElement)):
        if isinstance(parent, cst.StarredElement):
            return Binding("other", target)
        if isinstance(parent, (cst.Tuple, cst.List)):
            path.insert(0, list(parent.elements).index(node))
        node, parent = parent, tree.parents.get(parent)
    if isinstance(parent, cst.AssignTarget):
        owner = tree.parents.get(parent)
        return Binding("unpack" if path else "value", owner, owner.value, tuple(path))
    if isinstance(parent, cst.AnnAssign) and parent.value is not None and not path:
        return Binding("value", parent, parent.value)
    if isinstance(parent, cst.AugAssign) and not path:
        return Binding("aug", parent)
    if isinstance(parent, cst.NamedExpr) and not path:
        return Binding("value", parent, parent.value)
    return Binding("other", target)


def _params(func: cst.FunctionDef) -> Sequence[cst.Param]:
    p = func.params
    extra = [s for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param)]
    return [*p.posonly_params, *p.params, *p.kwonly_params, *extra]


def _is_name(expr: cst.CSTNode, value: str) -> bool:
    return isinstance(expr, cst.Name) and expr.value == value


# ------------------------------------------------------------------------------------ prover
def _spend() -> None:
    """One step of the running proof (:data:`_MAX_STEPS`)."""
    steps = _STEPS
    if steps:
        steps[0] -= 1
        if steps[0] < 0:
            raise _OutOfSteps()


class _Prover:
    def __init__(self, tree: Tree, func: cst.FunctionDef, at: Optional[cst.CSTNode] = None) -> None:
        self.tree, self.func, self.at = tree, func, at
        #: bindings being proven (met again: a loop) -> the kind they are assumed to give
        self.progress: Dict[Tuple[int, Tuple[int, ...]], EagerKind] = {}
        self.cycles = 0  #: how often a binding being proven was met again
        #: verdicts of names whose proof read no assumed binding (they depend on nothing assumed)
        self.memo: Dict[Tuple[int, str], EagerKind] = {}

    def kind(self, expr: cst.BaseExpression, depth: int) -> EagerKind:
        if depth <= 0:
            return UNKNOWN
        _spend()
        depth -= 1
        if isinstance(expr, (cst.Integer, cst.Float)):
            return NUMBER
        if isinstance(expr, _SEQUENCE_TYPES) or isinstance(expr, cst.Imaginary):
            return NOT_TENSOR
        if isinstance(expr, cst.Name):
            return self.name(expr, depth)
        if isinstance(expr, cst.UnaryOperation):
            inner = self.kind(expr.expression, depth)
            if isinstance(expr.operator, cst.Not):
                return NUMBER
            return inner if inner in (TENSOR, NUMBER) else UNKNOWN
        if isinstance(expr, cst.BinaryOperation):
            return self.binary(expr, depth)
        if isinstance(expr, cst.Comparison):
            return self.comparison(expr, depth)
        if isinstance(expr, cst.BooleanOperation):
            left, right = self.kind(expr.left, depth), self.kind(expr.right, depth)
            return left if left is right and left is not UNKNOWN else UNKNOWN  # returns one of them
        if isinstance(expr, cst.IfExp):
            body, orelse = self.kind(expr.body, depth), self.kind(expr.orelse, depth)
            return body if body is orelse else UNKNOWN
        if isinstance(expr, cst.Subscript):
            return self.subscript(expr, depth)
        if isinstance(expr, cst.Attribute):
            return self.attribute(expr, depth)
        if isinstance(expr, cst.Call):
            return self.call(expr, depth)
        if isinstance(expr, cst.NamedExpr):
            return self.kind(expr.value, depth)
        return UNKNOWN

    # ------------------------------------------------------------------ operators
    def binary(self, expr: cst.BinaryOperation, depth: int) -> EagerKind:
        left, right = self.kind(expr.left, depth), self.kind(expr.right, depth)
        if isinstance(expr.operator, cst.MatrixMultiply):
            return TENSOR if left is TENSOR and right is TENSOR else UNKNOWN
        if not isinstance(expr.operator, _ARITHMETIC):
            return UNKNOWN
        if TENSOR in (left, right) and {left, right} <= {TENSOR, NUMBER}:
            return TENSOR
        return NUMBER if left is NUMBER and right is NUMBER else UNKNOWN

    def comparison(self, expr: cst.Comparison, depth: int) -> EagerKind:
        if len(expr.comparisons) != 1:  # `a < b < c` takes the truth value of `a < b`
            return UNKNOWN
        target = expr.comparisons[0]
        if isinstance(target.operator, _MEMBERSHIP):
            return NUMBER  # `in`/`is` always give a bool
        left, right = self.kind(expr.left, depth), self.kind(target.comparator, depth)
        if TENSOR in (left, right) and {left, right} <= {TENSOR, NUMBER}:
            return TENSOR
        return NUMBER if left is NUMBER and right is NUMBER else UNKNOWN

    def subscript(self, expr: cst.Subscript, depth: int) -> EagerKind:
        value = expr.value
        if self.kind(value, depth) is TENSOR:
            return TENSOR
        base = _size_base(value)
        if base is not None and self.kind(base, depth) is TENSOR:
            if len(expr.slice) == 1 and isinstance(expr.slice[0].slice, cst.Index) \
                    and self.kind(expr.slice[0].slice.value, depth) is NUMBER:
                return NUMBER  # `t.shape[1]`: an int
            if all(isinstance(e.slice, cst.Slice) for e in expr.slice):
                return NOT_TENSOR  # `t.shape[1:]`: a torch.Size
        return UNKNOWN

    def attribute(self, expr: cst.Attribute, depth: int) -> EagerKind:
        attr = expr.attr.value
        if _is_self(expr.value):
            facts = class_facts(self.tree, self.func)
            return TENSOR if attr in facts.tensors else NUMBER if attr in facts.numbers else UNKNOWN
        if qualified(self.tree, expr.value) == "math" and not self._local(name_head(expr)):
            return NUMBER if attr in MATH_NUMBER else UNKNOWN
        if attr in ("values", "indices") and self._tensor_pair(expr.value, depth):
            return TENSOR
        if attr in TENSOR_ATTRIBUTES | {"shape", "ndim", "dtype", "device"}:
            if self.kind(expr.value, depth) is not TENSOR:
                return UNKNOWN
            return TENSOR if attr in TENSOR_ATTRIBUTES else NUMBER if attr == "ndim" else NOT_TENSOR
        return UNKNOWN

    # ------------------------------------------------------------------ calls
    def call(self, expr: cst.Call, depth: int) -> EagerKind:
        func = expr.func
        if any(a.keyword is not None and a.keyword.value in TUPLE_KEYWORDS for a in expr.args):
            return UNKNOWN
        name = qualified(self.tree, func)
        if name and not self._local(name_head(func)):
            module, _, attr = name.rpartition(".")
            if module == "torch" and attr in TORCH_TENSOR_FUNCTIONS:
                return TENSOR if attr != "where" else UNKNOWN
            if module == "torch" and attr == "where":
                return TENSOR if len(expr.args) == 3 else UNKNOWN
            if module == "torch.nn.functional" and attr in FUNCTIONAL_TENSOR_FUNCTIONS:
                return TENSOR
            if module == "math":
                return NUMBER if attr in MATH_NUMBER else UNKNOWN
        if isinstance(func, cst.Name) and not self._local(func.value):
            if func.value in NUMBER_BUILTINS:
                return NUMBER
            if func.value in ("abs", "round") and len(expr.args) == 1:
                inner = self.kind(expr.args[0].value, depth)
                return inner if inner is NUMBER or (inner is TENSOR and func.value == "abs") else UNKNOWN
            if func.value in ("min", "max") and len(expr.args) >= 2 and not any(a.keyword or a.star for a in expr.args):
                kinds = {self.kind(a.value, depth) for a in expr.args}
                return NUMBER if kinds == {NUMBER} else UNKNOWN
            return UNKNOWN
        if not isinstance(func, cst.Attribute):
            return UNKNOWN
        if _is_self(func.value):
            return self.layer_call(expr, func.attr.value, depth)
        method = func.attr.value
        if method in TENSOR_PAIR_METHODS and not expr.args and self.kind(func.value, depth) is TENSOR:
            return TENSOR  # `t.max()`: one 0-dim tensor (a pair only with a dim)
        if method in TENSOR_METHODS | NUMBER_METHODS | {"size", "type"} and self.kind(func.value, depth) is TENSOR:
            if method == "size":
                return NUMBER if expr.args else NOT_TENSOR
            if method == "type":
                return TENSOR if expr.args else NOT_TENSOR
            return NUMBER if method in NUMBER_METHODS else TENSOR
        return UNKNOWN

    def _tensor_pair(self, expr: cst.BaseExpression, depth: int) -> bool:
        """`t.topk(k)`, `t.max(1)`, `torch.sort(t)`...: a (values, indices) pair of tensors. Not
        `t.max()` / `torch.max(a, b)`, which are one tensor."""
        if not isinstance(expr, cst.Call) or any(a.star or (a.keyword and a.keyword.value in TUPLE_KEYWORDS)
                                                 for a in expr.args):
            return False
        name = qualified(self.tree, expr.func)
        if name.startswith("torch.") and name.count(".") == 1 and not self._local(name_head(expr.func)):
            method, args = name[len("torch."):], list(expr.args)
            if not args or args[0].keyword or self.kind(args[0].value, depth) is not TENSOR:
                return False
            rest = args[1:]
        elif isinstance(expr.func, cst.Attribute) and self.kind(expr.func.value, depth) is TENSOR:
            method, rest = expr.func.attr.value, list(expr.args)
        else:
            return False
        if method not in TENSOR_PAIR_METHODS:
            return False
        if method in ("max", "min", "median", "mode"):  # a pair only with a dim (an int, not a tensor)
            return bool(rest) and all(self.kind(a.value, depth) is NUMBER for a in rest if not a.keyword
                                      or a.keyword.value in ("dim", "keepdim"))
        return True

    def layer_call(self, expr: cst.Call, attr: str, depth: int) -> EagerKind:
        facts = class_facts(self.tree, self.func)
        layer = facts.layer(attr)
        if layer == "Identity":
            return self.kind(expr.args[0].value, depth) if len(expr.args) == 1 and not expr.args[0].star else UNKNOWN
        if layer is not None:
            return TENSOR
        if attr in facts.bound or "*" in facts.bound:
            return UNKNOWN
        return _method_result(self.tree, self.func, attr, depth)


    # ------------------------------------------------------------------ integers
    def integer(self, expr: cst.BaseExpression, depth: int) -> Optional[bool]:
        _spend()
        if depth <= 0:
            return None
        depth -= 1
        if isinstance(expr, cst.Integer):
            return True
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Add, cst.Multiply, cst.FloorDivide,
                                                                                   cst.Subtract, cst.Modulo)):
            left, right = self.integer(expr.left, depth), self.integer(expr.right, depth)
            if left is None or right is None:
                return None
            return left and right and not isinstance(expr.operator, cst.Subtract)
        if isinstance(expr, cst.Call):
            name = qualified(self.tree, expr.func)
            if name in ("math.ceil", "math.floor") and not self._local(name_head(expr.func)):
                return False
            if isinstance(expr.func, cst.Name) and expr.func.value in ("len", "int") and not self._local(expr.func.value):
                return expr.func.value == "len"
        if isinstance(expr, cst.Name):
            use = expr if expr in self.tree.ranges or self.at is None else self.at
            if self._opaque(use, expr.value):
                return None
            reaching = reaching_bindings(self.tree, self.func, use, expr.value)
            results = [self._binding_integer(b, depth) for b in reaching]
            if not results or any(r is None for r in results):
                return None
            return all(results)
        # sizes of a proven tensor: `t.size(0)`, `t.shape[1]`, `t.dim()`, `t.numel()`, `t.ndim`
        if self.kind(expr, depth) is NUMBER and _size_of_tensor(expr):
            return True
        return None

    def _binding_integer(self, b: Binding, depth: int) -> Optional[bool]:
        key = (id(b.node), b.path)
        if key in self.progress or b.how not in ("value", "unpack"):
            return None
        self.progress[key] = UNKNOWN
        try:
            if b.how == "value":
                return self.integer(b.value, depth)
            return True if self.unpacked(b.value, b.path, depth) is NUMBER and _unpacks_sizes(b.value) else None
        finally:
            del self.progress[key]

    # ------------------------------------------------------------------ names
    def name(self, expr: cst.Name, depth: int) -> EagerKind:
        if expr.value in ("True", "False"):
            return NUMBER
        if expr.value == "None":
            return NOT_TENSOR
        use = expr if expr in self.tree.ranges or self.at is None else self.at
        key = (id(use), expr.value)
        if key in self.memo:
            return self.memo[key]
        cycles = self.cycles
        result = self._name(expr, use, depth)
        if self.cycles == cycles:  # no assumed binding was read: the verdict holds anywhere
            self.memo[key] = result
        return result

    def _name(self, expr: cst.Name, use: cst.CSTNode, depth: int) -> EagerKind:
        if self._opaque(use, expr.value):
            return UNKNOWN
        reaching = reaching_bindings(self.tree, self.func, use, expr.value)
        if not reaching:
            return UNKNOWN  # a global, a builtin or a closure variable
        cycles = self.cycles
        first = self._meet(reaching, UNKNOWN, depth, use)
        if first is not UNKNOWN or self.cycles == cycles:
            return first
        for hypothesis in (TENSOR, NUMBER):  # a binding cycle (`x = x + 1` in a loop)
            if self._meet(reaching, hypothesis, depth, use) is hypothesis:
                return hypothesis
        return UNKNOWN

    def _meet(self, reaching: Sequence[Binding], hypothesis: EagerKind, depth: int,
              use: Optional[cst.CSTNode] = None) -> EagerKind:
        """The one kind every reaching binding gives (UNKNOWN if they differ). A binding met again
        while it is being proven (a loop) is taken to give ``hypothesis``; the caller accepts the
        result only if it *is* the hypothesis, which is sound by induction over the order in which
        the bindings run (each run reads values that earlier runs bound)."""
        kinds = set()
        for b in reaching:
            key = (id(b.node), b.path)
            if key in self.progress:
                self.cycles += 1
                kinds.add(self.progress[key])
                continue
            self.progress[key] = hypothesis
            try:
                kinds.add(self.binding_kind(b, depth, use))
            finally:
                del self.progress[key]
        return kinds.pop() if len(kinds) == 1 else UNKNOWN

    def binding_kind(self, b: Binding, depth: int, use: Optional[cst.CSTNode] = None) -> EagerKind:
        if b.how == "param":
            return self.param(b.node, use)
        if b.how == "value":
            return self.kind(b.value, depth)
        if b.how == "unpack":
            return self.unpacked(b.value, b.path, depth)
        if b.how == "aug":
            node = b.node
            target, value = self.kind(node.target, depth), self.kind(node.value, depth)
            if not isinstance(node.operator, (cst.AddAssign, cst.SubtractAssign, cst.MultiplyAssign,
                                              cst.DivideAssign, cst.FloorDivideAssign, cst.ModuloAssign,
                                              cst.PowerAssign, cst.BitAndAssign, cst.BitOrAssign)):
                return UNKNOWN
            if target is TENSOR and value in (TENSOR, NUMBER):
                return TENSOR
            return NUMBER if target is NUMBER and value is NUMBER else UNKNOWN
        return UNKNOWN

    def unpacked(self, value: cst.BaseExpression, path: Tuple[int, ...], depth: int) -> EagerKind:
        for i, index in enumerate(path):
            if isinstance(value, (cst.Tuple, cst.List)) and not any(isinstance(e, cst.StarredElement)
                                                                   for e in value.elements):
                if index >= len(value.elements):
                    return UNKNOWN
                value = value.elements[index].value
                continue
            if i != len(path) - 1:
                return UNKNOWN
            if self._tensor_pair(value, depth):
                return TENSOR if index < 2 else UNKNOWN
            if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute):
                method, receiver = value.func.attr.value, value.func.value
                if method in TENSOR_SEQUENCE_METHODS and self.kind(receiver, depth) is TENSOR:
                    return TENSOR
                if method == "size" and not value.args and self.kind(receiver, depth) is TENSOR:
                    return NUMBER
            if isinstance(value, cst.Attribute) and value.attr.value == "shape" \
                    and self.kind(value.value, depth) is TENSOR:
                return NUMBER
            if isinstance(value, cst.Subscript) and _size_base(value.value) is not None \
                    and self.kind(value, depth) is NOT_TENSOR:
                return NUMBER  # `h, w = t.shape[-2:]`
            return UNKNOWN
        return self.kind(value, depth)

    def param(self, param: cst.Param, use: Optional[cst.CSTNode] = None) -> EagerKind:
        """A parameter annotated `Tensor` without a default; `Optional[Tensor]` (or a `None`
        default) only where the use sits in the body of an `if <name> is not None` test."""
        params = self.func.params
        if param is params.star_arg or param is params.star_kwarg:
            return NOT_TENSOR  # a tuple / a dict
        if param.annotation is None:
            return UNKNOWN
        annotation = param.annotation.annotation
        if qualified(self.tree, annotation) == "torch.Tensor":
            if param.default is None:
                return TENSOR
            return TENSOR if use is not None and self._guarded(use, param.name.value) else UNKNOWN
        if _optional_tensor(self.tree, annotation) and use is not None and self._guarded(use, param.name.value):
            return TENSOR
        return UNKNOWN

    def _guarded(self, use: cst.CSTNode, name: str) -> bool:
        """Is ``use`` in the body of an `if` / conditional expression testing `name is not None`
        (alone or as a conjunct of `and`)?"""
        child = use
        for anc in self.tree.ancestors(use):
            if anc is self.func:
                return False
            if isinstance(anc, (cst.If, cst.IfExp)) and child is anc.body and _tests_not_none(anc.test, name):
                return True
            child = anc
        return False

    def _local(self, name: str) -> bool:
        return bool(bindings(self.tree, self.func, name))

    def _opaque(self, expr: cst.CSTNode, name: str) -> bool:
        """Is ``expr`` not simply read from ``func``'s scope where it stands: inside a lambda or a
        generator expression (run later, after rebindings), a nested def, or a comprehension that
        binds the same name?"""
        for anc in self.tree.ancestors(expr):
            if anc is self.func:
                return False
            if isinstance(anc, (cst.Lambda, cst.GeneratorExp, cst.FunctionDef, cst.ClassDef)):
                return True
            if isinstance(anc, _COMPREHENSIONS) and any(
                    isinstance(n, cst.CompFor) and any(_is_name(t, name) for t in walk(n.target))
                    for n in walk(anc)):
                return True
        return True


_IN_PROGRESS: "set[int]" = set()  #: methods whose result is being proven (recursion)


def _method_result(tree: Tree, func: cst.FunctionDef, name: str, depth: int) -> EagerKind:
    """What `self.<name>(...)` returns, for a plain method ``name`` of ``func``'s class whose every
    `return` gives the same proven kind and whose body ends in a `return` (its parameters judged by
    their own annotations, so the caller's arguments do not matter). Blind spot: a subclass
    overriding the method."""
    block = tree.parents.get(func)
    cls = tree.parents.get(block) if block is not None else None
    if not isinstance(cls, cst.ClassDef):
        return UNKNOWN
    method = next((s for s in cls.body.body if isinstance(s, cst.FunctionDef) and s.name.value == name), None)
    if method is None or method.decorators or id(method) in _IN_PROGRESS or depth <= 0:
        return UNKNOWN
    body = method.body.body if isinstance(method.body, cst.IndentedBlock) else ()
    last = body[-1] if body else None
    if not (isinstance(last, cst.SimpleStatementLine) and isinstance(last.body[-1], cst.Return)):
        return UNKNOWN
    returns = [n for n in _own_nodes(method) if isinstance(n, cst.Return)]
    if any(r.value is None for r in returns) or any(isinstance(n, (cst.Yield, cst.Await)) for n in _own_nodes(method)):
        return UNKNOWN
    _IN_PROGRESS.add(id(method))
    try:
        kinds = {_Prover(tree, method).kind(r.value, depth - 1) for r in returns}
    finally:
        _IN_PROGRESS.discard(id(method))
    return kinds.pop() if len(kinds) == 1 else UNKNOWN


def _own_nodes(func: cst.FunctionDef) -> List[cst.CSTNode]:
    """Nodes of ``func``'s body outside nested defs, lambdas and classes."""
    out: List[cst.CSTNode] = []
    stack: List[cst.CSTNode] = [func.body]
    while stack:
        node = stack.pop()
        out.append(node)
        if not isinstance(node, _SCOPES):
            stack.extend(node.children)
    return out


def _tests_not_none(test: cst.BaseExpression, name: str) -> bool:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _tests_not_none(test.left, name) or _tests_not_none(test.right, name)
    return isinstance(test, cst.Comparison) and len(test.comparisons) == 1 and _is_name(test.left, name) \
        and isinstance(test.comparisons[0].operator, cst.IsNot) and _is_name(test.comparisons[0].comparator, "None")


def _optional_tensor(tree: Tree, annotation: cst.BaseExpression) -> bool:
    """`Optional[Tensor]`, `Union[Tensor, None]`, `Tensor | None` (through the module's imports)."""
    if isinstance(annotation, cst.BinaryOperation) and isinstance(annotation.operator, cst.BitOr):
        parts = [annotation.left, annotation.right]
    elif isinstance(annotation, cst.Subscript) and qualified(tree, annotation.value) in (
            "typing.Optional", "typing.Union"):
        parts = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        if qualified(tree, annotation.value) == "typing.Optional":
            parts.append(cst.Name("None"))
    else:
        return False
    kinds = {"tensor" if qualified(tree, p) == "torch.Tensor" else "none" if _is_name(p, "None") else "other"
             for p in parts}
    return kinds == {"tensor", "none"}


def _lambda_params(node: cst.Lambda) -> Sequence[cst.Param]:
    p = node.params
    extra = [s for s in (p.star_arg, p.star_kwarg) if isinstance(s, cst.Param)]
    return [*p.posonly_params, *p.params, *p.kwonly_params, *extra]


def name_head(expr: cst.BaseExpression) -> str:
    """`a` of `a.b.c`."""
    while isinstance(expr, cst.Attribute):
        expr = expr.value
    return expr.value if isinstance(expr, cst.Name) else ""


def _size_of_tensor(expr: cst.BaseExpression) -> bool:
    """Does ``expr`` read a size (non-negative int) of its receiver: `.size(i)`, `.shape[i]`, `.dim()`,
    `.numel()`, `.ndim`? (Whether the receiver is a tensor is the caller's check.)"""
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute):
        return expr.func.attr.value in ("size", "dim", "ndimension", "numel", "nelement") and \
            (bool(expr.args) or expr.func.attr.value != "size")
    if isinstance(expr, cst.Attribute):
        return expr.attr.value == "ndim"
    return isinstance(expr, cst.Subscript) and _size_base(expr.value) is not None


def _unpacks_sizes(value: cst.BaseExpression) -> bool:
    """`t.shape`, `t.size()`, `t.shape[-2:]` (unpacked into sizes)."""
    if isinstance(value, cst.Subscript):
        value = value.value
    return _size_base(value) is not None


def _size_base(expr: cst.BaseExpression) -> Optional[cst.BaseExpression]:
    """`t` of `t.shape` / `t.size()`."""
    if isinstance(expr, cst.Attribute) and expr.attr.value == "shape":
        return expr.value
    if isinstance(expr, cst.Call) and not expr.args and isinstance(expr.func, cst.Attribute) \
            and expr.func.attr.value == "size":
        return expr.func.value
    return None


# -------------------------------------------------------------------------------- reaching
def reaching_bindings(tree: Tree, func: cst.FunctionDef, use: cst.CSTNode, name: Optional[str] = None) -> List[Binding]:
    """Bindings of ``name`` (default: ``use``'s own) that may give it its value where ``use`` reads it
    (a superset; see the module docs)."""
    every = bindings(tree, func, name if name is not None else use.value)
    if any(b.how == "other" and isinstance(b.node, (cst.Global, cst.Nonlocal)) for b in every):
        return [Binding("other", use)]
    start = tree.start(use)
    loops = [a for a in _ancestors_within(tree, use, func) if isinstance(a, (cst.For, cst.While))]
    dominator = _dominating(tree, func, use, every)
    reaching = []
    for b in every:
        if b.how == "param":
            if dominator is None:
                reaching.append(b)
            continue
        point = _point(tree, b)
        in_loop = [loop for loop in loops if tree.contains(loop, b.node)]
        if dominator is not None:
            after = _point(tree, dominator) < point <= start
            if b is dominator or after or any(not tree.contains(loop, dominator.node) for loop in in_loop):
                reaching.append(b)
        elif point <= start or in_loop:
            reaching.append(b)
    return reaching


def _point(tree: Tree, b: Binding) -> Tuple[int, int]:
    """Where a binding takes effect: after its whole statement / expression (`x = f(x)` reads the old x)."""
    return tree.end(b.node)


def _dominating(tree: Tree, func: cst.FunctionDef, use: cst.CSTNode, every: Sequence[Binding]) -> Optional[Binding]:
    """The last plain `name = value` (or annotated / augmented) statement that runs before ``use`` on
    every path: a member of a block that also holds a statement around ``use``, before it."""
    around = {id(a) for a in _ancestors_within(tree, use, func)}
    best: Optional[Binding] = None
    for b in every:
        if b.how not in ("value", "unpack", "aug") or not isinstance(b.node, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
            continue
        line = tree.parents.get(b.node)
        if not isinstance(line, cst.SimpleStatementLine):
            continue
        block = tree.parents.get(line)
        if id(block) not in around or tree.end(b.node) > tree.start(use):
            continue
        if best is None or _point(tree, best) < _point(tree, b):
            best = b
    return best


def _ancestors_within(tree: Tree, node: cst.CSTNode, func: cst.FunctionDef) -> List[cst.CSTNode]:
    out = []
    for anc in tree.ancestors(node):
        if anc is func:
            break
        out.append(anc)
    return out
