"""fxlint's rule catalogue: one rule per file, loaded by :mod:`fxlint.registry`."""
