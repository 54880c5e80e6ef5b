"""child_nodes reads each node type's fields through code generated from LibCST's annotations;
it must return what deciding every field's value by its own type returns (the walk it replaced)."""

import dataclasses
from pathlib import Path

import libcst as cst

from fxlint.analysis import _SKIP, _add_checked, child_nodes
from fxlint.analysis.project import parse_module

ROOT = Path(__file__).resolve().parent.parent

#: syntax the model fixtures rarely use: match, async, walrus, star targets, decorators, f-strings, ...
SYNTAX = '''\
import a.b as c, d
from .e import (f as g, h)
from . import *
x: int = 1; y = z = (1, *w)
del x[0], y.z
@dec(1)
@other.dec
class K(Base, metaclass=M):
    """doc"""
    async def run(self, /, a, *args, b: "T" = 2, **kw) -> None:
        async with ctx() as (p, q), other:
            async for i in aiter():
                await i
        global G
        nonlocal_ = lambda u, *v, w=1, **k: u if w else v
        return [e async for e in s if e if not e]
    def gen(self):
        yield from (i for i in range(3))
        yield
        assert self, f"{self!r:>{10}} {{}}" 'implicit' "concat"
        raise ValueError("x") from None
match command:
    case [Point(x=0, y=_), *rest] if rest:
        pass
    case {"k": 1, **others} | None:
        pass
    case str() as s:
        pass
try:
    pass
except* (OSError, ValueError) as e:
    pass
else:
    pass
finally:
    pass
while (n := next(it)) is not None and n in {1, 2} or ~n >= -1:
    x[1:2, ::3] += n ** 2 @ m // 3 % 4 << 1 >> 2 & 3 | 4 ^ 5
    break
else:
    continue_ = {k: v for k, v in d.items()}
if a: pass
elif b: pass
else: pass
for i, in []: pass
with open(p) as f: pass
print(*args, sep="", **kw)
'''


def _per_value(node: cst.CSTNode):
    out = []
    for field in dataclasses.fields(node):
        _add_checked(out, getattr(node, field.name))
    return out


def _compare_every_node(tree: cst.Module) -> int:
    count = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        expected = _per_value(node)
        got = child_nodes(node)
        assert len(got) == len(expected) and all(a is b for a, b in zip(got, expected)), type(node).__name__
        assert not any(isinstance(c, _SKIP) for c in got)
        count += 1
        stack.extend(expected)
    return count


def test_generated_readers_match_the_per_value_decision_on_varied_syntax():
    tree = parse_module(SYNTAX)
    assert _compare_every_node(tree) > 300
    names = {type(n).__name__ for n in _all_nodes(tree)}
    assert {"Match", "MatchMapping", "TryStar", "NamedExpr", "Await", "Lambda", "FormattedString"} <= names


def test_generated_readers_match_the_per_value_decision_on_the_model_fixtures():
    files = sorted((ROOT / "fixtures" / "models").rglob("*.py"))
    assert len(files) > 50
    for path in files:
        try:
            tree = parse_module(path.read_text())
        except cst.ParserSyntaxError:
            continue  # fixtures of unparsable files
        _compare_every_node(tree)


def test_a_name_has_no_children_and_a_call_its_callee_then_its_arguments():
    call = cst.parse_expression("f(a, b=c)")
    assert child_nodes(cst.Name("x")) == []
    assert [type(c).__name__ for c in child_nodes(call)] == ["Name", "Arg", "Arg"]


def _all_nodes(tree: cst.CSTNode):
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child_nodes(node))
