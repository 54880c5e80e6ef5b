"""Fuzzing the rewriter with layout (issue 18): fixture sources are transformed programmatically into
variants that mean the same but are laid out differently where the findings are (parenthesised with
a line break and a comment inside, method chains split over lines, backslash continuations,
semicolons, nested and `async def` helpers, decorators), and `fix_source` must never raise, always
return code that parses and compiles, refuse no rewrite of its own, and converge: fixing its output
again is a no-op.

Seeded and bounded: FXLINT_FUZZ_SEED (default 18) picks the files and the transforms,
FXLINT_FUZZ_CASES (default 16) how many variants run (~2-3 s of CPU each; a failure names the seed
and file, so `FXLINT_FUZZ_SEED=... pytest tests/test_fix_fuzz.py -k <file>` replays it).
"""
from __future__ import annotations

import os
import random
from pathlib import Path
from typing import List, Sequence, Set

import libcst as cst
import pytest
from libcst.metadata import MetadataWrapper, PositionProvider

from fxlint.api import check_source
from fxlint.fix.api import fix_source

REPO = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("FXLINT_FUZZ_SEED", "18"))
CASES = int(os.environ.get("FXLINT_FUZZ_CASES", "16"))
FILES = sorted(p for p in (REPO / "fixtures").rglob("*.py") if not p.name.endswith(".fixed.py"))

HELPERS = '''

def _fz_deco(f):
    return f


@_fz_deco
async def _fz_async(x):
    return await x
'''


def _newline(indent: str, comment: str = "") -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(whitespace=cst.SimpleWhitespace("  " if comment else ""),
                                          comment=cst.Comment(comment) if comment else None),
        last_line=cst.SimpleWhitespace(indent))


class _Layout(cst.CSTTransformer):
    """Re-lays out the statements on ``rows`` (those holding findings, where rewrites apply) and,
    more rarely, any other statement."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, rng: random.Random, rows: Set[int]) -> None:
        super().__init__()
        self.rng = rng
        self.rows = rows
        self.depth = 0  #: inside a statement chosen for re-layout
        self.fstring = 0

    def _chosen(self, node: cst.CSTNode) -> bool:
        pos = self.get_metadata(PositionProvider, node)
        hit = any(pos.start.line <= r <= pos.end.line for r in self.rows)
        return self.rng.random() < (0.9 if hit else 0.1)

    # ------------------------------------------------------------- skip what must stay one line
    def visit_FormattedString(self, node) -> bool:
        self.fstring += 1
        return True

    def leave_FormattedString(self, original_node, updated_node):
        self.fstring -= 1
        return updated_node

    def visit_Import(self, node) -> bool:
        return False

    def visit_ImportFrom(self, node) -> bool:
        return False

    # ------------------------------------------------------------- statements
    def visit_SimpleStatementLine(self, node) -> bool:
        if self._chosen(node):
            self.depth += 1
            self._mark = node
        return True

    def leave_SimpleStatementLine(self, original_node, updated_node):
        if getattr(self, "_mark", None) is original_node:
            self.depth -= 1
            self._mark = None
        return updated_node

    def _wrap(self, value: cst.BaseExpression) -> cst.BaseExpression:
        """`(\\n  # fuzz\\n value\\n)`: parentheses holding line breaks and a comment."""
        if self.depth == 0 or self.fstring or not isinstance(value, (cst.Call, cst.BinaryOperation, cst.Attribute,
                                                                       cst.Subscript, cst.Comparison)):
            return value
        comment = "# fuzz: layout" if self.rng.random() < 0.5 else ""
        value = value.visit(_SplitChains(self.rng))  # line breaks are legal inside the new parentheses
        return value.with_changes(lpar=[*value.lpar, cst.LeftParen(whitespace_after=_newline("    ", comment))],
                                  rpar=[cst.RightParen(whitespace_before=_newline("")), *value.rpar])

    def leave_Assign(self, original_node, updated_node):
        return updated_node.with_changes(value=self._wrap(updated_node.value))

    def leave_Return(self, original_node, updated_node):
        if updated_node.value is None:
            return updated_node
        return updated_node.with_changes(value=self._wrap(updated_node.value))

    def leave_Expr(self, original_node, updated_node):
        return updated_node.with_changes(value=self._wrap(updated_node.value))

    # ------------------------------------------------------------- inside chosen statements
    def leave_BinaryOperation(self, original_node, updated_node):
        if self.depth == 0 or self.fstring or self.rng.random() < 0.5:
            return updated_node
        op = updated_node.operator
        return updated_node.with_changes(operator=op.with_changes(
            whitespace_before=cst.SimpleWhitespace(" \\\n        ")))

    # ------------------------------------------------------------- blocks and functions
    def leave_IndentedBlock(self, original_node, updated_node):
        """Two simple statements on one line, joined by a semicolon (now and then)."""
        body: List[cst.BaseStatement] = []
        for stmt in updated_node.body:
            prev = body[-1] if body else None
            if (isinstance(prev, cst.SimpleStatementLine) and isinstance(stmt, cst.SimpleStatementLine)
                    and not stmt.leading_lines and self.rng.random() < 0.2 and not _docstring(prev)):
                body[-1] = prev.with_changes(body=[*prev.body, *stmt.body],
                                             trailing_whitespace=stmt.trailing_whitespace)
                continue
            body.append(stmt)
        return updated_node.with_changes(body=body)

    def leave_FunctionDef(self, original_node, updated_node):
        """A nested helper first in forward(); other functions now and then decorated."""
        if updated_node.name.value == "forward" and isinstance(updated_node.body, cst.IndentedBlock):
            inner = cst.parse_statement("def _fz_inner(v):\n    return v\n")
            body = list(updated_node.body.body)
            at = 1 if body and _docstring(body[0]) else 0
            body.insert(at, inner)
            return updated_node.with_changes(body=updated_node.body.with_changes(body=body))
        if updated_node.name.value.startswith("_") or self.rng.random() < 0.7:
            return updated_node
        deco = cst.Decorator(decorator=cst.Name("_fz_deco"))
        return updated_node.with_changes(decorators=[*updated_node.decorators, deco])


class _SplitChains(cst.CSTTransformer):
    """Method chains split over lines: `x\n .view(...)\n .repeat(...)` (used inside parentheses)."""

    def __init__(self, rng: random.Random) -> None:
        super().__init__()
        self.rng = rng

    def visit_FormattedString(self, node) -> bool:
        return False

    def leave_Attribute(self, original_node, updated_node):
        if not isinstance(updated_node.value, (cst.Call, cst.Subscript)) or self.rng.random() < 0.5:
            return updated_node
        return updated_node.with_changes(dot=cst.Dot(whitespace_before=_newline("        ")))


def _docstring(stmt: cst.CSTNode) -> bool:
    return (isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1 and isinstance(stmt.body[0], cst.Expr)
            and isinstance(stmt.body[0].value, (cst.SimpleString, cst.ConcatenatedString)))


def variant(text: str, filename: str, rng: random.Random) -> str:
    """``text`` re-laid out around its findings, with the fuzz helpers appended (when it parses)."""
    rows = {d.location.row for d in check_source(text, filename)}
    module = MetadataWrapper(cst.parse_module(text)).visit(_Layout(rng, rows))
    return module.code.rstrip("\n") + "\n" + HELPERS


def _picked(seed: int, count: int) -> Sequence[Path]:
    rng = random.Random(seed)
    parseable = []
    for path in FILES:
        try:
            cst.parse_module(path.read_text())
            compile(path.read_text(), str(path), "exec")
        except Exception:  # noqa: BLE001 - fixtures that do not parse on purpose (TRC901)
            continue
        parseable.append(path)
    return rng.sample(parseable, min(count, len(parseable)))


@pytest.mark.parametrize("path", _picked(SEED, CASES), ids=lambda p: p.stem)
def test_fix_survives_layout_variants(path: Path) -> None:
    rng = random.Random(f"{SEED}:{path.name}")
    text = variant(path.read_text(), str(path), rng)
    compile(text, str(path), "exec")  # the generator's own output is valid Python
    result = fix_source(text, str(path), unsafe=True)
    assert not result.error, result.error
    compile(result.text, str(path), "exec")
    assert cst.parse_module(result.text).code == result.text
    assert not result.failed, f"seed {SEED}: rewrites refused (their code was invalid): {result.failed}"
    again = fix_source(result.text, str(path), unsafe=True)
    assert not again.applied and again.text == result.text, f"seed {SEED}: not converged: {again.applied}"


def test_the_variants_change_the_layout_where_the_findings_are() -> None:
    """The generator does what it says: a variant of a fixture holds the new layouts."""
    path = REPO / "fixtures" / "fix" / "qat_integer_tensor.py"
    text = variant(path.read_text(), str(path), random.Random(SEED))
    assert text != path.read_text()
    assert "# fuzz: layout" in text and "\\\n" in text and "async def _fz_async" in text
    assert "def _fz_inner(v):" in text
    compile(text, str(path), "exec")
