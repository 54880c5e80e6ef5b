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
from typing import Dict, FrozenSet, Set


_SEEN: Dict[int, FrozenSet[str]] = {}  #: by hash of the text: computed once per file and process (forks inherit it)


def referenced_class_names(text: str) -> FrozenSet[str]:
    """Capitalized names used inside class bodies (not as the class's own name or bases), and
    classes handed on as configuration."""
    key = hash(text)
    found = _SEEN.get(key)
    if found is None:
        found = _SEEN[key] = _referenced(text)
    return found


def _referenced(text: str) -> FrozenSet[str]:
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return frozenset()
    found: Set[str] = set()
    for node in ast.walk(tree):
        for value in _configuration_values(node):
            if isinstance(value, ast.Name) and value.id[:1].isupper():
                found.add(value.id)
        if isinstance(node, ast.ClassDef):
            own = node.name
            for stmt in node.body:
                for sub in ast.walk(stmt):
                    name = sub.id if isinstance(sub, ast.Name) else sub.attr if isinstance(sub, ast.Attribute) else ""
                    if name[:1].isupper() and name != own:
                        found.add(name)
    return frozenset(found)


def _configuration_values(node: ast.AST):
    """Expressions handed on as named configuration: keyword values, dict values, subscript stores."""
    if isinstance(node, ast.keyword):
        yield node.value
    elif isinstance(node, ast.Dict):
        yield from node.values
    elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Subscript) for t in node.targets):
        yield node.value
