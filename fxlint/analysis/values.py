"""The abstract values of the taint analysis: what a Python value is while FX traces ``forward``.

During ``torch.fx.symbolic_trace`` every ``forward`` parameter and every ``nn.Parameter`` read
through ``self`` is a ``Proxy``; anything computed from a Proxy is a Proxy. fxlint keeps two
kinds of dependence apart (``Taint.VALUE``: tensor contents; ``Taint.SHAPE``: shape, dtype,
device, rank) because the hazard and the remedy differ. Registered buffers, plain attributes
and module structure are concrete while tracing.
"""

from __future__ import annotations

import enum
import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import libcst as cst


class Taint(enum.Flag):
    """How a value depends on traced inputs; ``a | b`` is the join."""

    NONE = 0
    VALUE = enum.auto()  #: depends on tensor contents
    SHAPE = enum.auto()  #: depends only on shape / dtype / device / rank of an input


class Kind(enum.Enum):
    """What sort of Python object the value is while tracing."""

    PROXY = "proxy"  #: a torch.fx Proxy (tensor, flag, shape, ... of a traced input)
    CONST = "const"  #: a concrete Python value (literal, config, unknown concrete)
    CONTAINER = "container"  #: a tuple/list/dict/set built in the code (iterable while tracing)
    SELF = "self"  #: the module instance whose forward is analyzed
    MODULE = "module"  #: a submodule instance (user class or torch.nn leaf)
    MODULE_CONTAINER = "module-container"  #: ModuleList / ModuleDict / Sequential
    BUFFER = "buffer"  #: a registered buffer: a real tensor while tracing
    FUNCTION = "function"  #: a function defined in the checked files (analyzable)
    PYMODULE = "pymodule"  #: an imported module object, e.g. ``np`` or ``F``
    EXTERNAL = "external"  #: a callable/object from outside the checked files, with its dotted name
    FSTRING = "fstring"  #: a str formatted from Proxies: concrete, but spells "Proxy(...)"


_UNKNOWN: Any = object()


@dataclass(frozen=True)
class Origin:
    """Where traced-ness enters: a forward parameter or an ``nn.Parameter``."""

    name: str  #: "x", "mask", "kwargs", "self.gate"
    #: "input" (forward parameter), "parameter" (nn.Parameter), "varkw" (**kwargs), "varargs" (*args)
    kind: str
    #: the parameter's default as source text, when it has one ("None", "False", "'a'")
    default: Optional[str] = None


@dataclass(frozen=True)
class Value:
    """One abstract value. Immutable; derive new ones with :meth:`derived`."""

    kind: Kind
    taint: Taint = Taint.NONE
    origin: Optional[Origin] = None
    #: statements the value flowed through, as (FunctionRef, statement node) pairs, oldest first
    steps: Tuple[Any, ...] = ()
    #: known elements of a CONTAINER (in order), or element values of a MODULE_CONTAINER
    items: Optional[Tuple["Value", ...]] = None
    #: payload: FunctionRef for FUNCTION, ClassInfo for MODULE/SELF, dotted name for PYMODULE/EXTERNAL
    ref: Any = None
    #: the literal value when known (ints, strings, None, bools)
    const: Any = _UNKNOWN
    #: produced by .item() / .tolist() / .numpy(): a Python scalar in eager mode
    scalar: bool = False
    #: the forward parameter this value *is* (unchanged), for `is None` / flag rules
    param: Optional[str] = None
    #: a Proxy that may really be a Python list/tuple (a block's input, an unknown module's
    #: output, a join with a container): container-sensitive rules stay quiet on it
    opaque: bool = False
    #: an integer or bool tensor on some path (argmax/argmin/topk indices, `.long()`, `dtype=torch.long`,
    #: comparisons; see fxlint/analysis/dtypes.py). "May be": a join with an unknown tensor keeps it.
    integral: bool = False
    #: the (values, indices) result of max/min(dim)/topk/sort: element 1 and `.indices` are integral
    indices_pair: bool = False
    #: a dict: a CONTAINER built in the code (`{}`, `dict(...)`, a dict comprehension), or a CONST
    #: attribute built as one in `__init__` (`defaultdict(...)`): a Proxy (or a tuple of them) is a
    #: valid key, since Proxies hash; a list index must be an int
    mapping: bool = False
    #: `kwargs.get("k")` / `kwargs.pop("k", ...)` of a traced entry's own `**kwargs`, unchanged since
    #: (kept through assignments, unlike ``param``): ``'kwargs["k"]'``. A Proxy, never None (TRC501)
    kwargs_key: Optional[str] = None
    #: a const that answers plain `symbolic_trace` only (`mask is None` on an entry's Optional
    #: input: False, since every input is a Proxy); a root that omits the input gets the other
    #: answer, so both paths of a branch on it are analyzed
    plain_only: bool = False
    #: the forward input this value is, unchanged, on *some* of the paths that reach it (``param`` is
    #: the input on every path): `if self.training: mask = random_mask(x)` leaves `mask` the input
    #: where the branch is not taken, so a later `mask is not None` is the input's test there (TRC501).
    #: Set only where paths meet (:func:`join` with ``paths=True``), never by a derivation.
    maybe_param: Optional[str] = None
    #: on this path the input named by ``param`` is known not to be None (the body of `if mask is not
    #: None:`, the `else` of `if mask is None:`): where paths meet it does not make a ``maybe_param``
    not_none: bool = False

    @property
    def is_proxy(self) -> bool:
        return self.kind is Kind.PROXY

    @property
    def has_const(self) -> bool:
        return self.const is not _UNKNOWN

    @property
    def traced(self) -> bool:
        """A Proxy, or a container holding one."""
        return self.taint is not Taint.NONE

    @property
    def shape_only(self) -> bool:
        return self.taint == Taint.SHAPE

    def derived(self, **changes: Any) -> "Value":
        """A copy with ``changes``, like ``dataclasses.replace`` but without re-running the frozen
        ``__init__`` (one ``object.__setattr__`` per field): ~100k calls per 150 transformers files.
        Value has no ``__post_init__`` or ``init=False`` fields, so copying the fields is the same."""
        if not _FIELD_NAMES.issuperset(changes):
            raise TypeError(f"Value has no field(s) {sorted(set(changes) - _FIELD_NAMES)}")
        new = object.__new__(Value)
        fields = new.__dict__
        fields.update(self.__dict__)
        fields.update(changes)
        return new

    def with_step(self, step: Any) -> "Value":
        if not self.traced or (self.steps and self.steps[-1] == step) or len(self.steps) >= 8:
            return self
        return self.derived(steps=self.steps + (step,), param=None, maybe_param=None, not_none=False)

    @property
    def none_identity(self) -> Optional[str]:
        """The forward input this value may be, unchanged and possibly None, on some path to it."""
        if self.param is not None:
            return None if self.not_none else self.param
        return self.maybe_param


_FIELD_NAMES = frozenset(Value.__dataclass_fields__)


def _init_through_dict(cls: type) -> None:
    """Give a frozen dataclass an ``__init__`` that fills the instance ``__dict__`` at once, with the
    generated one's parameters and defaults. The generated one calls ``object.__setattr__`` per field
    (frozenness is enforced that way): ~4 us per Value against ~0.6 us, ~80k Values per 150
    transformers files. Only for fields with plain defaults (no factories, no ``__post_init__``)."""
    fields = [f for f in dataclasses.fields(cls) if f.init]
    assert not hasattr(cls, "__post_init__") and all(f.default_factory is dataclasses.MISSING for f in fields)
    defaults = {f"_d_{f.name}": f.default for f in fields if f.default is not dataclasses.MISSING}
    params = ", ".join(f.name if f.default is dataclasses.MISSING else f"{f.name}=_d_{f.name}" for f in fields)
    values = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
    namespace: dict = dict(defaults)
    exec(f"def __init__(self, {params}):\n    self.__dict__.update({{{values}}})", namespace)  # noqa: S102
    namespace["__init__"].__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = namespace["__init__"]  # type: ignore[misc]


_init_through_dict(Value)

CONCRETE = Value(Kind.CONST)
NONE_VALUE = Value(Kind.CONST, const=None)


def const(v: Any) -> Value:
    return Value(Kind.CONST, const=v)


def proxy_from(values: "Tuple[Value, ...] | list", taint: Optional[Taint] = None, scalar: bool = False) -> Value:
    """A Proxy computed from ``values``: the provenance of the first traced one is kept.

    One loop for the first traced value, the join of the taints and Python-number-ness (three
    passes and two generators were ~2% of a transformers check: ~0.9M calls on its models/)."""
    first = None
    joined = 0
    all_scalar = True
    for v in values:
        bits = v.taint._value_
        if bits:
            joined |= bits
            if first is None:
                first = v
            # Python-number-ness survives only arithmetic among Python numbers: `s * 2` of an
            # `.item()` is still a float, `y / s` is a tensor.
            if not v.scalar:
                all_scalar = False
    if first is None:
        return CONCRETE
    return Value(
        Kind.PROXY,
        taint=taint if taint is not None else _BY_VALUE[joined],
        origin=first.origin,
        steps=first.steps,
        scalar=scalar or all_scalar,
    )


def join(a: Optional[Value], b: Optional[Value], paths: bool = False) -> Value:
    """The least upper bound: a value that may be either. ``paths``: ``a`` and ``b`` reach one point
    of one run by different paths (an `if` and its `else`, a `try` and its handlers; not one read in two
    calls, nor a loop's zero-trip path: the body of `for blk in self.blocks:` does run): a side that is
    a forward input unchanged (and maybe None) makes the join that input on some path
    (``maybe_param``), whatever the other side is."""
    if a is None:
        return b if b is not None else CONCRETE
    if b is None or a is b:
        return a
    a_proxy, b_proxy = a.kind is _PROXY, b.kind is _PROXY
    if a_proxy or b_proxy:
        base = a if a_proxy else b
        if b_proxy and b.param is not None and a.param is None and a.origin != b.origin:
            base = b  # `if mask is None: mask = torch.ones(x.shape)`: the input itself names the provenance
        other = b if base is a else a
        param = a.param if a.param == b.param else None
        return _with(base, taint=either(a.taint, b.taint), param=param,
                     opaque=base.opaque or other.kind is Kind.CONTAINER or other.opaque,
                     integral=a.integral or b.integral, indices_pair=a.indices_pair or b.indices_pair,
                     maybe_param=_maybe_param(a, b, paths) if param is None else None,
                     not_none=param is not None and a.not_none and b.not_none)
    if a.kind is b.kind and _same_ref(a.ref, b.ref):
        if a.items is not None and b.items is not None and len(a.items) == len(b.items):
            items = tuple(join(x, y) for x, y in zip(a.items, b.items))
        else:
            items = None
        base = b if b.traced and not a.traced else a  # keep the provenance of the traced side
        return _with(base, taint=either(a.taint, b.taint), items=items,
                     const=a.const if a.const == b.const else _UNKNOWN)
    if a.traced or b.traced:
        base = a if a.traced else b
        return _with(base, taint=either(a.taint, b.taint), items=None)
    return CONCRETE


def _with(base: Value, **changes: Any) -> Value:
    """``base.derived(**changes)``, or ``base`` itself when no change is one: most joins are of one
    expression evaluated again (a loop's second run, a helper called twice) with an equal value, and
    made a copy each time (~4M joins on transformers' models/). Values are immutable and never
    compared by identity, so the copy was never needed. A change counts as none only if it is the
    same object, or an equal `str` or `int` (exact types: `1 == True` and `0.0 == -0.0` differ in
    what they print); ``items`` (a new tuple whenever elements are joined) always copies."""
    fields = base.__dict__
    for name, value in changes.items():
        old = fields[name]
        if old is not value and not (type(old) is type(value) and type(old) in _PLAIN and old == value):
            return base.derived(**changes)
    return base


_PLAIN = (str, int)
_PROXY = Kind.PROXY


def _maybe_param(a: Value, b: Value, paths: bool) -> Optional[str]:
    """The input a join of ``a`` and ``b`` (different ``param``s) may still be: the one input either
    side may be (two different inputs: neither). Where ``a`` and ``b`` are not two paths of one run (one
    read in two calls, a loop's zero-trip path, the elements of a container): only the input both sides
    may be."""
    ia, ib = a.none_identity, b.none_identity
    if not paths or (ia is not None and ib is not None and ia != ib):
        return ia if ia == ib else None
    return ia or ib


#: every Taint by its value: ``Flag.__or__`` (and ``Taint(n)``) run Python code per join, ~140k per
#: 150 transformers files; or-ing the values and looking the member up gives the same members
_BY_VALUE = {t.value: t for t in (Taint.NONE, Taint.VALUE, Taint.SHAPE, Taint.VALUE | Taint.SHAPE)}


def either(a: Taint, b: Taint) -> Taint:
    """``a | b``"""
    return _BY_VALUE[a._value_ | b._value_]


def taint_of(values: Any) -> Taint:
    """The join of the values' taints."""
    joined = 0
    for v in values:
        joined |= v.taint._value_
    return _BY_VALUE[joined]


def _same_ref(a: Any, b: Any) -> bool:
    """Payload identity: dotted names compare by text, bound functions by their definition."""
    if a is b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if isinstance(a, tuple) and isinstance(b, tuple) and a and b:
        return a[0] is b[0] and a[1:2] == b[1:2]
    return False


def element_of(container: Value) -> Value:
    """The value of one element of an iterable (for-loop target, comprehension variable)."""
    if container.items:
        out: Optional[Value] = None
        for item in container.items:
            out = join(out, item)
        return out if out is not None else CONCRETE
    if container.traced:
        return proxy_from([container])
    return CONCRETE


Node = cst.CSTNode
