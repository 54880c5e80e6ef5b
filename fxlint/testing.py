"""Helpers to run a rule's VALID/INVALID examples (used by fxlint's tests; usable for custom rules)."""

from __future__ import annotations

import tempfile
import textwrap
from pathlib import Path
from typing import List, Sequence, Tuple

from fxlint.diagnostics import Diagnostic

#: prepended to examples that do not import what they use; line numbers are reported without it
HEADER = "import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"


def example_source(code: str) -> Tuple[str, int]:
    """(full module text, number of header lines added) for an example's code."""
    body = textwrap.dedent(code).lstrip("\n")
    return HEADER + body, HEADER.count("\n")


def run_example(code: str, helpers: Sequence[Tuple[str, str]] = ()) -> List[Diagnostic]:
    """Check an example in a temporary directory; rows are shifted back to the example's own lines."""
    from dataclasses import replace

    from fxlint import registry
    from fxlint.diagnostics import Location
    from fxlint.engine import Checker

    text, offset = example_source(code)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for name, source in helpers:
            (root / name).write_text(example_source(source)[0])
        main = root / "example.py"
        main.write_text(text)
        from fxlint.analysis.references import referenced_class_names

        blocks = frozenset().union(*(referenced_class_names(p.read_text()) for p in root.glob("*.py")))
        found = Checker(registry.all_rules(), roots=(root,), blocks=blocks).check_file(main)[0]
        out = []
        for d in found:
            if Path(d.filename).name != "example.py":
                out.append(replace(d, location=Location(d.location.row - offset, d.location.column)))
            else:
                out.append(replace(d, location=Location(d.location.row - offset, d.location.column),
                                   end_location=Location(d.end_location.row - offset, d.end_location.column)))
        return out
