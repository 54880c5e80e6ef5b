"""Worker side: import the user's file and factories, and tell the user's frames from library frames.

Runs only inside a worker child process (whose interpreter is thrown away afterwards), so changing
``sys.path`` and ``sys.modules`` here pollutes nobody. Imports no torch itself.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
import traceback
from types import ModuleType
from typing import Callable, Dict, List, Optional, Sequence, Tuple


def package_root(path: str) -> Tuple[str, str]:
    """(sys.path entry, dotted module name) for a file, walking up through ``__init__.py`` packages."""
    parts = [os.path.splitext(os.path.basename(path))[0]]
    directory = os.path.dirname(path)
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        parts.insert(0, os.path.basename(directory))
        directory = os.path.dirname(directory)
    if parts[-1] == "__init__":
        parts.pop()
    return directory, ".".join(parts)


def prepend_sys_path(directories: Sequence[str]) -> None:
    """Put ``directories`` first on sys.path, in order, moving them there if they are on it already:
    the worker imports the user's code from the file's package root, then the current directory, then
    the user's PYTHONPATH, and only then site-packages (a vendored library beats an installed one)."""
    for directory in reversed([d for d in directories if d]):
        while directory in sys.path:
            sys.path.remove(directory)
        sys.path.insert(0, directory)


def import_file(path: str) -> ModuleType:
    """Import a file by path; as part of its package when it sits in one, so relative imports work."""
    path = os.path.abspath(path)
    root, dotted = package_root(path)
    if "." in dotted:
        prepend_sys_path([root])
        module = importlib.import_module(dotted)
        if not _is_module_of(module, path):
            raise ImportError(f"importing {dotted!r} gave {getattr(module, '__file__', None)}, not {path}: "
                              "the package name clashes with an installed module")
        return module
    return _import_plain_file(path, dotted)


def _import_plain_file(path: str, stem: str) -> ModuleType:
    # a lone file is imported under its own name (so classes keep a natural __module__), unless the
    # name is taken (a file called copy.py must not replace the standard library's copy)
    prepend_sys_path([os.path.dirname(path)])
    existing = sys.modules.get(stem)
    if existing is not None and _is_module_of(existing, path):
        return existing
    name = stem if existing is None and stem.isidentifier() else f"_fxlint_user_{abs(hash(path))}_{stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _is_module_of(module: ModuleType, path: str) -> bool:
    file = getattr(module, "__file__", None)
    return bool(file) and os.path.realpath(file) == os.path.realpath(path)


def resolve_factory(spec: dict, checked: Optional[ModuleType]) -> Callable:
    """The factory function of a job's spec ({function, module, file}); raises with a clear message."""
    if spec.get("module"):
        owner = importlib.import_module(spec["module"])
    elif spec.get("file"):
        owner = import_file(spec["file"])
    elif checked is not None:
        owner = checked
    else:
        raise LookupError(f"factory {spec['function']!r} needs a checked file or a module")
    function = getattr(owner, spec["function"], None)
    if not callable(function):
        where = getattr(owner, "__file__", owner.__name__)
        raise LookupError(f"no function {spec['function']!r} in {where}")
    return function


# ---------------------------------------------------------------------------------------------- frames
def library_roots() -> List[str]:
    """Directories whose frames are never the user's: the standard library and installed packages."""
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    roots = {os.path.realpath(p) for p in (sysconfig.get_paths().get(k) for k in keys) if p}
    try:
        import site

        roots.update(os.path.realpath(p) for p in site.getsitepackages() + [site.getusersitepackages()])
    except (AttributeError, TypeError):  # pragma: no cover - old virtualenv's site module
        pass
    return sorted(roots)


def never_user_roots() -> List[str]:
    """torch and fxlint itself: not the user's code even when a user path contains them."""
    import fxlint

    roots = [os.path.dirname(os.path.realpath(fxlint.__file__))]
    torch = sys.modules.get("torch")
    if torch is not None and getattr(torch, "__file__", None):
        roots.append(os.path.dirname(os.path.realpath(torch.__file__)))
    return roots


class FrameFilter:
    """Decides which traceback frames belong to the user's files."""

    def __init__(self, user_roots: Sequence[str]):
        self.user_roots = [os.path.realpath(p) for p in user_roots]
        self.never = never_user_roots()
        self.library = library_roots()
        self._cache: Dict[str, bool] = {}

    def is_user_file(self, filename: str) -> bool:
        if filename not in self._cache:
            self._cache[filename] = self._classify(filename)
        return self._cache[filename]

    def _classify(self, filename: str) -> bool:
        if not filename or filename.startswith("<"):
            return False  # generated code: GraphModule forwards, exec'd strings
        path = os.path.realpath(filename)
        if any(_under(path, root) for root in self.never):
            return False
        if any(_under(path, root) for root in self.user_roots):
            return True
        # a user root inside a venv (e.g. timm's site-packages folder) was matched above
        return not any(_under(path, root) for root in self.library)

    def user_frames(self, exc: BaseException, limit: int = 8) -> List[dict]:
        """The user's frames of the exception's traceback, innermost last, as JSON-able dicts."""
        frames = []
        for frame in traceback.extract_tb(exc.__traceback__):
            if self.is_user_file(frame.filename):
                frames.append({"filename": os.path.realpath(frame.filename), "row": frame.lineno or 0,
                               "end_row": getattr(frame, "end_lineno", None) or frame.lineno or 0,
                               "line": (frame.line or "").strip()})
        return frames[-limit:]


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
