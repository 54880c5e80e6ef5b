"""Finds the rules: every ``rules/trc*.py`` file holds one :class:`~fxlint.rule.Rule`.

``rules/`` sits at the top of the repository (one rule, one file) and is shipped inside the
wheel as ``fxlint/rules`` (see pyproject.toml), so both places are searched. Rule files are
imported by path under the ``fxlint.rules`` namespace.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

from fxlint.rule import Rule

_PACKAGE_DIR = Path(__file__).resolve().parent


def rules_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "rules", _PACKAGE_DIR.parent / "rules"):
        if candidate.is_dir() and any(candidate.glob("trc*.py")):
            return candidate
    raise RuntimeError("fxlint's rules/ directory is missing from this installation")


@lru_cache(maxsize=1)
def all_rules() -> Tuple[type, ...]:
    """Every rule class, sorted by code."""
    found: List[type] = []
    for path in sorted(rules_dir().glob("trc*.py")):
        module = _import(path)
        classes = [v for v in vars(module).values()
                   if isinstance(v, type) and issubclass(v, Rule) and v is not Rule and v.__module__ == module.__name__]
        if len(classes) != 1:
            raise RuntimeError(f"{path.name} must define exactly one Rule, found {len(classes)}")
        if classes[0].code != _code_of(path):  # rule_codes() reads the codes from the file names
            raise RuntimeError(f"{path.name} defines {classes[0].code}: its file name must start with that code")
        found.append(classes[0])
    codes = [r.code for r in found]
    duplicates = {c for c in codes if codes.count(c) > 1}
    if duplicates:
        raise RuntimeError(f"duplicate rule codes: {sorted(duplicates)}")
    return tuple(sorted(found, key=lambda r: r.code))


@lru_cache(maxsize=1)
def rule_codes() -> Tuple[str, ...]:
    """Every rule code, from the rule files' names (``trc101_....py`` -> TRC101) without importing them:
    a check answered from the cache then never imports libcst (~0.5 s); all_rules() checks the names."""
    return tuple(sorted(_code_of(path) for path in rules_dir().glob("trc*.py")))


def _code_of(path: Path) -> str:
    return path.stem.partition("_")[0].upper()


def _import(path: Path):
    name = f"fxlint.rules.{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def by_code() -> Dict[str, type]:
    return {r.code: r for r in all_rules()}


def find(code_or_name: str) -> Optional[type]:
    key = code_or_name.strip()
    for rule in all_rules():
        if rule.code.lower() == key.lower() or rule.name() == key.lower():
            return rule
    return None


def unknown_selectors(selectors: Iterable[str]) -> List[str]:
    """Selectors (code prefixes) that match no rule, e.g. a typo in --select."""
    codes = list(rule_codes()) + ["ALL"]
    return [s for s in selectors if not any(c.startswith(s.upper()) for c in codes)]
