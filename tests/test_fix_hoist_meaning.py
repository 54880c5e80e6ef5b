"""Hoists that keep meaning (issue 16): tracing guards, copied-method names, guarded torch imports,
rewrites inside code a hoist moves, and findings only a whole-project check sees."""
from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst

from fxlint.diagnostics import Applicability
from fxlint.fix import fix_source
from fxlint.fix.apply import choose
from fxlint.fix.plan import Plan
from fxlint.fix.tree import Tree

HEAD = "import torch\nimport torch.nn as nn\n\n\n"


def fixed(body: str, unsafe: bool = True, head: str = HEAD):
    return fix_source(head + textwrap.dedent(body), "snippet.py", unsafe=unsafe)


GUARDED = """
    class M(nn.Module):
        def forward(self, x):
            if not {guard} and x.sum() > 0:
                x = x * 2
                x = x - x.mean()
            return x
"""


def test_tracing_guards_are_never_hoisted():
    for guard in ("torch.fx._symbolic_trace.is_fx_tracing()", "torch.jit.is_tracing()",
                  "isinstance(x, torch.fx.Proxy)", "is_torch_fx_proxy(x)"):
        result = fixed(GUARDED.format(guard=guard))
        assert "@torch.fx.wrap" not in result.text, guard
        assert any("answers differently while FX traces" in m[2] for m in result.manual), (guard, result.manual)


def test_a_same_file_function_wrapping_a_guard_is_a_guard():
    result = fixed("""
        def is_torchdynamo_compiling_or_tracing():
            return torch.compiler.is_compiling() or torch.fx._symbolic_trace.is_fx_tracing()


        def my_check(x):
            return isinstance(x, torch.fx.Proxy)


        class M(nn.Module):
            def forward(self, x):
                if not my_check(x) and x.sum() > 0:
                    x = x * 2
                    x = x - x.mean()
                return x
    """)
    assert "@torch.fx.wrap" not in result.text
    assert any("`my_check(x)`" in m[2] for m in result.manual), result.manual


def test_a_guard_statement_does_not_take_its_neighbour_down():
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                if not torch.jit.is_tracing() and x.abs().max() > 1e4:
                    raise ValueError("diverged")
                if x.sum() > 0:
                    x = x * 2
                    x = x - x.mean()
                return x
    """, unsafe=False)
    assert "@torch.fx.wrap" in result.text
    wrapped = result.text.split("@torch.fx.wrap", 1)[1].split("class M", 1)[0]
    assert "is_tracing" not in wrapped and "x.sum() > 0" in wrapped
    assert [m[0] for m in result.manual] == ["TRC101"]


def test_copied_method_never_shadows_the_module_function_it_calls():
    result = fixed("""
        def rotate(x):
            return x.flip(-1)


        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = 2.0

            def rotate(self, x):
                return rotate(x) * self.scale

            def forward(self, x):
                if x.sum() > 0:
                    x = self.rotate(x)
                return x
    """)
    assert "def rotate_2(x):" in result.text and "x = rotate_2(x)" in result.text
    namespace: dict = {}
    exec(compile(result.text, "snippet.py", "exec"), namespace)
    import torch

    x = torch.ones(2, 3)
    assert torch.equal(namespace["M"]()(x), x.flip(-1) * 2.0)


def test_copied_method_reading_a_global_the_region_rebinds_is_declined():
    result = fixed("""
        offset = 1.0


        class M(nn.Module):
            def shift(self, x):
                return x + offset

            def forward(self, x):
                if x.sum() > 0:
                    offset = 3.0
                    x = self.shift(x) * offset
                return x
    """)
    assert "@torch.fx.wrap" not in result.text
    assert any("`offset`" in m[2] and "binds itself" in m[2] for m in result.manual), result.manual


def test_guarded_torch_import_declines_fixes_that_need_torch():
    head = "try:\n    import torch\n    import torch.nn as nn\nexcept ImportError:\n    torch = None\n\n\n"
    result = fixed("""
        class M(nn.Module):
            def forward(self, x):
                if x.sum() > 0:
                    x = x * 2
                    x = x - x.mean()
                return x
    """, head=head)
    assert not result.changed and not result.text.startswith("import torch")
    assert any("only under a guard" in m[2] for m in result.manual), result.manual


def test_unguarded_module_without_torch_import_still_gets_one():
    result = fix_source("import torch.nn as nn\n\n\nclass M(nn.Module):\n    def forward(self, x):\n"
                        "        if x.sum() > 0:\n            x = x * 2\n            x = x - x.mean()\n"
                        "        return x\n", "m.py")
    assert "import torch\n" in result.text and "@torch.fx.wrap" in result.text


def test_rewrite_inside_code_a_hoist_moves_waits_for_the_next_round():
    tree = Tree(HEAD + textwrap.dedent("""
        def f(x):
            if x.sum() > 0:
                x = x * len(x)
            return x
    """))
    func = next(s for s in tree.module.body if isinstance(s, cst.FunctionDef))
    region = func.body.body[0]
    inner = next(n for n in tree.ranges if isinstance(n, cst.Call) and tree.code(n) == "len(x)")
    rewrite = Plan("in-graph", Applicability.UNSAFE, {inner: cst.parse_expression("x.size(0)")})
    elsewhere = Plan("in-graph elsewhere", Applicability.UNSAFE, {func.body.body[1]: func.body.body[1]})
    hoisting = Plan("hoist", Applicability.SAFE, {region: region}, priority=1, moves=(region,))
    assert choose(tree, [rewrite, elsewhere, hoisting]) == [elsewhere, hoisting]
    assert choose(tree, [rewrite, elsewhere]) == [rewrite, elsewhere]
    # a safe rewrite keeps eager results on real values: it goes first, the hoist waits a round
    safe = Plan("in-graph", Applicability.SAFE, {inner: cst.parse_expression("x.size(0)")})
    assert choose(tree, [safe, hoisting]) == [safe]


def test_rewrite_inside_a_method_a_hoist_copies_waits():
    tree = Tree(HEAD + textwrap.dedent("""
        class M(nn.Module):
            def helper(self, x):
                return x * len(x)

            def forward(self, x):
                return self.helper(x)
    """))
    cls = next(s for s in tree.module.body if isinstance(s, cst.ClassDef))
    helper, forward = cls.body.body
    inner = next(n for n in tree.ranges if isinstance(n, cst.Call) and tree.code(n) == "len(x)")
    rewrite = Plan("in-graph", Applicability.SAFE, {inner: cst.parse_expression("x.size(0)")})
    stmt = forward.body.body[0]
    hoisting = Plan("hoist", Applicability.UNSAFE, {stmt: stmt}, priority=1, covers=(helper,), moves=(stmt,))
    assert len(choose(tree, [rewrite, hoisting])) == 1


def test_finding_seen_only_from_another_files_model_is_fixed_or_reported(tmp_path: Path):
    """`rescale` has no hazard of its own: only Net.forward in model.py reaches it with a Proxy. Its
    two findings share a line; the in-graph rewrite of one defers the other's hoist to round two,
    where a check of helper.py alone no longer reports it. It used to vanish (neither applied nor
    reported), leaving `len(x)` in the graph."""
    from fxlint.fix.api import fix_paths

    (tmp_path / "helper.py").write_text("import torch\n\n\ndef rescale(x):\n    if x.sum() > len(x):\n"
                                        "        x = x * 2\n    return x\n")
    (tmp_path / "model.py").write_text(
        "import torch\nimport torch.nn as nn\n\nfrom helper import rescale\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n        return rescale(self.fc(x))\n")
    report = fix_paths([tmp_path], unsafe=True)
    (result,) = [r for r in report.results if r.filename.endswith("helper.py")]
    handled = {a[0] for a in result.applied} | {m[0] for m in result.manual} | {s[0] for s in result.skipped_unsafe}
    assert {"TRC101", "TRC204"} <= handled
    assert "TRC204" in {a[0] for a in result.applied}
    assert "len(x)" not in result.text.split("def rescale", 1)[1]


OPTIONAL_SHAPE = """
    class Emb(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(10, 4)
            self.position_ids = nn.Buffer(torch.arange(32).expand((1, -1)), persistent=False)

        def forward(self, input_ids=None, inputs_embeds=None, position_ids=None):
            if input_ids is not None:
                input_shape = input_ids.size()
            else:
                input_shape = inputs_embeds.shape[:-1]
            seq_length = input_shape[1]
            if position_ids is None:
                position_ids = self.position_ids[:, :seq_length]
            embeds = inputs_embeds
            if embeds is None:
                embeds = self.word(input_ids)
            return embeds + position_ids[..., None]
"""


def test_a_size_read_on_some_paths_only_is_not_moved_to_the_call():
    """transformers (deberta): a hoist passed `inputs_embeds.shape` where the region reads it only when
    `input_ids` is None, so every call with `input_ids` raised AttributeError on None. The input
    itself is passed; eager results are the same on both paths."""
    import torch

    result = fixed(OPTIONAL_SHAPE)
    assert "@torch.fx.wrap" in result.text and "inputs_embeds.shape," not in result.text
    before, after = {}, {}
    exec(compile(HEAD + textwrap.dedent(OPTIONAL_SHAPE), "before.py", "exec"), before)
    exec(compile(result.text, "after.py", "exec"), after)
    torch.manual_seed(0)
    a = before["Emb"]()
    b = after["Emb"]()
    b.load_state_dict(a.state_dict())
    ids, embeds = torch.randint(0, 10, (2, 5)), torch.randn(2, 5, 4)
    assert torch.equal(a(input_ids=ids), b(input_ids=ids))
    assert torch.equal(a(inputs_embeds=embeds), b(inputs_embeds=embeds))


NESTED_IN_DECLINED_TAIL = """
    class M(nn.Module):
        def forward(self, x, mask=None):
            if isinstance(mask, torch.Tensor) and mask.dim() == 4:
                return x * mask
            if mask is not None and mask.dim() == 2:
                mask = mask[:, :, None].float()
            if not torch.jit.is_tracing() and x.abs().max() > 1e4:
                raise ValueError("diverged")
            return x if mask is None else x * mask
"""


def test_a_fixable_statement_inside_a_declined_tail_region_is_still_hoisted():
    """transformers (`_preprocess_mask_arguments`): an early `return` makes the rest of the function
    one region; a tracing guard further down declines it, and the `mask.dim() == 2` statement inside it
    was neither fixed nor reported. It is hoisted on its own; the guard stays manual work."""
    import torch

    result = fixed(NESTED_IN_DECLINED_TAIL)
    wrapped = result.text.split("@torch.fx.wrap", 1)[1].split("class M", 1)[0]
    assert "mask.dim() == 2" in wrapped and "is_tracing" not in wrapped and "return x * mask" not in wrapped
    assert "answers differently while FX traces" in " ".join(m[2] for m in result.manual)
    before, after = {}, {}
    exec(compile(HEAD + textwrap.dedent(NESTED_IN_DECLINED_TAIL), "before.py", "exec"), before)
    exec(compile(result.text, "after.py", "exec"), after)
    x = torch.randn(2, 3, 4)
    for mask in (None, torch.ones(2, 3), torch.ones(1, 2, 3, 4)):
        assert torch.equal(before["M"]()(x, mask), after["M"]()(x, mask))


OPTIONAL_MASK = """
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(6, 6)
        def forward(self, x, mask=None):
            if mask is not None and mask.ndim == 2:
                mask = mask.to(device=x.device, dtype=torch.bool)
            x = self.proj(x)
            n = x.shape[1] if mask is None else mask.shape[-1]
            return x[:, :n] * 2
"""

#: the same without the submodule call between: the later test is the input's where the first `if`
#: did not rebind it, so it is reported too (issue 16) and the two regions are hoisted as one
OPTIONAL_MASK_ADJACENT = """
    class M(nn.Module):
        def forward(self, x, mask=None):
            if mask is not None and mask.ndim == 2:
                mask = mask.to(device=x.device, dtype=torch.bool)
            n = x.shape[1] if mask is None else mask.shape[-1]
            return x[:, :n] * 2
"""


def test_a_later_test_of_an_input_rebound_only_under_its_own_test_is_hoisted_with_it():
    """Both `is None` tests move into one wrapped function that receives `mask`: nothing is left as
    manual work, eager is the same, and the plainly traced model is right with the mask and without."""
    import torch
    from torch.fx import symbolic_trace

    result = fixed(OPTIONAL_MASK_ADJACENT)
    assert "n = _fx_forward_" in result.text and not result.manual, (result.text, result.manual)
    before = _module("before_adjacent", HEAD + textwrap.dedent(OPTIONAL_MASK_ADJACENT))
    after = _module("after_adjacent", result.text)
    x = torch.randn(2, 6)
    traced = symbolic_trace(after.M())
    for mask in (None, torch.ones(2, 4), torch.ones(2, 3, 5)):
        assert torch.equal(before.M()(x, mask), after.M()(x, mask))
        assert torch.equal(traced(x, mask), before.M()(x, mask))


def test_a_none_guard_stays_at_the_call_site_so_none_stays_none_while_tracing():
    """transformers (`_preprocess_mask_arguments`): hoisting `if attention_mask is not None and
    attention_mask.ndim == 2: attention_mask = attention_mask.to(device=inputs_embeds.device, ...)`
    whole handed back a Proxy for a None mask (the call also got `inputs_embeds`), so the later
    `attention_mask is None` test took the mask path and the traced model raised on None. The
    `is not None` test stays outside the wrapped call; eager is the same, and both traces work."""
    import torch
    from torch.fx import symbolic_trace

    result = fixed(OPTIONAL_MASK)
    assert "if mask is not None:\n            mask = _fx_forward_" in result.text, result.text
    assert any(code == "TRC501" and "may still be None" in why for code, _, why in result.manual), result.manual
    before, after = _module("before_mask", HEAD + textwrap.dedent(OPTIONAL_MASK)), _module("after_mask", result.text)
    x = torch.randn(2, 6)
    for mask in (None, torch.ones(2, 4), torch.ones(2, 3, 5)):
        torch.manual_seed(0)
        expected = before.M()(x, mask)
        torch.manual_seed(0)
        assert torch.equal(expected, after.M()(x, mask))
    torch.manual_seed(0)
    model = after.M()
    torch.manual_seed(0)
    reference = before.M()  # the same weights
    no_mask = symbolic_trace(model, concrete_args={"mask": None})
    assert torch.equal(no_mask(x), reference(x))
    with_mask = symbolic_trace(model)
    for mask in (torch.ones(2, 4), torch.ones(2, 3, 5)):
        assert torch.equal(with_mask(x, mask), reference(x, mask))


def _module(name: str, text: str):
    """``text`` run as an importable module (FX needs a wrapped function's `__module__`)."""
    import sys
    import types

    module = types.ModuleType(name)
    sys.modules[name] = module
    exec(compile(text, f"{name}.py", "exec"), module.__dict__)
    return module


OPTIONAL_BIAS = """
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()
        def forward(self, x, bias=None):
            q = x.shape[1]
            if q > 2 and x.sum() > 0:
                x = x[:, :2]
                if bias is not None:
                    bias = bias[:, :2]
            x = self.act(x)
            if bias is not None:
                x = x + bias
            return x.contiguous()
"""


def test_an_output_rebound_only_when_not_none_comes_back_only_where_it_was_not_none():
    """transformers (sdpa attention): `position_bias`, None for BERT, is sliced inside a hoisted
    region only under `if position_bias is not None:`; handed back from the wrapped call it was a
    Proxy while tracing, so the traced model ran `create_position_bias_mask(None, ...).contiguous()`.
    The call site now keeps a None a None; eager is the same."""
    import torch
    from torch.fx import symbolic_trace

    result = fixed(OPTIONAL_BIAS)
    assert "bias_hoisted = _fx_forward_" in result.text and "if bias is not None:\n            bias = bias_hoisted" \
        in result.text, result.text
    before, after = _module("before_bias", HEAD + textwrap.dedent(OPTIONAL_BIAS)), _module("after_bias", result.text)
    for x in (torch.randn(2, 4), -torch.ones(2, 4), torch.randn(2, 2)):
        for bias in (None, torch.randn(2, 4), torch.randn(2, 2)):
            if bias is not None and bias.shape != x.shape:
                continue
            assert torch.equal(before.M()(x, bias), after.M()(x, bias))
    no_bias = symbolic_trace(after.M(), concrete_args={"bias": None})
    for x in (torch.randn(2, 4), -torch.ones(2, 4)):
        assert torch.equal(no_bias(x), before.M()(x))


MAYBE_CREATED = """
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.act = nn.ReLU()
        def forward(self, x, cache=None, use_cache=False):
            if use_cache and cache is None:
                cache = []
            x = self.act(x)
            if cache is not None:
                cache.append(x)
            return x * 2
"""


def test_a_value_whose_none_ness_the_region_decides_is_not_handed_back():
    """transformers (llama): `if use_cache and cache is None: cache = DynamicCache(...)` was hoisted
    with its neighbours; the cache came back from the wrapped call as a Proxy even when it was None,
    and the traced model called `cache.get_query_offset(0)` on None. Declined, with the reason."""
    result = fixed(MAYBE_CREATED)
    assert "            cache = []\n" in result.text, result.text  # the creation stays where it was
    assert any(code == "TRC501" and "may be None after the region or not" in why for code, _, why in result.manual)


def test_a_compiler_only_check_is_hoisted_with_its_branch():
    """transformers (sdpa attention, GQA decoders): `elif q_length == 1 and not is_torchdynamo_compiling():`
    was declined as a tracing guard. A compiler-only check answers False while FX traces and False
    inside a wrapped function run eagerly (dynamo traces through the wrapper), so the branch is hoisted;
    eager is the same and the model traces."""
    import torch
    from torch.fx import symbolic_trace

    body = """
        def is_torchdynamo_compiling():
            return torch.compiler.is_compiling()


        class M(nn.Module):
            def forward(self, x):
                if x.shape[1] == 1 and not is_torchdynamo_compiling():
                    x = x * 2
                else:
                    x = x - 1
                return x
    """
    result = fixed(body)
    assert "@torch.fx.wrap" in result.text and not result.manual, (result.text, result.manual)
    before, after = _module("before_compiling", HEAD + textwrap.dedent(body)), _module("after_compiling", result.text)
    traced = symbolic_trace(after.M())
    for x in (torch.randn(2, 1), torch.randn(2, 3)):
        assert torch.equal(before.M()(x), after.M()(x)) and torch.equal(traced(x), before.M()(x))


SHAPE_LIST = """
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(5, 3)
            self.flatten_permutation = [0, 2, 3, 1]

        def forward(self, inputs):
            encoding_indices_view = list(inputs.shape)
            del encoding_indices_view[1]
            flat_input = inputs.permute(self.flatten_permutation).contiguous().view(-1, 3)
            distances = (flat_input**2).sum(dim=1, keepdim=True) - 2 * torch.mm(flat_input, self.embedding.weight.t())
            encoding_indices = torch.max(-distances, dim=1)[1]
            encoding_indices = encoding_indices.view(encoding_indices_view)
            return flat_input, encoding_indices
"""


def test_a_list_built_by_a_call_takes_its_consumers_into_the_region():
    """MONAI (VQVAE, `EMAQuantizer.quantize`): only `encoding_indices_view = list(inputs.shape)` was
    hoisted; the list came back from the wrapped call as a Proxy and `del encoding_indices_view[1]`
    stopped the trace. A `list(...)` result is a container like a display: its consumers join the
    region (`del` of its own item included) until the list is no longer handed back."""
    import torch
    from torch.fx import symbolic_trace

    result = fixed(SHAPE_LIST)
    wrapped = result.text.split("@torch.fx.wrap", 1)[1].split("class M", 1)[0]
    assert "del encoding_indices_view[1]" in wrapped and ".view(encoding_indices_view)" in wrapped, result.text
    before, after = _module("before_list", HEAD + textwrap.dedent(SHAPE_LIST)), _module("after_list", result.text)
    for shape in ((1, 3, 2, 2), (2, 3, 4, 1)):
        x = torch.randn(*shape)
        torch.manual_seed(0)
        b = before.M()
        torch.manual_seed(0)
        a = after.M()
        eager_before, eager_after = b(x), a(x)
        assert all(torch.equal(p, q) for p, q in zip(eager_before, eager_after))
        traced = symbolic_trace(a)
        assert all(torch.equal(p, q) for p, q in zip(traced(x), eager_before))


def test_a_list_call_shadowed_by_a_module_function_is_no_container():
    from fxlint.fix import hoist as h
    from fxlint.fix.tree import Tree

    def binds(helper_name):
        text = HEAD + f"def {helper_name}(x):\n    return x\n\n\nclass M(nn.Module):\n" \
            "    def forward(self, x):\n        s = list(x.shape)\n        return s\n"
        tree = Tree(text)
        func = next(n for n in tree.module.body if isinstance(n, cst.ClassDef)).body.body[0]
        return h._binds_container(h._Region(tree, func, [func.body.body[0]], False), "s")

    assert not binds("list") and binds("other")


MAYBE_MISSING_HEAD = """
    class M(nn.Module):
        def __init__(self, with_head=False):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            if with_head:
                self.head = nn.Linear(4, 4)

        def forward(self, x, return_head=False):
            x = self.proj(x)
            if return_head:
                x = (x, self.head(x))
            return x
"""


def test_an_attribute_init_sets_only_under_a_condition_is_never_read_at_the_call_site():
    """x-transformers (TransformerWrapper, `if add_continuous_pred_head: self.to_next_embed_pred =
    ...`, read only under `if return_next_embed_pred:`): the TRC506 hoist passed
    `to_next_embed_pred=self.to_next_embed_pred` at the call site, so every eager call of a wrapper
    built without the head raised AttributeError. Declined with the reason; eager is unchanged."""
    import torch

    result = fixed(MAYBE_MISSING_HEAD)
    assert "self.head)" not in result.text and "=self.head" not in result.text, result.text
    assert any("`self.head` is assigned in `__init__` only under a condition" in why
               for _, _, why in result.manual), result.manual
    before = _module("before_head", HEAD + textwrap.dedent(MAYBE_MISSING_HEAD))
    after = _module("after_head", result.text)
    x = torch.randn(2, 4)
    for with_head in (False, True):
        torch.manual_seed(0)
        b = before.M(with_head)
        torch.manual_seed(0)
        a = after.M(with_head)
        assert torch.equal(b(x), a(x))


FACTORY_HEAD = """
    class Head(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.grid = torch.arange(4.0)

        def forward(self, x):
            self.grid = self.grid.to(device=x.device)
            return self.fc(x) - self.grid


    class Base(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)
            self.build_layers()

        def build_layers(self):
            self.out_block = self.build_output_block()

        def build_output_block(self):
            return nn.Identity()

        def forward(self, x):
            x = self.proj(x)
            out = self.out_block(x)
            return out


    class Net(Base):
        def build_output_block(self):
            return Head()
"""


def test_a_state_update_in_a_factory_built_submodule_hoists_the_inherited_call_site():
    """MONAI GlobalNet: `AffineHead.forward` runs `self.grid = self.grid.to(device=f.device)`; the
    head is built by GlobalNet's override of RegUNet's `build_output_block` and called in the
    inherited `RegUNet.forward`. Left in the graph, tracing stored a Proxy in `head.grid`, the
    GraphModule copied it, and the traced model returned Proxies (RecursionError in
    `__instancecheck__` when compared); the original model was broken too. The call site in the
    inherited forward is now hoisted with the head passed in: it runs eagerly, state included."""
    import torch
    from torch.fx import symbolic_trace

    result = fixed(FACTORY_HEAD)
    assert "out_block=self.out_block" in result.text, result.text
    # the head now runs inside the wrapped call: its state update is no longer FX's (engine)
    assert not [m for m in result.manual if m[0] == "TRC503"], result.manual
    before, after = _module("before_factory", HEAD + textwrap.dedent(FACTORY_HEAD)), _module("after_factory", result.text)
    x = torch.randn(2, 4)
    torch.manual_seed(0)
    b = before.Net()
    torch.manual_seed(0)
    a = after.Net()
    expected = b(x)
    assert torch.equal(expected, a(x))
    traced = symbolic_trace(a)
    assert isinstance(a.out_block.grid, torch.Tensor) and torch.equal(traced(x), expected)
    assert torch.equal(a(x), expected)
