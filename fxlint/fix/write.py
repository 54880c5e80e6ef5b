"""Atomic file replacement: a temp file in the same directory, permissions copied, os.replace."""

from __future__ import annotations

import os
import stat
import tempfile


def write_atomic(path: str, text: str) -> None:
    """Replace ``path`` with ``text`` (UTF-8, newlines untouched) so readers see old or new, never half."""
    directory = os.path.dirname(os.path.abspath(path))
    mode = stat.S_IMODE(os.stat(path).st_mode) if os.path.exists(path) else None
    fd, temp = tempfile.mkstemp(prefix=".fxlint-fix-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
