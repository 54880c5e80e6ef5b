"""`fix_source` on silent-hazard snippets (TRC502-TRC505): what is rewritten, what is declined and why.

The torch-backed claims (before diverges; after traces, matches eager on two inputs, runs QAT) are
made on the golden pairs fixtures/fix/{frozen_noise,nograd_teacher,buffer_update,isinstance_tensor}.py
by tests/test_fix_goldens.py.
"""
from __future__ import annotations

import textwrap

from fxlint.api import check_source
from fxlint.diagnostics import Applicability
from fxlint.fix import fix_source

HEAD = "import random\n\nimport torch\nimport torch.nn as nn\n\n\n"


def fixed(body: str, unsafe: bool = True, pins=None):
    return fix_source(HEAD + textwrap.dedent(body), "snippet.py", unsafe=unsafe, pins=pins or {})


def manual_reasons(result, code):
    return [m[2] for m in result.manual if m[0] == code]


def test_silent_rewrites_are_unsafe_only():
    body = """
        class M(nn.Module):
            def forward(self, x):
                with torch.no_grad():
                    y = x * 2
                return y + torch.rand(3)
    """
    assert not fixed(body, unsafe=False).changed
    result = fixed(body)
    assert {a[0] for a in result.applied} == {"TRC504", "TRC505"}
    assert {a[3] for a in result.applied} == {Applicability.UNSAFE}
    assert "y = y.detach()" in result.text and "with torch.no_grad" not in result.text
    assert "return torch.rand(3)" in result.text  # inside the wrapped function, with literal args inline
    assert not [d for d in check_source(result.text, "snippet.py") if d.code in ("TRC504", "TRC505")
                and d.location.row > result.text.count("\n", 0, result.text.index("class M"))]


def test_random_deciding_control_flow_hoists_the_branch():
    """Stochastic depth: the early return makes the region the function's tail, which then draws from
    Python's RNG and skips the work on every call, as eager does (torch check: the golden pair
    fixtures/fix/hoist_stochastic_depth.py)."""
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                if self.training and random.random() < 0.5:
                    return x
                return x * 2
    """)
    assert [(a[0], a[3]) for a in result.applied] == [("TRC504", Applicability.UNSAFE)]
    assert "return _fx_forward_" in result.text and "training=self.training" in result.text
    assert "    if training and random.random() < 0.5:\n        return x\n    return x * 2" in result.text


def test_random_deciding_control_flow_without_traced_input_is_declined():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                scale = 2 if random.random() < 0.5 else 3
                return x * scale
    """)
    assert not result.changed
    assert "control flow" in manual_reasons(result, "TRC504")[0]


def test_random_outside_forward_is_declined():
    result = fixed("""
        class M(nn.Module):
            def noise(self, n):
                return torch.randn(n)
            def forward(self, x):
                return x + self.noise(4)
    """)
    assert not result.changed
    assert "forward" in manual_reasons(result, "TRC504")[0]


def test_random_wrapped_names_do_not_shadow_locals():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.n = 4
            def forward(self, x):
                n = 2
                return x + torch.randn(self.n, n)
    """)
    assert "torch.randn(self_n, n)" in result.text and "(x, self_n=self.n, n=n)" in result.text


def test_autocast_block_is_hoisted_whole_and_names_hidden_submodules():
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    y = self.fc(x) @ x.t()
                return y
    """
    assert not fixed(body, unsafe=False).changed
    result = fixed(body)
    assert [(a[0], a[3]) for a in result.applied] == [("TRC505", Applicability.UNSAFE)]
    assert "hides `self.fc` from quantization" in result.applied[0][2]
    wrapped = result.text[result.text.index("@torch.fx.wrap"):result.text.index("class M")]
    assert 'with torch.autocast("cpu", dtype=torch.bfloat16):' in wrapped and "return y" in wrapped
    assert "y = _fx_forward_" in result.text and "fc=self.fc" in result.text


def test_autocast_decorator_keeps_guidance():
    result = fixed("""
        class M(nn.Module):
            @torch.autocast("cpu", dtype=torch.bfloat16)
            def forward(self, x):
                return x @ x.t()
    """)
    assert not result.changed
    assert "autocast" in manual_reasons(result, "TRC505")[0]


def test_no_grad_with_return_is_declined():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                with torch.no_grad():
                    return x * 2
    """)
    assert not result.changed and manual_reasons(result, "TRC505")


def test_python_counter_is_left_with_guidance():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.calls = 0
            def forward(self, x):
                self.calls += 1
                return x * self.calls
    """)
    assert not result.changed
    assert "not a registered buffer" in manual_reasons(result, "TRC503")[0]


def test_buffer_update_inside_a_branch_is_declined():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("n", torch.zeros(()))
            def forward(self, x):
                if self.training:
                    self.n += 1
                return x * self.n
    """)
    assert not result.changed
    assert "read after the `if`" in manual_reasons(result, "TRC503")[0]


def test_buffer_update_inside_a_loop_is_declined():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.register_buffer("n", torch.zeros(()))
            def forward(self, x):
                for _ in range(2):
                    self.n.add_(1)
                return x * 2
    """)
    assert not result.changed
    assert "inside a loop" in manual_reasons(result, "TRC503")[0]


def test_no_grad_decorator_detaches_every_return_with_one_helper():
    result = fixed("""
        class M(nn.Module):
            @torch.no_grad()
            def a(self, x):
                if self.training:
                    return x * 2, x + 1
                return {"y": x * 3}
            @torch.no_grad()
            def b(self, x):
                return x - 1
            def forward(self, x):
                return self.a(x), self.b(x)
    """)
    assert {a[0] for a in result.applied} == {"TRC505"} and "@torch.no_grad" not in result.text
    assert "return _fx_detached((x * 2, x + 1))" in result.text
    assert 'return _fx_detached({"y": x * 3})' in result.text and "return _fx_detached(x - 1)" in result.text
    assert result.text.count("def _fx_detached") == 1


def test_no_grad_decorator_returning_an_input_unchanged_is_declined():
    result = fixed("""
        class M(nn.Module):
            @torch.no_grad()
            def pick(self, x, y):
                if self.training:
                    return x
                return y * 2
            def forward(self, x):
                return self.pick(x, x)
    """)
    assert not result.changed
    assert "returns `x` unchanged" in manual_reasons(result, "TRC505")[0]


def test_no_grad_decorator_returning_a_wrapped_call_is_declined():
    # a hoisted tail may hand back one of its inputs unchanged: that cannot be seen from here
    result = fixed("""
        @torch.fx.wrap
        def choose(x, y):
            return x if x.sum() > 0 else y * 2
        class M(nn.Module):
            @torch.no_grad()
            def pick(self, x, y):
                return choose(x, y)
            def forward(self, x):
                return self.pick(x, x)
    """)
    assert not result.changed
    assert "`@torch.fx.wrap` function" in manual_reasons(result, "TRC505")[0]


def test_buffer_update_calling_a_submodule_is_declined():
    result = fixed("""
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
                self.register_buffer("avg", torch.zeros(4))
            def forward(self, x):
                self.avg = self.fc(x).mean(0).detach()
                return x - self.avg
    """)
    assert not result.changed
    assert "self.fc" in manual_reasons(result, "TRC503")[0]


def test_isinstance_on_non_input_is_declined_and_elif_kept():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                y = x * 2
                if isinstance(y, torch.Tensor):
                    y = y + 1
                return y
    """)
    assert not result.changed and manual_reasons(result, "TRC502")
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                if isinstance(x, torch.Tensor):
                    x = x + 1
                elif isinstance(x, list):
                    x = torch.stack(x)
                return x
    """)
    assert "if isinstance" in result.text


def test_isinstance_without_else_negated_drops_the_branch():
    body = """
        class M(nn.Module):
            def forward(self, x{annotation}):
                if not isinstance(x, torch.Tensor):
                    x = torch.tensor(x)
                return x + 1
    """
    result = fixed(body.format(annotation=": torch.Tensor"))
    assert "isinstance" not in result.text and "torch.tensor(x)" not in result.text
    assert result.applied[0][0] == "TRC502"
    # unannotated, a caller may pass a list: the branch it takes must stay
    plain = fixed(body.format(annotation=""))
    assert "if not isinstance(x, torch.Tensor)" in plain.text
    assert any("not proven a tensor" in reason for reason in manual_reasons(plain, "TRC502"))


def test_tensor_attributes_match_the_installed_torch():
    """fxlint/fix/tensor_attributes.py is `dir(torch.Tensor)`, so fix never imports torch; regenerate
    with FXLINT_UPDATE_GOLDENS=1 after a torch upgrade and review the diff."""
    import os
    import textwrap as tw
    from pathlib import Path

    import torch

    from fxlint.fix import tensor_attributes

    names = sorted(set(dir(torch.Tensor)))
    path = Path(tensor_attributes.__file__)
    if os.environ.get("FXLINT_UPDATE_GOLDENS") == "1":
        body = tw.fill(" ".join(names), width=110, break_long_words=False, break_on_hyphens=False)
        path.write_text(
            '"""Attribute names of `torch.Tensor` (`dir(torch.Tensor)`), so `fix` can tell without importing torch\n'
            "which branch `hasattr(x, name)` takes for a tensor `x`. Generated by\n"
            "`FXLINT_UPDATE_GOLDENS=1 python -m pytest tests/test_fix_silent.py -k tensor_attributes`; never edit.\n"
            '"""\n\n'
            f'TORCH_VERSION = "{torch.__version__.split("+")[0]}"\n'
            f'TENSOR_ATTRIBUTES = frozenset("""\n{body}\n""".split())\n')
    assert sorted(tensor_attributes.TENSOR_ATTRIBUTES) == names


def test_hasattr_on_an_input_not_proven_a_tensor_is_declined():
    result = fixed("""
        class M(nn.Module):
            def forward(self, images):
                if hasattr(images, "tensors"):
                    images = images.tensors
                return images * 2
    """)
    assert "if hasattr(images, \"tensors\")" in result.text  # an ImageList keeps its branch
    assert any("not proven a tensor" in reason for reason in manual_reasons(result, "TRC502"))


def test_hasattr_on_an_input_keeps_the_branch_a_tensor_takes():
    result = fixed("""
        class M(nn.Module):
            def forward(self, images: torch.Tensor):
                if hasattr(images, "tensors"):
                    images = images.tensors
                if hasattr(images, "shape"):
                    images = images * 2
                return images
    """)
    assert {a[0] for a in result.applied} == {"TRC502"} and "hasattr" not in result.text
    assert "images.tensors" not in result.text and "images = images * 2" in result.text
    assert {a[3] for a in result.applied} == {Applicability.UNSAFE}


def test_hasattr_with_a_computed_name_is_declined():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x, name="tensors"):
                if hasattr(x, name):
                    x = x.tensors
                return x
    """)
    assert "if hasattr" in result.text and manual_reasons(result, "TRC502")


def test_disabled_autocast_is_dropped_then_identical_branches_collapse():
    """timm's EfficientViT: `if not is_scripting() and v.device.type != 'meta': with autocast(enabled=False):
    out = f(v) else: out = f(v)`. Dropping the disabled autocast (unsafe) leaves identical arms, and the
    `if` on the traced device goes (safe). `_attn` calls a submodule, so the `if` cannot be hoisted
    instead (a hoist would win: see the test below)."""
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(4, 4)

            def _attn(self, v):
                return self.proj(v) * 2

            def forward(self, v):
                if not torch.jit.is_scripting() and v.device.type != 'meta':
                    with torch.autocast(device_type=v.device.type, enabled=False):
                        out = self._attn(v)
                else:
                    out = self._attn(v)
                return out
    """
    assert not fixed(body, unsafe=False).changed
    result = fixed(body)
    assert [(a[0], a[3]) for a in result.applied] == [("TRC505", Applicability.UNSAFE),
                                                      ("TRC201", Applicability.SAFE)]
    assert "    def forward(self, v):\n        out = self._attn(v)\n        return out" in result.text
    assert not check_source(result.text, "snippet.py")


def test_disabled_autocast_inside_a_hoisted_if_is_left_as_written():
    """The same `if` when `_attn` can be copied: the `if` is hoisted whole, and the unsafe drop of the
    autocast inside it waits (fxlint/fix/apply.py choose): the wrapped function runs the block eagerly
    as written, autocast included, which no rewrite of it could promise."""
    result = fixed("""
        class M(nn.Module):
            def _attn(self, v):
                return v * 2

            def forward(self, v):
                if not torch.jit.is_scripting() and v.device.type != 'meta':
                    with torch.autocast(device_type=v.device.type, enabled=False):
                        out = self._attn(v)
                else:
                    out = self._attn(v)
                return out
    """)
    assert [a[0] for a in result.applied] == ["TRC201"]
    assert "        with torch.autocast(device_type=v.device.type, enabled=False):" in result.text
    assert not result.manual


def test_enabled_autocast_is_not_dropped():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                with torch.autocast("cpu", enabled=True):
                    y = x @ x.t()
                return y
    """)
    assert "Drop the disabled" not in " ".join(a[2] for a in result.applied)
    assert "with torch.autocast(\"cpu\", enabled=True):" in result.text


def test_optional_input_branch_that_calls_a_method_is_pinned_to_none_only_when_named():
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def act(self, x):
                return x.relu()
            def head(self, x):
                return self.act(self.fc(x))
            def forward(self, x, bias=None):
                if bias is None:
                    bias = self.head(x)
                return x + bias
    """
    unnamed = fixed(body)  # --unsafe-fixes never implies a pin
    assert not unnamed.changed
    assert any("`--pin M.forward.bias=None`" in reason for reason in manual_reasons(unnamed, "TRC501"))
    pins = {"M.forward.bias": "None"}
    result = fixed(body, unsafe=False, pins=pins)  # a named pin needs no --unsafe-fixes
    assert [a[0] for a in result.applied] == ["TRC501"]
    assert "Pin `bias` to None" in result.applied[0][2]
    assert '_fxlint_expect_none(bias, name="bias")\n        bias = None\n' in result.text
    assert fixed(body, pins=pins).text == result.text
    assert fix_source(result.text, "snippet.py", unsafe=True, pins=pins).text == result.text


def test_optional_input_branch_calling_a_method_that_calls_a_submodule_is_hoisted_unless_pinned():
    """timm Hiera (issue 16): `if mask is None: x = self.forward_head(x)`, where `forward_head` calls the
    `self.head` submodule: the method is copied into the wrapped function and `self.head` passed in, so
    both eager paths stay (the traced model runs the head when called without the mask). A named pin
    still wins."""
    body = """
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def head(self, x):
                return self.fc(x)
            def forward(self, x, bias=None):
                if bias is None:
                    x = self.head(x)
                return x
    """
    result = fixed(body)
    assert "@torch.fx.wrap" in result.text and "_fxlint_expect_none" not in result.text
    assert "def head(x):\n        return fc(x)" in result.text and "fc=self.fc" in result.text, result.text
    assert any("hides `self.fc` from quantization" in a[2] and "copies `self.head`" in a[2]
               for a in result.applied), result.applied
    pinned = fixed(body, pins={"M.forward.bias": "None"})
    assert '_fxlint_expect_none(bias, name="bias")' in pinned.text and "_fx_forward" not in pinned.text


def test_optional_input_branch_with_a_hoist_is_hoisted_unless_a_pin_is_named():
    body = """
        class M(nn.Module):
            def forward(self, x, bias=None):
                if bias is not None:
                    x = x + bias
                return x
    """
    result = fixed(body)
    assert "_fxlint_expect_none" not in result.text and "@torch.fx.wrap" in result.text
    pinned = fixed(body, pins={"M.forward.bias": "None"})  # the user chose the path: the pin wins
    assert '_fxlint_expect_none(bias, name="bias")' in pinned.text and "_fx_forward" not in pinned.text


def test_pinned_guard_raises_when_the_input_is_passed():
    body = """
        class M(nn.Module):
            def forward(self, x, mask=None):
                flag = mask is not None
                if flag:
                    x = x * mask
                return x
    """
    unnamed = fixed(body)  # a stored check: no hoist (it would only move it), no pin unless named
    assert not unnamed.changed
    assert any("stored" in r and "`--pin M.forward.mask=None`" in r for r in manual_reasons(unnamed, "TRC501"))
    result = fixed(body, pins={"M.forward.mask": "None"})
    namespace: dict = {}
    exec(compile(result.text, "snippet.py", "exec"), namespace)
    model = namespace["M"]()
    import torch
    x = torch.ones(2)
    assert torch.equal(model(x), x)
    try:
        model(x, mask=torch.zeros(2))
    except ValueError as exc:
        assert "`mask` was pinned to None" in str(exc)
    else:
        raise AssertionError("the pinned input was silently ignored")


def test_isinstance_container_is_decided_only_by_a_named_type_pin():
    body = """
        from typing import Dict, Union
        class M(nn.Module):
            def forward(self, x{annotation}):
                is_dict = isinstance(x, dict)
                if is_dict:
                    x = x["image"]
                return x * 2
    """
    plain = fixed(body.format(annotation=""))
    assert "is_dict = isinstance(x, dict)" in plain.text
    assert any("not proven a tensor" in reason for reason in manual_reasons(plain, "TRC502"))
    # a Union admits the dict: its path exists in eager mode, so only a named type pin removes it
    union = fixed(body.format(annotation=": Union[torch.Tensor, Dict]"))
    assert "is_dict = isinstance(x, dict)" in union.text
    assert any("`--pin M.forward.x=Tensor`" in reason for reason in manual_reasons(union, "TRC502"))
    pinned = fixed(body.format(annotation=": Union[torch.Tensor, Dict]"), unsafe=False,
                   pins={"M.forward.x": "Tensor"})
    assert "is_dict = False" in pinned.text
    # proven a tensor (annotated `torch.Tensor`): the answer is known without a pin
    annotated = fixed(body.format(annotation=": torch.Tensor"))
    assert "is_dict = False" in annotated.text


def test_optional_input_is_pinned_at_the_root_not_in_the_submodule():
    result = fixed(pins={"Net.forward.mask": "None"}, body="""
        class Block(nn.Module):
            def forward(self, x, mask=None):
                masked = mask is not None
                if masked:
                    x = x * mask
                return x
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.block = Block()
            def forward(self, x, mask=None):
                return self.block(x, mask)
    """)
    block, net = result.text.split("class Block")[1].split("class Net")
    assert "_fxlint_expect_none(mask" not in block and "masked = mask is not None" in block
    assert '_fxlint_expect_none(mask, name="mask")\n        mask = None\n        return self.block' in net
