"""Classes a package re-exports at its top level are entry points even when another class builds them."""

import textwrap
from pathlib import Path

from fxlint import registry
from fxlint.analysis.references import package_exports, referenced_class_names
from fxlint.engine import Checker


def test_package_exports_reads_top_level_from_imports_only():
    text = textwrap.dedent("""
        from typing import TYPE_CHECKING
        from .models.wrapper import Wrapper as Wrapper, Pair
        from pkg.layers import Norm
        from . import version
        from .star import *
        if TYPE_CHECKING:
            from .models.heads import Head
        try:
            from .extra import Extra
        except ImportError:
            pass
    """)
    found = package_exports(text, "pkg")
    assert ("pkg.models.wrapper", "Wrapper") in found and ("pkg.models.wrapper", "Pair") in found
    assert ("pkg.layers", "Norm") in found and ("pkg", "version") in found
    assert not any(name in ("Head", "Extra", "*") for _, name in found)


WRAPPER = """
import torch.nn as nn

def exists(val):
    return val is not None

class Wrapper(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
    def forward(self, x, cache=None, flag=None):
        if exists(cache) and flag:
            x = x + cache
        return self.proj(x)

class Pair(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Wrapper()
    def forward(self, x):
        return self.inner(x)
"""


def _check(tmp_path: Path, init: str, sub_init: str = ""):
    tmp_path.mkdir(exist_ok=True)
    pkg = tmp_path / "pkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text(init)
    (pkg / "models" / "__init__.py").write_text(sub_init)
    (pkg / "models" / "wrapper.py").write_text(WRAPPER)
    blocks = frozenset().union(*(referenced_class_names(p.read_text()) for p in pkg.rglob("*.py")))
    found = Checker(registry.all_rules(), roots=(tmp_path,), blocks=blocks).check_file(pkg / "models" / "wrapper.py")[0]
    return [(d.code, d.location.row) for d in found]


def test_exported_block_is_also_an_entry(tmp_path):
    assert ("TRC101", 12) in _check(tmp_path, "from .models.wrapper import Wrapper, Pair\n")


def test_exported_through_a_subpackage(tmp_path):
    assert ("TRC101", 12) in _check(tmp_path, "from .models import Wrapper\n", "from .wrapper import Wrapper\n")


def test_block_not_exported_is_analyzed_through_its_parent(tmp_path):
    assert _check(tmp_path, "from .models.wrapper import Pair\n") == []
    # an import under `if TYPE_CHECKING:` (transformers lists every model there) exports nothing
    assert _check(tmp_path / "b", "import typing\nif typing.TYPE_CHECKING:\n    from .models.wrapper import Wrapper\n") == []
