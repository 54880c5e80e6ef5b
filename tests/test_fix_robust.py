"""`fxlint fix` on a whole tree never ends in an internal error (issue 18): a rewrite whose result
does not parse is dropped and reported, the file's other fixes kept; an exception while fixing one
file leaves that file untouched and named, every other file is still fixed and written (exit 3);
and a fixed tree fixed again proposes nothing.

Two tests below inject a fault into the rewrite table (`fxlint.fix.inline.INLINE`, a real rewrite
function put in front of the real ones), because fxlint's own rewrites no longer produce invalid
code that we know of: one builds a node whose text does not parse (a method chain's line break
moved outside its parentheses, the shape of the TRC603 bug), the other raises what re-parsing such
text used to raise. Everything else is real: the CLI, the check, LibCST, the files.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import libcst as cst
import pytest
from click.testing import CliRunner

from fxlint.cli import main
from fxlint.diagnostics import Applicability
from fxlint.fix.inline import INLINE
from fxlint.fix.plan import Plan

REPO = Path(__file__).resolve().parent.parent
FIX_CASES = REPO / "fixtures" / "fix"
MODELS = REPO / "fixtures" / "models"

#: TRC603 in a parenthesised multi-line method chain: the `.repeat` -> `.tile` rewrite re-parsed
#: `where\n .view(-1, 1).tile((1, self.w))` as an expression and the whole run ended (exit 2)
CHAIN = '''import torch
import torch.nn as nn


class Picker(nn.Module):
    def __init__(self, w=4):
        super().__init__()
        self.w = w

    def forward(self, x: torch.Tensor):  # annotated: TRC603's rewrite needs a proven tensor
        peak, where = torch.max(x, 1)
        cells = (where
                 .view(-1, 1)
                 .repeat(1, self.w))  # one row per cell
        hit = (peak > 0.0).unsqueeze(
            1).float()
        keep = (where  # the winners
                .permute(0).to(
                    torch.float32))
        return cells, hit, keep
'''

#: two findings fixed in the same round: TRC207 (`torch.zeros(b, n)`) and TRC204 (`len(x)`)
TWO_FIXES = '''import torch
import torch.nn as nn


class M(nn.Module):
    def forward(self, x: torch.Tensor):  # annotated: `len(x)` -> `x.size(0)` needs a proven tensor
        h = torch.zeros(x.size(0), 5, dtype=x.dtype)
        n = len(x)
        return h, n
'''


def run(*args: str):
    return CliRunner().invoke(main, ["fix", *args], catch_exceptions=False)


def parses(path: Path) -> bool:
    text = path.read_text()
    compile(text, str(path), "exec")
    return cst.parse_module(text).code == text


def test_multiline_method_chain_is_fixed_not_crashed(tmp_path):
    model = tmp_path / "chain.py"
    model.write_text(CHAIN)
    result = run(str(model), "--apply", "--unsafe-fixes")
    assert result.exit_code == 0, result.output
    text = model.read_text()
    assert parses(model)
    assert "(where\n                 .view(-1, 1)\n                 .tile((1, self.w)))  # one row per cell" in text
    assert "(peak > 0.0).float().unsqueeze(\n            1)" in text
    assert ".to(\n                    torch.float32).permute(0))" in text
    again = run(str(model), "--unsafe-fixes")
    assert again.exit_code == 0, again.output
    assert "+++" not in again.output and "Would fix 0 finding(s)" in again.output


def _broken_zeros(tree, d):
    """A rewrite that puts a line break outside any bracket (`torch\\n.zeros(...)`)."""
    node = tree.at(d.location.row, d.location.column, cst.Call)
    if node is None or not isinstance(node.func, cst.Attribute):
        return None
    newline = cst.ParenthesizedWhitespace(last_line=cst.SimpleWhitespace("    "))
    bad = node.with_changes(func=node.func.with_changes(dot=cst.Dot(whitespace_before=newline)))
    return Plan("Broken on purpose", Applicability.SAFE, {node: bad}, [d])


def test_invalid_rewrite_is_dropped_and_the_others_are_kept(tmp_path, monkeypatch):
    monkeypatch.setitem(INLINE, "TRC207", (_broken_zeros,) + tuple(INLINE.get("TRC207", ())))
    model = tmp_path / "two.py"
    model.write_text(TWO_FIXES)
    result = run(str(model), "--apply")
    assert result.exit_code == 3, result.output
    text = model.read_text()
    assert parses(model)
    assert "n = x.size(0)" in text  # TRC204's fix, planned in the same round, is kept
    assert "torch.zeros(x.size(0), 5, dtype=x.dtype)" in text  # TRC207's broken one is not
    assert "Could not be applied: 1" in result.output
    assert "two.py:7: TRC207 Broken on purpose: the rewritten code does not parse" in result.output
    assert "internal error" not in result.output


def _raising(tree, d):
    """What the TRC603 rewrite did: re-parse a multi-line fragment as an expression."""
    if d.filename.endswith("bad.py"):
        cst.parse_expression("where\n .view(-1, 1).tile((1, 2))")
    return None


def test_exception_in_one_file_leaves_it_untouched_and_fixes_the_rest(tmp_path, monkeypatch):
    monkeypatch.setitem(INLINE, "TRC207", (_raising,) + tuple(INLINE.get("TRC207", ())))
    bad, good = tmp_path / "bad.py", tmp_path / "good.py"
    bad.write_text(TWO_FIXES)
    good.write_text(TWO_FIXES)
    result = run(str(tmp_path), "--apply")
    assert result.exit_code == 3, result.output
    assert bad.read_text() == TWO_FIXES
    assert "torch.zeros((x.size(0), 5), dtype=x.dtype)" in good.read_text()
    assert "Fixed 2 finding(s) in 1 file(s)" in result.output
    assert "Not fixed: 1 file(s)" in result.output
    assert "bad.py: internal error, left untouched: ParserSyntaxError" in result.output
    dry = run(str(tmp_path))
    assert dry.exit_code == 3 and "bad.py" in dry.output and "good.py" not in dry.output


def test_exit_status_3_is_documented():
    from fxlint.fix import command

    assert "3 fxlint failed on some file" in command.__doc__
    assert "exit 3" in (REPO / "README.md").read_text()


def test_manual_work_is_one_short_line_with_the_guidance_on_request(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "chain.py"
    model.write_text(CHAIN)
    short = run("chain.py", "-q")
    assert "Needs manual work: 1 (--show-fixes: what to do)" in short.output
    assert "  chain.py:12: TRC603 integer or bool tensor through an op QAT fake-quantizes (dtype crash)\n" \
        in short.output
    assert "no unobserved spelling of `view`" not in short.output
    assert max(len(line) for line in short.output.splitlines()) <= 120
    detail = run("chain.py", "-q", "--show-fixes")
    assert "      no unobserved spelling of `view` for an integer tensor" in detail.output


def test_fix_json_lists_every_file_and_a_summary(tmp_path):
    (tmp_path / "two.py").write_text(TWO_FIXES)
    (tmp_path / "broken.py").write_text("def forward(self, x:\n    return x\n")
    result = run(str(tmp_path), "--format", "json")
    assert result.exit_code == 1  # the file that does not parse
    doc = json.loads(result.stdout)  # stdout is the JSON document alone: no diff
    by_name = {Path(f["filename"]).name: f for f in doc["files"]}
    assert [a["code"] for a in by_name["two.py"]["applied"]] == ["TRC207", "TRC204"]
    assert by_name["two.py"]["changed"] and by_name["two.py"]["error"] is None
    summary = doc["summary"]
    assert summary["files_checked"] == 2 and summary["written"] is False
    assert summary["fixed"] == 2 and summary["fixed_by_code"] == {"TRC204": 1, "TRC207": 1}
    [not_fixed] = summary["files_not_fixed"]
    assert not_fixed["filename"] == str(tmp_path / "broken.py") and "does not parse" in not_fixed["reason"]
    assert (tmp_path / "two.py").read_text() == TWO_FIXES  # a dry run


@pytest.mark.slow
def test_every_fixture_converges_in_one_run(tmp_path):
    """`fix --apply --unsafe-fixes` over all fixtures (as one tree: a project check sees helper modules),
    then `fix` again: nothing proposed, not a byte changed."""
    tree = tmp_path / "all"
    shutil.copytree(MODELS, tree / "models", ignore=shutil.ignore_patterns("*.expected"))
    (tree / "fix").mkdir()
    for case in FIX_CASES.glob("*.py"):
        if not case.name.endswith(".fixed.py"):
            shutil.copy(case, tree / "fix" / case.name)
    first = run(str(tree), "--apply", "--unsafe-fixes", "--format", "json")
    summary = json.loads(first.stdout)["summary"]
    assert summary["fixed"] > 100 and summary["failed"] == 0, summary
    assert first.exit_code in (0, 1), first.output  # 1: fixtures that do not parse, on purpose
    after = {p: p.read_bytes() for p in tree.rglob("*.py")}
    again = run(str(tree), "--unsafe-fixes", "--format", "json")
    doc = json.loads(again.stdout)
    assert doc["summary"]["fixed"] == 0, [(f["filename"], f["applied"]) for f in doc["files"] if f["applied"]]
    assert again.exit_code == first.exit_code
    assert {p: p.read_bytes() for p in tree.rglob("*.py")} == after


def test_apply_finishes_what_a_helper_file_fix_uncovers(tmp_path):
    """timm's pos_embed_sincos pattern: a helper in one file, reached only from a model in another.
    Hoisting `list(pos_embed.shape)` alone would hand back a Proxy whose item assignment is then a
    hazard only the project view reports (the file alone has no model): once a second pass finished
    it. A list a hoist builds now takes its consumers into the same region, so one pass moves the
    item assignment too, and a second `fix` proposes nothing."""
    package = tmp_path / "net"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(
        "def gather_kept(pos_embed, keep_indices):\n"
        "    keep_expand = list(pos_embed.shape)\n"
        "    keep_expand[-2] = -1\n"
        "    keep_indices = keep_indices.expand(keep_expand)\n"
        "    return pos_embed.gather(-2, keep_indices)\n")
    (package / "model.py").write_text(
        "import torch.nn as nn\n\nfrom .helpers import gather_kept\n\n\n"
        "class Net(nn.Module):\n    def forward(self, x, keep):\n        return gather_kept(x, keep)\n")
    dry = run(str(package), "--unsafe-fixes", "--format", "json")
    assert json.loads(dry.stdout)["summary"]["fixed"] == 1  # a dry run shows the first pass
    result = run(str(package), "--apply", "--unsafe-fixes", "--format", "json")
    doc = json.loads(result.stdout)
    assert result.exit_code == 0
    [helpers] = doc["files"]
    assert [a["code"] for a in helpers["applied"]] == ["TRC403"]
    text = (package / "helpers.py").read_text()
    assert "keep_expand[-2] = -1" not in text.split("def gather_kept")[1]
    assert "keep_expand[-2] = -1" in text.split("@torch.fx.wrap")[1].split("def gather_kept")[0]
    again = run(str(package), "--unsafe-fixes")
    assert again.exit_code == 0 and "Would fix 0 finding(s)" in again.output


@pytest.mark.slow
def test_parallel_fix_gives_the_serial_result(tmp_path):
    """-j 2 fixes the files in check's worker pool (fork): the same report as one process; no
    progress line when stderr is not a terminal."""
    for case in FIX_CASES.glob("*.py"):
        if not case.name.endswith(".fixed.py"):
            shutil.copy(case, tmp_path / case.name)
    serial = run(str(tmp_path), "--unsafe-fixes", "--format", "json", "-j", "1")
    parallel = run(str(tmp_path), "--unsafe-fixes", "--format", "json", "-j", "2")
    assert json.loads(parallel.stdout) == json.loads(serial.stdout)
    assert json.loads(serial.stdout)["summary"]["files_with_findings"] >= 8  # enough for the pool
    assert "fixing" not in parallel.stderr


def test_fix_passes_share_a_private_cache_that_follows_changed_files(tmp_path, monkeypatch):
    """`fix --apply`'s passes share a result cache in a private folder: a later pass re-analyzes the
    files that changed and those whose dependencies did, never answering from a stale entry; the
    user's own check cache (the project's .fxlint_cache) is not written."""
    from fxlint.fix.api import fix_paths

    user_cache = tmp_path / "user-cache"
    monkeypatch.setenv("FXLINT_CACHE_DIR", str(user_cache))
    package = tmp_path / "net"
    package.mkdir()
    (package / "__init__.py").write_text("")
    helper = package / "helpers.py"
    helper.write_text("def scale(x):\n    return x * 2\n")
    (package / "model.py").write_text(
        "import torch.nn as nn\n\nfrom .helpers import scale\n\n\n"
        "class Net(nn.Module):\n    def forward(self, x):\n        return scale(x)\n")
    cache = tmp_path / "pass-cache"
    first = fix_paths([package], unsafe=True, jobs=1, pass_cache=cache)
    assert first.results == () and any(cache.iterdir())
    helper.write_text("def scale(x):\n    if x.sum() > 0:\n        return x * 2\n    return x\n")
    second = fix_paths([package], unsafe=True, jobs=1, pass_cache=cache)
    uncached = fix_paths([package], unsafe=True, jobs=1)
    assert [r.filename for r in second.results] == [str(helper)]
    assert second.results == uncached.results
    result = run(str(package), "--apply", "--unsafe-fixes")
    assert result.exit_code == 0 and "@torch.fx.wrap" in helper.read_text()
    assert not user_cache.exists()


def test_a_later_pass_reuses_only_results_whose_text_and_findings_are_unchanged(tmp_path):
    """fix_paths(earlier=...) keeps an earlier pass's result for a file it left unchanged when the
    file's text and its whole-project findings are the same again (fixing is a function of the two);
    a written file, or one whose text changed meanwhile, is fixed again. Either way the report equals
    a pass without ``earlier``."""
    from fxlint.fix.api import fix_paths

    manual = tmp_path / "counter.py"  # TRC503: no automatic fix, the file stays as it is
    manual.write_text("import torch.nn as nn\n\n\nclass Counter(nn.Module):\n    def __init__(self):\n"
                      "        super().__init__()\n        self.count = 0\n\n    def forward(self, x):\n"
                      "        self.count += 1\n        return x * 2\n")
    fixable = tmp_path / "net.py"  # TRC204: hoisted
    fixable.write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def forward(self, x):\n"
                       "        n = len(x)\n        return x * n\n")
    first = fix_paths([tmp_path], unsafe=True, jobs=1)
    by_name = {Path(r.filename).name: r for r in first.results}
    assert by_name["net.py"].changed and not by_name["counter.py"].changed and by_name["counter.py"].manual
    fixable.write_text(by_name["net.py"].text)  # as `fix --apply` writes it
    second = fix_paths([tmp_path], unsafe=True, jobs=1, earlier=first)
    fresh = fix_paths([tmp_path], unsafe=True, jobs=1)
    assert second.results == fresh.results
    reused = {Path(r.filename).name for r in second.results if any(r is e for e in first.results)}
    assert reused == {"counter.py"}
    manual.write_text(manual.read_text() + "\n")  # same findings, other text: fixed again
    third = fix_paths([tmp_path], unsafe=True, jobs=1, earlier=first)
    assert not any(r is e for r in third.results for e in first.results)


def _package_with_helper(root: Path) -> Path:
    """`pkg/models/net.py`, whose forward calls a hazardous helper of `pkg/helpers.py`."""
    (root / "pkg" / "models").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "models" / "__init__.py").write_text("")
    (root / "pkg" / "helpers.py").write_text(
        "def scale(x):\n    if x.sum() > 0:\n        return x * 2\n    return x\n")
    (root / "pkg" / "models" / "net.py").write_text(
        "import torch.nn as nn\n\nfrom ..helpers import scale\n\n\nclass Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 4)\n\n"
        "    def forward(self, x):\n        y = self.fc(x)\n        if y.sum() > 0:\n            y = y * 2\n"
        "        return scale(y)\n")
    return root / "pkg"


def test_fix_writes_only_the_paths_given(tmp_path, monkeypatch):
    """A helper module outside the paths given, reached from a checked model, has findings the
    check reports; `fix` leaves it as it is and says so (on transformers, fixing the whole package
    rewrote 8 files outside it before)."""
    pkg = _package_with_helper(tmp_path)
    monkeypatch.chdir(tmp_path)
    helper = (pkg / "helpers.py").read_text()
    result = run("pkg/models", "--apply", "--unsafe-fixes")
    assert (pkg / "helpers.py").read_text() == helper
    assert "torch.where" in (pkg / "models" / "net.py").read_text()
    assert "Left alone: findings in 1 file(s) outside the paths given" in result.output
    assert "  pkg/helpers.py\n" in result.output
    doc = json.loads(run("pkg/models", "--unsafe-fixes", "--format", "json").stdout)
    assert doc["summary"]["outside_paths"] == [str((pkg / "helpers.py").resolve())]
    assert all(Path(f["filename"]).name != "helpers.py" for f in doc["files"])
    named = run("pkg", "--unsafe-fixes", "--format", "json")  # named, it is fixed
    assert "helpers.py" in {Path(f["filename"]).name for f in json.loads(named.stdout)["files"] if f["applied"]}
