"""Apply a round of plans to a tree in one LibCST pass: node replacements, hoisted functions placed
before the module-level statement that uses them, and the imports they need."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Set, Tuple

import libcst as cst

from fxlint.analysis import dotted as _dotted
from fxlint.diagnostics import Applicability

from fxlint.fix.plan import Plan
from fxlint.fix.tree import Tree


def choose(tree: Tree, plans: Sequence[Plan]) -> List[Plan]:
    """The plans of one round that touch disjoint code, in-graph rewrites first; the rest wait for
    the next round (they are re-planned on the new text). A hoist's code includes the methods it
    copies (``covers``): the copy is made from the original text, so a rewrite of the method in the
    same round would leave the class and the copy disagreeing about what runs."""
    chosen: List[Plan] = []
    spans: List[tuple] = []
    # code a hoist of this round moves: an unsafe rewrite inside it waits (next round its code is
    # inside a wrapped function, which runs eagerly as written, and fix leaves it alone:
    # fxlint/fix/wrapped.py). A safe rewrite keeps eager results on real values, so it may go first.
    moved = [(id(p), tree.start(n), tree.end(n)) for p in plans for n in p.moves]
    for plan in sorted(plans, key=lambda p: (p.priority, min(tree.start(n) for n in p.replacements))):
        mine = [(tree.start(n), tree.end(n)) for n in (*plan.replacements, *plan.covers)]
        if any(a[0] < b[1] and b[0] < a[1] for a in mine for b in spans):
            continue
        if not plan.moves and (plan.applicability is not Applicability.SAFE or plan.settles) \
                and any(m[0] != id(plan) and m[1] <= a[0] and a[1] <= m[2] for a in mine for m in moved):
            continue
        chosen.append(plan)
        spans.extend(mine)
    return chosen


def apply(tree: Tree, plans: Sequence[Plan]) -> str:
    """The module's text with ``plans`` applied."""
    return rewritten(tree, plans).code


def rewritten(tree: Tree, plans: Sequence[Plan]) -> cst.Module:
    """The module with ``plans`` applied: built from LibCST nodes, never re-parsed text. Module-level
    statements no plan touches are the very nodes of ``tree`` (see :func:`reparsed`)."""
    replacements: Dict[cst.CSTNode, object] = {}
    inserts: Dict[cst.CSTNode, List[cst.BaseStatement]] = {}
    imports: Set[str] = set()
    added: Set[str] = set()
    for plan in plans:
        replacements.update(plan.replacements)
        imports |= plan.imports
        if plan.hoisted is not None:
            top, definition = plan.hoisted
            # a shared helper (TRC505's `_fx_detached`) planned by two fixes of one round is added once
            text = tree.module.code_for_node(definition)
            if text not in added:
                added.add(text)
                inserts.setdefault(top, []).append(definition)
    module = tree.module.visit(_Apply(replacements, inserts, _on_paths(tree, replacements)))
    return add_imports(module, imports)


def _on_paths(tree: Tree, replacements: Dict[cst.CSTNode, object]) -> Set[cst.CSTNode]:
    """The module and every ancestor of a replaced node: the only nodes whose children may change.
    The transformer descends into these alone; visiting every node of a 5,000-line module took a
    tenth of a fix, and the code of a subtree left as it was is the same either way."""
    found: Set[cst.CSTNode] = {tree.module}
    for node in replacements:
        for ancestor in tree.ancestors(node):
            if ancestor in found:
                break
            found.add(ancestor)
    return found


class _Apply(cst.CSTTransformer):
    def __init__(self, replacements: Dict[cst.CSTNode, object], inserts: Dict[cst.CSTNode, List[cst.BaseStatement]],
                 on_paths: Set[cst.CSTNode]):
        self.replacements = replacements
        self.inserts = inserts
        self.on_paths = on_paths

    def on_visit(self, node: cst.CSTNode) -> bool:
        return node in self.on_paths

    def on_leave(self, original_node, updated_node):
        if original_node in self.replacements:
            return self.replacements[original_node]
        if isinstance(original_node, cst.Module) and self.inserts:
            return self._insert(original_node, updated_node)
        return updated_node

    def _insert(self, original: cst.Module, updated: cst.Module) -> cst.Module:
        if len(original.body) != len(updated.body):  # never happens: rewrites stay inside functions
            raise RuntimeError("a module-level statement was removed while hoisting")
        body: List[cst.CSTNode] = []
        for before, after in zip(original.body, updated.body):
            body.extend(self.inserts.get(before, ()))
            body.append(after)
        return updated.with_changes(body=body)


def bound_modules(module: cst.Module) -> Set[str]:
    """Top-level names bound by `import x` / `import x.y` (not `import x.y as z`)."""
    names = set()
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        if alias.asname is None:
                            names.add(_dotted(alias.name).split(".")[0])
                        elif _dotted(alias.name) == alias.asname.name.value:
                            names.add(alias.asname.name.value)
    return names


def import_problem(tree: Tree, plan: Plan) -> str:
    """Why ``plan`` cannot add the imports it needs at the module's top, or "". A module that imports
    torch only under a guard (`if is_torch_available(): import torch`, `try: import torch`) must keep
    importing without it: an unconditional `import torch` (and the `@torch.fx.wrap` that needs it)
    would break exactly the installs the guard protects."""
    guarded = sorted((set(plan.imports) - bound_modules(tree.module)) & _guarded_modules(tree))
    if not guarded:
        return ""
    return (f"the module imports {', '.join(f'`{m}`' for m in guarded)} only under a guard (`if`/`try`): the fix "
            "would need it unconditionally at the top")


def _guarded_modules(tree: Tree) -> Set[str]:
    """Top-level packages imported by module-level statements nested in an `if`/`try` (not in functions)."""
    out: Set[str] = set()
    stack = [s for s in tree.module.body if isinstance(s, (cst.If, cst.Try, cst.TryStar))]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, cst.Import):
            out |= {_dotted(a.name).split(".")[0] for a in node.names}
        elif isinstance(node, cst.ImportFrom) and node.module is not None and not node.relative:
            out.add(_dotted(node.module).split(".")[0])
        stack.extend(node.children)
    return out


def add_imports(module: cst.Module, needed: Set[str]) -> cst.Module:
    """`import torch` / `import math` after the module's last leading import when not bound yet."""
    missing = sorted(needed - bound_modules(module))
    if not missing:
        return module
    body = list(module.body)
    index = _import_position(body)
    new = [cst.SimpleStatementLine(body=[cst.Import(names=[cst.ImportAlias(name=cst.Name(m))])]) for m in missing]
    if index == 0 and body:
        # keep the first statement's leading comments (licence header, shebang context) on top
        new[0] = new[0].with_changes(leading_lines=body[0].leading_lines)
        body[0] = body[0].with_changes(leading_lines=())
    return module.with_changes(body=body[:index] + new + body[index:])


def _import_position(body: List[cst.CSTNode]) -> int:
    """After the last import among the module's leading docstring/imports/simple statements."""
    position = 0
    for index, stmt in enumerate(body):
        if isinstance(stmt, cst.SimpleStatementLine):
            first = stmt.body[0] if stmt.body else None
            if isinstance(first, (cst.Import, cst.ImportFrom)):
                position = index + 1
            elif index == 0 and isinstance(first, cst.Expr) and isinstance(first.value, cst.SimpleString):
                position = 1  # docstring
            continue
        break
    return position


def reparsed(old: cst.Module, new: cst.Module) -> Tuple[str, cst.Module]:
    """(``new``'s text, the module LibCST's parser makes of that text), parsing only the module-level
    statements that differ from ``old``'s: a statement no rewrite touched is the same node in both,
    and the parser's tree of it is unchanged. Each other statement is parsed alone with the module's
    parsing config (its leading comment lines, which a module of one statement calls its header, are
    moved back onto it), and used only when that parse reproduces its text and the module's indent
    and newline defaults; otherwise the whole text is parsed. Parsing a whole 5,000-line module per
    round was a quarter of fixing it. Measured equal (`deep_equals`) to a whole parse on every
    module-level statement of timm and transformers' llama-family files but 28 of 6,771 (those
    fall back), and tests/test_fix_spans.py compares every fixture's rounds."""
    untouched = {id(stmt) for stmt in old.body}
    pieces: List[str] = [new.code_for_node(line) for line in new.header] if new.header else []
    body: List[cst.BaseStatement] = []
    config = new.config_for_parsing
    for stmt in new.body:
        text = new.code_for_node(stmt)
        pieces.append(text)
        if id(stmt) in untouched:
            body.append(stmt)
            continue
        alone = _parse_alone(text, config, new)
        if alone is None:
            break
        body.append(alone)
    else:
        if new.has_trailing_newline:  # else the module's code drops the last newline
            pieces += [new.code_for_node(line) for line in new.footer]
            return "".join(pieces), new.with_changes(body=body)
    text = new.code
    return text, cst.parse_module(text)


def _parse_alone(text: str, config, module: cst.Module) -> Optional[cst.BaseStatement]:
    """``text`` (one module-level statement) parsed on its own, or None when that parse is not
    what a parse of the whole module would make of it."""
    alone = cst.parse_module(text, config=config)
    if len(alone.body) != 1 or alone.footer or alone.default_indent != module.default_indent \
            or alone.default_newline != module.default_newline or alone.code != text:
        return None
    stmt = alone.body[0]
    return stmt.with_changes(leading_lines=(*alone.header, *stmt.leading_lines)) if alone.header else stmt
