"""The `fxlint fix` command: a dry-run diff by default, `--apply` to write, `--verify` to prove.

Exit codes: 0 nothing pending (dry run: no change to show; --apply: every change written and, with
--verify, proven); 1 changes pending in a dry run, a change rolled back by --verify, or a file that
could not be read or parsed; 2 usage errors; 3 fxlint failed on some file (an internal error left it
untouched, a rewrite whose result did not parse or compile was dropped, or writing it failed): every
other file and fix was still done. Never imports torch (verify runs models in workers).
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

import click

from fxlint.fix.render import Outcome, fix_json, summary_lines
from fxlint.fix.render import show as _show
from fxlint.fix.write import write_atomic

#: `fix --apply` passes: the second finishes what the first's fixes uncovered in other files' view
MAX_PASSES = 3

if TYPE_CHECKING:  # the engine imports libcst (~0.25 s): only when `fix` actually runs
    from fxlint.fix.api import FixReport, FixResult


@click.command("fix")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--apply", "apply_changes", is_flag=True, help="Write the fixes (default: print a diff).")
@click.option("--unsafe-fixes", is_flag=True, help="Also apply unsafe fixes (torch.where, hoisting).")
@click.option("--select", multiple=True, metavar="CODES", help="Fix only these rule codes or prefixes.")
@click.option("--ignore", multiple=True, metavar="CODES", help="Do not fix these rule codes or prefixes.")
@click.option("--verify", "verify_changes", is_flag=True,
              help="With --apply: run `fxlint verify` on each changed file and roll back those that fail.")
@click.option("--pin", "pins", multiple=True, metavar="Class.forward.input=None",
              help="Let fix pin this forward() input to its None default (or =Tensor: its type) while tracing; "
                   "callers passing it then get an error. Repeatable; nothing is pinned unless named here or in "
                   "[tool.fxlint.fix] pin.")
@click.option("--quiet", "-q", is_flag=True, help="No diff, only the summary.")
@click.option("--show-fixes", is_flag=True,
              help="Under each finding left for a human, what to do; fix titles in full.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="json: every file's fixes and a summary object on stdout, no diff.")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0 = one per core).")
def fix(paths: Tuple[Path, ...], apply_changes: bool, unsafe_fixes: bool, select, ignore, verify_changes: bool,
        pins: Tuple[str, ...], quiet: bool, show_fixes: bool, output_format: str, jobs: int) -> None:
    """Rewrite code in PATHS (default: .) so torch.fx.symbolic_trace can capture it."""
    from fxlint import registry
    from fxlint.cli import _fail, _split_codes

    if verify_changes and not apply_changes:
        raise _fail("--verify needs --apply (it checks the written files)")
    select, ignore = _split_codes(select), _split_codes(ignore)
    unknown = registry.unknown_selectors(select + ignore)
    if unknown:
        raise _fail(f"unknown rule code(s): {', '.join(unknown)} (see `fxlint rules`)")
    paths = paths or (Path("."),)
    from fxlint.config import parse_pin

    try:
        named = dict(parse_pin(p) for p in pins)
    except ValueError as exc:
        raise _fail(f"--pin {exc}") from None
    if not apply_changes:  # a dry run is one pass: nothing to share
        return _run(paths, unsafe_fixes, select, ignore, named, jobs, False, quiet, output_format, show_fixes,
                    verify_changes, None)
    with tempfile.TemporaryDirectory(prefix="fxlint-fix-") as pass_cache:
        _run(paths, unsafe_fixes, select, ignore, named, jobs, True, quiet, output_format, show_fixes,
             verify_changes, Path(pass_cache))


def _run(paths, unsafe_fixes, select, ignore, named, jobs, apply_changes, quiet, output_format, show_fixes,
         verify_changes, pass_cache: Optional[Path]) -> None:
    """One `fix` run; ``pass_cache``: the folder its passes share (only with --apply: a dry run is one pass)."""
    from fxlint.cli import _fail
    from fxlint.config import ConfigError
    from fxlint.fix.api import fix_paths

    progress = _Progress.on_terminal()
    try:
        report = fix_paths(list(paths), unsafe=unsafe_fixes, select=select, ignore=ignore, pins=named, jobs=jobs,
                           progress=progress, pass_cache=pass_cache)
    except ConfigError as exc:  # a broken pyproject.toml: a usage error, as for `check`
        raise _fail(str(exc)) from None
    finally:
        if progress is not None:
            progress.clear()
    for key in report.unmatched_pins:
        click.echo(f"fxlint fix: warning: pin `{key}` matches no finding (keys name an entry model's "
                   "forward() input: Class.forward.input)", err=True)
    usage = [p for p in report.problems if p.kind in ("missing", "not-python")]
    for problem in report.problems:
        kind = "error: " if problem in usage else ""
        click.echo(f"fxlint: {kind}{problem.filename}: {problem.message}", err=True)
    if usage:
        raise click.exceptions.Exit(2)
    changed = [r for r in report.results if r.changed]
    failures = _report_errors(report)
    incomplete = any(r.incomplete for r in report.results)
    if not apply_changes:
        if not quiet and output_format == "text":
            for result in changed:
                click.echo(_diff(result), nl=False)
        _report(report, Outcome(), output_format, show_fixes)
        raise click.exceptions.Exit(3 if incomplete else 1 if changed or failures else 0)
    report, unwritten = _apply_in_passes(report, list(paths), unsafe_fixes, select, ignore, jobs, named, pass_cache)
    incomplete = any(r.incomplete for r in report.results)
    written = [r for r in report.results if r.changed and r.filename not in unwritten]
    rolled_back = _verify_and_roll_back(written) if verify_changes and written else {}
    _report(report, Outcome(True, rolled_back, unwritten), output_format, show_fixes)
    raise click.exceptions.Exit(3 if incomplete or unwritten else 1 if rolled_back or failures else 0)


def _apply_in_passes(report: FixReport, paths: List[Path], unsafe: bool, select, ignore, jobs: int, pins=None,
                     pass_cache: Optional[Path] = None):
    """Write the fixes, then fix the written tree again until a pass changes nothing (at most
    MAX_PASSES). Each pass starts from a whole-project check, which sees what a fix of one file
    left in code reached from another (a helper function hoisted in round 1 leaves an item
    assignment that only the project view reports): the rounds inside one file re-check that file
    alone, and stopped short (timm: a second `fix` still wanted 9 fixes in 2 files). A dry run
    shows the first pass only. Returns the merged report and {path: why} of files not written."""
    from fxlint.fix.api import fix_paths, merge_reports

    unwritten = _write([r for r in report.results if r.changed])
    latest = report  # the last pass's own report (``report`` becomes the merge of all passes)
    for _ in range(MAX_PASSES - 1):
        if not any(r.changed and r.filename not in unwritten for r in report.results):
            break
        progress = _Progress.on_terminal("pass 2+: ")
        try:
            later = fix_paths(paths, unsafe=unsafe, select=select, ignore=ignore, pins=pins or {}, jobs=jobs,
                              progress=progress, pass_cache=pass_cache, earlier=latest)
        finally:
            if progress is not None:
                progress.clear()
        # a file an internal error left untouched fails the same way again: its report stays
        later = replace(later, results=tuple(r for r in later.results if not r.internal))
        latest = later
        changed = [r for r in later.results if r.changed and r.filename not in unwritten]
        unwritten.update(_write(changed))
        report = merge_reports(report, later)
        if not changed:
            break
    return report, unwritten


class _Progress:
    """`fixing 12/49 files` on one line of stderr, rewritten in place; only on a terminal."""

    def __init__(self, label: str) -> None:
        self.label = label

    @classmethod
    def on_terminal(cls, label: str = "") -> "_Progress | None":
        stream = click.get_text_stream("stderr")
        return cls(label) if stream.isatty() and os.environ.get("TERM") != "dumb" else None

    def __call__(self, done: int, total: int) -> None:
        click.echo(f"\r\x1b[Kfxlint fix: {self.label}fixing {done}/{total} files", err=True, nl=False)

    def clear(self) -> None:
        click.echo("\r\x1b[K", err=True, nl=False)


def _report(report: FixReport, outcome: Outcome, output_format: str, show_fixes: bool) -> None:
    if output_format == "json":
        click.echo(json.dumps(fix_json(report, outcome), indent=2))
    else:
        click.echo("\n".join(summary_lines(report, outcome, detail=show_fixes)))


def _write(changed: List[FixResult]) -> Dict[str, str]:
    """Write every changed file; a file that cannot be written (read-only, disk full) is named and
    the others are still written. Returns {path: why} of those not written."""
    unwritten: Dict[str, str] = {}
    for result in changed:
        try:
            write_atomic(result.filename, result.text)
        except OSError as exc:
            unwritten[result.filename] = exc.strerror or str(exc)
            click.echo(f"fxlint fix: {_show(result.filename)}: not written: {unwritten[result.filename]}", err=True)
    return unwritten


def _report_errors(report: FixReport) -> int:
    failures = 0
    for result in report.results:
        if result.error:
            click.echo(f"fxlint fix: {_show(result.filename)}: {result.error}", err=True)
            failures += 1
    return failures


def _diff(result: FixResult) -> str:
    name = _show(result.filename)
    lines = difflib.unified_diff(result.original.splitlines(keepends=True), result.text.splitlines(keepends=True),
                                 fromfile=f"a/{name}", tofile=f"b/{name}")
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return text


def _verify_and_roll_back(changed: List[FixResult]) -> Dict[str, str]:
    """Verify the written files; put back the original of every file with a failing model."""
    from fxlint.verify.api import VerifyOptions, verify_paths

    files = [r.filename for r in changed]
    by_file = {r.filename: r for r in changed}
    verdicts = verify_paths(files, VerifyOptions())
    failed: Dict[str, str] = {}
    verified = set()
    for model in verdicts.models:
        path = _match(model.file, files)
        if path is None:
            continue
        if model.verdict == "fail" and path not in failed:
            stage, result = model.first_failure or ("?", None)
            failed[path] = f"{model.target}: {stage}: {result.error if result else 'failed'}" \
                + _written_by_fix(result, by_file[path])
        elif model.verdict == "pass":
            verified.add(path)
    for result in changed:
        if result.filename in failed:
            write_atomic(result.filename, result.original)
        elif result.filename not in verified:
            click.echo(f"fxlint fix: {_show(result.filename)}: not verified (no model could be built; "
                       "add make() or configure [tool.fxlint.verify])", err=True)
    return failed


def _written_by_fix(result, fixed: FixResult) -> str:
    """" (line N, which fix wrote)" when the failure is blamed on a line the fix inserted or changed:
    the fix, not the user's code, broke the model there."""
    location = getattr(result, "location", None)
    if location is None or os.path.abspath(location.filename) != os.path.abspath(fixed.filename):
        return ""
    matcher = difflib.SequenceMatcher(a=fixed.original.splitlines(), b=fixed.text.splitlines(), autojunk=False)
    written = any(j1 < location.row <= j2 for tag, _, _, j1, j2 in matcher.get_opcodes() if tag != "equal")
    return f" (line {location.row}, which fix wrote)" if written else ""


def _match(model_file: str, files: Sequence[str]) -> "str | None":
    target = os.path.abspath(model_file)
    return next((f for f in files if os.path.abspath(f) == target), None)
