"""The contract every rule in ``rules/`` fulfils.

A rule is one class in one file: its code, name, hazard class, message, documentation
(``## What it does`` / ``## Why is this bad?`` / ``## Example`` / ``## Use instead`` /
``## Fix safety``) and VALID/INVALID examples that the test-suite runs. Rules never derive
data flow themselves: they read the shared taint analysis through :class:`RuleContext`
(see :mod:`fxlint.analysis.context`) inside ``visit_<LibCSTNodeName>`` methods, which the
engine calls for every node of every function that tracing reaches from a ``forward``.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from typing import ClassVar, List, Optional, Sequence, Tuple

from fxlint.diagnostics import FixAvailability, Hazard

_CODE = re.compile(r"^TRC(\d)\d\d$")
_REQUIRED_SECTIONS = ("## What it does", "## Why is this bad?")


@dataclass(frozen=True)
class Valid:
    """An example that must produce no diagnostic of the rule."""

    code: str  #: a whole module (dedented); imports are added by the test harness when absent
    #: other files of the example, as (relative path, source) pairs, importable from the main one
    helpers: Tuple[Tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Invalid:
    """An example that must produce at least one diagnostic of the rule."""

    code: str
    #: a substring the message must contain
    message_contains: str = ""
    #: 1-based line (of the dedented example) the first diagnostic must be on, 0 = any
    line: int = 0
    #: other files of the example, as (relative path, source) pairs, importable from the main one
    helpers: Tuple[Tuple[str, str], ...] = ()


def camel_to_kebab(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class Rule:
    """Base class of all rules. Subclasses set the class attributes and define visitors."""

    code: ClassVar[str]
    hazard: ClassVar[Hazard]
    #: a short summary shown in `fxlint rules`
    summary: ClassVar[str]
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NEVER
    #: guidance shown with every diagnostic of the rule when it has no automatic fix
    help: ClassVar[str] = ""
    VALID: ClassVar[Sequence[Valid]] = ()
    INVALID: ClassVar[Sequence[Invalid]] = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        match = _CODE.match(getattr(cls, "code", ""))
        if not match:
            raise TypeError(f"{cls.__name__}: code must look like TRC101, got {getattr(cls, 'code', None)!r}")
        if int(match.group(1)) != cls.hazard.block:
            raise TypeError(f"{cls.__name__}: code {cls.code} is outside the {cls.hazard.value} block")
        doc = cls.__doc__ or ""
        missing = [s for s in _REQUIRED_SECTIONS if s not in doc]
        if cls.fix_availability is not FixAvailability.NEVER and "## Fix safety" not in doc:
            missing.append("## Fix safety")
        if missing:
            raise TypeError(f"{cls.__name__}: docstring lacks {', '.join(missing)}")
        if not cls.INVALID:
            raise TypeError(f"{cls.__name__}: needs at least one INVALID example")

    @classmethod
    def name(cls) -> str:
        """kebab-case name derived from the class name (ruff/Fixit convention)."""
        return camel_to_kebab(cls.__name__)

    @classmethod
    def documentation(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def visitor_names(cls) -> List[str]:
        return [n for n in dir(cls) if n.startswith("visit_")]


def first_line(text: Optional[str]) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else ""


class ConditionVisitor:
    """Mixin for rules about branch conditions: ``check_condition(node, test, ctx)`` is called
    for the test of every ``if``/``elif``, ``while`` and conditional expression."""

    def check_condition(self, node, test, ctx) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def visit_If(self, node, ctx) -> None:
        self.check_condition(node, node.test, ctx)

    def visit_While(self, node, ctx) -> None:
        self.check_condition(node, node.test, ctx)

    def visit_IfExp(self, node, ctx) -> None:
        self.check_condition(node, node.test, ctx)
