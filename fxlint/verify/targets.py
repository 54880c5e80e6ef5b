"""Decide what to verify: which files, which models in them, and where their example inputs come from.

Runs in the parent process, so it reads source with :mod:`ast` and never imports the user's code or torch.
The order of precedence (issue 3): a ``[tool.fxlint.verify]`` entry in ``pyproject.toml`` for the file,
then ``--factory``, then a top-level ``make()`` in the file, then every ``nn.Module`` class of the file
(discovered by the worker, which imports the file: a static guess would miss classes whose base lives
elsewhere).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SKIPPED_DIRS = {"__pycache__", "node_modules", "site-packages"}
#: the factory names used automatically when a file defines them (the fixture convention)
AUTO_FACTORY, AUTO_ALT_FACTORY = "make", "make_alt"

HOW_TO_CONFIGURE = ('configure it: `"{file}::{cls}" = "module:factory"` under [tool.fxlint.verify] in '
                    "pyproject.toml, or --factory NAME")


class VerifyUsageError(Exception):
    """A mistake in the command line or configuration: reported to the user, exit code 2."""


@dataclass(frozen=True)
class FactorySpec:
    """A function that returns a model, ``(model, args)`` or ``(model, args, kwargs)``."""

    function: str
    module: str = ""  #: dotted module to import, or ""
    file: str = ""  #: absolute path of a file to import, or "" (with module "": the checked file itself)
    label: str = ""  #: as the user wrote it, for messages

    def to_json(self) -> dict:
        return {"function": self.function, "module": self.module, "file": self.file}


@dataclass(frozen=True)
class Target:
    """One unit of work for a worker: a model to verify, or a file whose classes must be discovered."""

    kind: str  #: "factory" | "class" | "discover" | "skip"
    file: str  #: absolute path of the checked file; "" for a `--factory module:function` model
    how: str = ""  #: "factory" | "config" | "inferred"
    class_name: str = ""
    factory: Optional[FactorySpec] = None
    alt_factory: Optional[FactorySpec] = None
    #: directories put first on the worker's sys.path (pyproject dir, working directory)
    sys_path: Tuple[str, ...] = ()
    skip_reason: str = ""  #: for kind "skip": one line saying how to configure the model
    explicit: bool = False  #: the file was named on the command line (not found under a directory)

    @property
    def label(self) -> str:
        name = display_path(self.file) if self.file else ""
        if self.kind == "factory" and self.factory is not None:
            suffix = f"{self.factory.label}()" if not self.class_name else self.class_name
            return f"{name}::{suffix}" if name else f"{self.factory.label}()"
        return f"{name}::{self.class_name}" if self.class_name else name


def display_path(path: str) -> str:
    """Paths under the working directory are shown relative to it, others absolute."""
    if not path:
        return path
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def parse_factory(spec: str, base_dir: str) -> FactorySpec:
    """``NAME`` (in the checked file), ``pkg.mod:NAME`` or ``path/to/file.py:NAME``."""
    spec = spec.strip()
    if _IDENTIFIER.match(spec):
        return FactorySpec(function=spec, label=spec)
    where, sep, function = spec.rpartition(":")
    if not sep or not _IDENTIFIER.match(function) or not where:
        raise VerifyUsageError(f"invalid factory {spec!r}: expected NAME, module:function or path/file.py:function")
    if where.endswith(".py"):
        path = os.path.abspath(os.path.join(base_dir, where))
        if not os.path.isfile(path):
            raise VerifyUsageError(f"factory file not found: {where} (in {spec!r})")
        return FactorySpec(function=function, file=path, label=spec)
    if not _DOTTED.match(where):
        raise VerifyUsageError(f"invalid factory {spec!r}: {where!r} is neither a module name nor a .py file")
    return FactorySpec(function=function, module=where, label=spec)


# ---------------------------------------------------------------------------------------------- files
def collect_files(paths: Sequence[str]) -> Tuple[List[str], List[str]]:
    """(explicit files, files found under directories), absolute, sorted, without duplicates."""
    explicit: List[str] = []
    found: List[str] = []
    for raw in paths:
        path = os.path.abspath(raw)
        if os.path.isdir(path):
            found.extend(_python_files_under(path))
        elif os.path.isfile(path):
            if not path.endswith(".py"):  # verify imports the file as a module: it needs the suffix
                raise VerifyUsageError(f"{raw}: not a Python file (expected a .py file)")
            explicit.append(path)
        else:
            raise VerifyUsageError(f"no such file or directory: {raw}")
    explicit_set = set(explicit)
    return _unique(explicit), [f for f in _unique(found) if f not in explicit_set]


def _python_files_under(root: str) -> Iterable[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_DIRS)
        yield from (os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith(".py"))


def _unique(items: Iterable[str]) -> List[str]:
    return list(dict.fromkeys(items))


@dataclass(frozen=True)
class FileFacts:
    """What the parent needs to know about a file without importing it."""

    top_level_names: frozenset  #: functions, classes, assignments and imports at module level
    functions: frozenset  #: top-level `def`s
    has_classes: bool
    syntax_error: str = ""  #: "SyntaxError: ..." when the file does not parse (the worker reports it)


def read_file_facts(path: str) -> FileFacts:
    try:
        with open(path, "rb") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (SyntaxError, ValueError) as exc:
        return FileFacts(frozenset(), frozenset(), True, f"{type(exc).__name__}: {exc}")
    except OSError as exc:
        return FileFacts(frozenset(), frozenset(), False, f"{type(exc).__name__}: {exc}")
    names, functions, has_classes = set(), set(), False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions.add(node.name)
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            has_classes = True
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return FileFacts(frozenset(names), frozenset(functions), has_classes)


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class ConfigEntry:
    """One ``"path/file.py::Class" = "module:factory"`` line of ``[tool.fxlint.verify]``."""

    file: str  #: absolute
    class_name: str  #: "" when the key names only a file
    factory: FactorySpec
    alt_factory: Optional[FactorySpec]
    config_dir: str  #: the directory of the pyproject.toml (on the worker's sys.path)


def find_config_entries(start_dir: str, cache: Dict[str, List[ConfigEntry]]) -> List[ConfigEntry]:
    """Entries of the nearest pyproject.toml (walking up from start_dir) that has [tool.fxlint.verify]."""
    directory = os.path.abspath(start_dir)
    visited = []
    while True:
        if directory in cache:
            entries = cache[directory]
            break
        visited.append(directory)
        candidate = os.path.join(directory, "pyproject.toml")
        table = _verify_table(candidate) if os.path.isfile(candidate) else None
        if table is not None:
            entries = _parse_entries(table, directory, candidate)
            break
        parent = os.path.dirname(directory)
        if parent == directory:
            entries = []
            break
        directory = parent
    for d in visited:
        cache[d] = entries
    return entries


def read_config_file(path: str) -> List[ConfigEntry]:
    """Entries of an explicitly given TOML file (``--config``); keys are relative to its directory."""
    path = os.path.abspath(path)
    table = _verify_table(path)
    if table is None:
        raise VerifyUsageError(f"{path} has no [tool.fxlint.verify] table")
    return _parse_entries(table, os.path.dirname(path), path)


def _verify_table(pyproject: str) -> Optional[dict]:
    try:
        import tomllib  # Python 3.11+
    except ImportError:  # pragma: no cover - Python < 3.11 without tomli: config is not read
        try:
            import tomli as tomllib  # type: ignore[no-redef]
        except ImportError:
            return None
    try:
        with open(pyproject, "rb") as handle:
            data = tomllib.load(handle)
    except (OSError, ValueError) as exc:
        raise VerifyUsageError(f"cannot read {pyproject}: {exc}") from exc
    table = data.get("tool", {}).get("fxlint", {}).get("verify")
    return table if isinstance(table, dict) else None


def _parse_entries(table: dict, config_dir: str, pyproject: str) -> List[ConfigEntry]:
    entries = []
    for key, value in table.items():
        file_part, _, class_name = key.partition("::")
        file = os.path.abspath(os.path.join(config_dir, file_part))
        for factory, alt in _factories_of(value, key, pyproject):
            entries.append(ConfigEntry(file, class_name, parse_factory(factory, config_dir),
                                       parse_factory(alt, config_dir) if alt else None, config_dir))
    return entries


def _factories_of(value: object, key: str, pyproject: str) -> List[Tuple[str, str]]:
    """A value is "mod:f", a table {factory = "mod:f", alt = "mod:g"}, or a list of those (one model each)."""
    items = value if isinstance(value, list) else [value]
    pairs = []
    for item in items:
        if isinstance(item, str):
            pairs.append((item, ""))
        elif isinstance(item, dict) and isinstance(item.get("factory"), str):
            pairs.append((item["factory"], str(item.get("alt", ""))))
        else:
            raise VerifyUsageError(f"{pyproject}: [tool.fxlint.verify] {key!r} must be \"module:factory\", "
                                   "{factory = ..., alt = ...}, or a list of those")
    return pairs


# ---------------------------------------------------------------------------------------------- targets
def plan_targets(paths: Sequence[str], factory: Optional[str] = None, alt_factory: Optional[str] = None,
                 cwd: Optional[str] = None, config: Optional[str] = None) -> List[Target]:
    """Every model to verify (or file to discover) for the given paths, in a stable order.

    ``config``: a TOML file whose [tool.fxlint.verify] is used instead of the nearest pyproject.toml's.
    """
    cwd = os.path.abspath(cwd or os.getcwd())
    explicit, found = collect_files(paths)
    if not explicit and not found:
        raise VerifyUsageError("no Python files found in " + ", ".join(paths))
    cli_factory = parse_factory(factory, cwd) if factory else None
    cli_alt = parse_factory(alt_factory, cwd) if alt_factory else None
    if cli_alt and not cli_factory:
        raise VerifyUsageError("--alt-factory needs --factory")
    if cli_factory and (cli_factory.module or cli_factory.file):
        # one model built by a function outside the checked files: the files are only where blame looks
        return [Target("factory", "", "factory", factory=cli_factory, alt_factory=cli_alt, sys_path=(cwd,))]
    config_cache: Dict[str, List[ConfigEntry]] = {}
    if config:
        entries = read_config_file(config)
        config_cache.update({os.path.dirname(f): entries for f in explicit + found})
    targets: List[Target] = []
    for file in explicit + found:
        is_explicit = file in explicit
        targets.extend(replace(t, explicit=is_explicit)
                       for t in _targets_for_file(file, is_explicit, cli_factory, cli_alt, cwd, config_cache))
    if cli_factory is not None and not targets:
        raise VerifyUsageError(f"no file in {', '.join(paths)} defines `{cli_factory.function}`")
    return targets


def _targets_for_file(file: str, explicit: bool, cli_factory: Optional[FactorySpec],
                      cli_alt: Optional[FactorySpec], cwd: str,
                      config_cache: Dict[str, List[ConfigEntry]]) -> List[Target]:
    entries = [e for e in find_config_entries(os.path.dirname(file), config_cache) if _same_file(e.file, file)]
    if entries:
        return [Target("factory", file, "config", e.class_name, e.factory, e.alt_factory, (e.config_dir, cwd))
                for e in entries]
    facts = read_file_facts(file)
    if cli_factory is not None:
        return _cli_factory_target(file, explicit, facts, cli_factory, cli_alt, cwd)
    if AUTO_FACTORY in facts.functions:
        alt = FactorySpec(AUTO_ALT_FACTORY, label=AUTO_ALT_FACTORY) if AUTO_ALT_FACTORY in facts.functions else None
        return [Target("factory", file, "factory", factory=FactorySpec(AUTO_FACTORY, label=AUTO_FACTORY),
                       alt_factory=alt, sys_path=(cwd,))]
    if facts.has_classes or facts.syntax_error:
        return [Target("discover", file, "inferred", sys_path=(cwd,))]
    return []


def _cli_factory_target(file: str, explicit: bool, facts: FileFacts, factory: FactorySpec,
                        alt: Optional[FactorySpec], cwd: str) -> List[Target]:
    if factory.function in facts.top_level_names or facts.syntax_error:
        # a missing alt factory is reported by the worker, as a construct failure
        return [Target("factory", file, "factory", factory=factory, alt_factory=alt, sys_path=(cwd,))]
    if not explicit:
        return []  # a helper file found under a directory: not a model file
    return [Target("skip", file, "factory", factory=factory, sys_path=(cwd,),
                   skip_reason=f"no top-level `{factory.function}` in this file")]


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b))


def user_roots(paths: Sequence[str]) -> List[str]:
    """Directories and files whose frames count as the user's code for blame (beside non-library code)."""
    return [str(Path(p).resolve()) for p in paths]
