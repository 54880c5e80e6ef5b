"""Which classes are used as building blocks by other classes (so are not tracing entry points).

``symbolic_trace`` is run on a whole model: a block's ``forward`` only ever sees what its
parent passes (an Optional argument the parent never passes stays ``None``). So fxlint analyzes
a class as an entry point only when no other class in the checked files refers to it; blocks
are analyzed through their parents, with the parents' argument values. The index is built from
the stdlib ``ast`` (cheap) for every checked file before the analysis starts.

A class handed on as configuration outside any class — a keyword argument (``block=DlaBottleneck``),
a dict value (``dict(block=...)``, ``{'block': ...}``) or a subscript assignment
(``cfg['block'] = SelecSlsBlock``) in a factory function or at module level — is a block too: model
factories pass building blocks that way, while the model class itself is called or passed
positionally (``build_model_with_cfg(DLA, variant, ...)``).

A class the package's top-level ``__init__.py`` re-exports unconditionally (``from .x import
TransformerWrapper`` at module level, not under ``if TYPE_CHECKING``) is public API: users build it
and trace it on its own, so it is an entry point as well, even when another class of the package
builds it too (x-transformers' ``XTransformer`` builds two ``TransformerWrapper``; analyzed only
through it, the wrapper's ``cache`` input was never a Proxy and the `exists(cache) and flag` test
that stops a direct ``symbolic_trace(TransformerWrapper(...))`` went unreported). See
:func:`package_exports`.

Blind spot: a block reached only through a dynamic factory the analysis cannot resolve is
analyzed by neither route; a root model that another class refers to (e.g. in an
``isinstance`` check) and that the package does not export at its top level is analyzed only
through that class.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Set, Tuple




@dataclass(frozen=True)
class References:
    """What one file says about classes as building blocks."""

    #: capitalized names used inside class bodies (not the class's own name) or handed on as configuration
    local: FrozenSet[str]
    #: those of them bound by an import or read as an attribute (``layers.Mlp``): blocks of other files.
    #: A same-named class elsewhere that this file never imports is not made a block by it (timm has
    #: an ``Attention`` in dozens of files).
    imported: FrozenSet[str]


_EMPTY = References(frozenset(), frozenset())
_SEEN: Dict[int, References] = {}  #: by hash of the text: computed once per file and process (forks inherit it)


def references(text: str, tree: Optional[ast.Module] = None) -> References:
    """What ``text`` says about building blocks; ``tree``: its `ast`, if the caller has parsed it."""
    key = hash(text)
    found = _SEEN.get(key)
    if found is None:
        found = _SEEN[key] = _references(text) if tree is None else _walk(tree)
    return found


def remember(text: str, found: References) -> None:
    """Record what another process found for ``text`` (api reads references in worker processes)."""
    _SEEN[hash(text)] = found


def referenced_class_names(text: str) -> FrozenSet[str]:
    return references(text).local


_CHILD_FIELDS: Dict[type, Tuple[str, ...]] = {}
_IMPORTS = (ast.Import, ast.ImportFrom)
#: the nodes _configuration_names reads
_CONFIGURING = frozenset((ast.keyword, ast.Dict, ast.Assign))
#: fields that hold only load/store contexts, operators or text: nothing to find under them
_NO_NAMES = frozenset(("ctx", "op", "ops", "type_comment", "kind"))


def _references(text: str) -> References:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return _EMPTY
    return _walk(tree)


def _walk(tree: ast.Module) -> References:
    """One walk over the file's `ast`; ``owner`` is the innermost class whose body we are in.

    Runs on every checked file before the analysis starts (a tenth of a cold run on transformers),
    hence the exact-type dispatch and the field tables instead of ``ast.iter_child_nodes``."""
    found: Set[str] = set()
    via_import: Set[str] = set()
    stack: List[Tuple[ast.AST, str]] = [(tree, "")]
    push = stack.append
    while stack:
        node, owner = stack.pop()
        kind = type(node)
        if kind is ast.ClassDef:
            for base in node.bases + node.keywords + node.decorator_list:
                push((base, ""))
            # a class that cannot be an nn.Module (no base, or only plain-Python bases) builds no
            # submodule: the classes it names are not blocks (a pipeline's `vae: AutoencoderKL`)
            inner = node.name if _may_be_module(node) else ""
            for stmt in node.body:
                push((stmt, inner))
            continue
        if kind is ast.arg:
            continue  # a parameter's annotation names a type, it builds nothing
        if kind is ast.Name:
            if owner and node.id[:1].isupper() and node.id != owner:
                found.add(node.id)
            continue  # its only child is the load/store context
        if kind is ast.Attribute:
            if owner and node.attr[:1].isupper() and node.attr != owner:
                found.add(node.attr)
                via_import.add(node.attr)
        elif kind in _IMPORTS:
            via_import.update((a.asname or a.name).rpartition(".")[2] for a in node.names)
        elif kind in _CONFIGURING:
            found.update(_configuration_names(node, kind))
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in _NO_NAMES
                                                 and (kind, f) not in _ANNOTATIONS)
        for field in fields:
            value = getattr(node, field, None)
            if value.__class__ is list:
                push_all = [(child, owner) for child in value if isinstance(child, ast.AST)]
                stack.extend(push_all)
            elif isinstance(value, ast.AST):
                push((value, owner))
    return References(frozenset(found), frozenset(found & via_import))


#: annotation fields: a type named there (`-> Block`, `x: Block = ...`) is not built or handed on
_ANNOTATIONS = frozenset(((ast.FunctionDef, "returns"), (ast.AsyncFunctionDef, "returns"),
                          (ast.AnnAssign, "annotation")))
#: bases that make a class plain Python, never an nn.Module
_PLAIN_BASES = frozenset(("object", "ABC", "Enum", "IntEnum", "NamedTuple", "TypedDict", "Protocol", "Exception",
                          "dict", "list", "tuple", "str", "int"))


def _may_be_module(node: ast.ClassDef) -> bool:
    """Whether the class could be an nn.Module (and so build submodules): it has a base that is not
    plainly Python. Read from the syntax alone; a base the file imports may be anything."""
    return any(not (isinstance(b, ast.Name) and b.id in _PLAIN_BASES) for b in node.bases)


def _configuration_names(node: ast.AST, kind: type) -> List[str]:
    """Capitalized names handed on as named configuration: keyword values, dict values, subscript stores."""
    if kind is ast.keyword:
        values = [node.value]  # type: ignore[attr-defined]
    elif kind is ast.Dict:
        values = node.values  # type: ignore[attr-defined]
    elif kind is ast.Assign and any(isinstance(t, ast.Subscript) for t in node.targets):  # type: ignore[attr-defined]
        values = [node.value]  # type: ignore[attr-defined]
    else:
        return []
    return [v.id for v in values if isinstance(v, ast.Name) and v.id[:1].isupper()]


_EXPORTS: Dict[int, FrozenSet[Tuple[str, str]]] = {}


def package_exports(text: str, package: str) -> FrozenSet[Tuple[str, str]]:
    """(absolute module, name) of each ``from M import name`` at the top level of a package's
    ``__init__.py`` (``text``; ``package``: its dotted name): what the package hands to its users.
    Imports under ``if``/``try`` (``TYPE_CHECKING``, optional dependencies) are left out: transformers
    lists every model class there, and its models are traced through their task heads."""
    key = hash((text, package))
    found = _EXPORTS.get(key)
    if found is not None:
        return found
    out: Set[Tuple[str, str]] = set()
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        tree = ast.Module(body=[], type_ignores=[])
    for stmt in tree.body:
        if not isinstance(stmt, ast.ImportFrom):
            continue
        if stmt.level:
            parts = package.split(".")
            if stmt.level - 1 >= len(parts):
                continue
            base = ".".join(parts[:len(parts) - (stmt.level - 1)])
            source = f"{base}.{stmt.module}" if stmt.module else base
        else:
            source = stmt.module or ""
        out.update((source, alias.name) for alias in stmt.names if alias.name != "*")
    found = _EXPORTS[key] = frozenset(out)
    return found
