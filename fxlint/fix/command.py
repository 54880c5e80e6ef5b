"""The `fxlint fix` command: a dry-run diff by default, `--apply` to write, `--verify` to prove.

Exit codes: 0 nothing pending (dry run: no change to show; --apply: every change written and, with
--verify, proven); 1 changes pending in a dry run, a change rolled back by --verify, or a file that
could not be read or parsed; 2 usage errors; 3 fxlint failed on some file (an internal error left it
untouched, a rewrite whose result did not parse or compile was dropped, or writing it failed): every
other file and fix was still done. Never imports torch (verify runs models in workers).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Sequence, Tuple

import click

from fxlint.diagnostics import Applicability
from fxlint.fix.write import write_atomic

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
@click.option("--quiet", "-q", is_flag=True, help="No diff, only the summary.")
def fix(paths: Tuple[Path, ...], apply_changes: bool, unsafe_fixes: bool, select, ignore, verify_changes: bool,
        quiet: bool) -> None:
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
    from fxlint.config import ConfigError
    from fxlint.fix.api import fix_paths

    try:
        report = fix_paths(list(paths), unsafe=unsafe_fixes, select=select, ignore=ignore)
    except ConfigError as exc:  # a broken pyproject.toml: a usage error, as for `check`
        raise _fail(str(exc)) from None
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
        if not quiet:
            for result in changed:
                click.echo(_diff(result), nl=False)
        _summary(report, changed, written=False, rolled_back={})
        raise click.exceptions.Exit(3 if incomplete else 1 if changed or failures else 0)
    unwritten = _write(changed)
    changed = [r for r in changed if r.filename not in unwritten]
    rolled_back = _verify_and_roll_back(changed) if verify_changes and changed else {}
    _summary(report, changed, written=True, rolled_back=rolled_back, unwritten=unwritten)
    raise click.exceptions.Exit(3 if incomplete or unwritten else 1 if rolled_back or failures else 0)


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
    verdicts = verify_paths(files, VerifyOptions())
    failed: Dict[str, str] = {}
    verified = set()
    for model in verdicts.models:
        path = _match(model.file, files)
        if path is None:
            continue
        if model.verdict == "fail" and path not in failed:
            stage, result = model.first_failure or ("?", None)
            failed[path] = f"{model.target}: {stage}: {result.error if result else 'failed'}"
        elif model.verdict == "pass":
            verified.add(path)
    for result in changed:
        if result.filename in failed:
            write_atomic(result.filename, result.original)
        elif result.filename not in verified:
            click.echo(f"fxlint fix: {_show(result.filename)}: not verified (no model could be built; "
                       "add make() or configure [tool.fxlint.verify])", err=True)
    return failed


def _match(model_file: str, files: Sequence[str]) -> "str | None":
    target = os.path.abspath(model_file)
    return next((f for f in files if os.path.abspath(f) == target), None)


def _summary(report: FixReport, changed: List[FixResult], written: bool, rolled_back: Dict[str, str],
             unwritten: "Dict[str, str] | None" = None) -> None:
    kept = [r for r in changed if r.filename not in rolled_back]
    applied = [(r, a) for r in kept for a in r.applied]
    safe = sum(1 for _, a in applied if a[3] is Applicability.SAFE)
    verb = "Fixed" if written else "Would fix"
    click.echo(f"{verb} {len(applied)} finding(s) in {len(kept)} file(s) ({safe} safe, {len(applied) - safe} unsafe)")
    for path, why in rolled_back.items():
        click.echo(f"Rolled back {_show(path)}: verification failed: {why}")
    skipped = [(r, s) for r in report.results for s in r.skipped_unsafe]
    if skipped:
        click.echo(f"Skipped as unsafe: {len(skipped)} (rerun with --unsafe-fixes)")
        for r, (code, row, title) in skipped:
            click.echo(f"  {_show(r.filename)}:{row}: {code} {title}")
    manual = [(r, m) for r in report.results for m in r.manual]
    if manual:
        click.echo(f"Needs manual work: {len(manual)}")
        for r, (code, row, why) in manual:
            click.echo(f"  {_show(r.filename)}:{row}: {code} {why}")
    _failures_summary(report, unwritten or {})


def _failures_summary(report: FixReport, unwritten: Dict[str, str]) -> None:
    """What fxlint failed to do (exit 3): refused rewrites, files an internal error left untouched,
    files not written."""
    failed = [(r, f) for r in report.results for f in r.failed]
    if failed:
        click.echo(f"Could not be applied: {len(failed)} (the rewritten code was invalid, so it was dropped; "
                   "the file's other fixes are kept; please report this)")
        for r, (code, row, title, why) in failed:
            click.echo(f"  {_show(r.filename)}:{row}: {code} {title}: {why}")
    broken = [r for r in report.results if r.internal]
    if broken or unwritten:
        click.echo(f"Not fixed: {len(broken) + len(unwritten)} file(s) (left as they were)")
        for r in broken:
            click.echo(f"  {_show(r.filename)}: {r.error}")
        for path, why in unwritten.items():
            click.echo(f"  {_show(path)}: not written: {why}")


def _show(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel
