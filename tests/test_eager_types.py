"""The eager-type prover (fxlint/fix/eager.py) on real LibCST trees.

Each case is a module whose function ``forward`` ends in `return <expr>`; the expected verdict is
the eager kind of ``<expr>`` there. PROVEN cases need positive evidence; UNPROVEN ones are the
values a traced Proxy hides (a list input, `*args`, a helper's result, a loop variable, ...): the
prover must not call them tensors.
"""
from __future__ import annotations

import textwrap
from typing import NamedTuple

import libcst as cst
import pytest

from fxlint.fix.eager import (EagerKind, definitely_bound, eager_kind, integer, reaching_bindings)
from fxlint.fix.tree import Tree, walk

TENSOR, NUMBER, NOT_TENSOR, UNKNOWN = EagerKind.TENSOR, EagerKind.NUMBER, EagerKind.NOT_TENSOR, EagerKind.UNKNOWN

HEAD = """\
import math
from typing import Optional
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor


class Block(nn.Module):
    def forward(self, x):
        return x, x


class M(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.lstm = nn.LSTM(4, 4)
        self.block = Block()
        self.idt = nn.Identity()
        self.scale = nn.Parameter(torch.ones(3))
        self.register_buffer("mask", torch.tril(torch.ones(4, 4)))
        self.register_buffer("maybe", None)
        self.width = int(width)
        self.ratio = width
        self.rebound = nn.Linear(3, 3)

    def step(self, t: torch.Tensor):
        return t.flatten(1)

    def pair(self, t):
        return t, t

    def reset(self):
        self.rebound = None

"""


class Case(NamedTuple):
    body: str  #: the body of `forward(self, ...)`, ending in `return <expr>`
    kind: EagerKind
    params: str = "x"


PROVEN = [
    Case("return torch.zeros(3)", TENSOR),
    Case("return F.relu(self.conv(x))", TENSOR),
    Case("y = self.conv(x)\nreturn y.flatten(1).sum()", TENSOR),
    Case("y = self.conv(x)\nreturn y.abs().max()", TENSOR),
    Case("y = self.conv(x)\nreturn y * 2 + 1", TENSOR),
    Case("y = self.conv(x)\nreturn y.mean() > 0", TENSOR),
    Case("return self.scale", TENSOR),
    Case("return self.mask[:, :2]", TENSOR),
    Case("return t.view(-1)", TENSOR, "t: torch.Tensor"),
    Case("return t + 1", TENSOR, "t: Tensor"),
    Case("if t is not None:\n    return t * 2\nreturn None", TENSOR, "t: Optional[Tensor] = None"),
    Case("q, k, v = self.conv(x).chunk(3, dim=1)\nreturn k", TENSOR),
    Case("peak, where = torch.max(self.conv(x), 1)\nreturn where", TENSOR),
    Case("return self.conv(x).topk(2).indices", TENSOR),
    Case("y = self.conv(x)\nfor _ in range(3):\n    y = y + 1\nreturn y", TENSOR),
    Case("if x:\n    y = torch.ones(2)\nelse:\n    y = torch.zeros(2)\nreturn y", TENSOR),
    Case("y = self.conv(x)\nreturn y if y.sum() > 0 else y * 2", TENSOR),
    Case("return self.step(x)", TENSOR),
    Case("return self.idt(torch.ones(2))", TENSOR),
    Case("y = self.conv(x)\nreturn y.size(0)", NUMBER),
    Case("y = self.conv(x)\nreturn y.shape[-1]", NUMBER),
    Case("B, C, H, W = self.conv(x).shape\nreturn H", NUMBER),
    Case("y = self.conv(x)\nreturn 1.0 / math.sqrt(y.size(1))", NUMBER),
    Case("return self.width * 2", NUMBER),
    Case("return len(x)", NUMBER),
    Case("return float(x)", NUMBER),
    Case("return len(args)", NUMBER, "*args"),
    Case("return args", NOT_TENSOR, "*args"),
    Case("return kwargs", NOT_TENSOR, "**kwargs"),
    Case("return [x, x]", NOT_TENSOR),
    Case("return None", NOT_TENSOR),
    Case("feats = [self.conv(x)]\nreturn feats", NOT_TENSOR),
    Case("return self.conv(x).shape[1:]", NOT_TENSOR),
    Case("return self.pair(x)", NOT_TENSOR),  # every `return` of the method gives a tuple
]

UNPROVEN = [
    Case("return x", UNKNOWN),  # an unannotated input: a tensor, a list, None...
    Case("return x.view(-1)", UNKNOWN),  # numpy has `view` too
    Case("return x.size(0)", UNKNOWN),
    Case("return t", UNKNOWN, "t: Optional[Tensor] = None"),  # unguarded
    Case("return t", UNKNOWN, "t: Tensor = None"),
    Case("return self.block(x)", UNKNOWN),  # a user submodule may return a tuple
    Case("return self.lstm(x)", UNKNOWN),  # a tuple
    Case("return self.rebound(x)", UNKNOWN),  # bound twice in the class
    Case("return self.maybe", UNKNOWN),  # a buffer registered as None
    Case("return self.ratio", UNKNOWN),
    Case("return self.idt(x)", UNKNOWN),  # Identity returns its input
    Case("return helper(x)", UNKNOWN),
    Case("return np.sqrt(self.conv(x).size(1))", UNKNOWN),  # a numpy value
    Case("return torch.max(self.conv(x), 1)", UNKNOWN),  # a (values, indices) pair
    Case("return torch.where(self.conv(x) > 0)", UNKNOWN),  # a tuple of indices
    Case("return self.conv(x).tolist()", UNKNOWN),
    Case("for y in x:\n    pass\nreturn y", UNKNOWN),  # a loop target
    Case("a, b = x\nreturn a", UNKNOWN),  # unpacking an unknown value
    Case("y = x\ny += 1\nreturn y", UNKNOWN),  # augmented assignment on an unknown value
    Case("global g\nreturn g", UNKNOWN),
    Case("z = [(y := self.conv(x)) for _ in range(2)]\nreturn y", UNKNOWN),  # walrus in a comprehension
    Case("y = torch.ones(2)\nif x:\n    y = [y]\nreturn y", UNKNOWN),  # one reaching binding is a list
    Case("y = torch.ones(2)\nfor i in range(2):\n    z = y\n    y = [i]\nreturn z", UNKNOWN),  # loop back edge
    Case("y = self.conv(x)\nreturn y if x else None", UNKNOWN),
    Case("y = self.conv(x)\nreturn y.max(1)", UNKNOWN),
    Case("y = self.conv(x)\nreturn y < 1 < 2", UNKNOWN),  # takes a truth value
]


def _tree(case: Case):
    source = HEAD + f"    def forward(self, {case.params}):\n" + textwrap.indent(case.body, " " * 8) + "\n"
    tree = Tree(source)
    func = [n for n in walk(tree.module) if isinstance(n, cst.FunctionDef) and n.name.value == "forward"][-1]
    ret = [n for n in walk(func) if isinstance(n, cst.Return)][0]
    return tree, func, ret.value


@pytest.mark.parametrize("case", PROVEN, ids=lambda c: c.body.splitlines()[-1])
def test_proven(case: Case) -> None:
    tree, func, expr = _tree(case)
    assert eager_kind(tree, func, expr) is case.kind


@pytest.mark.parametrize("case", UNPROVEN, ids=lambda c: " / ".join(c.body.splitlines()))
def test_unproven(case: Case) -> None:
    tree, func, expr = _tree(case)
    assert eager_kind(tree, func, expr) is case.kind


def test_a_loop_cycle_through_a_non_tensor_input_is_not_proven():
    """`y = y * 2` in a loop proves nothing when `y` starts as an unannotated input."""
    tree, func, expr = _tree(Case("y = x\nfor _ in range(2):\n    y = y * 2\nreturn y", UNKNOWN))
    assert eager_kind(tree, func, expr) is UNKNOWN
    tree, func, expr = _tree(Case("x = x * 2\nreturn x", UNKNOWN))
    assert eager_kind(tree, func, expr) is UNKNOWN


def test_integers_and_their_sign():
    cases = {"y = self.conv(x)\nreturn y.size(1) // 2": True, "y = self.conv(x)\nreturn y.size(1) - 3": False,
             "return math.ceil(x / 4) * 4": False, "return len(x) * 2": True, "return self.width": None,
             "return x.size(1)": None, "h, w = self.conv(x).shape[-2:]\nreturn h * w": True}
    for body, expected in cases.items():
        tree, func, expr = _tree(Case(body, UNKNOWN))
        assert integer(tree, func, expr) is expected, body


def test_reaching_bindings_and_definite_binding():
    tree, func, expr = _tree(Case("y = torch.ones(2)\nif x:\n    y = torch.zeros(2)\n    z = y\nreturn z", UNKNOWN))
    assert not definitely_bound(tree, func, "z", expr)  # bound in one branch only
    assert definitely_bound(tree, func, "y", expr)
    assert definitely_bound(tree, func, "x", expr)  # a parameter
    reaching = reaching_bindings(tree, func, expr)
    assert len(reaching) == 1 and tree.code(reaching[0].value) == "y"


def _names_around_a_loop(count: int):
    """(tree, forward, the returned expression): ``count`` names, each rebound in a loop from the
    next two. Proving one meets the others under ever new hypotheses: the search grows ~16x per
    two names (9 names: 1.6 M steps)."""
    names = [f"v{i}" for i in range(count)]
    body = "".join(f"            {names[i]} = {names[(i + 1) % count]} + {names[(i + 2) % count]}\n"
                   for i in range(count))
    tree = Tree(f"def forward(x, k):\n    {' = '.join(names)} = 0\n    for i in range(k):\n        if i:\n"
                f"{body}    return {names[0]}\n")
    func = tree.module.body[0]
    returned = next(n for n in walk(tree.module) if isinstance(n, cst.Return)).value
    return tree, func, returned


def test_a_proof_stops_at_its_step_budget():
    """A proof longer than _MAX_STEPS proves nothing: one transformers module fixed with its
    package's findings spent over 30 minutes in this search (qwen2_5_omni); 11 s now."""
    from fxlint.fix import eager

    assert eager_kind(*_names_around_a_loop(3)) is NUMBER  # 313 steps: proven
    tree, func, returned = _names_around_a_loop(9)
    with pytest.raises(eager._OutOfSteps):
        with eager._budget():
            eager._Prover(tree, func).kind(returned, eager._DEPTH)
    assert not eager._STEPS  # released: the next proof gets a whole budget
    assert eager_kind(tree, func, returned) is UNKNOWN
    assert integer(tree, func, returned) is None
