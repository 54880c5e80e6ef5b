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

Blind spot: a block reached only through a dynamic factory the analysis cannot resolve is
analyzed by neither route; a root model that another class refers to (e.g. in an
``isinstance`` check) is analyzed only through that class.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Dict, FrozenSet, Set




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


def references(text: str) -> References:
    key = hash(text)
    found = _SEEN.get(key)
    if found is None:
        found = _SEEN[key] = _references(text)
    return found


def referenced_class_names(text: str) -> FrozenSet[str]:
    return references(text).local


def _references(text: str) -> References:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return _EMPTY
    found: Set[str] = set()
    via_import: Set[str] = set()
    # one walk; ``owner`` is the innermost class whose body we are in
    stack = [(tree, "")]
    while stack:
        node, owner = stack.pop()
        if isinstance(node, ast.ClassDef):
            for base in node.bases + node.keywords + node.decorator_list:
                stack.append((base, ""))
            stack.extend((stmt, node.name) for stmt in node.body)
            continue
        if isinstance(node, ast.ImportFrom) or isinstance(node, ast.Import):
            via_import.update((a.asname or a.name).rpartition(".")[2] for a in node.names)
        for value in _configuration_values(node):
            if isinstance(value, ast.Name) and value.id[:1].isupper():
                found.add(value.id)
        if owner:
            name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
            if name[:1].isupper() and name != owner:
                found.add(name)
                if isinstance(node, ast.Attribute):
                    via_import.add(name)
        stack.extend((child, owner) for child in ast.iter_child_nodes(node))
    return References(frozenset(found), frozenset(found & via_import))


def _configuration_values(node: ast.AST):
    """Expressions handed on as named configuration: keyword values, dict values, subscript stores."""
    if isinstance(node, ast.keyword):
        yield node.value
    elif isinstance(node, ast.Dict):
        yield from node.values
    elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) for t in node.targets):
        yield node.value
