"""The `fxlint verify` command: parse options, call :func:`fxlint.verify.api.verify_paths`, render, exit.

Exit codes: 0 when every verified model passes through qat_run, 1 when any fails, 2 on usage errors.
The main CLI registers it with ``main.add_command(verify)``.
"""

from __future__ import annotations

import sys
from typing import Optional, TextIO, Tuple

import click

from fxlint.verify.api import BACKENDS, VerifyOptions, verify_paths
from fxlint.verify.render import render_json, render_table
from fxlint.verify.targets import VerifyUsageError


class _Progress:
    """`[3/12] path::Class` on one rewritten stderr line, only when stderr is a terminal."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = 0

    def __call__(self, done: int, total: int, label: str) -> None:
        text = f"[{done}/{total}] {label}"[:100]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def clear(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()


@click.command("verify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--factory", metavar="NAME|module:function",
              help="Function returning model, (model, args) or (model, args, kwargs): a NAME in each checked "
                   "file, module:function or path/file.py:function. Default: make() when a file defines it.")
@click.option("--alt-factory", metavar="NAME|module:function",
              help="Second factory whose inputs are used as the second example (default: make_alt() beside make()).")
@click.option("--qat-backend", type=click.Choice(BACKENDS), default="x86", show_default=True,
              help="Backend of get_default_qat_qconfig_mapping.")
@click.option("--timeout", type=click.FloatRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Seconds per model, all stages together.")
@click.option("--format", "output_format", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None,
              help="Models verified side by side (default: CPU count, at most 4).")
@click.option("--config", type=click.Path(exists=True, dir_okay=False),
              help="A TOML file with [tool.fxlint.verify], instead of the nearest pyproject.toml.")
@click.option("--python", "python", type=click.Path(exists=True, dir_okay=False),
              help="Python of the environment that has torch and the model's dependencies "
                   "(default: the one running fxlint).")
def verify(paths: Tuple[str, ...], factory: Optional[str], alt_factory: Optional[str], qat_backend: str,
           timeout: float, output_format: str, jobs: Optional[int], config: Optional[str],
           python: Optional[str]) -> None:
    """Prove that models trace, match eager and survive FX QAT; blame failures on source lines.

    Models and inputs come from [tool.fxlint.verify] in pyproject.toml ("path.py::Class" =
    "module:factory"), else --factory, else a make() in the file, else every nn.Module class that
    builds with no arguments (inputs inferred from its first layer).

    Each model runs in its own worker process: import, construct, symbolic_trace, eager equivalence
    (train and eval, two inputs, repeated calls), prepare_qat_fx, a QAT forward and backward, and
    convert_fx (reported, not part of the verdict).

    Exit status: 0 when every verified model passes through qat_run, 1 when any fails, 2 on usage errors.
    """
    options = VerifyOptions(factory, alt_factory, qat_backend, timeout, jobs, config=config, python=python)
    # sys.stderr, not click.get_text_stream (deprecated by Click 8.5, to be removed in 9.0)
    progress = _Progress() if sys.stderr.isatty() else None
    try:
        report = verify_paths(list(paths), options, progress=progress)
    except VerifyUsageError as exc:
        raise click.UsageError(str(exc)) from exc
    finally:
        if progress is not None:
            progress.clear()
    click.echo(render_json(report) if output_format == "json" else render_table(report), nl=False)
    click.get_current_context().exit(report.exit_code)
