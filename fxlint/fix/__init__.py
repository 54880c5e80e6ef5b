"""`fxlint fix`: rewrites that make flagged code traceable (issue 4).

The core is pure (text in, text out): :func:`fxlint.fix.api.fix_source`. It never imports torch;
``--verify`` proves a change by running :mod:`fxlint.verify` in worker processes.
"""

__all__ = ["FixResult", "fix_paths", "fix_source"]


def __getattr__(name: str):
    """Lazy: importing the package (the CLI does) must not import libcst."""
    if name in __all__:
        from fxlint.fix import api

        return getattr(api, name)
    raise AttributeError(name)
