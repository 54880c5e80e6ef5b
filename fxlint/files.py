"""Which files a run checks: Python files under the given paths, minus excluded and git-ignored ones.

Explicitly named files are always checked (ruff's convention). Directories are walked without
following symlinks, so symlink loops cannot trap the walk; files are deduplicated by real path.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Iterable, List, Optional, Set, Tuple

from fxlint.config import Config
from fxlint.diagnostics import FileProblem


def canonical(path) -> str:
    """The one spelling of a checked file's path everywhere in a run's results: absolute, normalized,
    symlinks resolved (what `module_name_for` resolves a file to when another file imports it). A
    file named on the command line and the same file reached through an import are then the same
    key; before, one was relative and the other absolute, and which one a finding carried depended
    on which a worker happened to load first (so the output's order varied with ``-j``)."""
    return os.path.realpath(path)


def collect(paths: Iterable[Path], config: Config) -> Tuple[List[Path], List[FileProblem]]:
    files: List[Path] = []
    problems: List[FileProblem] = []
    seen: Set[str] = set()

    def add(path: Path) -> None:
        key = os.path.realpath(path)
        if key not in seen:
            seen.add(key)
            files.append(path)

    for path in paths:
        if not path.exists() and not path.is_symlink():
            problems.append(FileProblem(str(path), "missing", "no such file or directory"))
        elif path.is_file():
            if path.suffix not in (".py", ".pyi") and not _looks_like_python(path):
                problems.append(FileProblem(str(path), "not-python", "not a Python file (expected a .py file)"))
            else:
                add(path)
        elif path.is_dir():
            ignored = _git_ignored(path)
            for found in _walk(path, config):
                if ignored is None or os.path.realpath(found) not in ignored:
                    add(found)
        else:
            problems.append(FileProblem(str(path), "unreadable", "not a regular file or directory"))
    return files, problems


def _walk(root: Path, config: Config) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if not config.is_excluded(here / d))
        for name in sorted(filenames):
            path = here / name
            if name.endswith(".py") and path.is_file() and not config.is_excluded(path):
                yield path


def _git_ignored(directory: Path) -> Optional[Set[str]]:
    """Real paths of git-ignored .py files under ``directory``; None outside a git work tree."""
    try:
        proc = subprocess.run(
            ["git", "ls-files", "--others", "--ignored", "--exclude-standard", "-z", "--", "."],
            cwd=directory, capture_output=True, timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out = set()
    for rel in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        if rel.endswith(".py"):
            out.add(os.path.realpath(directory / rel))
        elif rel.endswith("/"):  # an ignored directory listed whole
            for dirpath, _, names in os.walk(directory / rel):
                out.update(os.path.realpath(Path(dirpath) / n) for n in names if n.endswith(".py"))
    return out


def _looks_like_python(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            first = fh.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first
