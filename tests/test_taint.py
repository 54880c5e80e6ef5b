"""The shared taint analysis, table-driven: what each name is while FX traces forward()."""

import textwrap

import libcst as cst
import pytest

from fxlint.analysis.interp import Analysis
from fxlint.analysis.project import ModuleSource
from fxlint.analysis.semantics import Project
from fxlint.analysis.values import Kind, Taint

HEADER = "import math\nimport torch\nimport torch.nn as nn\nimport numpy as np\n"


def analyze(src: str):
    """Run the analysis on ``src`` (one module); returns {name: last value bound in forward}."""
    text = HEADER + textwrap.dedent(src)
    module = ModuleSource("m.py", "m", text, cst.parse_module(text))
    project = Project(lambda path: None)
    project.add(module, root=__import__("pathlib").Path("."))
    analysis = Analysis(project)
    for cls in module.classes.values():
        if project.is_module_class(cls):
            analysis.analyze_class(cls)
    names = {}
    for node, value in analysis.facts.items():
        if isinstance(node, cst.Name):
            names[node.value] = value
    return names


def taint_of(src: str, name: str) -> Taint:
    return analyze(src)[name].taint


CASES = [
    # (body of forward, name, expected taint)
    ("s = x.sum()", "s", Taint.VALUE),
    ("n = x.size(0)", "n", Taint.SHAPE),
    ("b, c, h, w = x.shape", "h", Taint.SHAPE),
    ("d = x.dim() + 1", "d", Taint.SHAPE),
    ("k = self.k * 2", "k", Taint.NONE),
    ("t = torch.ones(3)", "t", Taint.NONE),                 # no Proxy argument: constant-folded
    ("t = torch.zeros(x.shape)", "t", Taint.VALUE),             # a tensor: its values are traced
    ("q, k, v = x.chunk(3, -1)", "v", Taint.VALUE),
    ("pair = (x, 1)\n            a, b = pair", "b", Taint.NONE),  # tuple elements are tracked one by one
    ("pair = (x, 1)\n            a, b = pair", "a", Taint.VALUE),
    ("f = f'{x.shape}'", "f", Taint.SHAPE),
    ("ys = [r * 2 for r in [x, x]]", "ys", Taint.VALUE),
    ("m = math.sqrt(x.size(-1))", "m", Taint.SHAPE),
    ("i = x.max().item()", "i", Taint.VALUE),
]


@pytest.mark.parametrize("body,name,expected", CASES, ids=[c[0].split("\n")[0] for c in CASES])
def test_taint_of_assignments(body, name, expected):
    src = f"""
    class M(nn.Module):
        def forward(self, x):
            {body}
            return x
    """
    assert taint_of(src, name) == expected


def test_parameters_are_proxies_buffers_are_not():
    names = analyze("""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.ones(3))
            self.register_buffer("b", torch.zeros(3))
        def forward(self, x):
            p = self.w * 2
            q = self.b * 2
            return x + p + q
    """)
    assert names["p"].taint == Taint.VALUE and names["p"].origin.name == "self.w"
    assert names["q"].taint == Taint.NONE


def test_helper_method_and_submodule_receive_taint():
    names = analyze("""
    def helper(v):
        out = v.mean()
        return out
    class Block(nn.Module):
        def forward(self, y):
            inner = y * 2
            return inner
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()
        def _half(self, z):
            half = z / 2
            return half
        def forward(self, x):
            a = helper(x)
            b = self._half(x)
            c = self.block(x)
            return a + b + c
    """)
    for name in ("out", "half", "inner", "a", "b", "c"):
        assert names[name].taint == Taint.VALUE, name


def test_loop_carried_taint_and_branch_join():
    names = analyze("""
    class M(nn.Module):
        def forward(self, x):
            acc = 0
            for i in range(3):
                acc = acc + x
            if self.training:
                mode = x.size(1)
            else:
                mode = 1
            return acc * mode
    """)
    assert names["acc"].taint == Taint.VALUE
    assert names["mode"].is_proxy and names["mode"].taint == Taint.SHAPE


def test_provenance_records_the_statements():
    names = analyze("""
    class M(nn.Module):
        def forward(self, x):
            s = x.sum()
            t = s * 2
            return t
    """)
    steps = names["t"].steps
    assert [type(stmt).__name__ for _, stmt in steps] == ["Assign", "Assign"]
    assert names["t"].origin.name == "x" and names["t"].origin.kind == "input"


def test_module_list_elements_are_analyzed():
    names = analyze("""
    class Block(nn.Module):
        def forward(self, y):
            seen = y + 1
            return seen
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block() for _ in range(2)])
        def forward(self, x):
            for blk in self.blocks:
                x = blk(x)
            return x
    """)
    assert names["seen"].taint == Taint.VALUE
    assert names["blk"].kind is Kind.MODULE


INTEGRAL_CASES = [
    # (body of forward, name, integer or bool tensor?)
    ("i = x.argmax(-1)", "i", True),
    ("i = torch.topk(x, 2, dim=1).indices", "i", True),
    ("v, i = torch.max(x, 2)", "i", True),
    ("v, i = torch.max(x, 2)", "v", False),
    ("i = x.max(1)[1]", "i", True),
    ("m = x.max(1)[0]", "m", False),
    ("m = torch.max(x, y)", "m", False),                       # elementwise max: no indices
    ("i = x.argmin(1).unsqueeze(1).reshape(-1) * 2 + 1", "i", True),
    ("i = x.argmin(1) / 2", "i", False),                      # true division makes floats
    ("i = x.argmin(1).float()", "i", False),
    ("i = x.argmin(1).to(x.device)", "i", True),              # a device move keeps the dtype
    ("i = x.to(torch.long)", "i", True),
    ("i = x.argmin(1).to(x.dtype)", "i", False),
    ("i = torch.div(x.argmin(1), 4, rounding_mode='floor')", "i", True),
    ("i = torch.zeros(x.size(0), dtype=torch.long)", "i", True),
    ("i = torch.ones(x.size(0), dtype=x.argmax(0).dtype)", "i", True),
    ("b = (x > 0).repeat(1, 2)", "b", True),                   # bool tensors are integral too
    ("n = x.size(0) > 2", "n", False),                       # a Python bool
    ("y = x + 1", "y", False),                               # an input's dtype is unknown
    ("y = x.argmax(1) * x", "y", False),                      # with a tensor of unknown dtype
]


@pytest.mark.parametrize("body,name,expected", INTEGRAL_CASES)
def test_integral_bit(body, name, expected):
    src = f"""
    class M(nn.Module):
        def forward(self, x, y):
            {body}
            return x
    """
    assert analyze(src)[name].integral is expected


PLAIN_HELPERS = """
class Coder:
    def __init__(self, clip):
        self.clip = clip

    def decode(self, deltas):
        decoded = deltas * self.clip
        return decoded


class Processor:
    def __call__(self, attn, hidden):
        processed = attn.proj(hidden)
        return processed


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
        self.coder = Coder(2.0)
        self.processor = Processor()

    def forward(self, x):
        y = self.processor(self, x)
        return self.coder.decode(y)
"""


def test_methods_and_call_of_plain_helper_objects_on_self_are_followed():
    """Issue 17: a box coder's `self.coder.decode(...)` and a processor object's `__call__` run
    while tracing; values flow into them (before, both were opaque and unanalyzed)."""
    names = analyze(PLAIN_HELPERS)
    assert names["processed"].taint == Taint.VALUE and names["processed"].is_proxy
    assert names["decoded"].taint == Taint.VALUE and names["decoded"].is_proxy


OMITTED_OPTIONAL = """
class Net(nn.Module):
    def forward(self, input_ids, attention_mask=None, flag=None):
        if attention_mask is None:
            made = torch.ones(input_ids.shape[0], input_ids.shape[1])
            attention_mask = made
        if not (flag is not None):
            unflagged = input_ids * 2
        return input_ids * attention_mask
"""


def test_the_none_path_of_an_entrys_optional_input_is_analyzed():
    """Issue 17: plain `symbolic_trace` makes `attention_mask` a Proxy (never None), but a root that
    calls the model without it takes the `is None` path; both paths are analyzed (the body used to
    be skipped as dead), also through `not`."""
    names = analyze(OMITTED_OPTIONAL)
    assert names["made"].is_proxy
    assert names["unflagged"].is_proxy


REBOUND_OPTIONAL = """
class M(nn.Module):
    def forward(self, x, mask=None, keep=None, pad=None):
        if self.training:
            mask = x > 0
        maybe = mask
        if keep is None:
            keep = torch.ones_like(x)
        made = keep
        if pad is not None:
            pad = pad * 2
        maybe_pad = pad
        for blk in [x, x]:
            x = x + 1
        looped = x
        return x
"""


def test_an_input_rebound_on_some_paths_is_still_the_input_on_the_others():
    """Issue 16 (timm Hiera): `if self.training: mask = ...` leaves `mask` the input where the branch is
    not taken, so its later `is None` test is the input's (``maybe_param``); `if keep is None: keep =
    ...` makes it not None on both paths (narrowed by the test); `if pad is not None: pad = ...` leaves
    the input (None) on the path the test skips; a loop's zero-trip path does not count."""
    names = analyze(REBOUND_OPTIONAL)
    assert names["maybe"].param is None and names["maybe"].maybe_param == "mask"
    assert names["made"].param is None and names["made"].maybe_param is None
    assert names["maybe_pad"].param is None and names["maybe_pad"].maybe_param == "pad"
    assert names["looped"].param is None and names["looped"].maybe_param is None
