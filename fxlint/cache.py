"""A content-hash result cache: unchanged files are not parsed again.

One pickle per run configuration, keyed on the fxlint version and the rule files' contents.
Each entry stores a file's content digest, its diagnostics (all rules, before --select and
per-file-ignores, which are applied afterwards) and the digests of the other files whose
definitions the analysis used; the entry is valid only while all of those are unchanged.
ruff's mtime cache remembers only clean files; this one stores findings too, so a warm re-run
costs reading and hashing the files.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path
from typing import Dict, FrozenSet, Iterable, Optional, Tuple

from fxlint import __version__
from fxlint.diagnostics import Diagnostic

#: (content digest, diagnostics, (dependency path, digest) pairs, class names the file refers to,
#:  digest of the run's set of building-block classes the diagnostics were computed with)
Entry = Tuple[str, Tuple[Diagnostic, ...], Tuple[Tuple[str, str], ...], FrozenSet[str], str]


def digest_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def digest_file(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as fh:
            return digest_bytes(fh.read())
    except OSError:
        return None


def names_digest(names: Iterable[str]) -> str:
    return digest_bytes("\n".join(sorted(names)).encode())


def rules_fingerprint(rules_dir: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(__version__.encode())
    for path in sorted(rules_dir.glob("trc*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    # the code that decides diagnostics (not the CLI, renderers, fix or verify)
    package = Path(__file__).resolve().parent
    for path in sorted(package.glob("analysis/*.py")) + [package / n for n in ANALYSIS_MODULES]:
        h.update(path.read_bytes())
    return h.hexdigest()


ANALYSIS_MODULES = ("engine.py", "positions.py", "suppression.py", "rule.py", "diagnostics.py", "cache.py")


class ResultCache:
    """Stored results of earlier runs, loaded once and saved atomically."""

    def __init__(self, directory: Path, fingerprint: str) -> None:
        self.path = directory / f"results-{fingerprint}.pickle"
        self.directory = directory
        self.entries: Dict[str, Entry] = {}
        self.dirty = False
        try:
            with open(self.path, "rb") as fh:
                self.entries = pickle.load(fh)
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
            self.entries = {}

    def get(self, path: str, digest: str, current: Dict[str, Optional[str]],
            blocks_digest: str) -> Optional[Tuple[Diagnostic, ...]]:
        entry = self.entries.get(path)
        if entry is None or entry[0] != digest or entry[4] != blocks_digest:
            return None
        for dep, dep_digest in entry[2]:
            now = current.get(dep) if dep in current else digest_file(dep)
            current.setdefault(dep, now)
            if now != dep_digest:
                return None
        return entry[1]

    def references(self, path: str, digest: str) -> Optional[FrozenSet[str]]:
        entry = self.entries.get(path)
        return entry[3] if entry is not None and entry[0] == digest else None

    def put(self, path: str, entry: Entry) -> None:
        self.entries[path] = entry
        self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            gitignore = self.directory / ".gitignore"
            if not gitignore.exists():
                gitignore.write_text("*\n")
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".results-")
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(self.entries, fh, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only tree still gets its results; only the next run is slower
