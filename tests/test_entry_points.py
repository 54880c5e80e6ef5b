"""Which classes are traced entry points and which are blocks analyzed through their parents
(fxlint/analysis/references.py): a class is a block of *its own* file's parents, or of files that
import it — never because an unrelated file has a class of the same name."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from fxlint.api import check_paths
from fxlint.config import Config

HAZARD = """
    import torch.nn as nn

    class WindowAttention(nn.Module):
        def forward(self, x):
            B, H, W, C = x.shape
            return x[:, :min(H, 7)]
"""

OTHER_FILE_SAME_NAME = """
    import torch.nn as nn

    class WindowAttention(nn.Module):
        def forward(self, x):
            return x

    class SwinBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = WindowAttention()

        def forward(self, x):
            return self.attn(x)
"""

IMPORTER = """
    import torch.nn as nn
    from a import WindowAttention

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn = WindowAttention()

        def forward(self, x):
            return self.attn(x)
"""


def _check(tmp_path: Path, files: dict) -> list:
    for name, text in files.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
    return sorted((Path(d.filename).name, d.location.row, d.code) for d in result.diagnostics)


def test_a_same_named_class_in_another_file_does_not_hide_hazards(tmp_path):
    found = _check(tmp_path, {"a.py": HAZARD, "b.py": OTHER_FILE_SAME_NAME})
    assert found == [("a.py", 7, "TRC104")]


def test_an_imported_block_is_reported_once(tmp_path):
    found = _check(tmp_path, {"a.py": HAZARD, "c.py": IMPORTER})
    assert found == [("a.py", 7, "TRC104")]


LAYER = """
    class Layer(nn.Module):
        def forward(self, x, flag=None):
            if flag:
                x = x * 2
            for i in range(x.size(1)):
                x = x + i
            return x
"""
WRAPPER = """
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = Layer()

        def forward(self, x):
            return self.layer(x, flag=True)
"""
#: names both classes in a class body, so both are blocks of this file, and no entry reaches them
REGISTRY = """
    class PreTrained(nn.Module):
        def init_weights(self, module):
            return isinstance(module, (Layer, Wrapper))
"""


def _unreached_pair(layer_first: bool) -> str:
    parts = [LAYER, WRAPPER] if layer_first else [WRAPPER, LAYER]
    return "import torch.nn as nn\n" + "".join(textwrap.dedent(p) for p in parts + [REGISTRY])


@pytest.mark.parametrize("layer_first", [True, False], ids=["part-defined-first", "whole-defined-first"])
def test_unreached_blocks_are_analyzed_through_their_unreached_parents(tmp_path, layer_first):
    """No entry reaches Wrapper or Layer: each is analyzed as an entry with opaque inputs unless a
    parent reaches it. Wrapper goes first, whichever is defined first, so Layer gets the constant
    `flag=True` Wrapper passes (no TRC101 on `if flag`) and its real hazard comes with the chain."""
    (tmp_path / "m.py").write_text(_unreached_pair(layer_first))
    result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
    found = [(d.code, d.reached_from) for d in result.diagnostics]
    assert found == [("TRC203", ("Wrapper.forward", "Layer.forward"))]


BASE_WITH_HAZARD = """
    import torch.nn as nn

    class Base(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return x
            return -x
"""

PLAIN_PIPELINE = """
    from base import Base

    class Pipeline:
        def __init__(self, vae: Base):
            self.vae = vae

        def run(self, x) -> Base:
            out: Base = self.vae(x)
            return out
"""


def test_a_class_named_only_in_annotations_of_a_plain_class_stays_an_entry(tmp_path):
    """Issue 17's repro: a pipeline class (not an nn.Module) annotates `vae: Base`; Base is no
    block of anything, so it is analyzed as an entry and its hazard is found."""
    found = _check(tmp_path, {"base.py": BASE_WITH_HAZARD, "user.py": PLAIN_PIPELINE})
    assert found == [("base.py", 6, "TRC101")]


def test_an_annotation_inside_a_module_class_does_not_make_a_block(tmp_path):
    module_user = PLAIN_PIPELINE.replace("class Pipeline:", "import torch.nn as nn\n\n    class Pipeline(nn.Module):")
    found = _check(tmp_path, {"base.py": BASE_WITH_HAZARD, "user.py": module_user})
    assert found == [("base.py", 6, "TRC101")]


def test_a_module_class_that_builds_the_class_still_makes_it_a_block(tmp_path):
    """Control: built in an nn.Module's __init__, Base is analyzed through that parent (the chain
    names the parent)."""
    builder = """
        import torch.nn as nn
        from base import Base

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.vae = Base()

            def forward(self, x):
                return self.vae(x)
    """
    for name, text in {"base.py": BASE_WITH_HAZARD, "user.py": builder}.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
    [d] = result.diagnostics
    assert d.code == "TRC101" and d.reached_from[0].startswith("Net.")


REGISTRY = """
    import torch


    def sdpa_mask(batch_size, seq_len, dtype):
        return torch.zeros(batch_size, seq_len)


    def eager_mask(batch_size, seq_len, dtype):
        min_dtype = torch.finfo(dtype).min
        return torch.full((batch_size, seq_len), min_dtype)


    class Interface:
        _global_mapping = {"sdpa": sdpa_mask, "eager": eager_mask}

        def get_interface(self, key, default):
            return self._global_mapping.get(key, default)


    ALL_MASKS = Interface()
    PLAIN = {"sdpa": sdpa_mask}
"""

DISPATCHER = """
    import torch.nn as nn
    from masks import ALL_MASKS, PLAIN


    class Model(nn.Module):
        def __init__(self, impl="sdpa"):
            super().__init__()
            self.impl = impl

        def forward(self, x):
            mask = ALL_MASKS.get_interface(self.impl, None)(x.shape[0], x.shape[1], x.dtype)
            other = PLAIN[self.impl](x.shape[0], x.shape[1], x.dtype)
            return x + mask[..., None] + other[..., None]
"""


def test_functions_reached_through_a_registry_are_analyzed(tmp_path):
    """Issue 17: `REGISTRY[impl](...)` / `REGISTRY.get_interface(impl, default)(...)` may call any
    function of a module-level dict (or of a class body's dict, transformers' attention and mask
    interfaces); each is analyzed with the caller's values (they were opaque before)."""
    found = _check(tmp_path, {"masks.py": REGISTRY, "model.py": DISPATCHER})
    assert ("masks.py", 6, "TRC207") in found  # sdpa_mask, through both dispatches
    assert ("masks.py", 10, "TRC209") in found  # eager_mask: finfo of a traced dtype


QUANTIZER_BLOCKS = """
    import torch.nn as nn

    class Quantizer(nn.Module):
        def forward(self, x):
            size = list(x.shape)
            return x.view(size)

    class Wrapper(nn.Module):
        def __init__(self, quantizer: Quantizer, plain=None):
            super().__init__()
            self.quantizer: Quantizer = quantizer
            self.plain = plain

        def forward(self, x):
            return self.quantizer(x) + self.plain(x)
"""

QUANTIZER_MODEL = """
    import torch.nn as nn
    from blocks import Quantizer, Wrapper

    class VQ(nn.Module):
        def __init__(self):
            super().__init__()
            self.wrapper = Wrapper(quantizer=Quantizer())

        def forward(self, x):
            return self.wrapper(x)
"""


def test_a_submodule_whose_class_is_only_declared_is_followed(tmp_path):
    """Issue 17 (MONAI VQVAE -> VectorQuantizer -> EMAQuantizer): a parent in another file builds the
    block and hands it to a wrapper whose `__init__` names its class only in annotations (`self.q:
    Quantizer = q`). Since annotations make no block (the pipeline repro above), the block was
    analyzed by neither route; now the attribute's annotated class is its class, and the block is
    analyzed through the model with its values."""
    for name, text in {"blocks.py": QUANTIZER_BLOCKS, "model.py": QUANTIZER_MODEL}.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
    [d] = result.diagnostics
    assert (Path(d.filename).name, d.location.row, d.code) == ("blocks.py", 6, "TRC403")
    assert d.reached_from == ("VQ.forward", "Wrapper.forward", "Quantizer.forward")


BUILDER_BLOCKS = """
    import torch.nn as nn

    class Down(nn.Module):
        def forward(self, x):
            for s in x.shape[2:]:
                pass
            return x

    class Head(nn.Module):
        def forward(self, x):
            return x

    class StrictHead(nn.Module):
        def forward(self, x):
            return x[: len(x)]
"""

BUILDER_MODELS = """
    import torch.nn as nn
    from blocks import Down, Head, StrictHead

    class Base(nn.Module):
        def __init__(self, depth=2):
            super().__init__()
            self.depth = depth
            self.build_layers()

        def build_layers(self):
            self.downs = nn.ModuleList([self.build_down() for _ in range(self.depth)])
            self.head = self.build_head()

        def build_down(self):
            block = Down()
            return block

        def build_head(self):
            return Head()

        def forward(self, x):
            for down in self.downs:
                x = down(x)
            return self.head(x)

    class Strict(Base):
        def build_head(self):
            return StrictHead()
"""


def test_submodules_built_by_init_helper_methods_are_followed(tmp_path):
    """Issue 17 (MONAI RegUNet, LocalNet, GlobalNet): `__init__` builds its layers in helper methods
    (`self.build_layers()` assigning `self.downs = nn.ModuleList([self.build_down() ...])`, and
    `self.head = self.build_head()`); the classes they return are the submodules' classes, each
    method looked up on the class being read, so a subclass's override builds its own head."""
    for name, text in {"blocks.py": BUILDER_BLOCKS, "models.py": BUILDER_MODELS}.items():
        (tmp_path / name).write_text(textwrap.dedent(text))
    result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
    found = {(Path(d.filename).name, d.location.row, d.code): d for d in result.diagnostics}
    assert sorted(found) == [("blocks.py", 6, "TRC403"), ("blocks.py", 16, "TRC204")]
    assert found[("blocks.py", 6, "TRC403")].reached_from[-1] == "Down.forward"
    assert found[("blocks.py", 16, "TRC204")].reached_from == ("Strict.forward (Base.forward)", "StrictHead.forward")


EINOPS_LAYERS = """
    import torch.nn as nn
    from monai.utils import optional_import

    Rearrange, _ = optional_import("einops.layers.torch", name="Rearrange")
    Reduce = optional_import("einops.layers.torch", "", None, "Reduce")[0]

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.split = Rearrange("b n (h d) -> b h n d", h=2)
            self.pool = nn.Sequential(nn.Identity(), Reduce("b h n d -> b n d", "mean"))

        def forward(self, x):
            return self.pool(self.split(x))
"""


def test_einops_layers_from_optional_import_are_foreign_calls(tmp_path):
    """Issue 17 (MONAI ViT, UNETR, DecoderOnlyTransformer): an einops layer obtained through MONAI's
    `optional_import` (bound like `from einops.layers.torch import Rearrange`) and called on a traced
    value, directly or inside an nn.Sequential, is TRC301 (`KeyError: Proxy(...)` in einops' recipe cache)."""
    found = _check(tmp_path, {"attention.py": EINOPS_LAYERS})
    assert found == [("attention.py", 15, "TRC301"), ("attention.py", 15, "TRC301")]
