"""`fxlint fix`: rewrites that make flagged code traceable (issue 4).

The core is pure (text in, text out): :func:`fxlint.fix.api.fix_source`. It never imports torch;
``--verify`` proves a change by running :mod:`fxlint.verify` in worker processes.
"""

from fxlint.fix.api import FixResult, fix_paths, fix_source

__all__ = ["FixResult", "fix_paths", "fix_source"]
