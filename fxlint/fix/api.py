"""`fxlint fix` as functions: text in, text out (:func:`fix_source`), or files in, results out
(:func:`fix_paths`, which never writes: the command decides). Never imports torch.

One round = check, plan a fix per finding, apply the plans that touch disjoint code (in-graph
rewrites before hoists), re-check. Rounds repeat until nothing changes (at most MAX_ROUNDS), so a
fix that only moves a hazard (`finite = bool(...)` hoisted, then `if not finite:`) is finished in a
later round, and fixing the output again changes nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import libcst as cst

from fxlint.diagnostics import Applicability, Diagnostic, FileProblem
from fxlint.fix import hoist as hoisting
from fxlint.fix.apply import choose, import_problem, reparsed, rewritten
from fxlint.fix.inline import INLINE
from fxlint.fix.pin import named_pin, pin_key
from fxlint.fix.plan import Decline, Plan
from fxlint.fix.tree import NotItsText, Tree
from fxlint.fix.wrapped import outside_wrapped

MAX_ROUNDS = 8
NO_PINS: Mapping[str, str] = MappingProxyType({})  #: fix pins only what the user names
#: findings whose statement may be hoisted into a wrapped function. Of the silent TRC5xx only an
#: Optional-input branch (TRC501) and a flag-parameter branch (TRC506): hoisted, the `is None` /
#: `mode == ...` decision is taken when the wrapped function runs; the rest would stay wrong.
HOIST_PREFIXES = ("TRC1", "TRC2", "TRC3", "TRC401", "TRC403", "TRC404", "TRC406", "TRC501", "TRC506", "TRC604")

#: module-state findings: hoisted where they are only when the state is a registered buffer rebound
#: (`buf.set_(value)` inside the wrapped function, fxlint/fix/methods.py; a Proxy stored on `self` is
#: never recorded); otherwise, inside a submodule, the parent's call of it is hoisted (see
#: hoisting.call_site_region)
STATE_CODES = ("TRC503",)

Applied = Tuple[str, int, str, Applicability]  #: (code, row, title, applicability)
Pending = Tuple[str, int, str]  #: (code, row, title of the unsafe fix | what to do by hand)
Failed = Tuple[str, int, str, str]  #: (code, row, title, why its result was refused)

#: a round whose plans all failed validation changes nothing; the next one re-plans without them.
#: Such rounds do not count against MAX_ROUNDS, but the loop never runs more than this many times.
_MAX_ATTEMPTS = 4 * MAX_ROUNDS


@dataclass(frozen=True)
class FixResult:
    """What fixing one file did. ``text`` is the new content (== ``original`` when nothing applied)."""

    filename: str
    original: str
    text: str
    applied: Tuple[Applied, ...] = ()
    skipped_unsafe: Tuple[Pending, ...] = ()  #: an unsafe fix exists; rerun with --unsafe-fixes
    manual: Tuple[Pending, ...] = ()  #: no automatic fix: the guidance (rows are in ``text``)
    error: str = ""  #: why the file was left untouched (does not parse, unreadable, internal error)
    #: fixes whose result was refused (it did not parse, compile or round-trip, or building it
    #: raised): a bug in fxlint, never written; the file's other fixes are kept. Rows are those of
    #: the round that planned them (earlier rounds' rewrites may have moved them from ``original``).
    failed: Tuple[Failed, ...] = ()
    internal: bool = False  #: ``error`` is an exception inside fxlint, not a problem of the file

    @property
    def changed(self) -> bool:
        return self.text != self.original

    @property
    def incomplete(self) -> bool:
        """fxlint could not do what it should have here (exit 3 of `fxlint fix`)."""
        return self.internal or bool(self.failed)


@dataclass(frozen=True)
class FixReport:
    results: Tuple[FixResult, ...]
    problems: Tuple[FileProblem, ...] = field(default=())
    files_checked: int = 0
    unmatched_pins: Tuple[str, ...] = ()  #: named pins whose `Class.forward.input` no finding comes from
    #: files outside the paths given whose code a checked model reaches and where findings lie (an
    #: imported helper module): never fixed or written, as a linter touches only what it is given
    outside: Tuple[str, ...] = ()
    #: path -> the whole-project findings each result was fixed from: a later pass handed the same
    #: file text and the same findings reuses the result (fix_paths ``earlier``) instead of redoing it
    inputs: Mapping[str, Tuple[Diagnostic, ...]] = field(default_factory=dict, compare=False, repr=False)


def fix_source(text: str, filename: str = "<string>.py", unsafe: bool = False, select: Sequence[str] = (),
               ignore: Sequence[str] = (), diagnostics: Optional[Sequence[Diagnostic]] = None,
               pins: Mapping[str, str] = NO_PINS) -> FixResult:
    """Fix one module given as text. ``diagnostics``: the first round's findings when the caller
    already has them (from a whole-project check, which sees cross-module hazards). ``pins``: the
    inputs the user named (`{"Net.forward.mask": "None"}`, fxlint/fix/pin.py); nothing else is pinned.

    Rounds run until no plan is left (a fixed output fixed again proposes nothing). Every round's
    result is validated before it is kept (:func:`_apply_checked`); a plan whose result fails is
    dropped and reported in ``failed``, never retried, and the round's other plans are kept."""
    from fxlint.engine import sharing_dependencies

    with sharing_dependencies():  # the rounds' checks of this file read its imports once
        return _fix_source(text, filename, unsafe, select, ignore, diagnostics, pins)


def _fix_source(text: str, filename: str, unsafe: bool, select: Sequence[str], ignore: Sequence[str],
                diagnostics: Optional[Sequence[Diagnostic]], pins: Mapping[str, str]) -> FixResult:
    try:
        tree = Tree(text)
    except (cst.ParserSyntaxError, RecursionError) as exc:
        return FixResult(filename, text, text, error=f"does not parse: {str(exc).splitlines()[0]}")
    applied: List[Applied] = []
    failed: List[Failed] = []
    refused: set = set()
    found = list(diagnostics) if diagnostics is not None else _check(tree, filename, select, ignore)
    #: findings only the whole-project check sees, carried through the rounds; worked out when a
    #: round first changes the file (a file whose findings have no fix never needs them)
    carried: Optional[List[Diagnostic]] = None
    rounds = 0
    for _ in range(_MAX_ATTEMPTS):
        if rounds == MAX_ROUNDS:
            break
        candidates = [p for p in plan_round(tree, _own(tree, found, filename), unsafe, pins)
                      if _plan_key(p) not in refused]
        plans = choose(tree, candidates)
        if not plans:
            break
        new_tree, good, bad = _apply_checked(tree, plans, filename)
        for plan, why in bad:
            refused.add(_plan_key(plan))
            failed.extend((d.code, d.location.row, plan.title, why) for d in plan.diagnostics)
        if new_tree is None:
            continue  # every plan of the round was refused: re-plan without them
        if new_tree.text == tree.text:
            break  # the plans change nothing: planning them again would too
        if carried is None:
            carried = _cross_file(found, tree, filename, select, ignore) if diagnostics is not None else []
        rounds += 1
        applied.extend((d.code, d.location.row, p.title, p.applicability) for p in good for d in p.diagnostics)
        done = {id(d) for p in good for d in p.diagnostics}
        carried = moved([d for d in carried if id(d) not in done], tree.text, new_tree.text)
        tree = new_tree
        found = _check(tree, filename, select, ignore)
        seen = {_key(d) for d in found}
        carried = [d for d in carried if _key(d) not in seen]  # the file's own check sees it again
        found += carried
    left = [d for d in _own(tree, found, filename) if (d.code, d.location.row) not in
            {(c, r) for c, r, _, _ in failed}]
    skipped, manual = _leftovers(tree, left, unsafe, pins)
    return FixResult(filename, text, tree.text, tuple(applied), tuple(skipped), tuple(manual), failed=tuple(failed))


def _plan_key(plan: Plan) -> Tuple[str, ...]:
    """A plan's identity across rounds (rows move as earlier rounds rewrite): its title (which quotes
    the code it rewrites) and the codes it fixes. Blind spot: two identical rewrites of identical
    code in one file share it, so a refused one takes the other with it (reported as manual work)."""
    return (plan.title,) + tuple(sorted(d.code for d in plan.diagnostics))


def _apply_checked(tree: Tree, plans: Sequence[Plan], filename: str):
    """(new tree | None, the plans kept, [(plan refused, why)]). All plans at once first; when that
    fails, one by one on top of those kept so far, so a bad plan is isolated and the rest survive."""
    new, why = _try_apply(tree, plans, filename)
    if new is not None:
        return new, list(plans), []
    if len(plans) == 1:
        return None, [], [(plans[0], why)]
    kept: List[Plan] = []
    refused = []
    last = None
    for plan in plans:
        new, why = _try_apply(tree, kept + [plan], filename)
        if new is None:
            refused.append((plan, why))
        else:
            kept.append(plan)
            last = new
    return last, kept, refused


def _try_apply(tree: Tree, plans: Sequence[Plan], filename: str) -> Tuple[Optional[Tree], str]:
    """The new tree and "", or None and why it is refused: building it raised, or the new text does
    not parse with LibCST, does not round-trip, or does not compile."""
    try:
        text, module = reparsed(tree.module, rewritten(tree, plans))
    except cst.ParserSyntaxError as exc:
        return None, f"the rewritten code does not parse: {_first_line(exc)}"
    except Exception as exc:  # noqa: BLE001 - a broken rewrite must not end the run
        return None, f"the rewrite raised {type(exc).__name__}: {_first_line(exc)}"
    try:
        compile(text, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return None, f"the rewritten code does not compile: {_first_line(exc)}"
    try:
        return Tree(text, module), ""
    except NotItsText:
        return None, "the rewritten code does not round-trip through LibCST"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def fix_paths(paths: Sequence[Path], config=None, unsafe: bool = False, select: Sequence[str] = (),
              ignore: Sequence[str] = (), pins: Mapping[str, str] = NO_PINS, jobs: int = 1,
              progress: Optional[Callable[[int, int], None]] = None,
              pass_cache: Optional[Path] = None, earlier: Optional[FixReport] = None) -> FixReport:
    """Fix every Python file under ``paths`` in memory; files without findings get no result.
    ``pins`` (from `--pin`) add to, and override, the configuration's `[tool.fxlint.fix] pin`.
    ``jobs``: worker processes for the check and the fixing (0 = one per core), the pool `check`
    uses; ``progress(done, total)`` is called as files are fixed. ``pass_cache``: a folder private to
    one `fix --apply` run, shared by its passes: each pass's whole-project check re-analyzes only the
    files that changed or whose dependencies did (check's result cache, keyed by their digests), the
    rest comes from the previous pass. Never the user's check cache: fix leaves it alone. ``earlier``:
    the previous pass's report; a file it left unchanged that has the same text and the same findings
    now keeps its result (fixing is a function of the two, so doing it again would give the same)."""
    from fxlint.api import _selected, check_paths
    from fxlint.config import load_config

    from fxlint import api as check_api

    config = config or load_config(Path(paths[0]) if paths else Path.cwd())
    # fxlint.api keeps one Checker per process, and it caches every file it has read: after fix
    # wrote a file, a second fix_paths in the same process would see the old text.
    check_api._CHECKER = None
    jobs = jobs or os.cpu_count() or 1
    if pass_cache is not None:
        config = replace(config, cache_dir=pass_cache)
    checked = check_paths(list(paths), config, jobs=jobs, use_cache=pass_cache is not None)
    by_file: Dict[str, List[Diagnostic]] = {}
    for d in checked.diagnostics:
        if _selected(d.code, select, ignore) or d.code == "TRC901":
            by_file.setdefault(os.path.abspath(d.filename), []).append(d)
    outside = tuple(sorted(set(by_file) - {os.path.abspath(path) for path in checked.files}))
    for path in outside:
        del by_file[path]
    pins = {**dict(config.fix_pins), **pins}
    tasks = {path: (diags, unsafe, tuple(select), tuple(ignore), pins) for path, diags in sorted(by_file.items())}
    keys = {pin_key(d) for d in checked.diagnostics}
    kept = _unchanged_since(earlier, by_file) if earlier is not None else {}
    from fxlint.engine import sharing_dependencies

    with sharing_dependencies():  # files fixed one after another in a process share their imports' indexes
        fixed = _fix_all({p: t for p, t in tasks.items() if p not in kept}, jobs, progress)
    results = tuple(sorted(fixed + list(kept.values()), key=lambda r: r.filename))
    return FixReport(results, checked.problems, checked.files_checked, tuple(sorted(k for k in pins if k not in keys)),
                     outside, inputs={path: tuple(diags) for path, diags in by_file.items()})


def _unchanged_since(earlier: FixReport, by_file: Dict[str, List[Diagnostic]]) -> Dict[str, FixResult]:
    """The earlier pass's results that hold again: the file was left as it was (nothing applied,
    nothing refused, no error), its text is still the one fixed, and the findings handed in are
    equal. Passes share select/ignore/unsafe/pins (one `fix` command)."""
    kept: Dict[str, FixResult] = {}
    for result in earlier.results:
        diags = by_file.get(result.filename)
        if diags is None or result.changed or result.error or result.failed or result.internal:
            continue
        if earlier.inputs.get(result.filename) != tuple(diags):
            continue
        try:
            with open(result.filename, encoding="utf-8", newline="") as fh:
                if fh.read() != result.original:
                    continue
        except (OSError, UnicodeDecodeError):
            continue
        kept[result.filename] = result
    return kept


#: path -> (its findings, unsafe, select, ignore): set before the workers fork, so they inherit it
_TASKS: Dict[str, tuple] = {}


def _fix_all(tasks: Dict[str, tuple], jobs: int, progress) -> List[FixResult]:
    """Each file fixed on its own (its findings come from the whole-project check), in the worker
    pool `check` uses when there are enough files; results in no set order (fix_paths sorts them)."""
    global _TASKS
    from fxlint.api import _in_workers, _parallel

    paths = list(tasks)
    if not (_parallel(jobs, len(paths)) and hasattr(os, "fork")):  # spawned workers would not see _TASKS
        results = []
        for path in paths:
            results.append(_fix_file(path, *tasks[path]))
            if progress is not None:
                progress(len(results), len(paths))
        return results
    _TASKS = tasks
    # largest files first, one per task: fixing one file costs 0.1-30 s, so check's batches of
    # neighbours left one worker fixing a late batch of big files alone (x-transformers: its
    # 5,000-line module started last). Results come back in this order; fix_paths sorts them.
    paths.sort(key=_size, reverse=True)
    try:
        return _in_workers(_fix_task, paths, jobs, progress, largest=1)
    finally:
        _TASKS = {}


def _size(path: str) -> int:
    """A file's size in bytes, the cost estimate fixing is scheduled by (0 when it cannot be read:
    fixing it only reports that)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _fix_task(path: str) -> FixResult:
    """(in a worker) fix one file of ``_TASKS``."""
    return _fix_file(path, *_TASKS[path])


def merge_reports(earlier: FixReport, later: FixReport) -> FixReport:
    """One report for two passes of `fix --apply` over the same paths, the later run on what the
    earlier wrote: each file's first original and last text, the fixes of both passes, what is left
    as the later pass found it (a file it did not report has nothing left), refusals of both."""
    now = {r.filename: r for r in later.results}
    merged = []
    for first in earlier.results:
        second = now.pop(first.filename, None)
        if second is None:
            merged.append(replace(first, skipped_unsafe=(), manual=()) if first.changed and not first.error else first)
            continue
        failed = first.failed + tuple(f for f in second.failed
                                      if (f[0], f[2], f[3]) not in {(c, t, w) for c, _, t, w in first.failed})
        merged.append(replace(second, original=first.original, applied=first.applied + second.applied,
                              failed=failed, internal=first.internal or second.internal))
    merged.extend(now.values())
    return FixReport(tuple(sorted(merged, key=lambda r: r.filename)), later.problems, later.files_checked,
                     tuple(k for k in earlier.unmatched_pins if k in later.unmatched_pins),
                     tuple(sorted(set(earlier.outside) | set(later.outside))))


def _fix_file(path: str, diagnostics: List[Diagnostic], unsafe: bool, select, ignore,
              pins: Mapping[str, str]) -> FixResult:
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        return FixResult(path, "", "", error=f"unreadable: {exc}")
    if any(d.code == "TRC901" for d in diagnostics):
        return FixResult(path, text, text, error="does not parse (TRC901); left untouched")
    try:
        return fix_source(text, path, unsafe, select, ignore, diagnostics, pins)
    except Exception as exc:  # noqa: BLE001 - one file's failure must not cost the others their fixes
        where = _raised_at(exc)
        return FixResult(path, text, text, internal=True,
                         error=f"internal error, left untouched: {type(exc).__name__}: {_first_line(exc)}{where}")


def _raised_at(exc: BaseException) -> str:
    """` (at fxlint/fix/x.py:123)`: the innermost fxlint frame, for the report a user files."""
    import traceback

    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f"{os.sep}fxlint{os.sep}" in f.filename]
    if not frames:
        return ""
    path = frames[-1].filename
    return f" (at fxlint/{path.rsplit(os.sep + 'fxlint' + os.sep, 1)[1]}:{frames[-1].lineno})"


# ------------------------------------------------------------------------------------------ rounds
def plan_round(tree: Tree, diagnostics: Sequence[Diagnostic], unsafe: bool,
               pins: Mapping[str, str] = NO_PINS) -> List[Plan]:
    """Plans for one round: in-graph rewrites, then hoists (safe ones only without ``unsafe``; a pin
    the user named is applied either way, and `unsafe` never implies one)."""
    plans: List[Plan] = []
    rest: List[Diagnostic] = []
    for d in diagnostics:
        outcome = propose_inline(tree, d, pins)
        if isinstance(outcome, Plan):
            if outcome.applicability is Applicability.SAFE or unsafe or outcome.named:
                plans.append(outcome)
            continue
        if isinstance(outcome, Decline) and outcome.final:
            continue
        rest.append(d)
    # an input pinned this round is a constant in the next: its other findings may be gone by then
    settled = {key for p in plans for key in p.settles}
    rest = [d for d in rest if (d.reached_from[:1] + (d.source,)) not in settled]
    # hoists overlapping an in-graph rewrite lose in `choose` and are re-planned next round
    plans += [p for p in hoist_plans(tree, rest) if isinstance(p, Plan)
              and (unsafe or p.applicability is Applicability.SAFE)]
    return [p for p in plans if not import_problem(tree, p)]  # reported by _leftovers


def propose_inline(tree: Tree, d: Diagnostic, pins: Mapping[str, str] = NO_PINS):
    pinned = named_pin(tree, d, pins)
    if pinned is not None:
        return pinned
    for rewrite in INLINE.get(d.code, ()):
        outcome = rewrite(tree, d)
        if outcome is not None:
            return outcome
    return None


def hoist_plans(tree: Tree, diagnostics: Sequence[Diagnostic]) -> List[object]:
    """One hoist per outermost region; a region holding several findings fixes them all."""
    regions = {}
    declined: List[object] = []
    wanted = [d for d in diagnostics if d.code.startswith(HOIST_PREFIXES) or d.code in STATE_CODES]
    parents = {id(d): hoisting.call_site_region(tree, d) for d in wanted if len(d.reached_from) > 1}
    own = {id(d): _state_region(tree, d) if d.code in STATE_CODES else hoisting.region_for(tree, d) for d in wanted}
    # a submodule's hazard that cannot leave its own code (it needs `self`): hoist the parent's call
    # of that submodule instead, which runs it eagerly, state included; the submodule's other
    # hazards then go with that call rather than into hoists of their own
    lifted = {hoisting.region_key(parents[id(d)]) for d in wanted if parents.get(id(d)) is not None
              and (own[id(d)] is None or not _hoistable(tree, own[id(d)], d))}
    for d in wanted:
        parent = parents.get(id(d))
        region = parent if parent is not None and hoisting.region_key(parent) in lifted else own[id(d)]
        if region is None:
            continue
        if isinstance(region, Decline):
            declined.append(region)
            continue
        key = hoisting.region_key(region)
        regions.setdefault(key, (region, []))[1].append(d)
    return declined + _uncovered(_plan_regions(tree, regions, tree.names()), tree)


def _plan_regions(tree: Tree, regions: Dict[tuple, Tuple[object, List[Diagnostic]]], taken) -> List[object]:
    """Hoist the outermost regions, each with the findings of the regions nested in it; where an
    outer region (or a merge of neighbours) declines, its parts are planned on their own instead, so a
    declined `return`-tail region does not take the fixable statements inside it down with it."""
    def within(key, outer_key):
        return outer_key[0] <= key[0] and key[1] <= outer_key[1]

    outer = [k for k in regions if not any(o != k and within(k, o) for o in regions)]
    nested = {k: [n for n in regions if n != k and within(n, k)] for k in outer}
    merged = hoisting.merge(tree, [(regions[k][0], regions[k][1] + [d for n in nested[k] for d in regions[n][1]])
                                   for k in outer])
    outcomes: List[object] = []
    for region, diags in merged:
        outcome = hoisting.hoist(tree, region, diags, taken)
        parts = [k for k in outer if within(k, hoisting.region_key(region))]
        if isinstance(outcome, Decline) and (len(parts) > 1 or any(nested[k] for k in parts)):
            outcomes.extend(_split_declined(tree, regions, parts, nested, taken))
            continue
        outcomes.append(outcome)
    return outcomes


def _split_declined(tree: Tree, regions, parts, nested, taken) -> List[object]:
    """The outcomes for the parts of a declined region: each joined neighbour alone, and inside a part
    that still declines, the regions nested in it (recursively)."""
    outcomes: List[object] = []
    for key in parts:
        region, diags = regions[key]
        own = diags + [d for n in nested[key] for d in regions[n][1]]
        outcome = hoisting.hoist(tree, region, own, taken) if len(parts) > 1 else Decline("")
        if isinstance(outcome, Decline) and nested[key]:
            alone = hoisting.hoist(tree, region, diags, taken)
            outcomes.append(alone)  # a Plan (the nested findings were what declined) or its own reason
            if isinstance(alone, Decline):
                outcomes.extend(_plan_regions(tree, {n: regions[n] for n in nested[key]}, taken))
        else:
            outcomes.append(outcome)
    return outcomes


def _uncovered(outcomes: List[object], tree: Tree) -> List[object]:
    """Drop hoists inside a method another hoist copies into its wrapped function: once that call is
    gone, the method is no longer traced and its findings usually go with it (re-planned next round)."""
    covered = [c for p in outcomes if isinstance(p, Plan) for c in p.covers]
    return [p for p in outcomes if not (isinstance(p, Plan) and p.replacements and all(
        any(tree.contains(c, n) for c in covered) for n in p.replacements))]


def _state_region(tree: Tree, d: Diagnostic):
    """A state update's own region, when it hoists without hiding a submodule (a registered buffer
    rebound from values, possibly through a copied method); None otherwise: the parent's call site
    is hoisted instead, or guidance (moving `self.avg = self.fc(x)...` would hide `fc`)."""
    region = hoisting.region_for(tree, d)
    if region is None or isinstance(region, Decline):
        return None
    plan = hoisting.hoist(tree, region, [d], tree.names())
    return region if isinstance(plan, Plan) and not plan.hides else None


def _hoistable(tree: Tree, region: object, d: Diagnostic) -> bool:
    return not isinstance(region, Decline) and isinstance(hoisting.hoist(tree, region, [d], tree.names()), Plan)


def _leftovers(tree: Tree, diagnostics: Sequence[Diagnostic], unsafe: bool,
               pins: Mapping[str, str] = NO_PINS) -> Tuple[List[Pending], List[Pending]]:
    """Split what is left: findings with an unsafe fix not taken, and findings needing a human."""
    skipped: List[Pending] = []
    manual: List[Pending] = []
    for d in diagnostics:
        outcome = propose_inline(tree, d, pins)
        if not isinstance(outcome, Plan) and not (isinstance(outcome, Decline) and outcome.final) \
                and d.code.startswith(HOIST_PREFIXES):
            # a declined in-graph rewrite falls back to a hoist, as in plan_round (not a final decline)
            hoisted = hoist_plans(tree, [d])
            first = hoisted[0] if hoisted else None
            if isinstance(first, Decline) and isinstance(outcome, Decline):  # both reasons are the user's to read
                outcome = Decline(f"{first.reason}; in the graph: {outcome.reason}")
            elif first is not None and (isinstance(first, Plan) or outcome is None):
                outcome = first
        if isinstance(outcome, Plan) and import_problem(tree, outcome):
            outcome = Decline(import_problem(tree, outcome))
        if isinstance(outcome, Plan) and outcome.applicability is Applicability.UNSAFE and not unsafe:
            skipped.append((d.code, d.location.row, outcome.title))
        elif isinstance(outcome, Decline):
            manual.append((d.code, d.location.row, f"{outcome.reason}; {d.help}" if d.help else outcome.reason))
        else:
            manual.append((d.code, d.location.row, d.help or d.message))
    return skipped, manual


def _cross_file(found: Sequence[Diagnostic], tree: Tree, filename: str, select, ignore) -> List[Diagnostic]:
    """Findings of a whole-project check that a check of this file alone does not report (the code is
    reached only from another file's model). Later rounds check the file alone, so these are carried
    from round to round (:func:`moved`): re-planned while left, and reported when no fix takes them,
    never dropped unseen."""
    alone = {_key(d) for d in _check(tree, filename, select, ignore)}
    return [d for d in found if _key(d) not in alone]


def moved(diagnostics: Sequence[Diagnostic], old: str, new: str) -> List[Diagnostic]:
    """``diagnostics`` of ``old`` at their rows in ``new``: an unchanged line keeps its finding; a line
    rewritten in place (a replaced block) maps to the same offset in the new block; a deleted line
    (moved into a hoisted function) loses it."""
    import difflib
    from dataclasses import replace

    rows: Dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace") and j2 > j1:
            for i in range(i1, i2):
                rows[i + 1] = j1 + min(i - i1, j2 - j1 - 1) + 1
    out = []
    for d in diagnostics:
        row = rows.get(d.location.row)
        if row is not None:
            shift = row - d.location.row
            out.append(replace(d, location=replace(d.location, row=row),
                               end_location=replace(d.end_location, row=d.end_location.row + shift)))
    return out


def _key(d: Diagnostic) -> Tuple[str, int, int]:
    return d.code, d.location.row, d.location.column


def _check(tree: Tree, filename: str, select: Sequence[str], ignore: Sequence[str]) -> List[Diagnostic]:
    """The findings of ``tree``'s file checked alone, from the tree fix parsed (one parse, not two)."""
    from fxlint.api import check_source

    return check_source(tree.text, filename, select, ignore, tree.module)


def _own(tree: Tree, diagnostics: Sequence[Diagnostic], filename: str) -> List[Diagnostic]:
    """Findings located in this file (a check may report a helper module's lines too), outside
    functions FX does not trace (`@torch.fx.wrap`)."""
    want = os.path.abspath(filename)
    mine = [d for d in diagnostics if os.path.abspath(d.filename) == want or d.filename == filename]
    return outside_wrapped(tree, mine)
