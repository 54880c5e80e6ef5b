"""fxlint: find and fix PyTorch model code that ``torch.fx.symbolic_trace`` cannot capture.

Importing fxlint never imports torch; only :mod:`fxlint.verify` does, inside worker processes.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
