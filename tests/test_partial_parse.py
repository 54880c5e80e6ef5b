"""A file entered only as a dependency is LibCST-parsed one top-level statement at a time
(ModuleSource.cst_function); findings placed in it keep the file's own lines and columns."""

import ast
from pathlib import Path

import pytest

from fxlint import registry
from fxlint.engine import Checker, _method_syntax, load_light
from fxlint.positions import PositionIndex

HELPERS = '''\
"""Helpers: only Block is entered by the checked file."""
import torch

X = 1; Y = 2


def unused(x):
    return x


class Other(torch.nn.Module):
    def forward(self, x):
        return x


# a comment before the decorator
@torch.no_grad
class Block(torch.nn.Module):
    def forward(self, x):
        y = x * 2
        if y.sum() > 0:
            return y
        return x
'''

MODEL = '''\
import torch
from pkg.helpers import Block


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()

    def forward(self, x):
        return self.block(x)
'''


def _line_of(text: str, line: str) -> int:
    return text.splitlines().index(line) + 1


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_finding_in_a_partly_parsed_dependency_keeps_the_files_positions(tmp_path: Path, newline: str):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_bytes(HELPERS.replace("\n", newline).encode())
    (pkg / "model.py").write_text(MODEL)
    checker = Checker(registry.all_rules(), roots=(tmp_path,))

    found, problem, _ = checker.check_file(pkg / "model.py")

    assert problem is None
    [branch] = [d for d in found if d.code == "TRC101"]
    assert branch.filename == str(pkg / "helpers.py")
    row = _line_of(HELPERS, "        if y.sum() > 0:")
    assert (branch.location.row, branch.location.column) == (row, len("        if ") + 1)
    assert (branch.end_location.row, branch.end_location.column) == (row, len("        if y.sum() > 0") + 1)
    assert [(s.row, s.text) for s in branch.provenance] == [(_line_of(HELPERS, "        y = x * 2"), "y = x * 2")]
    helpers = checker._loaded[str(pkg / "helpers.py")].module
    forward = (_line_of(HELPERS, "class Block(torch.nn.Module):") + 1, len(HELPERS.splitlines()), "Block")
    assert list(helpers._partials) == [forward] and helpers._tree is None  # only Block.forward was parsed


def test_every_lookup_of_a_function_finds_the_same_node_until_released(tmp_path: Path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text(HELPERS)
    checker = Checker(registry.all_rules(), roots=(tmp_path,))
    helpers = checker.project.module_named("pkg.helpers")
    forward = helpers.classes["Block"].methods["forward"]

    node, tree = helpers.cst_function("Block.forward")

    assert node is forward.node and tree is forward.tree
    assert helpers.cst_function("Other.forward")[1] is not tree  # another method, another tree
    # the method's lines under a made-up `class Block:` line, which takes the line before the method's
    assert helpers.source_of(tree) == ("class Block:\n" + "\n".join(HELPERS.splitlines()[-5:]) + "\n",
                                       _line_of(HELPERS, "class Block(torch.nn.Module):") - 1)
    helpers.release_tree()
    assert forward.node is not node and not any(k is None for k in helpers._partials)


def test_a_class_defined_in_both_branches_is_analyzed_from_the_last_definition(tmp_path: Path):
    """Like the index (the last ClassInfo wins): transformers' xlstm defines xLSTMBlock in an `if`
    branch without a forward and in the `else` branch with one."""
    (tmp_path / "dup.py").write_text(
        "import torch\n"
        "if torch.cuda.is_available():\n"
        "    class Block(torch.nn.Module):\n"
        "        pass\n"
        "else:\n"
        "    class Block(torch.nn.Module):\n"
        "        def forward(self, x):\n"
        "            if x.sum() > 0:\n"
        "                return x\n"
        "            return -x\n"
    )
    checker = Checker(registry.all_rules(), roots=(tmp_path,))

    found, problem, _ = checker.check_file(tmp_path / "dup.py")

    assert problem is None
    assert [(d.code, d.location.row) for d in found] == [("TRC101", 8)]


NESTED = '''\
"""A class in an `if`, a method with decorators and comments around it, a class body with an `if`."""
import torch

if torch.cuda.is_available() or True:
    class Block(torch.nn.Module):
        """Only forward is entered: the docstring, `scale` and `unused` are never parsed."""

        scale = 2

        def unused(self, x):
            return x

        # a comment before the method
        @torch.no_grad()

        # a comment between the decorator and the def
        def forward(self, x):
            y = x * 2
            if y.sum() > 0:  # the branch
                return y
            return x

        def forward(self, x):  # a second def of the name: the first is the one analyzed
            return x


class Guarded(torch.nn.Module):
    if True:
        def helper(self, x):
            return x

    def forward(self, x):
        if x.mean() > 0:
            return self.helper(x)
        return x
'''

USES_NESTED = '''\
import torch
from pkg.nested import Block, Guarded


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.guarded = Guarded()

    def forward(self, x):
        return self.guarded(self.block(x))
'''


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_method_parsed_alone_keeps_the_files_lines_and_columns(tmp_path: Path, newline: str):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nested.py").write_bytes(NESTED.replace("\n", newline).encode())
    (pkg / "model.py").write_text(USES_NESTED)
    checker = Checker(registry.all_rules(), roots=(tmp_path,))

    found, problem, _ = checker.check_file(pkg / "model.py")

    assert problem is None
    got = sorted((d.code, d.location.row, d.location.column, d.end_location.row, d.end_location.column,
                  [(s.row, s.text) for s in d.provenance]) for d in found)
    decorator = _line_of(NESTED, "        @torch.no_grad()")
    branch = _line_of(NESTED, "            if y.sum() > 0:  # the branch")
    guarded = _line_of(NESTED, "        if x.mean() > 0:")
    step = [(_line_of(NESTED, "            y = x * 2"), "y = x * 2")]
    assert got == [("TRC101", branch, 16, branch, 27, step), ("TRC101", guarded, 12, guarded, 24, step),
                   ("TRC505", decorator, 9, decorator, 25, [])]
    nested = checker._loaded[str(pkg / "nested.py")].module
    # Block.forward alone (its first def, from its decorator), Guarded (an `if` in its body) whole
    assert set(nested._partials) == {
        (decorator, branch + 2, "Block"),
        (_line_of(NESTED, "class Guarded(torch.nn.Module):"), len(NESTED.splitlines())),
    }


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_checked_files_method_tree_is_anchored_by_the_files_own_ast(tmp_path: Path, newline: str):
    """The checked file's `ast` (kept from indexing) anchors a method's tree as the method's own text would."""
    path = tmp_path / "nested.py"
    path.write_bytes(NESTED.replace("\n", newline).encode())
    module = load_light(path).module
    syntax = ast.parse(path.read_bytes())
    for qualname in ("Block.forward", "Block.unused"):
        node, tree = module.cst_function(qualname)
        text, offset = module.source_of(tree)
        assert module.is_method_tree(tree)
        body = _method_syntax(syntax.body, tree.body[0], offset)
        assert body is not None and body[0].body[0].lineno == node_line(NESTED, qualname)
        given, parsed = PositionIndex(tree, text, offset, body), PositionIndex(tree, text, offset)
        assert given._fallback is None and parsed._fallback is None
        nodes = list(_all_nodes(node))
        assert len(nodes) > 10
        for n in nodes:
            assert given.statement_line(n) == parsed.statement_line(n)
            assert given.span(n, n) == parsed.span(n, n)

    found, problem, _ = Checker(registry.all_rules(), roots=(tmp_path,)).check_file(path)

    assert problem is None
    branch = _line_of(NESTED, "            if y.sum() > 0:  # the branch")
    assert [(d.code, d.location.row, d.location.column) for d in found if d.code == "TRC101"][:1] == [
        ("TRC101", branch, 16)]


def node_line(text: str, qualname: str) -> int:
    return _line_of(text, f"        def {qualname.split('.')[1]}(self, x):")


def _all_nodes(node):
    from fxlint.analysis import child_nodes

    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(child_nodes(current))
