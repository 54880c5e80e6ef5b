"""What the checked files define: modules, imports, functions and nn.Module classes.

Name resolution is purpose-built rather than LibCST's ScopeProvider/QualifiedNameProvider:
those cost 3-5x a parse on model code (shared/notes/performance-anchors.md), while fxlint only
needs module-level bindings (imports, defs, classes) and the locals of traced functions, which
the interpreter tracks itself. Blind spots: names bound by ``exec``/``globals()`` tricks,
star imports from outside the checked tree, and conditional imports (the first binding wins).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Set, Tuple

import libcst as cst

from fxlint.analysis import dotted

#: base-class names that make a class an nn.Module without being torch.nn.Module itself
NN_PREFIX = "torch.nn."
FX_WRAP = {"torch.fx.wrap", "torch.fx._symbolic_trace.wrap"}
MODULE_CONTAINERS = {"ModuleList", "ModuleDict", "Sequential", "ParameterList", "ParameterDict"}


#: nn.Module classes of other libraries that are no torch.nn leaf: symbolic_trace traces into their
#: forward, which runs the library's Python on the Proxy (einops' layers parse the input's shape: a
#: `KeyError: Proxy(getattr_1)` in their recipe cache)
FOREIGN_LAYER_PREFIXES = ("einops.layers.",)


def foreign_layer(name: object) -> bool:
    """Whether ``name`` (a resolved dotted class name) is a layer class of FOREIGN_LAYER_PREFIXES."""
    return isinstance(name, str) and name.startswith(FOREIGN_LAYER_PREFIXES) and \
        name.rpartition(".")[2][:1].isupper()


#: a function that imports a module by its name given as a string and returns (the module or its
#: attribute ``name=``, a flag): MONAI's ``X, _ = optional_import("einops.layers.torch", name="Rearrange")``
OPTIONAL_IMPORT = "optional_import"


def optional_import_target(callee: str, module_name: Optional[str], name: Optional[str]) -> Optional[str]:
    """The dotted name ``X`` is bound to by ``X, _ = optional_import(module_name, ..., name=name)``
    (also ``X = optional_import(...)[0]``), from the call's string arguments; None when the callee is
    no optional_import or the module is not a plain string."""
    if callee.rpartition(".")[2] != OPTIONAL_IMPORT or not module_name:
        return None
    if not all(part.isidentifier() for part in module_name.split(".")):
        return None
    if name and not all(part.isidentifier() for part in name.split(".")):
        return None
    return f"{module_name}.{name}" if name else module_name


class FunctionRef:
    """A function or method definition in a checked file.

    For files loaded only as dependencies the LibCST node is found on first use, so resolving a
    base class or an import never pays for a LibCST parse of the file that defines it. ``tree`` is
    the LibCST module the node belongs to: the whole file, or only the top-level statement that
    defines the function (see ModuleSource); positions and generated code of the function's nodes
    come from that tree."""

    __slots__ = ("_node", "_tree", "module", "qualname", "cls", "is_static", "syntax")

    def __init__(self, node: Optional[cst.FunctionDef], module: "ModuleSource", qualname: str,
                 cls: Optional["ClassInfo"] = None, is_static: bool = False,
                 tree: Optional[cst.Module] = None) -> None:
        self._node = node
        self._tree = tree
        self.module = module
        self.qualname = qualname  #: "Net.forward", "window_pad"
        self.cls = cls  #: owning class for methods
        self.is_static = is_static
        #: what __init__ scans read of the LibCST def (semantics.CstSyntax), kept with the node
        self.syntax: Optional[object] = None

    @property
    def node(self) -> cst.FunctionDef:
        if self._node is None:
            self._node, self._tree = self.module.cst_function(self.qualname)
        self.module.tree_used = True  # a node kept from an earlier parse is a use of the tree too
        return self._node

    @property
    def tree(self) -> cst.Module:
        if self._tree is None:
            self._node, self._tree = self.module.cst_function(self.qualname)
        self.module.tree_used = True
        return self._tree

    @property
    def name(self) -> str:
        return self.qualname.rpartition(".")[2]

    def __hash__(self) -> int:
        return hash((self.module.path, self.qualname))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FunctionRef) and other.module is self.module and other.qualname == self.qualname


@dataclass(eq=False)
class ClassInfo:
    """A class defined in a checked file, with what its ``__init__`` registers."""

    name: str
    module: "ModuleSource"
    node: Optional[cst.ClassDef]  #: None for classes of dependency-only files (indexed with `ast`)
    base_names: List[str]  #: dotted names of the bases as written (resolved through imports)
    methods: Dict[str, FunctionRef] = field(default_factory=dict)
    #: attribute name -> "parameter" | "buffer" | "module" | "object" (a plain helper object of a
    #: class in the checked files) | "mapping" / "defaultdict" (a dict) | "container" | "const"
    attr_kinds: Dict[str, str] = field(default_factory=dict)
    #: attribute name -> dotted class name or ClassInfo of a submodule / container element classes
    attr_classes: Dict[str, Tuple[object, ...]] = field(default_factory=dict)
    _bases: Optional[List[object]] = None
    is_module: Optional[bool] = None  #: memo of Project.is_module_class
    attrs_scanned: bool = False  #: memo of Project.class_attrs
    #: methods its ``__init__`` runs or builds submodules with (`self.build_layers()`, `self.x =
    #: self.make_block()`), by name: a subclass overriding one is scanned with its own (class_attrs)
    init_helpers: Set[str] = field(default_factory=set)

    @property
    def qualname(self) -> str:
        return self.name


class ModuleSource:
    """One file and its module-level bindings.

    A checked file is indexed from its LibCST tree. A file loaded only because a checked file
    imports from it is indexed with the stdlib ``ast`` (about 10x cheaper) and parsed with LibCST
    only if the analysis enters one of its functions, and then only partly: the lines of the
    top-level statement (class or def) that defines the function, parsed alone (it starts at
    column 0, so only line numbers shift: ``source_of`` gives the offset); for a method, only the
    method's lines, under a made-up one-line class header (``cst_function``). ``fxlint check`` loads
    the files it checks the same way (engine.load_light), so they are parsed partly too: only their
    classes' methods are ever entered, not docstrings, config classes or module code. Before,
    transformers' checked files entered a few classes of large sibling modeling files, which were
    parsed whole (and again after the tree cache dropped them). (Blanking the other lines instead
    keeps line numbers but costs nearly a whole parse: LibCST builds a node per empty line.) Each
    partial tree is kept per statement, so every lookup of a function finds the same node until
    ``release_tree``. ``check_source`` parses its text whole (``tree``)."""

    def __init__(self, path: str, name: str, text: str, tree: Optional[cst.Module] = None,
                 syntax_tree: Optional[object] = None) -> None:
        self.path = path
        self.name = name  #: dotted module name ("pkg.sub.mod"), or the file stem outside packages
        self.text = text
        self._tree = tree
        #: called with the path when the file gets a LibCST tree (whole or partial): the engine keeps
        #: the trees of a few files only and must know which files hold one
        self.on_tree: Optional[Callable[[str], None]] = None
        #: set whenever a node of the file's trees is handed out; the engine reads and clears it to
        #: know which files' trees are still in use (most uses find the node kept on a FunctionRef
        #: and never reach this object's parse functions)
        self.tree_used = False
        #: lines of LibCST trees the file holds (whole or partial): what the engine's budget counts
        self.tree_lines = 0
        #: the file's stdlib `ast`, while the engine checks this file (read by init_syntax); else None
        self.kept_ast: Optional[object] = None
        self.imports: Dict[str, str] = {}  #: local name -> dotted target
        self.functions: Dict[str, FunctionRef] = {}
        self.classes: Dict[str, ClassInfo] = {}
        self.globals_assigned: Set[str] = set()
        #: functions FX treats as leaves in this module: `@torch.fx.wrap` defs and
        #: `torch.fx.wrap("name")` registrations (fx.wrap patches only this module's globals)
        self.wrapped: Set[str] = set()
        #: ("class" | "def", name) -> first and last line of the top-level statement defining it
        #: (set by the `ast` index; a statement sharing a line with another is left out)
        self.spans: Dict[Tuple[str, str], Optional[Tuple[int, int]]] = {}
        #: class name -> method name -> first and last line of the method (set by the `ast` index
        #: for classes with a span; see cst_function)
        self.method_spans: Dict[str, Dict[str, Tuple[int, int]]] = {}
        #: partial trees by span (None: a parse of the whole text, used when a span's tree lacks the
        #: function), each with the text it was parsed from and that text's first line in the file - 1
        self._partials: Dict[Optional[Tuple], Optional[Tuple[cst.Module, str, int]]] = {}
        if tree is not None:
            self.tree_lines = text.count("\n") + 1
            self._index()
        else:
            from fxlint.analysis.light_index import index_with_ast

            index_with_ast(self, syntax_tree)

    def release_tree(self) -> None:
        """Drop the LibCST tree (the bulk of the memory); the index stays and nodes are found again
        on demand. Called once a checked file is done: most are never entered again."""
        self._tree = None
        self._partials = {}
        self.tree_lines = 0
        for ref in self.functions.values():
            ref._node = ref._tree = ref.syntax = None
        for cls in self.classes.values():
            cls.node = None
            for ref in cls.methods.values():
                ref._node = ref._tree = ref.syntax = None

    @property
    def parsed_whole(self) -> bool:
        """Is the file's LibCST tree the whole file's (``check_source``, or no `ast` spans)? Then
        ``cst_function`` finds every function in it."""
        return self._tree is not None or not self.spans

    @property
    def has_tree(self) -> bool:
        return self._tree is not None or bool(self._partials)

    @property
    def tree(self) -> cst.Module:
        """The whole file's tree. Building it drops the partial trees: call it before the analysis
        enters the file, never during (nodes found earlier would go stale)."""
        if self._tree is None:
            if self._partials:
                self.release_tree()
            self._report_tree()
            self._tree = parse_module(self.text)
            self.tree_lines += self.text.count("\n") + 1
        return self._tree

    def _report_tree(self) -> None:
        if self.on_tree is not None:
            self.on_tree(self.path)

    def source_of(self, tree: cst.Module) -> Tuple[str, int]:
        """The text ``tree`` was parsed from (the file's, one statement's lines, or a method's under
        its made-up class header) and the number of file lines before it."""
        if tree is not self._tree:
            for found in self._partials.values():
                if found is not None and found[0] is tree:
                    return found[1], found[2]
        return self.text, 0

    def cst_function(self, qualname: str) -> Tuple[cst.FunctionDef, cst.Module]:
        """The LibCST node of a top-level function or method ("Cls.meth") of this file, and its tree.

        A method is parsed alone when the index has its lines: the method's own lines under a
        one-line ``class Cls:`` header (columns unchanged, the header takes the line before the
        method's first), so a class's docstring, class attributes and the methods the analysis
        never enters are not parsed (a quarter of the lines of transformers' entered classes).
        A method that does not parse alone is looked for in its class's statement, as before."""
        owner, _, name = qualname.rpartition(".")
        if self.parsed_whole:
            return _find_function(self.tree, owner, name), self.tree
        span = self.spans.get(("class", owner) if owner else ("def", name))
        if owner and span is not None:
            lines = self.method_spans.get(owner, {}).get(name)
            tree = self._partial((lines[0], lines[1], owner)) if lines is not None else None
            if tree is not None:
                try:
                    return _find_function(tree, owner, name), tree
                except (StopIteration, IndexError):  # not where the index saw it: look in the class
                    pass
        tree = self._partial(span)
        try:
            return _find_function(tree, owner, name), tree
        except (StopIteration, IndexError):  # defined where the `ast` index saw it but `_flatten` does not look
            if span is None:
                raise
            tree = self._partial(None)
            return _find_function(tree, owner, name), tree

    def is_method_tree(self, tree: cst.Module) -> bool:
        """Was ``tree`` parsed from one method's lines under a made-up class header?"""
        return any(found is not None and found[0] is tree
                   for key, found in self._partials.items() if key is not None and len(key) == 3)

    def _partial(self, span: Optional[Tuple]) -> Optional[cst.Module]:
        """The tree of a span (a class/def statement; a method: (first, last, class name)). None
        for a method that does not parse alone."""
        found = self._partials.get(span, _MISSING)
        if found is _MISSING:
            self._report_tree()
            found = self._partials[span] = (self._parse_method(span) if span is not None and len(span) == 3
                                             else self._parse_partial(span))
        return found[0] if found is not None else None

    def _parse_method(self, span: Tuple[int, int, str]) -> Optional[Tuple[cst.Module, str, int]]:
        first, last, owner = span
        body = lines_of(self.text, first, last)
        header = f"class {owner}:" + ("\r\n" if body.split("\n", 1)[0].endswith("\r") else "\n")
        try:
            tree = parse_module(header + body)
        except Exception:  # noqa: BLE001 - the class statement decides, as before
            return None
        self.tree_lines += last - first + 2
        return tree, header + body, first - 2

    def _parse_partial(self, span: Optional[Tuple[int, int]]) -> Tuple[cst.Module, str, int]:
        if span is not None:
            text = lines_of(self.text, span[0], span[1])
            try:
                tree = parse_module(text)
            except Exception:  # noqa: BLE001 - whatever the statement alone does, the whole file decides
                pass
            else:
                self.tree_lines += span[1] - span[0] + 1
                return tree, text, span[0] - 1
        if None not in self._partials:
            self._partials[None] = (parse_module(self.text), self.text, 0)
            self.tree_lines += self.text.count("\n") + 1
        return self._partials[None]  # type: ignore[return-value]

    @property
    def package(self) -> str:
        if os.path.basename(self.path) == "__init__.py":
            return self.name
        return self.name.rpartition(".")[0]

    def _index(self) -> None:
        for stmt in self.tree.body:
            self._index_statement(stmt)

    def _index_statement(self, stmt: cst.CSTNode) -> None:
        if isinstance(stmt, cst.FunctionDef):
            self.functions[stmt.name.value] = FunctionRef(stmt, self, stmt.name.value, tree=self._tree)
            if any(self.resolve_name(dotted(d.decorator)) in FX_WRAP for d in stmt.decorators):
                self.wrapped.add(stmt.name.value)
        elif isinstance(stmt, cst.ClassDef):
            self._index_class(stmt)
        elif isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, (cst.Import, cst.ImportFrom)):
                    self._index_import(small)
                elif isinstance(small, cst.Expr) and isinstance(small.value, cst.Call):
                    self._index_wrap_call(small.value)
                elif isinstance(small, (cst.Assign, cst.AnnAssign)):
                    if isinstance(small, cst.Assign) and self._index_optional_import(small):
                        continue
                    targets = small.targets if isinstance(small, cst.Assign) else [small]
                    for t in targets:
                        if isinstance(t.target, cst.Name):
                            self.globals_assigned.add(t.target.value)
        elif isinstance(stmt, (cst.If, cst.Try)):
            # `try: import numpy as np except ImportError: np = None` and `if TYPE_CHECKING:`
            for child in _suite_statements(stmt):
                self._index_statement(child)

    def _index_optional_import(self, node: cst.Assign) -> bool:
        """`X, _ = optional_import("pkg.mod", name="Y")` or `X = optional_import(...)[0]` binds X like
        `from pkg.mod import Y as X` (light_index._optional_import for the `ast` index)."""
        if len(node.targets) != 1:
            return False
        target, value = node.targets[0].target, node.value
        if isinstance(target, (cst.Tuple, cst.List)) and target.elements:
            target = target.elements[0].value
        elif isinstance(value, cst.Subscript) and len(value.slice) == 1 and \
                isinstance(value.slice[0].slice, cst.Index) and isinstance(value.slice[0].slice.value, cst.Integer) \
                and value.slice[0].slice.value.value == "0":
            value = value.value
        else:
            return False
        if not isinstance(target, cst.Name) or not isinstance(value, cst.Call):
            return False
        positional = [a.value for a in value.args if a.keyword is None and not a.star]
        named = {a.keyword.value: a.value for a in value.args if a.keyword is not None}
        strings = [_string(v) for v in (named.get("module", positional[0] if positional else None),
                                        named.get("name", positional[3] if len(positional) > 3 else None))]
        found = optional_import_target(dotted(value.func), strings[0], strings[1])
        if found is None:
            return False
        self.imports[target.value] = found
        return True

    def _index_wrap_call(self, call: cst.Call) -> None:
        if self.resolve_name(dotted(call.func)) in FX_WRAP and call.args:
            arg = call.args[0].value
            if isinstance(arg, cst.SimpleString):
                self.wrapped.add(arg.value[1:-1])
            elif isinstance(arg, cst.Name):
                self.wrapped.add(arg.value)

    def _index_import(self, node: cst.CSTNode) -> None:
        if isinstance(node, cst.Import):
            for alias in node.names:
                full = dotted(alias.name)
                if alias.asname is not None:
                    self.imports[dotted(alias.asname.name)] = full
                else:
                    top = full.split(".")[0]
                    self.imports.setdefault(top, top)
            return
        assert isinstance(node, cst.ImportFrom)
        base = self._absolute_from(node)
        if isinstance(node.names, cst.ImportStar) or base is None:
            return
        for alias in node.names:
            name = dotted(alias.name)
            local = dotted(alias.asname.name) if alias.asname is not None else name
            self.imports[local] = f"{base}.{name}" if base else name

    def _absolute_from(self, node: cst.ImportFrom) -> Optional[str]:
        module = dotted(node.module) if node.module is not None else ""
        level = len(node.relative)
        if level == 0:
            return module
        parts = self.package.split(".") if self.package else []
        if level - 1 > len(parts):
            return None
        base_parts = parts[: len(parts) - (level - 1)] if level > 1 else parts
        return ".".join(p for p in base_parts + ([module] if module else []) if p)

    def _index_class(self, node: cst.ClassDef) -> None:
        bases = [self.resolve_name(dotted(arg.value)) for arg in node.bases if dotted(arg.value)]
        info = ClassInfo(node.name.value, self, node, bases)
        for stmt in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
            if isinstance(stmt, cst.FunctionDef):
                static = any(dotted(d.decorator) in ("staticmethod",) for d in stmt.decorators)
                info.methods[stmt.name.value] = FunctionRef(
                    stmt, self, f"{info.name}.{stmt.name.value}", info, static, self._tree
                )
        self.classes[info.name] = info

    def resolve_name(self, name: str) -> str:
        """Dotted name of a module-level reference, through this file's imports."""
        head, _, rest = name.partition(".")
        if head in self.imports:
            target = self.imports[head]
            return f"{target}.{rest}" if rest else target
        if head in self.classes or head in self.functions:
            return f"{self.name}.{name}" if self.name else name
        return name


def _suite_statements(stmt: cst.CSTNode) -> List[cst.CSTNode]:
    out: List[cst.CSTNode] = []
    for attr in ("body", "orelse", "handlers", "finalbody"):
        part = getattr(stmt, attr, None)
        if part is None:
            continue
        parts = part if isinstance(part, (list, tuple)) else [part]
        for p in parts:
            body = getattr(p, "body", None)
            if isinstance(body, cst.BaseSuite) and isinstance(body, cst.IndentedBlock):
                out.extend(body.body)
            elif isinstance(p, cst.IndentedBlock):
                out.extend(p.body)
            elif isinstance(p, (cst.If, cst.Else)):
                out.extend(_suite_statements(p))
    return out


def parse_module(text: str) -> cst.Module:
    """``libcst.parse_module`` without re-validating each node the parser builds.

    Every LibCST node checks itself in ``__post_init__`` (regular expressions over its
    whitespace and so on), 10-15% of a parse; the native parser builds only valid nodes (LibCST's
    own comment on ``__post_init__`` suggests skipping it when parsing). For the trees ``check``
    reads; the fixer's nodes are validated as usual. Swaps a class attribute for the duration of
    the parse: not for threads (fxlint checks one file at a time per process)."""
    saved = cst.CSTNode.__dict__.get("__post_init__")
    if saved is None:  # a LibCST that validates elsewhere: parse as is
        return cst.parse_module(text)
    cst.CSTNode.__post_init__ = _no_validation  # type: ignore[method-assign]
    try:
        return cst.parse_module(text)
    finally:
        cst.CSTNode.__post_init__ = saved  # type: ignore[method-assign]


_MISSING: object = object()


def _no_validation(self: cst.CSTNode) -> None:
    pass


def _find_function(tree: cst.Module, owner: str, name: str) -> cst.FunctionDef:
    """Where the indexes look: the first def of a name, the last class (both indexes keep the last
    ClassInfo; taking the first class here once looked for a method in `if` branch's xLSTMBlock
    that only the `else` branch's has, and failed the whole file)."""
    body: List[cst.CSTNode] = list(tree.body)
    if owner:
        cls = [n for n in _flatten(body) if isinstance(n, cst.ClassDef) and n.name.value == owner][-1]
        body = list(cls.body.body) if isinstance(cls.body, cst.IndentedBlock) else []
    return next(n for n in _flatten(body) if isinstance(n, cst.FunctionDef) and n.name.value == name)


def lines_of(text: str, first: int, last: int) -> str:
    """Lines ``first``..``last`` (1-based) of ``text``, ending with a line break. The lines of the
    last few texts are kept: one file's methods are taken one after another (splitting a large file
    once per method was ~1% of a run)."""
    lines = _SPLIT.get(id(text))
    if lines is None or lines[0] is not text:
        lines = _SPLIT[id(text)] = (text, text.split("\n"))
        if len(_SPLIT) > 8:
            del _SPLIT[next(iter(_SPLIT))]
    return "\n".join(lines[1][first - 1:last]) + "\n"


#: id(text) -> (text, its lines), oldest first (the text is held, so its id is not reused meanwhile)
_SPLIT: Dict[int, Tuple[str, List[str]]] = {}


def _flatten(statements: List[cst.CSTNode]) -> List[cst.CSTNode]:
    """Top-level statements, looking into `if`/`try` blocks the way the index does."""
    out: List[cst.CSTNode] = []
    for stmt in statements:
        out.append(stmt)
        if isinstance(stmt, (cst.If, cst.Try)):
            out.extend(_flatten(_suite_statements(stmt)))
    return out


def module_name_for(path: Path) -> Tuple[str, Path]:
    """(dotted module name, import root) of a file, walking up through packages."""
    path = path.resolve()
    parts = [path.stem] if path.name != "__init__.py" else []
    directory = path.parent
    while (directory / "__init__.py").is_file() and directory.parent != directory:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts), directory


def _string(node: Optional[cst.BaseExpression]) -> Optional[str]:
    """The value of one plain string literal, else None."""
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None
