"""What names, attributes, subscripts and calls evaluate to while FX traces.

:class:`Project` loads checked files on demand (so a helper imported from another checked file
is analyzed with the taint of its arguments), resolves names through imports, knows which
classes are ``nn.Module`` subclasses and what their ``__init__`` registers (Parameters are
Proxies while tracing, buffers are real tensors, submodules are followed or are leaves).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

import libcst as cst

from fxlint.analysis import small_statements, child_nodes, dotted
from fxlint.analysis import dtypes
from fxlint.analysis.interp import (
    BUILTIN_NAMES,
    CONCRETE_BUILTINS,
    SCALAR_METHODS,
    SHAPE_ATTRS,
    SHAPE_METHODS,
    Analysis,
    Frame,
)
from fxlint.analysis.init_syntax import init_syntax
from fxlint.analysis.registries import class_registry_names, registry_names
from fxlint.analysis.project import (MODULE_CONTAINERS, NN_PREFIX, ClassInfo, FunctionRef, ModuleSource,
                                     foreign_layer)
from fxlint.analysis.values import CONCRETE, Kind, Origin, Taint, Value, const, element_of, join, proxy_from

#: loads a file: returns a ModuleSource, or None when it cannot be read or parsed
Loader = Callable[[Path], Optional[ModuleSource]]

PARAMETER_CTORS = {"torch.nn.Parameter", "torch.nn.parameter.Parameter", "torch.Tensor.nn.Parameter"}
#: `self.x = nn.Buffer(t)` (torch >= 2.5) registers a buffer like `register_buffer("x", t)`: a real
#: tensor while tracing, not a Proxy (transformers declares ~1,000 of its buffers this way)
BUFFER_CTORS = {"torch.nn.Buffer", "torch.nn.parameter.Buffer"}
#: a dict held on `self` (`self._cache = defaultdict(dict)`): a Proxy is a valid key (Proxies hash)
MAPPING_CTORS = {"dict", "collections.defaultdict", "collections.OrderedDict", "defaultdict", "OrderedDict"}
#: dotted-name prefix of calls to `torch.fx.wrap`ped functions (torch-side: a recorded node)
WRAPPED_PREFIX = "torch.fx.wrapped:"
CONSTANT_FOLDING_FREE = {"torch.jit.is_scripting", "torch.jit.is_tracing", "torch.is_tensor", "torch.finfo",
                         "torch.iinfo", "torch.get_default_dtype", "torch.is_grad_enabled",
                         "torch.compiler.is_compiling", "torch.fx._symbolic_trace.is_fx_tracing"}


class Project:
    """The checked tree: files by path and module name, loaded lazily and cached."""

    def __init__(self, loader: Loader, roots: Tuple[Path, ...] = (),
                 touch: Optional[Callable[[str], None]] = None) -> None:
        self._loader = loader
        self._touch = touch or (lambda path: None)  #: tells the owner's LRU a file is still in use
        self._by_path: Dict[str, Optional[ModuleSource]] = {}
        self._by_name: Dict[str, Optional[ModuleSource]] = {}
        #: top-level package -> (path, text) of its __init__.py, read but not indexed (package_init)
        self._inits: Dict[str, Optional[Tuple[str, str]]] = {}
        self.roots: List[Path] = list(roots)
        self.used_paths: Set[str] = set()  #: files whose definitions the analysis used
        #: (module, name) -> what ``global_value`` answered in the check under way (see start_check)
        self._globals: Dict[Tuple[ModuleSource, str], Value] = {}

    def start_check(self) -> None:
        """A new file's check: a new record of the files consulted, and of the globals read."""
        self.used_paths = set()
        self._globals = {}

    # ------------------------------------------------------------------ loading
    def add(self, module: ModuleSource, root: Path) -> None:
        self._by_path[module.path] = module
        self._by_name[module.name] = module
        if root not in self.roots:
            self.roots.append(root)

    def forget(self, path: str) -> None:
        """Drop a file from the caches (memory bound); it is loaded again when needed."""
        module = self._by_path.pop(path, None)
        if module is not None and self._by_name.get(module.name) is module:
            del self._by_name[module.name]
        for package, init in list(self._inits.items()):
            if init is not None and init[0] == path:
                del self._inits[package]

    def module_named(self, name: str) -> Optional[ModuleSource]:
        if name in self._by_name:
            found = self._by_name[name]
            if found is not None:
                self._touch(found.path)
            return found
        found: Optional[ModuleSource] = None
        rel = name.replace(".", "/")
        for root in self.roots:
            for candidate in (root / f"{rel}.py", root / rel / "__init__.py"):
                if candidate.is_file():
                    found = self._load(candidate)
                    break
            if found is not None:
                break
        self._by_name[name] = found
        return found

    def package_init(self, package: str) -> Optional[Tuple[str, str]]:
        """(path, text) of a top-level package's ``__init__.py`` under the roots, read without
        indexing it (the engine only needs its import lines; a worker would otherwise parse it again)."""
        loaded = self._by_name.get(package)
        if loaded is not None:
            return (loaded.path, loaded.text) if os.path.basename(loaded.path) == "__init__.py" else None
        cached = self._inits.get(package, False)
        if cached is not False:
            return cached
        found = None
        for root in self.roots:
            candidate = root / package / "__init__.py"
            if candidate.is_file():
                try:
                    found = (str(candidate), candidate.read_text(encoding="utf-8"))
                except (OSError, UnicodeDecodeError):
                    found = None
                break
        self._inits[package] = found
        return found

    def _load(self, path: Path) -> Optional[ModuleSource]:
        key = str(path)
        if key not in self._by_path:
            self._by_path[key] = self._loader(path)
        return self._by_path[key]

    def lookup(self, qualified: str) -> Optional[object]:
        """The FunctionRef or ClassInfo a dotted name denotes in the checked tree, if any."""
        parts = qualified.split(".")
        for cut in range(len(parts) - 1, 0, -1):
            module = self.module_named(".".join(parts[:cut]))
            if module is None:
                continue
            rest = parts[cut:]
            if len(rest) == 1:
                hit = module.functions.get(rest[0]) or module.classes.get(rest[0])
                if hit is None and rest[0] in module.imports:
                    target = module.imports[rest[0]]
                    return self.lookup(target) if target != qualified else None
                if hit is not None:
                    self.used_paths.add(module.path)
                return hit
            return None
        return None

    # ------------------------------------------------------------------ classes
    def is_module_class(self, cls: ClassInfo, _seen: Optional[Set[int]] = None) -> bool:
        if cls.is_module is not None:
            return cls.is_module
        seen = _seen or set()
        if id(cls) in seen:
            return False
        seen.add(id(cls))
        result = False
        for base in self.bases(cls):
            result = base.startswith(NN_PREFIX) if isinstance(base, str) else self.is_module_class(base, seen)
            if result:
                break
        cls.is_module = result
        return result

    def bases(self, cls: ClassInfo) -> List[object]:
        if cls._bases is None:
            cls._bases = []
            for name in cls.base_names:
                local = cls.module.classes.get(name)
                target = local if local is not None and local is not cls else self.lookup(name)
                cls._bases.append(target if isinstance(target, ClassInfo) else name)
        return cls._bases

    def find_method(self, cls: ClassInfo, name: str, _depth: int = 0) -> Optional[FunctionRef]:
        if name in cls.methods:
            return cls.methods[name]
        if _depth > 20:
            return None
        for base in self.bases(cls):
            if isinstance(base, ClassInfo):
                found = self.find_method(base, name, _depth + 1)
                if found is not None:
                    return found
        return None

    def class_attrs(self, cls: ClassInfo) -> Dict[str, str]:
        """attribute -> kind ("parameter", "buffer", "module", "object", "mapping", "defaultdict",
        "container", "const"), bases first."""
        if cls.attrs_scanned:
            return cls.attr_kinds
        cls.attrs_scanned = True
        for base in self.bases(cls):
            if isinstance(base, ClassInfo):
                self.class_attrs(base)
                for k, v in base.attr_kinds.items():
                    cls.attr_kinds.setdefault(k, v)
                    cls.attr_classes.setdefault(k, base.attr_classes.get(k, ()))
                cls.init_helpers |= base.init_helpers
                if any(self.find_method(cls, m) is not self.find_method(base, m) for m in base.init_helpers):
                    # GlobalNet overrides RegUNet's build_output_block: the base's __init__ builds with it
                    owner = self._init_owner(base)
                    if owner is not None:
                        self._scan_init(owner, cls, replace=True)
        if "__init__" in cls.methods:
            self._scan_init(cls, cls)
        return cls.attr_kinds

    def _init_owner(self, cls: ClassInfo, _depth: int = 0) -> Optional[ClassInfo]:
        """The class (``cls`` or a base) whose ``__init__`` ``cls`` runs."""
        if "__init__" in cls.methods:
            return cls
        for base in self.bases(cls) if _depth < 20 else ():
            if isinstance(base, ClassInfo):
                found = self._init_owner(base, _depth + 1)
                if found is not None:
                    return found
        return None

    def _scan_init(self, owner: ClassInfo, cls: ClassInfo, replace: bool = False) -> None:
        """Read ``owner.__init__`` into ``cls``'s attributes (``self.m()`` resolved on ``cls``)."""
        init = owner.methods["__init__"]
        # read from its `ast` when it can be (no LibCST parse: the analysis never enters __init__)
        syntax = init_syntax(owner.module, owner.name) if init._node is None else None
        _InitScanner(self, cls, syntax if syntax is not None else cst_syntax(init), module=owner.module,
                     replace=replace).scan()

    # ------------------------------------------------------------------ names
    def global_value(self, module: ModuleSource, name: str) -> Value:
        """What a module-level name of ``module`` is. Kept for the check under way: a name is read
        again and again (every `torch.` and `nn.` of every forward and helper: ~0.5M reads on
        transformers' models/), each time resolving imports through ``lookup``. The index it is read
        from does not change during a check, and the first read records the files used (``lookup``
        adds to ``used_paths``); later reads only skip telling the owner's LRU the file is in use,
        which decides what is re-parsed, not what is found."""
        key = (module, name)
        found = self._globals.get(key)
        if found is None:
            found = self._globals[key] = self._global_value(module, name)
        return found

    def _global_value(self, module: ModuleSource, name: str) -> Value:
        if name in module.wrapped:  # a leaf for FX: one call_function node, not traced through
            return Value(Kind.EXTERNAL, ref=f"{WRAPPED_PREFIX}{module.name}.{name}")
        if name in module.functions:
            return Value(Kind.FUNCTION, ref=(module.functions[name], None, None))
        if name in module.classes:
            return Value(Kind.EXTERNAL, ref=f"{module.name}.{name}")
        if name in module.imports:
            target = module.imports[name]
            hit = self.lookup(target) if not _is_external_prefix(target) else None
            if isinstance(hit, FunctionRef):
                return Value(Kind.FUNCTION, ref=(hit, None, None))
            registry = self._imported_registry(target) if hit is None and not _is_external_prefix(target) else None
            return registry if registry is not None else Value(Kind.EXTERNAL, ref=target)
        if name in module.globals_assigned:
            registry = self._registry(module, name)
            return registry if registry is not None else CONCRETE
        if name in BUILTIN_NAMES:
            return Value(Kind.EXTERNAL, ref=f"builtins.{name}")
        return CONCRETE

    def _registry(self, module: ModuleSource, name: str) -> Optional[Value]:
        """A module-level dict of functions (or an instance of a class holding one): a CONTAINER of
        the FUNCTION values it may hand out (fxlint/analysis/registries.py)."""
        options = []
        for written in registry_names(module, name):
            value = self.global_value(module, written) if "." not in written else None
            if value is None:
                hit = self.lookup(module.resolve_name(written))
                value = Value(Kind.FUNCTION, ref=(hit, None, None)) if isinstance(hit, FunctionRef) else None
            if value is not None and value.kind is Kind.FUNCTION and value.items is None:
                options.append(value)
        if options:
            return Value(Kind.CONTAINER, items=tuple(options), mapping=True)
        return self._class_registry(module, name)

    def _class_registry(self, module: ModuleSource, name: str) -> Optional[Value]:
        """A module-level object that builds a module on lookup (`ACT2FN = ClassInstantier(ACT2CLS)`):
        a CONTAINER of the MODULE values (torch.nn class names or ClassInfos) a lookup may build."""
        options = []
        for written in class_registry_names(module, name):
            dotted_name = module.resolve_name(written)
            resolved = (module.classes.get(written) if "." not in written else None) or self.lookup(dotted_name)
            if resolved is None and dotted_name.startswith(NN_PREFIX):
                resolved = dotted_name  # a torch.nn class
            if isinstance(resolved, ClassInfo) and not self.is_module_class(resolved):
                return None  # builds something else too: not a table of modules
            if resolved is not None and not isinstance(resolved, FunctionRef):
                options.append(Value(Kind.MODULE, ref=resolved))
        return Value(Kind.CONTAINER, items=tuple(options), mapping=True) if options else None

    def _imported_registry(self, target: str) -> Optional[Value]:
        """`from ..masking_utils import ALL_MASK_ATTENTION_FUNCTIONS`: a registry of another checked file."""
        head, _, last = target.rpartition(".")
        module = self.module_named(head) if head else None
        if module is None or last not in module.globals_assigned:
            return None
        return self._registry(module, last)

    # ------------------------------------------------------------------ attributes
    def attribute(self, base: Value, attr: str, frame: Frame) -> Value:
        kind = base.kind
        if kind is Kind.PROXY:
            if attr in SHAPE_ATTRS:
                return proxy_from([base], Taint.SHAPE)
            if attr == "indices" and base.indices_pair:
                return proxy_from([base]).derived(integral=True)
            return proxy_from([base]).derived(integral=base.integral and attr in ("T", "mT", "data"))
        if kind in (Kind.SELF, Kind.MODULE) and isinstance(base.ref, ClassInfo):
            return self._module_attribute(base, base.ref, attr)
        if kind is Kind.MODULE:  # a torch.nn leaf (ref is its dotted class name) or unknown module
            if attr.endswith("weight") or attr.endswith("bias") or attr.startswith("weight_"):
                return _parameter(f"{_owner_name(base)}.{attr}")
            return CONCRETE
        if kind is Kind.EXTERNAL:
            qualified = f"{base.ref}.{attr}"
            hit = self.lookup(qualified) if not _is_external_prefix(qualified) else None
            if isinstance(hit, FunctionRef):
                if hit.name in hit.module.wrapped:  # `helpers.fn(x)`: patched in helpers
                    return Value(Kind.EXTERNAL, ref=f"{WRAPPED_PREFIX}{hit.module.name}.{hit.qualname}")
                return Value(Kind.FUNCTION, ref=(hit, None, None))
            return Value(Kind.EXTERNAL, ref=qualified)
        if kind is Kind.BUFFER:
            return CONCRETE if attr in SHAPE_ATTRS else base
        if base.traced:
            return proxy_from([base])
        return CONCRETE

    def _module_attribute(self, base: Value, cls: ClassInfo, attr: str) -> Value:
        method = self.find_method(cls, attr)
        if method is not None:
            return Value(Kind.FUNCTION, ref=(method, base, None))
        kinds = self.class_attrs(cls)
        kind = kinds.get(attr)
        owner = _owner_name(base)
        if kind == "parameter":
            return _parameter(f"{owner}.{attr}")
        if kind == "buffer":
            return Value(Kind.BUFFER, ref=f"{owner}.{attr}")
        classes = cls.attr_classes.get(attr, ())
        if kind == "module":
            if len(classes) > 1:
                options = tuple(Value(Kind.MODULE, ref=c, const=f"{owner}.{attr}") for c in classes)
                return Value(Kind.MODULE, items=options, const=f"{owner}.{attr}")
            return Value(Kind.MODULE, ref=classes[0] if classes else None, const=f"{owner}.{attr}")
        if kind in ("mapping", "defaultdict"):  # ref: which kind of dict (a defaultdict never misses)
            return Value(Kind.CONST, mapping=True, ref=kind)
        if kind == "object" and len(classes) == 1:  # a plain helper object: methods and __call__ are followed
            return Value(Kind.MODULE, ref=classes[0], const=f"{owner}.{attr}")
        if kind == "container":
            items = tuple(Value(Kind.MODULE, ref=c, const=f"{owner}.{attr}[]") for c in classes) or None
            return Value(Kind.MODULE_CONTAINER, ref=f"{owner}.{attr}", items=items)
        return CONCRETE

    # ------------------------------------------------------------------ subscripts
    def subscript(self, base: Value, index: List[Value], node: cst.Subscript, frame: Frame) -> Value:
        index_traced = any(i.traced for i in index)
        if base.kind is Kind.PROXY:
            out = proxy_from([base] + index, base.taint if not index_traced else None)
            if base.indices_pair:  # `torch.max(x, 2)[1]`
                return out.derived(integral=len(index) == 1 and index[0].const == 1)
            return out.derived(integral=base.integral)
        if _is_registry(base):  # `MASK_FUNCTIONS[config.impl]`: any of them
            return _choice(base.items or ())
        if is_class_registry(base):  # `ACT2FN[name]`: a module of one of its classes, built here
            items = base.items or ()
            return items[0] if len(items) == 1 else Value(Kind.MODULE, ref=items[0].ref, items=items)
        if base.kind is Kind.CONTAINER:
            if base.items is not None and len(index) == 1 and isinstance(index[0].const, int) \
                    and -len(base.items) <= index[0].const < len(base.items):
                return base.items[index[0].const]
            return element_of(base) if not isinstance(node.slice[0].slice, cst.Slice) else base
        if base.kind is Kind.MODULE_CONTAINER:
            if isinstance(node.slice[0].slice, cst.Slice):
                return base
            return module_union(base)
        if base.kind is Kind.BUFFER:
            return proxy_from([base] + index) if index_traced else base
        if index_traced:
            # `self.schedule[block_idx]`: an element of a Python object picked by a Proxy (TRC205 at the
            # subscript); whatever it holds (a list, a tuple) is not known to be a tensor
            return proxy_from(index).derived(opaque=True)
        return CONCRETE

    # ------------------------------------------------------------------ calls
    def call(self, callee: Value, args: List[Value], kwargs: Dict[str, Value], node: cst.Call,
             frame: Frame, analysis: Analysis) -> Value:
        every = args + list(kwargs.values())
        on_attribute = node.func.__class__ is cst.Attribute  # exact type: see Analysis.run_small
        if on_attribute:
            receiver = analysis.value(node.func.value)
            if receiver is not None and receiver.kind in (Kind.PROXY, Kind.BUFFER):
                key = _kwargs_key(receiver, node)
                if key is not None:  # `kwargs.get("mask")` of a traced **kwargs: a Proxy, never None
                    return proxy_from([receiver]).derived(kwargs_key=f'{receiver.param}["{key}"]')
                out = self._call_method(receiver, node.func.attr.value, every)
                if out.is_proxy and receiver.is_proxy and not out.scalar:
                    return out.derived(**dtypes.method_result(node.func.attr.value, node, receiver, analysis.value))
                return out
            if receiver is not None and receiver.kind is Kind.CONTAINER and receiver.traced:
                return _container_method(receiver, node.func.attr.value, every)
        if on_attribute and node.func.attr.value in REGISTRY_GETTERS:
            receiver = analysis.value(node.func.value)
            if receiver is not None and _is_registry(receiver):  # `FUNCS.get_interface(impl, default)`
                defaults = [a for a in args[1:2] if a.kind is Kind.FUNCTION]
                return _choice(tuple(receiver.items or ()) + tuple(defaults))
        if callee.kind is Kind.FUNCTION and callee.items:  # one of a registry's functions
            result: Optional[Value] = None
            for option in callee.items:
                result = join(result, self._call_function(option, list(args), dict(kwargs), frame, analysis))
            return result if result is not None else CONCRETE
        if callee.kind is Kind.FUNCTION:
            return self._call_function(callee, args, kwargs, frame, analysis)
        if callee.kind in (Kind.MODULE, Kind.SELF):
            return self._call_module(callee, args, kwargs, frame, analysis)
        if callee.kind is Kind.MODULE_CONTAINER:
            return self._call_sequential(callee, args, kwargs, frame, analysis)
        if callee.kind is Kind.EXTERNAL:
            return self._call_external(str(callee.ref), args, kwargs, node, frame, analysis)
        if callee.kind is Kind.PROXY:
            return proxy_from([callee] + every)
        if on_attribute:
            receiver = analysis.value(node.func.value)
            if receiver is not None:
                return self._call_method(receiver, node.func.attr.value, every)
        # an object of unknown type (e.g. a module built by a factory argument) called with Proxies
        return proxy_from(every).derived(opaque=True) if any(v.traced for v in every) else CONCRETE

    def _call_function(self, callee: Value, args: List[Value], kwargs: Dict[str, Value],
                       frame: Frame, analysis: Analysis) -> Value:
        func, bound_self, closure = callee.ref
        chain = frame.chain + (func.qualname,)
        if closure is not None:  # nested def: run with the enclosing env visible
            env_frame_args = args
            return _run_closure(analysis, func, env_frame_args, kwargs, closure, frame, chain)
        self_value = bound_self if bound_self is not None else (frame.self_value if func.cls else None)
        return analysis.invoke(func, args, dict(kwargs), self_value, chain, frame.entry_module)

    def _call_module(self, callee: Value, args: List[Value], kwargs: Dict[str, Value],
                     frame: Frame, analysis: Analysis) -> Value:
        if callee.kind is Kind.MODULE and callee.items:  # one of several module classes
            result: Optional[Value] = None
            for option in callee.items:
                result = join(result, self._call_module(option, args, dict(kwargs), frame, analysis))
            return result if result is not None else CONCRETE
        cls = callee.ref
        if isinstance(cls, ClassInfo):
            # an nn.Module runs `forward`; a plain helper object (an attention processor) its `__call__`
            forward = self.find_method(cls, "forward") or self.find_method(cls, "__call__")
            if forward is not None:
                chain = frame.chain + (forward.qualname if forward.cls is cls else f"{cls.name}.forward",)
                return analysis.invoke(forward, args, dict(kwargs), callee, chain, frame.entry_module)
        every = args + list(kwargs.values())
        if not any(v.traced for v in every):
            return CONCRETE
        # a torch.nn leaf returns one Proxy; a module of unknown class may return anything
        return proxy_from(every, Taint.VALUE).derived(opaque=not isinstance(cls, str))

    def _call_sequential(self, callee: Value, args: List[Value], kwargs: Dict[str, Value],
                         frame: Frame, analysis: Analysis) -> Value:
        value = args[0] if args else CONCRETE
        for item in callee.items or ():
            value = self._call_module(item, [value], {}, frame, analysis)
        if callee.items:
            return value
        # contents unknown (built by a helper): like a module of unknown class, it may return a list
        return proxy_from(args + list(kwargs.values())).derived(opaque=True)

    def _call_method(self, receiver: Value, method: str, every: List[Value]) -> Value:
        if receiver.kind is Kind.PROXY:
            if method in SHAPE_METHODS:
                return proxy_from([receiver], Taint.SHAPE)
            if method in SCALAR_METHODS:
                return proxy_from([receiver] + every, scalar=True)
            return proxy_from([receiver] + every)
        if receiver.kind is Kind.BUFFER:
            if any(v.traced for v in every):
                return proxy_from(every, Taint.VALUE)
            return CONCRETE if method in SHAPE_METHODS or method in SCALAR_METHODS else receiver
        if receiver.traced:
            return proxy_from([receiver] + every)
        # a method of an object of unknown type (`self.stage4(xl)` built by a helper) may return a list
        return proxy_from(every).derived(opaque=True) if any(v.traced for v in every) else CONCRETE

    def _call_external(self, name: str, args: List[Value], kwargs: Dict[str, Value], node: cst.Call,
                       frame: Frame, analysis: Analysis) -> Value:
        every = args + list(kwargs.values())
        traced = [v for v in every if v.traced]
        if name.startswith("builtins."):
            return _call_builtin(name[9:], args, every, self, frame, analysis, node)
        if name in CONSTANT_FOLDING_FREE:
            return CONCRETE
        if isinstance(node.func, cst.Attribute) and not name.startswith(("torch", "math", "numpy")):
            receiver = analysis.value(node.func.value)
            if receiver is not None and receiver.kind is not Kind.EXTERNAL:
                return self._call_method(receiver, node.func.attr.value, every)
        if not traced:
            return CONCRETE
        if name.startswith("torch."):
            # the members' bits, not `Flag.__and__` (Python code making a member, per argument)
            out = proxy_from(every, Taint.VALUE if any(v.taint._value_ & _VALUE_BIT for v in traced)
                             or not name.startswith("torch.Size") else None)
            return out.derived(**dtypes.function_result(name, node, args, analysis.value))
        return proxy_from(every)


_VALUE_BIT = Taint.VALUE._value_
#: methods that hand out a registry's function (`dict.get`, transformers' `get_interface`)
REGISTRY_GETTERS = frozenset(("get", "get_interface", "__getitem__"))


def _is_registry(value: Value) -> bool:
    return value.kind is Kind.CONTAINER and value.mapping and bool(value.items) and \
        all(v.kind is Kind.FUNCTION for v in value.items or ())


def is_class_registry(value: Optional[Value]) -> bool:
    """A module-level object whose lookups build modules (`ACT2FN`): see registries.py."""
    return value is not None and value.kind is Kind.CONTAINER and value.mapping and bool(value.items) and \
        all(v.kind is Kind.MODULE for v in value.items or ())


def _choice(options: Tuple[Value, ...]) -> Value:
    """One of several functions (a registry's): calling it runs each, joined."""
    if len(options) == 1:
        return options[0]
    # ref: the first option, for code that names the callee (`ctx.qualified`); calls run them all
    return Value(Kind.FUNCTION, ref=options[0].ref, items=options) if options else CONCRETE


def _kwargs_key(receiver: Value, node: cst.Call) -> Optional[str]:
    """The key of `kwargs.get("k")` / `kwargs.pop("k", None)` when ``receiver`` is a traced entry's
    own `**kwargs` (one Proxy while tracing: what the call returns is a Proxy too, never the default)."""
    origin = receiver.origin
    if origin is None or origin.kind != "varkw" or receiver.param != origin.name or not node.args:
        return None
    if not isinstance(node.func, cst.Attribute) or node.func.attr.value not in ("get", "pop", "setdefault"):
        return None
    first = node.args[0].value
    if isinstance(first, cst.SimpleString) and first.evaluated_value.isidentifier():
        return first.evaluated_value
    return None


def _call_builtin(name: str, args: List[Value], every: List[Value], project: Project, frame: Frame,
                  analysis: Analysis, node: cst.Call) -> Value:
    if name in CONCRETE_BUILTINS:
        return CONCRETE
    if name == "getattr" and len(args) >= 2 and isinstance(args[1].const, str):
        return project.attribute(args[0], args[1].const, frame)
    if name == "len":
        first = args[0] if args else CONCRETE
        if first.kind is Kind.PROXY:
            return proxy_from([first], Taint.SHAPE)
        # a Python list/tuple has a plain-int length while tracing, whatever it holds
        return CONCRETE
    if name == "range":
        return Value(Kind.CONTAINER, proxy_from(every, Taint.SHAPE).taint if any(v.traced for v in every)
                     else Taint.NONE, next((v.origin for v in every if v.traced), None))
    if name in ("zip", "enumerate"):
        return _pairs(name, args)
    if name in ("reversed", "sorted", "list", "tuple", "set", "filter", "map", "iter"):
        items = [element_of(v) if v.kind is not Kind.PROXY else v for v in args]
        traced = [v for v in items if v.traced]
        if name in ("list", "tuple") and args and args[0].kind is Kind.CONTAINER and args[0].items is not None:
            return args[0]
        return Value(Kind.CONTAINER, proxy_from(traced).taint if traced else Taint.NONE,
                     traced[0].origin if traced else None, traced[0].steps if traced else ())
    if name in ("str", "format", "repr"):
        traced = [v for v in every if v.traced]
        return Value(Kind.FSTRING, traced[0].taint, traced[0].origin, traced[0].steps) if traced else CONCRETE
    if name in ("dict",):
        return Value(Kind.CONTAINER, proxy_from(every).taint if any(v.traced for v in every) else Taint.NONE,
                     mapping=True)
    if name == "sum" and len(args) >= 2 and args[1].kind is Kind.CONTAINER:
        # `sum(list_of_lists, [])` concatenates Python sequences: a list, whatever it holds
        elements = [element_of(args[0])] if args[0].kind is Kind.CONTAINER else [args[0]]
        traced = [v for v in elements + [args[1]] if v.traced]
        return Value(Kind.CONTAINER, proxy_from(traced).taint if traced else Taint.NONE,
                     traced[0].origin if traced else None,
                     traced[0].steps if traced else ())
    if name in ("int", "float", "round", "abs", "bool", "min", "max", "sum", "any", "all", "divmod", "pow"):
        flat = [element_of(v) if v.kind is Kind.CONTAINER else v for v in every]
        return proxy_from(flat) if any(v.traced for v in flat) else CONCRETE
    return proxy_from(every) if any(v.traced for v in every) else CONCRETE


def _pairs(name: str, args: List[Value]) -> Value:
    """``enumerate(xs)`` / ``zip(a, b)``: an iterable whose every element is the tuple (index or a's
    element, b's element). The index of ``enumerate`` is a plain int while tracing, even over a list
    of Proxies; iterating a Proxy argument itself is reported by the rules at the call."""
    parts = [element_of(v) if v.kind is not Kind.PROXY else v for v in args]
    if name == "enumerate":
        parts = [CONCRETE] + parts[:1]
    traced = [v for v in parts if v.traced]
    taint = proxy_from(traced).taint if traced else Taint.NONE
    origin = traced[0].origin if traced else None
    steps = traced[0].steps if traced else ()
    element = Value(Kind.CONTAINER, taint, origin, steps, items=tuple(parts))
    # one representative element: element_of() of the result yields it (the length is unknown)
    return Value(Kind.CONTAINER, taint, origin, steps, items=(element,), opaque=True)


def _run_closure(analysis: Analysis, func: FunctionRef, args: List[Value], kwargs: Dict[str, Value],
                 closure: Dict[str, Value], frame: Frame, chain: Tuple[str, ...]) -> Value:
    env = dict(closure)
    env.update(analysis._bind(func, args, dict(kwargs), None, is_entry=False))
    inner = Frame(func, env, frame.self_value, chain, frame.entry_module)
    if func.node not in analysis.reached:
        from fxlint.analysis.interp import Reach

        analysis.reached[func.node] = Reach(func, chain)
    analysis.reached[func.node].entry_modules.add(frame.entry_module)
    analysis.run_block(func.node.body, inner)
    result: Optional[Value] = None
    for r in inner.returns:
        from fxlint.analysis.values import join

        result = join(result, r)
    return result if result is not None else CONCRETE


def module_union(container: Value) -> Value:
    """One element of a ModuleList/Sequential/ModuleDict: any of its module classes."""
    items = container.items or ()
    if len(items) == 1:
        return items[0]
    return Value(Kind.MODULE, items=tuple(items) or None, const=f"{container.ref}[]")


def _parameter(name: str) -> Value:
    return Value(Kind.PROXY, Taint.VALUE, Origin(name, "parameter"))


def _owner_name(base: Value) -> str:
    if base.kind is Kind.SELF:
        return "self"
    return str(base.const) if isinstance(base.const, str) else "self.<submodule>"


def _is_external_prefix(name: str) -> bool:
    head = name.split(".")[0]
    return head in ("torch", "numpy", "math", "scipy", "builtins", "typing", "collections", "functools",
                    "itertools", "os", "sys", "random", "time", "warnings", "logging", "einops", "cv2", "PIL")


class _InitScanner:
    """Reads ``self.x = ...`` / ``register_buffer`` / ``register_parameter`` in ``__init__``, through
    ``syntax``: :class:`CstSyntax` over the LibCST def, or ``init_syntax.AstSyntax`` over its ``ast``."""

    #: how deep ``__init__``'s own helper methods are followed (`self.build_layers()` ->
    #: `self.build_encode_layers()` -> `return Block(...)`)
    MAX_HELPER_DEPTH = 4

    def __init__(self, project: Project, cls: ClassInfo, syntax, module: Optional[ModuleSource] = None,
                 replace: bool = False, depth: int = 0, touched: Optional[Set[str]] = None) -> None:
        self.project = project
        self.cls = cls
        self.module = module if module is not None else cls.module
        self.syntax = syntax
        self.depth = depth
        #: re-reading a base's __init__ for a subclass: the first assignment of an attribute in this
        #: scan replaces what was copied from the base (instead of joining it as another branch)
        self.replace = replace
        self.touched: Set[str] = touched if touched is not None else set()
        #: __init__ parameters whose default is a class (`block_fn=Block`), by name
        self.aliases: Dict[str, str] = {}
        #: every module class instantiated anywhere in __init__ (fallback for containers built in loops)
        self.instantiated: List[object] = []
        #: locals of __init__ bound to a module instance
        self.locals: Dict[str, object] = {}

    def scan(self) -> None:
        syntax = self.syntax
        for name, default in syntax.param_defaults():
            if default:
                self.aliases[name] = self.module.resolve_name(default)
        for call in syntax.calls(syntax.body):
            target = self._class_for(self._callee_name(call))
            if target is not None and target not in self.instantiated:
                self.instantiated.append(target)
        for node in syntax.small_statements(syntax.body):
            assignment = syntax.assignment(node)
            if assignment is not None:
                targets, value = assignment
                for target in targets:
                    attr = syntax.self_attribute(target)
                    if attr is not None:
                        self._record(attr, value, syntax.annotation(node))
                    elif syntax.is_name_target(target):
                        self._remember_local(syntax.name(target), value)
                continue
            call = syntax.expression_call(node)
            if call is not None:
                helper = self._helper(call)
                if helper is not None:  # `self.build_layers()`: it assigns submodules like __init__ does
                    self._sub_scanner(helper).scan()
                else:
                    self._register_call(call)

    def _register_call(self, call) -> None:
        name = self.syntax.callee(call)
        kind = {"self.register_buffer": "buffer", "self.register_parameter": "parameter",
                "self.add_module": "module", "self.register_module": "module"}.get(name)
        args = self.syntax.arguments(call)
        if kind is None or not args:
            return
        is_string, attr = self.syntax.string(args[0])
        if not is_string:
            return
        if kind == "module" and len(args) > 1:
            self._record(str(attr), args[1])
        else:
            not_none = len(args) < 2 or self.syntax.dotted(args[1]) != "None"
            self._set(str(attr), kind if kind != "parameter" or not_none else "const")

    def _helper(self, call) -> Optional[FunctionRef]:
        """The method of this class a `self.m(...)` call runs (found from the scanned class, so a
        subclass's override counts), while helpers are followed (MAX_HELPER_DEPTH)."""
        name = self.syntax.callee(call)
        if not name.startswith("self.") or name.count(".") != 1 or self.depth >= self.MAX_HELPER_DEPTH:
            return None
        method = self.project.find_method(self.cls, name[5:])
        if method is None or method.name == "__init__" or method.is_static or method.cls is None:
            return None
        self.cls.init_helpers.add(method.name)
        return method

    def _sub_scanner(self, method: FunctionRef) -> "_InitScanner":
        return _InitScanner(self.project, self.cls, cst_syntax(method), module=method.module,
                            replace=self.replace, depth=self.depth + 1, touched=self.touched)

    def _returned(self, call) -> Optional[Tuple["_InitScanner", object]]:
        """`self.make_block(...)`: the helper's scanner and the one value it returns (`return Block(...)`),
        if it has exactly one return with a value."""
        helper = self._helper(call)
        if helper is None:
            return None
        scanner = self._sub_scanner(helper)
        syntax = scanner.syntax
        returns = [n for n in syntax.small_statements(syntax.body) if isinstance(n, cst.Return)]
        if len(returns) != 1 or returns[0].value is None:
            return None
        for node in syntax.small_statements(syntax.body):  # `block = Block(...)` then `return block`
            assignment = syntax.assignment(node)
            if assignment is not None:
                for target in assignment[0]:
                    if syntax.is_name_target(target):
                        scanner._remember_local(syntax.name(target), assignment[1])
        return scanner, returns[0].value

    def _set(self, attr: str, kind: str, classes: Tuple[object, ...] = ()) -> None:
        if self.replace and attr not in self.touched:
            self.cls.attr_kinds.pop(attr, None)
            self.cls.attr_classes.pop(attr, None)
        self.touched.add(attr)
        previous = self.cls.attr_kinds.get(attr)
        if previous in ("parameter", "buffer", "module", "object", "mapping", "defaultdict", "container") \
                and kind == "const":
            return  # `self.x = None` before/after a real registration: keep the registration
        if previous == kind == "module":  # assigned in several branches: any of them
            old = self.cls.attr_classes.get(attr, ())
            classes = old + tuple(c for c in classes if c not in old)
        self.cls.attr_kinds[attr] = kind
        if classes:
            self.cls.attr_classes[attr] = classes

    def _remember_local(self, name: str, value) -> None:
        """`block = ConvAttention(...)` then `self.block = block`: remember the local's class."""
        if self.syntax.is_call(value):
            target = self._class_for(self._callee_name(value))
            if target is not None:
                self.locals[name] = target

    def _callee_name(self, call) -> str:
        name = self.syntax.callee(call)
        return self.aliases.get(name) or self.module.resolve_name(name)

    def _record(self, attr: str, value, annotation: str = "") -> None:
        if self.syntax.is_call(value):
            returned = self._returned(value)
            if returned is not None:  # `self.output_block = self.build_output_block()`
                scanner, result = returned
                scanner._record(attr, result, annotation)
                return
            qualified = self._callee_name(value)
            last = qualified.rsplit(".", 1)[-1]
            if qualified in PARAMETER_CTORS or last == "Parameter":
                self._set(attr, "parameter")
                return
            if qualified in BUFFER_CTORS:
                self._set(attr, "buffer")
                return
            if qualified in MAPPING_CTORS:
                self._set(attr, "defaultdict" if last == "defaultdict" else "mapping")
                return
            if qualified.startswith(NN_PREFIX) and last in MODULE_CONTAINERS:
                self._set(attr, "container", self._element_classes(value))
                return
            target = self._class_for(qualified)
            if target is not None:
                self._set(attr, "module", (target,))
                return
            helper = self._plain_class_for(qualified)
            if helper is not None:  # `self.coder = BoxCoder(...)`: its methods run while tracing
                self._set(attr, "object", (helper,))
                return
        if self.syntax.is_dict(value):
            self._set(attr, "mapping")
            return
        name = self.syntax.name(value)
        if name is not None and name in self.locals:
            self._set(attr, "module", (self.locals[name],))
            return
        declared = self._declared_class(annotation) if name else None
        if declared is not None:  # `self.quantizer: EMAQuantizer = quantizer`: the block a parent builds
            self._set(attr, "module", (declared,))
            return
        if self.syntax.is_choice(value):  # `A(...) if flag else B(...)`
            options = tuple(c for c in self._calls_in(value) if c is not None)
            if options:
                self._set(attr, "module", options)
                return
        self._set(attr, "const")

    def _declared_class(self, annotation: str) -> Optional[ClassInfo]:
        """The module class of the checked files an attribute's own annotation names (`self.quantizer:
        EMAQuantizer = quantizer`, MONAI's VectorQuantizer), if any: the block a parent builds and
        hands in, analyzed with the caller's values. Only those: a declared `nn.Module` (or a torch
        layer) says nothing about which forward runs. A parameter's annotation (`attn_layers:
        AttentionLayers`) is not read: it names what callers may pass, often a base of several
        classes (x-transformers' Encoder/Decoder), and following it joined the wrappers' contexts
        into the block's, which hid findings the block's own analysis makes (3 on x-transformers)."""
        if not annotation or annotation == "None":
            return None
        qualified = self.module.resolve_name(annotation)
        if qualified.startswith(NN_PREFIX) or _is_external_prefix(qualified):
            return None
        hit = self._class_named(qualified)
        return hit if hit is not None and self.project.is_module_class(hit) else None

    def _calls_in(self, node) -> List[object]:
        return [self._class_for(self._callee_name(n)) for n in self.syntax.calls(node)]

    def _class_for(self, qualified: str, call=None) -> Optional[object]:
        if call is not None:
            returned = self._returned(call)
            if returned is not None:  # `nn.ModuleList([self.build_down_sampling_block(c) for c in ...])`
                scanner, result = returned
                if scanner.syntax.is_call(result):
                    return scanner._class_for(scanner._callee_name(result), result)
                name = scanner.syntax.name(result)
                return scanner.locals.get(name) if name is not None else None
        if qualified.startswith(NN_PREFIX):
            last = qualified.rsplit(".", 1)[-1]
            return qualified if last[:1].isupper() else None
        if foreign_layer(qualified):  # `Rearrange(...)` of einops: a module, called like a leaf (TRC301)
            return qualified
        hit = self._class_named(qualified)
        return hit if hit is not None and self.project.is_module_class(hit) else None

    def _class_named(self, qualified: str) -> Optional[ClassInfo]:
        """The class of the checked files a (resolved) name denotes: this module's, or another's."""
        local = self.module.classes.get(qualified.rsplit(".", 1)[-1]) if qualified.startswith(
            f"{self.module.name}.") or "." not in qualified else None
        hit = local if local is not None else self.project.lookup(qualified)
        return hit if isinstance(hit, ClassInfo) else None

    def _plain_class_for(self, qualified: str) -> Optional[ClassInfo]:
        """A class of the checked files that is not an nn.Module (a box coder, an attention
        processor): FX runs its methods like any Python code reached from `forward`."""
        if qualified.startswith(NN_PREFIX) or _is_external_prefix(qualified):
            return None
        hit = self._class_named(qualified)
        return hit if hit is not None and not self.project.is_module_class(hit) else None

    def _element_classes(self, call) -> Tuple[object, ...]:
        found: List[object] = []
        for node in self.syntax.calls(call):
            if node is not call:
                target = self._class_for(self._callee_name(node), node)
                if target is not None and target not in found:
                    found.append(target)
        # `nn.Sequential(*stages)` after a loop of `stages.append(Stage(...))`: any class built here
        return tuple(found) or tuple(c for c in self.instantiated if isinstance(c, ClassInfo))


def cst_syntax(method: FunctionRef) -> "CstSyntax":
    """The CstSyntax of a method's LibCST def, kept on the method while its node is: a helper that
    __init__s run (transformers' ``self.post_init()`` and what it runs) is scanned for every class."""
    found = method.syntax
    node = method.node
    if not isinstance(found, CstSyntax) or found.func is not node:
        found = method.syntax = CstSyntax(node)
    return found


class CstSyntax:
    """What _InitScanner asks of an ``__init__``, answered from its LibCST def. The calls and small
    statements of the whole body are listed once (the syntax is kept per def: ``cst_syntax``)."""

    def __init__(self, func: cst.FunctionDef) -> None:
        self.func = func
        self.body = func.body
        self._calls: Optional[List[cst.Call]] = None
        self._small: Optional[List[cst.CSTNode]] = None

    def param_defaults(self) -> List[Tuple[str, str]]:
        params = self.func.params
        return [(p.name.value, dotted(p.default)) for p in list(params.params) + list(params.kwonly_params)
                if p.default is not None]

    @staticmethod
    def annotation(node: cst.CSTNode) -> str:
        return _annotation_name(node.annotation.annotation) if isinstance(node, cst.AnnAssign) else ""

    def calls(self, node: cst.CSTNode):
        if node is self.body:
            if self._calls is None:
                self._calls = [n for n in _walk_expressions(node) if isinstance(n, cst.Call)]
            return self._calls
        return (n for n in _walk_expressions(node) if isinstance(n, cst.Call))

    def small_statements(self, body: cst.CSTNode):
        if body is self.body:
            if self._small is None:
                self._small = list(small_statements(body))
            return self._small
        return small_statements(body)

    @staticmethod
    def assignment(node: cst.CSTNode):
        if isinstance(node, cst.Assign):
            return [t.target for t in node.targets], node.value
        if isinstance(node, cst.AnnAssign) and node.value is not None:
            return [node.target], node.value
        return None

    @staticmethod
    def expression_call(node: cst.CSTNode) -> Optional[cst.Call]:
        return node.value if isinstance(node, cst.Expr) and isinstance(node.value, cst.Call) else None

    @staticmethod
    def self_attribute(target: cst.CSTNode) -> Optional[str]:
        if isinstance(target, cst.Attribute) and dotted(target.value) == "self":
            return target.attr.value
        return None

    @staticmethod
    def is_name_target(target: cst.CSTNode) -> bool:
        return isinstance(target, cst.Name)

    @staticmethod
    def name(node: cst.CSTNode) -> Optional[str]:
        return node.value if isinstance(node, cst.Name) else None

    @staticmethod
    def is_call(node: cst.CSTNode) -> bool:
        return isinstance(node, cst.Call)

    @staticmethod
    def is_dict(node: cst.CSTNode) -> bool:
        return isinstance(node, (cst.Dict, cst.DictComp))

    @staticmethod
    def is_choice(node: cst.CSTNode) -> bool:
        return isinstance(node, (cst.IfExp, cst.BooleanOperation))

    @staticmethod
    def callee(call: cst.Call) -> str:
        return dotted(call.func)

    @staticmethod
    def arguments(call: cst.Call) -> List[cst.BaseExpression]:
        return [a.value for a in call.args]

    @staticmethod
    def string(node: cst.CSTNode) -> Tuple[bool, object]:
        return (True, node.evaluated_value) if isinstance(node, cst.SimpleString) else (False, None)

    @staticmethod
    def dotted(node: cst.CSTNode) -> str:
        return dotted(node)


def _annotation_name(node: cst.BaseExpression) -> str:
    """init_syntax.annotation_name for a LibCST annotation."""
    if isinstance(node, cst.SimpleString):
        text = str(node.evaluated_value).strip()
        return text if all(part.isidentifier() for part in text.split(".")) else ""
    return dotted(node) if isinstance(node, (cst.Name, cst.Attribute)) else ""


def _walk_expressions(node: cst.CSTNode):
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))


#: methods of a Python dict/list/tuple built in the code that hand back its elements as a container
_VIEW_METHODS = {"items", "values", "keys", "copy"}
_ELEMENT_METHODS = {"get", "pop", "setdefault", "index", "count"}


def _container_method(receiver: Value, method: str, every: List[Value]) -> Value:
    """``feats.items()`` of a dict of Proxies is a real Python iterable while tracing (not a Proxy)."""
    if method in _VIEW_METHODS:
        return Value(Kind.CONTAINER, receiver.taint, items=receiver.items)
    if method in _ELEMENT_METHODS:
        return join(element_of(receiver), proxy_from(every) if any(v.traced for v in every) else None)
    return proxy_from([receiver] + every).derived(opaque=True)


__all__ = ["Project", "const"]
