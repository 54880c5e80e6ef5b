"""Which classes are traced entry points and which are blocks analyzed through their parents
(fxlint/analysis/references.py): a class is a block of *its own* file's parents, or of files that
import it — never because an unrelated file has a class of the same name."""
from __future__ import annotations

import textwrap
from pathlib import Path

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
