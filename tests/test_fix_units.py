"""`fix_source` on small snippets: each rewrite's shape, applicability and declines."""
from __future__ import annotations

import textwrap

from fxlint.diagnostics import Applicability
from fxlint.fix import fix_source

HEAD = "import torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n\n\n"


def fixed(body: str, unsafe: bool = True):
    return fix_source(HEAD + textwrap.dedent(body), "snippet.py", unsafe=unsafe)


def test_import_torch_added_when_missing():
    src = "import torch.nn as nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n        assert x.sum() > 0\n        return x\n"
    result = fix_source(src, "m.py")
    assert result.text.startswith("import torch.nn as nn\nimport torch\n")
    assert 'torch._assert(x.sum() > 0, "")' in result.text


def test_len_of_expression_gets_parentheses():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x: torch.Tensor, y: torch.Tensor):
                return x.view(len(x + y), -1)
    """, unsafe=False)
    assert "(x + y).size(0)" in result.text


def test_len_of_an_input_not_proven_a_tensor_is_not_rewritten():
    """An unannotated input may be a list of tensors in eager mode: `len(x)` stays (hoisted instead)."""
    result = fixed("""
        class M(nn.Module):
            def forward(self, x, y):
                return y.view(len(x), -1)
    """, unsafe=False)
    assert "len(x)" in result.text and ".size(0)" not in result.text


def test_len_of_a_size_sequence_is_not_rewritten_to_size():
    """`.size(0)` exists on tensors only: on `x.shape[2:]` (a torch.Size) or a list picked from a
    Python object it would raise at run time, so the safe rewrite declines and a hoist takes it."""
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.schedule = {0: [2, 2]}

            def forward(self, x, block_idx: int = 0):
                size = self.schedule[block_idx]
                return x * len(size) * len(x.shape[2:])
    """
    hoisted = fixed(body, unsafe=False)  # a hoist calling no submodule is safe
    assert ".size(0)" not in hoisted.text and "@torch.fx.wrap" in hoisted.text
    assert {a[3] for a in hoisted.applied} == {Applicability.SAFE}


def test_pad_guard_without_modulo_is_unsafe():
    body = """
        class M(nn.Module):
            def forward(self, x: torch.Tensor):
                pad = 8 - x.size(-1)
                if pad > 0:
                    x = F.pad(x, (0, pad))
                return x
    """
    assert not fixed(body, unsafe=False).changed
    result = fixed(body)
    assert result.applied[0][3] is Applicability.UNSAFE and "if pad" not in result.text


def test_hoist_passes_submodules_and_names_them_hidden():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def forward(self, x):
                while x.norm() > 1:
                    x = self.fc(x)
                return x
    """)
    assert "fc=self.fc" in result.text and "x = fc(x)" in result.text and "(x, self" not in result.text
    (code, _, title, kind), = result.applied
    assert kind is Applicability.UNSAFE and "hides `self.fc` from quantization" in title
    assert not fixed(result.text).applied


def test_hoist_copies_a_simple_method_into_the_wrapped_function():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = 2.0
            def step(self, x):
                return x / self.scale
            def forward(self, x):
                while x.norm() > 1:
                    x = self.step(x)
                return x
    """)
    (code, _, title, kind), = result.applied
    assert kind is Applicability.UNSAFE and "copies `self.step` into it" in title
    assert "    def step(x):\n        return x / scale\n    while x.norm() > 1:\n        x = step(x)\n" in result.text
    assert "scale=self.scale" in result.text
    assert not fixed(result.text).applied


def test_hoist_declines_a_method_that_calls_a_submodule():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def step(self, x):
                return self.fc(x) / 2
            def forward(self, x):
                while x.norm() > 1:
                    x = self.step(x)
                return x
    """)
    assert not result.changed
    reason = result.manual[0][2]
    assert "`self.step`, not known to be a submodule" in reason and "calls submodules or other methods" in reason


def test_hoist_rebinds_only_a_registered_buffer():
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                {init}
            def forward(self, x):
                if self.cache.shape[0] != x.shape[0]:
                    self.cache = torch.zeros(x.shape[0])
                return x + self.cache
    """
    buffer = fixed(body.format(init='self.register_buffer("cache", torch.zeros(1))'))
    assert "        cache.set_(torch.zeros(x_shape[0]))\n" in buffer.text
    plain = fixed(body.format(init="self.cache = torch.zeros(1)"))
    assert "set_(" not in plain.text
    assert any("only a registered buffer rebound" in m[2] for m in plain.manual)


def test_hoist_takes_the_tail_for_a_return_in_a_nested_block():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                y = x * 2
                for i in range(3):
                    if x.sum() > i:
                        return x
                return -y
    """)
    assert result.applied and "y = x * 2" in result.text
    forward = result.text[result.text.index("def forward"):]
    assert "for i" not in forward and "return _fx_forward_" in forward


def test_hoist_passes_self_attributes_as_keywords():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.limit = 2.0
            def forward(self, x):
                m = x.max()
                if bool(m > self.limit):
                    x = x.clamp(max=self.limit)
                return x + 1
    """)
    assert "limit=self.limit" in result.text and "@torch.fx.wrap" in result.text
    # it hides no submodule and only stops tracing: the same code runs eagerly, so the hoist is safe
    assert all(a[3] is Applicability.SAFE for a in result.applied)


def test_where_declined_for_python_bool_condition():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x, y):
                return x if torch.equal(x, y) else y
    """)
    assert "torch.where" not in result.text


def test_where_never_selects_tuples_or_dict_flags():
    # was `torch.where(flag, logits, memory, logits)`: a tuple return is not a tensor to select,
    # and `kwargs.pop("flag", False)` is a Python value, not a tensor condition
    result = fixed("""
        class M(nn.Module):
            def forward(self, x, y, **kwargs):
                flag = kwargs.pop("flag", False)
                if flag:
                    return x, y
                return x
    """)
    assert "torch.where" not in result.text
    pair = fixed("""
        class M(nn.Module):
            def forward(self, x, y):
                if x.sum() > 0:
                    return x, y
                return x
    """)
    assert "torch.where" not in pair.text


def test_syntax_error_left_untouched():
    result = fix_source("def f(:\n", "bad.py")
    assert result.error and not result.changed


def test_nothing_to_fix_is_identical():
    src = HEAD + "class M(nn.Module):\n    def forward(self, x):\n        return x * 2\n"
    result = fix_source(src, "ok.py", unsafe=True)
    assert result.text == src and not result.applied


def test_starred_sizes_become_one_sequence_only_for_shapes():
    body = """
        class M(nn.Module):
            def forward(self, x: torch.Tensor):
                return x.view(*x.shape[:-1], 2, -1)
    """
    result = fixed(body, unsafe=False)
    assert result.applied[0][3] is Applicability.SAFE
    assert "x.view(_fx_sizes_forward_9(x.shape[:-1], (2, -1)))" in result.text
    # `*dims` of an input: no in-graph spelling, so the statement is hoisted instead (safe)
    hoisted = fixed("""
        class M(nn.Module):
            def forward(self, x, dims):
                return x.permute(*dims)
    """, unsafe=False)
    assert "x.permute(*dims)" in hoisted.text and "@torch.fx.wrap" in hoisted.text
    assert [a[2].startswith("Hoist") for a in hoisted.applied] == [True]


def test_submodule_key_readers_join_the_hoist():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.experts = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
            def forward(self, x):
                i = x.mean(0).argmax()
                y = self.experts[i](x)
                return y * x[:, i : i + 1]
    """)
    forward = result.text[result.text.index("def forward"):]
    assert "i + 1" not in forward and "return _fx_forward_" in forward and "experts=self.experts" in forward


def test_optional_and_flag_branches_are_hoisted_unsafe_only():
    body = """
        class M(nn.Module):
            def forward(self, x, mask=None, mode: str = "a"):
                if mask is not None:
                    x = x * mask
                if mode == "b":
                    return x.flip(-1)
                return x
    """
    assert not fixed(body, unsafe=False).changed
    result = fixed(body)
    codes = {a[0] for a in result.applied}
    assert {"TRC501", "TRC506"} <= codes and all(a[3] is Applicability.UNSAFE for a in result.applied)
    forward = result.text[result.text.index("def forward"):]
    assert "mask is not None" not in forward and 'mode == "b"' not in forward


def test_hoist_declines_a_callable_attribute_that_is_not_a_module():
    # FX rejects a plain function handed to a wrapped call (`NotImplementedError: argument of type`)
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = F.gelu
            def forward(self, x):
                while x.norm() > 1:
                    x = self.act(x) * 0.5
                return x
    """)
    assert not result.changed and "`self.act`, not known to be a submodule" in result.manual[0][2]


def test_block_run_only_inside_a_wrapped_call_is_not_checked():
    # after `fix` hoists a parent's call of a stateful submodule, FX runs that submodule eagerly
    # inside the wrapped call: its own hazards are no longer FX's
    from fxlint.api import check_source

    src = HEAD + textwrap.dedent("""
        class Table(nn.Module):
            def __init__(self):
                super().__init__()
                self.n = 0

            def forward(self, x):
                if x.sum() > 0:
                    self.n += 1
                return x


        @torch.fx.wrap
        def _run(x, table):
            return table(x)


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.table = Table()

            def forward(self, x):
                return _run(x, table=self.table)
    """)
    assert not check_source(src, "m.py")
    traced = src.replace("return _run(x, table=self.table)", "return self.table(x)")
    assert {d.code for d in check_source(traced, "m.py")} >= {"TRC101"}


def test_int_dropped_only_around_integer_size_arithmetic():
    """`int(math.ceil(h / p) * p)` loses its `int()`, `int(h / 2)` becomes `h // 2`, both SAFE once `h`
    is proven a size of a tensor (an input annotated `torch.Tensor`); `int()` of a subscript that is
    not a shape (`x.tolist()[0]`, a numpy float in eager) is left to a hoist."""
    body = """
        import math

        class M(nn.Module):
            def forward(self, x{annotation}):
                h = x.shape[-1]
                a = int(math.ceil(h / 4) * 4)
                b = int(h / 2)
                c = int(x.tolist()[0])
                return F.pad(x, (0, a - h + b)) * c
    """
    safe = fixed(body.format(annotation=": torch.Tensor"), unsafe=False)
    assert "a = math.ceil(h / 4) * 4" in safe.text and "b = h // 2" in safe.text
    assert "int(x.tolist()[0])" in safe.text  # hoisted as is, not rewritten
    assert ("TRC202", 12, "Drop `int()` around the integer arithmetic `math.ceil(h / 4) * 4`",
            Applicability.SAFE) in safe.applied
    assert ("TRC202", 13, "Drop `int()` around the integer arithmetic `h / 2`", Applicability.SAFE) in safe.applied
    # unannotated, `x` may be anything with a `.shape`: `h` is not proven a non-negative int, so
    # `int(h / 2)` is not turned into `h // 2` (it is hoisted); `math.ceil` makes an int whatever `h` is
    plain = fixed(body.format(annotation=""))
    assert "a = math.ceil(h / 4) * 4" in plain.text and "b = int(h / 2)" in plain.text and "h // 2" not in plain.text


def test_hoist_passes_the_shape_of_a_tensor_read_only_for_its_shape():
    result = fixed("""
        class M(nn.Module):
            def forward(self, image):
                scale = 16.0 / float(torch.tensor(image.shape[-2:]).min().item())
                return F.interpolate(image, scale_factor=scale)
    """)
    assert "(image_shape):" in result.text and "torch.tensor(image_shape[-2:])" in result.text
    assert "scale = _fx_forward_" in result.text and "(image.shape)" in result.text


def test_size_tuple_concat_joined_safely_only_where_sizes_go_to_calls():
    body = """
        class M(nn.Module):
            def forward(self, x: torch.Tensor):
                new_shape = x.size()[:-1] + (2, -1)
                kept = x.shape[:1] + (4,)
                return x.view(new_shape), kept
    """
    safe = fixed(body, unsafe=False)
    assert "new_shape = _fx_sizes_forward_" in safe.text and "(x.size()[:-1], (2, -1))" in safe.text
    assert "kept = x.shape[:1] + (4,)" in safe.text  # returned as a torch.Size: unsafe
    assert "kept = _fx_sizes_forward_" in fixed(body).text


def test_identical_branches_collapse_only_for_a_side_effect_free_condition():
    body = """
        class M(nn.Module):
            def forward(self, x):
                if x.size(0) > 1:
                    y = x * 2
                else:
                    y = x * 2
                if self.pick(x) > 0:
                    z = x + 1
                else:
                    z = x + 1
                return y + z
    """
    result = fixed(body, unsafe=False)
    assert "if x.size(0) > 1" not in result.text and "        y = x * 2\n" in result.text
    assert "if self.pick(x) > 0:" in result.text  # a call that may have side effects is kept


# ------------------------------------------------------------------ proof obligations (issue 16)
def test_where_needs_tensor_branches_of_one_shape():
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)
            def forward(self, x: torch.Tensor):
                h = self.proj(x)
                a = h * 2 if h.mean() > 0 else h
                b = x + h if h.mean() > 0 else h
                c = 2.0 if h.mean() > 0 else 0.5
                d = h if h.mean() > 0 else None
                e = h if h > 0 else -h
                return a, b, c, d, e
    """
    result = fixed(body)
    assert "a = torch.where(h.mean() > 0, h * 2, h)" in result.text  # one tensor, elementwise: proven
    for kept in ("x + h if", "2.0 if", "else None", "h if h > 0"):  # declined: hoisted instead
        assert kept in result.text, kept
    assert [a[2] for a in result.applied].count("Select with `torch.where` (both branches are computed)") == 1


def test_where_declines_a_condition_that_is_not_a_bool_tensor():
    from fxlint.fix.inline import conditional_to_where
    from fxlint.fix.tree import Tree
    from fxlint.api import check_source

    source = HEAD + textwrap.dedent("""
        class M(nn.Module):
            def forward(self, x):
                return x * 2 if x.sum() > 0 else x
    """)
    tree = Tree(source)
    d = next(d for d in check_source(source, "m.py") if d.code == "TRC101")
    outcome = conditional_to_where(tree, d)
    assert "not proven a 0-dim bool tensor" in outcome.reason


def test_scalar_tensor_only_for_proven_python_numbers():
    body = """
        import numpy as np

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)
            def forward(self, x):
                h = self.proj(x)
                return h * (1.0 / math.sqrt(h.size(-1))) + h * (np.float32(h.size(-1)) * 0.5)
    """
    from fxlint.fix.inline import INLINE
    from fxlint.fix.tree import Tree
    from fxlint.api import check_source

    source = HEAD + "import math\n" + textwrap.dedent(body)
    tree = Tree(source)
    outcomes = [INLINE["TRC601"][0](tree, d) for d in check_source(source, "m.py") if d.code == "TRC601"]
    titles = [getattr(o, "title", "") for o in outcomes]
    assert any("torch.scalar_tensor" in t and "math.sqrt" in t for t in titles)
    assert not any("np.float32" in t for t in titles)


def test_integer_method_on_an_unproven_receiver_is_declined():
    from fxlint.fix.qat import integral_op_rewrite
    from fxlint.fix.tree import Tree
    from fxlint.api import check_source

    source = HEAD + textwrap.dedent("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)
            def forward(self, x, mask{annotation}):
                keep = mask.unsqueeze(-1).to(x.dtype)
                return self.proj(x * keep)
    """)
    for annotation, proven in (("", False), (": torch.Tensor", True)):
        text = source.replace("{annotation}", annotation)
        tree = Tree(text)
        found = [d for d in check_source(text, "m.py") if d.code == "TRC603"]
        outcomes = [integral_op_rewrite(tree, d) for d in found]
        assert outcomes and all(hasattr(o, "title") == proven for o in outcomes), (annotation, outcomes)


def test_in_graph_rewrites_decline_in_code_a_wrapped_function_runs():
    result = fixed("""
        def _count(xs: torch.Tensor):
            return len(xs)

        def _pool(xs):
            return xs.sum(0) / _count(xs)

        _pool = torch.fx.wrap(_pool)

        class M(nn.Module):
            def forward(self, x: torch.Tensor):
                return _pool(x) * _count(x)
    """, unsafe=False)
    assert "xs.size(0)" not in result.text  # `_count` also runs eagerly, under `_pool`
    from fxlint.fix.tree import Tree
    from fxlint.fix.wrapped import eager_callers, wrapped_names

    tree = Tree(result.original)
    assert "_pool" in wrapped_names(tree) and eager_callers(tree) == {"_count": "_pool"}
