"""Line coverage of one library's own files while a model traces (the timm and library trace workers).

Importable without torch: the workers run it in their own environments, with this folder on sys.path
(they are started as scripts from it)."""
from __future__ import annotations

import os
import sys


class LineCoverage:
    """Records the lines of files under ``directory`` that run inside the ``with`` block (sys.settrace;
    line events only in frames of those files, so torch's machinery pays just the call-event check).
    ``cov`` (file -> set of lines) is filled in place, so a caller keeps what ran before an exception."""

    def __init__(self, directory: str, cov: dict | None = None) -> None:
        self.cov = {} if cov is None else cov
        self.prefix = os.path.abspath(directory) + os.sep
        self._mine = {}

    def _global(self, frame, event, arg):
        code = frame.f_code
        hit = self._mine.get(code)
        if hit is None:
            hit = self._mine[code] = os.path.abspath(code.co_filename).startswith(self.prefix)
        if not hit:
            return None
        self.cov.setdefault(code.co_filename, set()).add(frame.f_lineno)
        return self._local

    def _local(self, frame, event, arg):
        if event == "line":
            self.cov[frame.f_code.co_filename].add(frame.f_lineno)
        return self._local

    def __enter__(self):
        self.old = sys.gettrace()
        sys.settrace(self._global)
        return self

    def __exit__(self, *exc):
        sys.settrace(self.old)
        return False


def relative(cov: dict, root: str) -> dict:
    """{file relative to ``root``: sorted lines}, in file order."""
    return {os.path.relpath(os.path.abspath(f), root): sorted(lines) for f, lines in sorted(cov.items())}
