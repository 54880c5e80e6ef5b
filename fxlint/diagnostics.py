"""The small, frozen value types every part of fxlint exchanges.

Everything a caller of :mod:`fxlint.api` gets back is defined here: diagnostics, their
locations and provenance, fixes, and per-file problems. None of these types holds a LibCST
node, so results can be cached, pickled across worker processes and rendered anywhere.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, replace
from typing import List, Optional, Sequence, Tuple, Union

DOCS_URL = "https://github.com/fxlint/fxlint/blob/main/README.md#rule-{code}"

_LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


def physical_lines(text: str, keepends: bool = False) -> List[str]:
    """The lines of a source text as Python's tokenizer (and so ``ast`` and LibCST) counts them, the
    rows of a :class:`Location`: only "\\n", "\\r\\n" and "\\r" end a line. ``str.splitlines`` also
    splits at form feeds, vertical tabs, "\\x1c"-"\\x1e", "\\x85" and the Unicode separators, which
    would shift every row after one."""
    parts = _LINE_BREAK.split(text)
    if keepends:
        lines = [parts[i] + parts[i + 1] for i in range(0, len(parts) - 1, 2)]
    else:
        lines = parts[0:len(parts) - 1:2]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


class Hazard(enum.Enum):
    """The hazard class a rule belongs to; each class owns one block of codes."""

    CONTROL_FLOW = "data-dependent-control-flow"  #: TRC1xx: Python control flow on a Proxy
    SHAPE = "shape-dependent-computation"  #: TRC2xx: Python ints/floats/sequences from a Proxy
    FOREIGN = "foreign-library-call"  #: TRC3xx: numpy, scipy, .item() results in Python logic
    CONTAINERS = "kwargs-and-containers"  #: TRC4xx: `in kwargs`, iteration, item assignment
    SILENT = "silent-mistrace"  #: TRC5xx: traces, but records the wrong graph
    QAT = "qat-unrunnable"  #: TRC6xx: traces and matches eager, but the QAT-prepared model crashes
    INTERNAL = "fxlint"  #: TRC9xx: fxlint could not analyze the file

    @property
    def block(self) -> int:
        return _BLOCKS[self]


_BLOCKS = {
    Hazard.CONTROL_FLOW: 1,
    Hazard.SHAPE: 2,
    Hazard.FOREIGN: 3,
    Hazard.CONTAINERS: 4,
    Hazard.SILENT: 5,
    Hazard.QAT: 6,
    Hazard.INTERNAL: 9,
}


class Applicability(enum.Enum):
    """How far a fix can be trusted (ruff's split)."""

    SAFE = "safe"  #: keeps eager and traced semantics; applied by `fix --apply`
    UNSAFE = "unsafe"  #: may change behaviour (both branches run, QAT no longer sees ops); needs --unsafe-fixes
    DISPLAY_ONLY = "display-only"  #: guidance only, never applied


class FixAvailability(enum.Enum):
    """Whether a rule can offer a fix: always, for some shapes of code, or never."""

    ALWAYS = "always"
    SOMETIMES = "sometimes"
    NEVER = "never"


@dataclass(frozen=True)
class Location:
    """A position in a source file."""

    row: int  #: 1-based line
    column: int  #: 1-based column (ruff's JSON convention)


@dataclass(frozen=True)
class Step:
    """One statement through which a traced value flows, shown in provenance chains."""

    row: int  #: 1-based line of the statement
    text: str  #: the statement's source, stripped, e.g. ``s = x.sum()``
    filename: str = ""  #: file of the statement when it differs from the diagnostic's file


@dataclass(frozen=True)
class Fix:
    """A textual fix: replace ``[start, end)`` of the file with ``content``, plus extra edits."""

    title: str  #: imperative, e.g. "Replace `len(x)` with `x.size(0)`"
    applicability: Applicability
    edits: Tuple["Edit", ...] = ()


@dataclass(frozen=True)
class Edit:
    """One replacement in a file, in 1-based rows and columns."""

    start: Location
    end: Location
    content: str


@dataclass(frozen=True)
class Diagnostic:
    """One finding: what, where, why, where the value came from, and how to fix it."""

    code: str  #: stable rule code, e.g. "TRC101"
    rule: str  #: kebab-case rule name, e.g. "tensor-dependent-branch"
    hazard: Hazard
    message: str  #: one line: the construct, its traced input, and what FX will do
    filename: str
    location: Location
    end_location: Location
    #: how the offending value derives from a forward() input or nn.Parameter, first step first
    provenance: Tuple[Step, ...] = ()
    #: the call chain from the traced entry point, e.g. ("Net.forward", "Block.forward", "window_pad")
    reached_from: Tuple[str, ...] = ()
    #: what the input or Parameter at the root of the provenance is called, e.g. "x" or "self.gate"
    source: str = ""
    fix: Optional[Fix] = None
    #: guidance when no automatic fix exists (what to change by hand)
    help: str = ""
    #: the models ("module.Class", sorted) whose tracing reaches this line: how many a fix unblocks
    entries: Tuple[str, ...] = ()

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code.lower())

    def sort_key(self) -> tuple:
        return (self.filename, self.location.row, self.location.column, self.code)


def merge_reports(kept: Optional[Diagnostic], new: Diagnostic) -> Diagnostic:
    """One finding reported through several entries (or checks): the shortest chain is shown, and
    the models reaching it are all kept (the root-cause ranking counts them)."""
    if kept is None:
        return new
    best = new if len(new.reached_from) < len(kept.reached_from) else kept
    entries = tuple(sorted(set(kept.entries) | set(new.entries)))
    return best if entries == best.entries else replace(best, entries=entries)


def merge_all_reports(reports: Sequence[Diagnostic]) -> Diagnostic:
    """``merge_reports`` folded over ``reports`` in order, with one sort of the entries instead of
    one per report (a helper's finding is reported by hundreds of checks, each with the entries
    that reached it: the fold was quadratic, most of a warm transformers run)."""
    best = reports[0]
    if len(reports) == 1:
        return best
    for report in reports[1:]:
        if len(report.reached_from) < len(best.reached_from):
            best = report
    entries = tuple(sorted(set().union(*(r.entries for r in reports))))
    return best if entries == best.entries else replace(best, entries=entries)



@dataclass(frozen=True)
class FileProblem:
    """A file fxlint could not (fully) check. Never raised: returned beside the diagnostics."""

    filename: str
    kind: str  #: "unreadable", "not-utf8", "binary", "too-large", "missing", "internal-error"
    message: str  #: one line for the user


@dataclass(frozen=True)
class CheckResult:
    """What :func:`fxlint.api.check_paths` returns."""

    diagnostics: Tuple[Diagnostic, ...]
    problems: Tuple[FileProblem, ...] = ()
    files_checked: int = 0
    files_cached: int = 0  #: how many results came from the cache
    warnings: Tuple[str, ...] = field(default=())  #: e.g. unknown codes in `# noqa`
    #: the files checked, by canonical path (fix writes only these)
    files: Tuple[str, ...] = field(default=(), compare=False, repr=False)


def problem_sort_key(p: FileProblem) -> tuple:
    """Skipped files in one order whatever spelling of their path was reported (as named on the
    command line, or canonical from a worker)."""
    import os

    return (os.path.realpath(p.filename), p.kind, p.message)


FileOutcome = Union[Tuple[Diagnostic, ...], FileProblem]
