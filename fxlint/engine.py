"""Check one file: load, analyze every nn.Module's forward once, run the rules, place findings.

Pure: returns values, never prints. :mod:`fxlint.api` fans files out over processes and
caches results; :mod:`fxlint.render` formats them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple, Union

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from fxlint.analysis.context import Finding, RuleContext
from fxlint.analysis.interp import Analysis
from fxlint.analysis.project import ModuleSource, module_name_for
from fxlint.analysis.semantics import Project
from fxlint.diagnostics import Diagnostic, FileProblem, Hazard, Location, Step
from fxlint.suppression import Suppressions

#: files larger than this are skipped with a message: model files are far smaller, and a
#: multi-megabyte generated file would dominate the run (LibCST builds a full object tree).
MAX_FILE_BYTES = 2_000_000

SYNTAX_ERROR_CODE = "TRC901"


class Loaded:
    """A file as read from disk: its module, or the reason it could not be loaded."""

    def __init__(self, module: Optional[ModuleSource] = None, problem: Optional[FileProblem] = None,
                 syntax_error: Optional[Diagnostic] = None) -> None:
        self.module = module
        self.problem = problem
        self.syntax_error = syntax_error


def read_source(path: Path) -> Union[str, FileProblem]:
    """The text of a Python file, or a one-line reason it cannot be checked."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return FileProblem(name, "too-large", f"skipped: {size / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
        data = path.read_bytes()
    except FileNotFoundError:
        return FileProblem(name, "missing", "no such file")
    except OSError as exc:
        return FileProblem(name, "unreadable", f"cannot read: {exc.strerror or exc}")
    if b"\x00" in data[:8192]:
        return FileProblem(name, "binary", "skipped: binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileProblem(name, "not-utf8", f"skipped: not UTF-8 (byte {exc.start}: {exc.reason})")


def load(path: Path) -> Loaded:
    text = read_source(path)
    if isinstance(text, FileProblem):
        return Loaded(problem=text)
    return parse_text(text, path)


def parse_text(text: str, path: Path, module_name: Optional[str] = None) -> Loaded:
    try:
        tree = cst.parse_module(text)
    except cst.ParserSyntaxError as exc:
        return Loaded(syntax_error=_syntax_diagnostic(str(path), exc))
    except (RecursionError, MemoryError):
        return Loaded(problem=FileProblem(str(path), "too-complex", "skipped: too deeply nested to parse"))
    name = module_name if module_name is not None else module_name_for(path)[0]
    return Loaded(module=ModuleSource(str(path), name, text, tree))


def _syntax_diagnostic(filename: str, exc: cst.ParserSyntaxError) -> Diagnostic:
    message = exc.message.strip().splitlines()[0] if exc.message else "invalid syntax"
    at = Location(exc.raw_line, exc.raw_column + 1)
    return Diagnostic(SYNTAX_ERROR_CODE, "invalid-syntax", Hazard.INTERNAL,
                      f"cannot parse: {message}; the file was not analyzed", filename, at, at)


class Checker:
    """Checks files with one set of rules; keeps parsed files for cross-file analysis."""

    def __init__(self, rules: Sequence[type], roots: Sequence[Path] = ()) -> None:
        self.rules = [r() for r in rules]
        self._dispatch = _dispatch_table(self.rules)
        self._loaded: Dict[str, Loaded] = {}
        self.project = Project(self._load_for_project, tuple(roots))
        self._positions: Dict[str, Dict[cst.CSTNode, CodeRange]] = {}

    def _load_for_project(self, path: Path) -> Optional[ModuleSource]:
        return self._get(path).module

    def _get(self, path: Path) -> Loaded:
        key = str(path)
        if key not in self._loaded:
            self._loaded[key] = load(path)
        return self._loaded[key]

    def check_file(self, path: Path) -> Tuple[Tuple[Diagnostic, ...], Optional[FileProblem], Tuple[str, ...]]:
        """(diagnostics, problem, other files used). Diagnostics may lie in helper files."""
        loaded = self._get(path)
        if loaded.problem is not None:
            return (), loaded.problem, ()
        if loaded.syntax_error is not None:
            return (loaded.syntax_error,), None, ()
        assert loaded.module is not None
        return self.check_module(loaded.module)

    def check_source(self, text: str, filename: str) -> Tuple[Diagnostic, ...]:
        loaded = parse_text(text, Path(filename), module_name=Path(filename).stem)
        self._loaded[filename] = loaded
        if loaded.syntax_error is not None:
            return (loaded.syntax_error,)
        if loaded.problem is not None or loaded.module is None:
            return ()
        return self.check_module(loaded.module)[0]

    def check_module(self, module: ModuleSource) -> Tuple[Tuple[Diagnostic, ...], None, Tuple[str, ...]]:
        _, root = module_name_for(Path(module.path))
        self.project.add(module, root)
        self.project.used_paths = set()
        analysis = Analysis(self.project)
        for cls in module.classes.values():
            if self.project.is_module_class(cls):
                analysis.analyze_class(cls)
        findings = self._run_rules(analysis)
        diagnostics = self._place(findings)
        used = tuple(sorted(p for p in self.project.used_paths if p != module.path))
        return diagnostics, None, used

    # ------------------------------------------------------------------ rules
    def _run_rules(self, analysis: Analysis) -> List[Finding]:
        findings: List[Finding] = []
        for reach in list(analysis.reached.values()):
            parents: Dict[cst.CSTNode, cst.CSTNode] = {}
            ctx = RuleContext(analysis, reach, parents, findings)
            for node in _walk_function(reach.func.node, parents):
                for rule, method in self._dispatch.get(type(node).__name__, ()):
                    ctx.rule = type(rule)
                    method(node, ctx)
        return findings

    # ------------------------------------------------------------------ positions
    def _place(self, findings: Iterable[Finding]) -> Tuple[Diagnostic, ...]:
        out: Dict[tuple, Diagnostic] = {}
        suppressions: Dict[str, Suppressions] = {}
        for f in findings:
            d = self._diagnostic(f)
            sup = suppressions.get(f.module.path)
            if sup is None:
                sup = suppressions[f.module.path] = Suppressions(f.module.text)
            if sup.suppresses(d.code, d.location.row, d.end_location.row):
                continue
            key = (d.filename, d.location.row, d.location.column, d.code)
            if key not in out or len(d.reached_from) < len(out[key].reached_from):
                out[key] = d
        return tuple(sorted(out.values(), key=Diagnostic.sort_key))

    def positions(self, module: ModuleSource) -> Dict[cst.CSTNode, CodeRange]:
        if module.path not in self._positions:
            wrapper = MetadataWrapper(module.tree, unsafe_skip_copy=True)
            self._positions[module.path] = dict(wrapper.resolve(PositionProvider))
        return self._positions[module.path]

    def _diagnostic(self, f: Finding) -> Diagnostic:
        positions = self.positions(f.module)
        where = positions[f.node]
        steps: List[Step] = []
        source = ""
        if f.value is not None:
            source = f.value.origin.name if f.value.origin is not None else ""
            for module, stmt in f.value.steps:
                pos = self.positions(module).get(stmt)
                if pos is not None:
                    text = module.tree.code_for_node(stmt).strip().splitlines()[0]
                    steps.append(Step(pos.start.line, text, "" if module is f.module else module.path))
        rule = f.rule
        return Diagnostic(
            rule.code, rule.name(), rule.hazard, f.message, f.module.path,
            Location(where.start.line, where.start.column + 1), Location(where.end.line, where.end.column + 1),
            tuple(steps), f.chain, source, f.fix, f.help,
        )


def _dispatch_table(rules: Sequence[object]) -> Dict[str, List[tuple]]:
    table: Dict[str, List[tuple]] = {}
    for rule in rules:
        for name in type(rule).visitor_names():  # type: ignore[attr-defined]
            table.setdefault(name[len("visit_"):], []).append((rule, getattr(rule, name)))
    return table


_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)


def _walk_function(func: cst.FunctionDef, parents: Dict[cst.CSTNode, cst.CSTNode]):
    """Pre-order walk of a function (decorators and body), not into nested defs or classes."""
    yield func
    stack: List[cst.CSTNode] = list(reversed(func.decorators)) + [func.body]
    for child in stack:
        parents[child] = func
    stack.reverse()
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _NESTED):
            continue
        children = node.children
        for child in children:
            parents[child] = node
        stack.extend(reversed(children))


NOQA = re.compile(r"#\s*noqa")
