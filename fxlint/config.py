"""``[tool.fxlint]`` in pyproject.toml: select, ignore, per-file-ignores, exclude.

Bad configuration is a usage error: :class:`ConfigError` carries a one-line message and the
CLI exits 2. ``[tool.fxlint.verify]`` is read by ``fxlint verify`` and only passed through here.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

KNOWN_KEYS = {"select", "ignore", "extend-select", "per-file-ignores", "exclude", "extend-exclude", "verify",
              "cache-dir", "fix"}
FIX_KEYS = {"pin"}
#: what an input can be pinned to (fxlint/fix/pin.py): its None default, or the tensor type
PIN_VALUES = ("None", "Tensor")
_PIN_KEY = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*\.[A-Za-z_]\w*")
DEFAULT_EXCLUDE = (".git", ".hg", ".svn", ".tox", ".nox", ".venv", "venv", "env", "__pycache__", "build", "dist",
                   "node_modules", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".fxlint_cache", "site-packages",
                   ".eggs", "*.egg-info")


class ConfigError(Exception):
    """A problem with the user's configuration or options (exit code 2)."""


@dataclass(frozen=True)
class Config:
    """Resolved settings for one run."""

    select: Tuple[str, ...] = ()  #: code prefixes to enable; empty = all rules
    ignore: Tuple[str, ...] = ()  #: code prefixes to disable
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()  #: (glob, code prefixes)
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDE  #: globs matched against path parts and relative paths
    root: Path = field(default_factory=Path.cwd)  #: directory of the pyproject.toml (or cwd)
    source: Optional[Path] = None  #: the pyproject.toml read, if any
    verify: Dict[str, Any] = field(default_factory=dict)  #: raw [tool.fxlint.verify]
    cache_dir: Optional[Path] = None
    #: [tool.fxlint.fix] pin: (("Net.forward.mask", "None"), ...), the inputs the user lets fix pin
    fix_pins: Tuple[Tuple[str, str], ...] = ()

    def ignored_for(self, filename: str) -> Tuple[str, ...]:
        if not self.per_file_ignores:
            return ()
        rel = self._relative(filename)
        out: Tuple[str, ...] = ()
        for pattern, codes in self.per_file_ignores:
            if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(Path(rel).name, pattern):
                out += codes
        return out

    def _relative(self, filename: str) -> str:
        """Path relative to the config root, as posix text (no symlink resolution: it is hot)."""
        absolute = os.path.abspath(filename)
        root = str(self.root.absolute())
        if absolute == root or absolute.startswith(root.rstrip(os.sep) + os.sep):
            return Path(os.path.relpath(absolute, root)).as_posix()
        return Path(filename).as_posix()

    def is_excluded(self, path: Path) -> bool:
        """A path part or the whole relative path matches an exclude glob, or the path is under one.

        Runs for every file and folder of the walk: the globs are one compiled pattern, and each
        part (the same leading folders for every file) is decided once."""
        rel = self._relative(str(path))
        matcher = _exclude_matcher(self.exclude)
        return any(matcher.part(p) for p in rel.split("/")) or matcher.whole.match(os.path.normcase(rel)) is not None \
            or rel.startswith(matcher.prefixes)


class _ExcludeMatcher:
    def __init__(self, patterns: Tuple[str, ...]) -> None:
        # fnmatch.fnmatch is normcase (a no-op on POSIX; lower case and / on Windows) + fnmatchcase
        self.whole = re.compile("|".join(f"(?:{fnmatch.translate(os.path.normcase(p))})" for p in patterns) or "(?!)")
        self.prefixes = tuple(p.rstrip("/") + "/" for p in patterns)
        self._parts: Dict[str, bool] = {}

    def part(self, name: str) -> bool:
        found = self._parts.get(name)
        if found is None:
            found = self._parts[name] = self.whole.match(os.path.normcase(name)) is not None
        return found


@functools.lru_cache(maxsize=8)
def _exclude_matcher(patterns: Tuple[str, ...]) -> _ExcludeMatcher:
    return _ExcludeMatcher(patterns)


def find_pyproject(start: Path) -> Optional[Path]:
    start = start.resolve()
    for directory in [start] + list(start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path, explicit: Optional[Path] = None) -> Config:
    path = explicit if explicit is not None else find_pyproject(start if start.is_dir() else start.parent)
    if path is None:
        return Config(root=Path.cwd())
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None
    section = data.get("tool", {}).get("fxlint", {})
    return from_table(section, path)


def from_table(section: Dict[str, Any], path: Path) -> Config:
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.fxlint] must be a table")
    unknown = sorted(set(section) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.fxlint]: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(KNOWN_KEYS))})")
    per_file = section.get("per-file-ignores", {})
    if not isinstance(per_file, dict):
        raise ConfigError(f"{path}: per-file-ignores must be a table of glob = [codes]")
    root = path.parent
    cache_dir = section.get("cache-dir")
    return Config(
        select=_codes(section.get("select", ()), "select", path) + _codes(section.get("extend-select", ()),
                                                                           "extend-select", path),
        ignore=_codes(section.get("ignore", ()), "ignore", path),
        per_file_ignores=tuple((str(k), _codes(v, f"per-file-ignores.{k}", path)) for k, v in per_file.items()),
        exclude=DEFAULT_EXCLUDE + _strings(section.get("exclude", ()), "exclude", path)
        + _strings(section.get("extend-exclude", ()), "extend-exclude", path),
        root=root,
        source=path,
        verify=dict(section.get("verify", {})),
        cache_dir=(root / cache_dir) if isinstance(cache_dir, str) else None,
        fix_pins=_fix_pins(section.get("fix", {}), path),
    )


def _fix_pins(table: Any, path: Path) -> Tuple[Tuple[str, str], ...]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.fxlint.fix] must be a table")
    unknown = sorted(set(table) - FIX_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [tool.fxlint.fix]: {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(FIX_KEYS))})")
    pins = table.get("pin", {})
    if not isinstance(pins, dict):
        raise ConfigError(f'{path}: [tool.fxlint.fix] pin must be a table of "Class.forward.input" = "None"')
    try:
        return tuple(check_pin(str(k), v) for k, v in pins.items())
    except ValueError as exc:
        raise ConfigError(f"{path}: [tool.fxlint.fix] pin: {exc}") from None


def parse_pin(text: str) -> Tuple[str, str]:
    """`Net.forward.mask=None` (the `--pin` option) -> ("Net.forward.mask", "None"); ValueError if malformed."""
    key, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"`{text}` is not Class.forward.input=VALUE")
    return check_pin(key.strip(), value.strip())


def check_pin(key: str, value: Any) -> Tuple[str, str]:
    if not _PIN_KEY.fullmatch(key):
        raise ValueError(f"`{key}` is not a qualified input name Class.forward.input")
    if value not in PIN_VALUES:
        raise ValueError(f"`{key}` = {value!r}: an input is pinned to one of {', '.join(PIN_VALUES)}")
    return key, value


def _strings(value: Any, key: str, path: Path) -> Tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {key} must be a list of strings")
    return tuple(value)


def _codes(value: Any, key: str, path: Path) -> Tuple[str, ...]:
    return tuple(v.strip().upper() for v in _strings(value, key, path))


def merge_cli(config: Config, select: Sequence[str], ignore: Sequence[str], extend_select: Sequence[str] = (),
              exclude: Sequence[str] = ()) -> Config:
    """Command-line options override the file's select and add to its ignore (ruff semantics)."""
    from dataclasses import replace

    return replace(
        config,
        select=tuple(s.upper() for s in select) if select else config.select + tuple(s.upper() for s in extend_select),
        ignore=config.ignore + tuple(i.upper() for i in ignore),
        exclude=config.exclude + tuple(exclude),
    )
