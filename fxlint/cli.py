"""The `fxlint` command: parses options, calls :mod:`fxlint.api`, renders, exits.

Exit codes follow ruff: 0 no findings, 1 findings, 2 usage or internal error.
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import click

from fxlint import __version__

USAGE_PROBLEMS = {"missing", "not-python"}


def _split_codes(values: Sequence[str]) -> Tuple[str, ...]:
    return tuple(c.strip().upper() for v in values for c in v.split(",") if c.strip())


def _fail(message: str) -> "click.exceptions.Exit":
    click.echo(f"fxlint: error: {message}", err=True)
    return click.exceptions.Exit(2)


class _OneLineUsageError(click.UsageError):
    """A usage error (unknown option or command, bad or missing argument) shown as one line, like every other
    fxlint error; click's own display is three lines (usage, hint, error). Exit code 2, as click's."""

    def show(self, file=None) -> None:
        hint = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.echo(f"fxlint: error: {self.format_message()}{hint}", err=True)


def _one_line(exc: click.UsageError) -> click.UsageError:
    if isinstance(exc, (_OneLineUsageError, click.exceptions.NoArgsIsHelpError)):
        return exc  # a bare `fxlint` prints the help, as click does
    return _OneLineUsageError(exc.format_message(), exc.ctx)


class _Group(click.Group):
    """Turns unexpected exceptions into one line and exit 2 instead of a traceback; usage errors into one line."""

    def make_context(self, *args, **kwargs) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.UsageError as exc:  # an unknown option of `fxlint` itself
            raise _one_line(exc) from None

    #: `verify` and `fix` live in their own modules, imported only when named (or listed by --help): neither
    #: imports torch at start-up, and `check` does not pay for importing them (verify.api alone is ~60 ms)
    LAZY_COMMANDS = {"verify": "fxlint.verify.command", "fix": "fxlint.fix.command"}

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> Optional[click.Command]:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.LAZY_COMMANDS:
            try:
                module = __import__(self.LAZY_COMMANDS[cmd_name], fromlist=[cmd_name])
            except ImportError:
                return None
            command = getattr(module, cmd_name)
            self.add_command(command)
        return command

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # an unknown command, or a subcommand's options and arguments
            raise _one_line(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except KeyboardInterrupt:
            raise _fail("interrupted") from None
        except BrokenPipeError:  # `fxlint check | head`: the reader has all it wants; not an error to report
            _silence_stdout()
            raise click.exceptions.Exit(141) from None  # 128 + SIGPIPE, as `cat` and git end in a pipe
        except Exception as exc:  # noqa: BLE001
            raise _fail(f"internal error: {type(exc).__name__}: {exc} (please report this)") from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="fxlint")
def main() -> None:
    """Find (and fix) PyTorch model code that torch.fx.symbolic_trace cannot capture."""


def _selection_options(f):
    f = click.option("--select", multiple=True, metavar="CODES",
                     help="Enable only these rule codes or prefixes (comma-separated, e.g. TRC1,TRC501).")(f)
    f = click.option("--extend-select", multiple=True, metavar="CODES", help="Enable these in addition.")(f)
    f = click.option("--ignore", multiple=True, metavar="CODES", help="Disable these rule codes or prefixes.")(f)
    f = click.option("--exclude", multiple=True, metavar="GLOB", help="Skip paths matching this glob.")(f)
    f = click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Read [tool.fxlint] from this pyproject.toml instead of the nearest one.")(f)
    return f


def _load_config(paths: Sequence[Path], config_path: Optional[Path], select, extend_select, ignore, exclude):
    from fxlint import registry
    from fxlint.config import ConfigError, load_config, merge_cli

    try:
        config = load_config(paths[0] if paths else Path.cwd(), config_path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None
    # ruff: --extend-select adds to --select when both are given on the command line
    cli_select, cli_extend = _split_codes(select), _split_codes(extend_select)
    config = merge_cli(config, cli_select + cli_extend if cli_select else (), _split_codes(ignore),
                       () if cli_select else cli_extend, exclude)
    selectors = config.select + config.ignore + tuple(c for _, codes in config.per_file_ignores for c in codes)
    unknown = registry.unknown_selectors(selectors) if selectors else []
    if unknown:
        raise _fail(f"unknown rule code(s): {', '.join(unknown)} (see `fxlint rules`)")
    return config


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@_selection_options
@click.option("--format", "output_format", type=click.Choice(["text", "concise", "full", "json", "sarif", "github"]),
              default="text", show_default=True, help="Output format.")
@click.option("--statistics", is_flag=True, help="Show counts per rule instead of each finding; with --format json, "
                   "an object: the findings under `diagnostics` and a `summary` (files, findings per code, "
                   "files not checked and why).")
@click.option("--show-fixes", is_flag=True, help="Show the fix `fxlint fix` would make (or the guidance) under each finding; "
                   "with --format json, include each fix's edit.")
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when hazards are found.")
@click.option("--diff", "show_diff", is_flag=True,
              help="Print the safe fixes as a unified diff instead of the findings; write nothing "
                   "(exit 1 when there is something to fix).")
@click.option("--jobs", "-j", type=click.IntRange(min=0), default=0, show_default=True,
              help="Worker processes (0 = one per core).")
@click.option("--no-cache", is_flag=True, help="Do not read or write the result cache.")
@click.option("--quiet", "-q", is_flag=True, help="Print findings only, no summary.")
def check(paths: Tuple[Path, ...], select, extend_select, ignore, exclude, config_path, output_format: str,
          statistics: bool, show_fixes: bool, exit_zero: bool, show_diff: bool, jobs: int, no_cache: bool,
          quiet: bool) -> None:
    """Report code in PATHS (default: .) that breaks or silently corrupts torch.fx tracing."""
    from fxlint import api
    from fxlint.files import collect
    from fxlint.noqa_check import unknown_suppression_warnings

    paths = paths or (Path("."),)
    config = _load_config(paths, config_path, select, extend_select, ignore, exclude)
    files, problems = collect(list(paths), config)
    usage = [p for p in problems if p.kind in USAGE_PROBLEMS]
    if usage:  # a mistyped path is a usage error: say so and check nothing (exit 2)
        for p in usage:
            click.echo(f"fxlint: error: {p.filename}: {p.message}", err=True)
        raise click.exceptions.Exit(2)
    if show_diff:
        raise click.exceptions.Exit(_print_diff(files, config, exit_zero))
    result = api.check_paths(files, config, jobs=jobs, use_cache=not no_cache)
    if problems:
        from fxlint.diagnostics import problem_sort_key

        result = replace(result, problems=tuple(sorted(result.problems + tuple(problems), key=problem_sort_key)))
    for line in unknown_suppression_warnings(files):
        click.echo(f"fxlint: warning: {line}", err=True)
    _emit(result, output_format, statistics, show_fixes, quiet)
    raise click.exceptions.Exit(0 if exit_zero or not result.diagnostics else 1)


def _print_diff(files: List[Path], config, exit_zero: bool) -> int:
    """`check --diff` (ruff's): the safe fixes `fxlint fix --apply` would write, as a diff; nothing is written."""
    import difflib

    try:
        from fxlint.fix.api import fix_paths
    except ImportError:
        raise _fail("--diff needs `fxlint fix`, which this installation lacks") from None
    report = fix_paths(files, config=config, unsafe=False, select=config.select, ignore=config.ignore)
    changed = [r for r in report.results if r.changed]
    for r in changed:
        name = os.path.relpath(r.filename) if not os.path.relpath(r.filename).startswith("..") else r.filename
        lines = difflib.unified_diff(r.original.splitlines(keepends=True), r.text.splitlines(keepends=True),
                                     fromfile=f"a/{name}", tofile=f"b/{name}")
        click.echo("".join(line if line.endswith("\n") else line + "\n" for line in lines), nl=False)
    for r in report.results:
        if r.error:
            click.echo(f"fxlint: {r.filename}: {r.error}", err=True)
    fixed = sum(len(r.applied) for r in changed)
    click.echo(f"Would fix {fixed} finding{'s' * (fixed != 1)} in {len(changed)} file{'s' * (len(changed) != 1)} "
               f"(safe fixes only; `fxlint fix --apply` writes them).", err=True)
    return 0 if exit_zero or not changed else 1


def _attach_fix_titles(result, edits: bool = False):
    """The fix `fxlint fix` would make for each finding (its title and safety), so the report says what `fix`
    will do: for `--format full` and `--show-fixes`; with ``edits`` (SARIF, JSON with --show-fixes) also the
    text edit of that fix alone. Best effort: without `fxlint.fix`, or when planning a fix fails, a finding
    keeps its `help:` guidance."""
    try:
        from fxlint.diagnostics import Edit, Fix
        from fxlint.fix.api import HOIST_PREFIXES, hoist_plans, propose_inline
        from fxlint.fix.apply import apply
        from fxlint.fix.plan import Plan
        from fxlint.fix.tree import Tree
    except ImportError:
        return result
    trees: dict = {}
    shown = []
    for d in result.diagnostics:
        if d.fix is None:
            try:
                if d.filename not in trees:
                    with open(d.filename, encoding="utf-8-sig") as fh:
                        trees[d.filename] = Tree(fh.read())
                tree = trees[d.filename]
                outcome = propose_inline(tree, d)
                if not isinstance(outcome, Plan) and d.code.startswith(HOIST_PREFIXES):
                    # a declined in-graph rewrite (its eager proof failed) falls back to a hoist, as in `fix`
                    outcome = next(iter(hoist_plans(tree, [d])), None) or outcome
                if isinstance(outcome, Plan):
                    change = _single_edit(tree.text, apply(tree, [outcome]), Edit,
                                          (d.location, d.end_location)) if edits else None
                    d = replace(d, fix=Fix(outcome.title, outcome.applicability, (change,) if change else ()))
            except Exception:  # noqa: BLE001 - a report must not fail because a fix could not be planned
                trees.setdefault(d.filename, None)
        shown.append(d)
    return replace(result, diagnostics=tuple(shown))


def _single_edit(old: str, new: str, edit_type, span=None):
    """The smallest one-span edit turning ``old`` into ``new`` (1-based rows/columns, end exclusive), widened
    to ``span`` (the finding's start and end Location) when it lies inside it: `len(x)` -> `x.size(0)`."""
    from fxlint.diagnostics import Location

    if old == new:
        return None
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    end_old, end_new = len(old), len(new)
    while end_old > start and end_new > start and old[end_old - 1] == new[end_new - 1]:
        end_old, end_new = end_old - 1, end_new - 1
    line_starts = [0] + [i + 1 for i, ch in enumerate(old) if ch == "\n"]
    if span is not None and 0 < span[0].row <= len(line_starts) and 0 < span[1].row <= len(line_starts):
        lo = line_starts[span[0].row - 1] + span[0].column - 1
        hi = line_starts[span[1].row - 1] + span[1].column - 1
        if lo <= start and end_old <= hi <= len(old):
            grow_left, grow_right = start - lo, hi - end_old
            start, end_old, end_new = lo, hi, end_new + grow_right
            new_content = old[lo:lo + grow_left] + new[lo + grow_left:end_new - grow_right] + old[hi - grow_right:hi]
            return edit_type(_at(line_starts, start, Location), _at(line_starts, end_old, Location), new_content)
    return edit_type(_at(line_starts, start, Location), _at(line_starts, end_old, Location), new[start:end_new])


def _at(line_starts, offset: int, location_type):
    import bisect

    row = bisect.bisect_right(line_starts, offset)
    return location_type(row, offset - line_starts[row - 1] + 1)


def _emit(result, output_format: str, statistics: bool, show_fixes: bool, quiet: bool) -> None:
    from fxlint import registry, render

    for line in render.problem_lines(result.problems):
        click.echo(f"fxlint: {line}", err=True)
    if output_format == "json":
        out = click.get_text_stream("stdout")
        for piece in render.json_pieces(_attach_fix_titles(result, edits=True) if show_fixes else result,
                                        with_summary=statistics):
            out.write(piece)  # ASCII (json escapes the rest): what click.echo would write
        out.write("\n")
        out.flush()
        return
    if output_format == "sarif":
        click.echo(render.render_sarif(_attach_fix_titles(result, edits=True), registry.all_rules()))
        return
    if output_format == "github":
        text = render.render_github(result)
        if text:
            click.echo(text)
        return
    style = render.Style(render.color_wanted(sys.stdout.isatty()))
    # skipped files were reported on stderr above; stdout keeps the findings only
    shown = replace(result, problems=())
    if (output_format == "full" or show_fixes) and not statistics:
        shown = _attach_fix_titles(shown)
    body = render.statistics(shown) if statistics else render.render_text(shown, style, output_format, show_fixes)
    if body:
        click.echo(body)
    if not quiet:
        click.echo(render.summary(shown, style))


@main.command("rules")
@click.option("--format", "output_format", type=click.Choice(["text", "json", "markdown"]), default="text")
def rules_command(output_format: str) -> None:
    """List every rule: code, name, hazard class and fix availability."""
    from fxlint import registry
    from fxlint.docs import rules_json, rules_markdown_table

    all_rules = registry.all_rules()
    if output_format == "json":
        click.echo(rules_json(all_rules))
    elif output_format == "markdown":
        click.echo(rules_markdown_table(all_rules))
    else:
        width = max(len(r.name()) for r in all_rules)
        for r in all_rules:
            click.echo(f"{r.code}  {r.name():<{width}}  {r.hazard.value:<28}  {r.summary}")


@main.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Print the documentation of one rule (by code, e.g. TRC101, or name)."""
    from fxlint import registry
    from fxlint.docs import rule_text

    rule = registry.find(code)
    if rule is None:
        raise _fail(f"unknown rule {code!r} (see `fxlint rules`)")
    click.echo(rule_text(rule))



def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing what is left at exit raises nothing (the recipe of
    Python's `signal` docs for SIGPIPE)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real stdout (a test runner's buffer)
        pass


def run() -> None:
    """The console script (and ``python -m fxlint``): :func:`main`, then exit without tearing down
    the interpreter, as mypy does. A check's objects (every file's index, the cached trees: ~10 M
    objects on transformers' models/) would otherwise be freed one by one after the work is done:
    0.25 s of a 5.5 s check of timm in one process. Output is flushed first; nothing else is pending
    at that point (the cache is saved and worker pools are closed before ``check`` returns).
    Callers that import :func:`main` (tests, other programs) keep the normal exit."""
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = _exit_status(exc.code)
    _hard_exit(code)


def _exit_status(code: object) -> int:
    if code is None or isinstance(code, int):
        return code or 0
    print(code, file=sys.stderr)  # what `sys.exit("message")` does
    return 1


def _hard_exit(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`fxlint check | head`): nothing more to deliver
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
