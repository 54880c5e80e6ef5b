"""fxlint's library interface: returns data, never prints. The CLI is a thin shell over it.

>>> from fxlint.api import check_source
>>> [d.code for d in check_source("import torch\\nclass M(torch.nn.Module):\\n"
...                               "    def forward(self, x):\\n        return len(x)\\n")]
['TRC204']
"""

from __future__ import annotations

import contextlib
import gc
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Dict, FrozenSet, List, Optional, Sequence, Tuple

from fxlint.cache import ResultCache, digest_bytes, digest_file, names_digest, rules_fingerprint
from fxlint.config import Config
from fxlint.diagnostics import CheckResult, Diagnostic, FileProblem, merge_all_reports, problem_sort_key
from fxlint.files import canonical, collect

if TYPE_CHECKING:
    import ast

    import libcst as cst

    from fxlint.analysis.references import References
    from fxlint.engine import Loaded

#: below this many files to analyze, worker processes cost more than they save
PARALLEL_THRESHOLD = 8


def check_source(source: str, filename: str = "<string>.py", select: Sequence[str] = (),
                 ignore: Sequence[str] = (), tree: "Optional[cst.Module]" = None) -> List[Diagnostic]:
    """Diagnostics for one module given as text (imports resolve next to ``filename``). ``tree``:
    ``source`` as parsed by LibCST, if the caller has it (only read, never changed)."""
    from fxlint import registry
    from fxlint.engine import Checker

    from fxlint.analysis.references import references

    syntax = _stdlib_ast(source)
    checker = Checker(registry.all_rules(), roots=(Path(filename).resolve().parent,),
                      blocks=references(source, syntax).imported)
    found = checker.check_source(source, filename, tree, syntax)
    return [d for d in found if _selected(d.code, select, ignore)]


def _stdlib_ast(source: str) -> "Optional[ast.Module]":
    """``source``'s stdlib `ast`, parsed once for the references, the positions and the blocks'
    scan (each parsed it again: a tenth of `fix`, which checks every file after each round); None
    when `ast` rejects it (each reader then reports or skips as before)."""
    import ast

    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def check_paths(paths: Sequence[Path], config: Config, jobs: int = 0, use_cache: bool = True) -> CheckResult:
    """Check every Python file under ``paths``; results are sorted and deduplicated."""
    with _few_gc_passes():
        return _check_paths(paths, config, jobs, use_cache)


@contextlib.contextmanager
def _few_gc_passes():
    """A run builds millions of small objects that live until it ends (file indexes, LibCST trees):
    with the default thresholds the cyclic GC rescans them over and over (~25% of a run on timm;
    its full passes were 5 s of the index pre-pass on transformers' models/). The run frees its
    garbage by reference counting, so fewer passes lose nothing. The caller's thresholds come back."""
    before = gc.get_threshold()
    gc.set_threshold(200_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _check_paths(paths: Sequence[Path], config: Config, jobs: int, use_cache: bool) -> CheckResult:
    files, problems = collect(paths, config)
    jobs = jobs or os.cpu_count() or 1
    cache = _open_cache(config) if use_cache else None
    _PRELOADED.clear()
    sources = _read_all(files, cache, jobs)
    blocks: FrozenSet[str] = frozenset().union(*(s.references for s in sources))
    blocks_digest = names_digest(blocks)
    digests: Dict[str, Optional[str]] = {os.path.abspath(s.path): s.digest for s in sources}
    #: each file's diagnostics (they may lie in the helper files it reaches), from the cache or checked
    found_in: Dict[str, Tuple[Diagnostic, ...]] = {}
    todo: List[_Source] = []
    for source in sources:
        hit = None
        if cache is not None and source.digest is not None:
            hit = cache.get(source.path, source.digest, digests, blocks_digest)
        if hit is None:
            todo.append(source)
        else:
            found_in[source.path] = hit
    by_path = {s.path: s for s in todo}
    for key, found, problem, deps in _analyze([s.path for s in todo], jobs, blocks):
        if problem is not None:
            problems.append(problem)
            continue
        found_in[key] = found
        source = by_path[key]
        if cache is not None and source.digest is not None:
            cache.put(key, (source.digest, found, deps, source.references, blocks_digest))
    _PRELOADED.clear()
    if cache is not None:
        cache.save()
    # in the files' order, whichever came from the cache: a helper's finding that several files report is
    # shown as the first of them reports it (a partly warm run listed the cached reports first)
    final = _finalize([d for s in sources for d in found_in.get(s.path, ())], config)
    return CheckResult(final, tuple(sorted(problems, key=problem_sort_key)), len(files),
                       len(files) - len(todo), files=tuple(s.path for s in sources))


class _Source:
    """A checked file's digest and the class names it refers to (from the cache when unchanged)."""

    __slots__ = ("path", "digest", "references")

    def __init__(self, path: str, digest: Optional[str], references: FrozenSet[str]) -> None:
        self.path, self.digest, self.references = path, digest, references


def _read_all(files: Sequence[Path], cache: Optional[ResultCache], jobs: int) -> List[_Source]:
    """Every file's digest and the class names it hands on as building blocks (from the cache, or
    read from its `ast`). Each file read is also indexed from the same `ast` and the index kept
    (``_PRELOADED``) for the analysis, so no file is parsed with `ast` twice. With several jobs and
    enough files, the indexing runs in worker processes (done here it was the serial fifth of a
    parallel run on transformers) and the indexes come back: they pickle small (~3 KB a file,
    ~0.2 ms to load), and the checking workers, forked later, inherit them all, dependencies
    included. Before, those workers parsed every file again: ~20 s of 130 s CPU on transformers."""
    sources, pending = [], []
    for path in files:
        # every file goes by its canonical path from here on (cache key, worker, findings): a file
        # named relative and then reached through an import (an absolute path) is one file
        source, data = _read(canonical(path), cache)
        sources.append(source)
        if data is not None:
            pending.append((source, data))
    if pending:
        _index_all(pending, jobs)
    return sources


def _index_all(pending: List[Tuple[_Source, bytes]], jobs: int) -> None:
    from fxlint.analysis.references import remember  # imports LibCST: not for runs from the cache

    parallel = _parallel(jobs, len(pending))
    if parallel:
        found = _in_workers(_index_in_worker, [s.path for s, _ in pending], jobs)
    else:
        found = [_index(s.path, data) for s, data in pending]
    for (source, data), (refs, loaded) in zip(pending, found):
        source.references = refs.imported
        if parallel:  # the checking workers inherit what the indexing workers found
            remember(data.decode("utf-8", "replace"), refs)
        if loaded is not None:
            _PRELOADED[os.path.abspath(source.path)] = loaded


def _read(path: str, cache: Optional[ResultCache]) -> Tuple[_Source, Optional[bytes]]:
    """The file's source record, and its bytes if its references are still to be read."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return _Source(path, None, frozenset()), None
    digest = digest_bytes(data)
    refs = cache.references(path, digest) if cache is not None else None
    if refs is not None:
        return _Source(path, digest, refs), None
    if b"class " not in data:
        return _Source(path, digest, frozenset()), None
    return _Source(path, digest, frozenset()), data


def _index_in_worker(path: str) -> Tuple["References", Optional["Loaded"]]:
    """(in a worker) ``_index`` of the file, read again here: sending its bytes costs more."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        from fxlint.analysis.references import References

        return References(frozenset(), frozenset()), None
    return _index(path, data)


def _index(path: str, data: bytes) -> Tuple["References", Optional["Loaded"]]:
    """What a file to be analyzed says about building blocks (the class names it hands on), and
    its `ast` index for the analysis, built from the same `ast` (None if `ast` rejects the file,
    or it is not UTF-8 or too large: the engine then loads it its own way)."""
    from fxlint.analysis.references import references
    from fxlint.engine import index_with_stdlib_ast

    loaded = index_with_stdlib_ast(Path(path), data)
    if loaded is None or loaded.module is None:
        return references(data.decode("utf-8", "replace")), None
    found = references(loaded.module.text, loaded.syntax_tree)
    loaded.syntax_tree = None  # kept for every file, the `ast`s would not fit in memory
    loaded.set_text_aside()  # nor would the texts: read again when the engine takes the index
    return found, loaded


def _finalize(diagnostics: List[Diagnostic], config: Config) -> Tuple[Diagnostic, ...]:
    """The run's findings: selected, in canonical paths, one per (file, row, column, code), sorted.
    ``diagnostics`` come in the order of the checked files (whichever worker, or the cache, gave them):
    reports of one finding are merged in that order (``merge_reports``), paths made canonical (a file
    reached through an import may carry another spelling), and the sort key is unique after the merge."""
    names: Dict[str, str] = {}
    ignored: Dict[str, Tuple[str, ...]] = {}
    reports: Dict[tuple, List[Diagnostic]] = {}
    for d in diagnostics:
        d = _in_canonical_paths(d, names)
        ignore = ignored.get(d.filename)
        if ignore is None:
            ignore = ignored[d.filename] = config.ignore + config.ignored_for(d.filename)
        if not _selected(d.code, config.select, ignore):
            continue
        key = (d.filename, d.location.row, d.location.column, d.code)
        found = reports.get(key)
        if found is None:
            reports[key] = [d]
        else:
            found.append(d)
    return tuple(sorted((merge_all_reports(r) for r in reports.values()), key=Diagnostic.sort_key))


def _in_canonical_paths(d: Diagnostic, names: Dict[str, str]) -> Diagnostic:
    """``d`` with its file and its provenance steps' files canonical (``names``: memo). A step in the
    finding's own file has no filename, however that file was spelled where the step was recorded."""
    def canon(name: str) -> str:
        found = names.get(name)
        if found is None:
            found = names[name] = canonical(name)
        return found

    filename = canon(d.filename)
    steps = d.provenance
    if any(s.filename for s in steps):
        steps = tuple(s if not s.filename else _step_in(s, "" if canon(s.filename) == filename else canon(s.filename))
                      for s in steps)
    if filename == d.filename and steps == d.provenance:
        return d
    return replace(d, filename=filename, provenance=steps)


def _step_in(step, filename: str):
    """``step`` with ``filename`` (itself when it has it already)."""
    return step if step.filename == filename else replace(step, filename=filename)


def _selected(code: str, select: Sequence[str], ignore: Sequence[str]) -> bool:
    """ruff's semantics: the most specific matching prefix wins; on a tie, ignore wins."""

    def longest(prefixes: Sequence[str]) -> int:
        best = -1
        for p in prefixes:
            p = p.upper()
            if p == "ALL" or code.startswith(p):
                best = max(best, 0 if p == "ALL" else len(p))
        return best

    chosen = longest(select) if select else 0
    return chosen >= 0 and longest(ignore) < chosen if ignore else chosen >= 0


def _open_cache(config: Config) -> Optional[ResultCache]:
    from fxlint.registry import rules_dir

    directory = config.cache_dir or Path(os.environ.get("FXLINT_CACHE_DIR", config.root / ".fxlint_cache"))
    return ResultCache(directory, rules_fingerprint(rules_dir()))


# ---------------------------------------------------------------------- workers
_CHECKER = None
_BLOCKS: FrozenSet[str] = frozenset()  #: set before workers fork, so they inherit it
#: absolute path -> the file's `ast` index, built while reading its references (checking workers
#: inherit it; each takes an index once, so a file another worker checks is still there for this
#: one's dependencies)
_PRELOADED: Dict[str, "Loaded"] = {}

WorkerResult = Tuple[str, Tuple[Diagnostic, ...], Optional[FileProblem], Tuple[Tuple[str, str], ...]]


def _check_one(path: str) -> WorkerResult:
    global _CHECKER
    if _CHECKER is None:
        from fxlint import registry
        from fxlint.engine import Checker

        _CHECKER = Checker(registry.all_rules(), blocks=_BLOCKS, preloaded=_PRELOADED)
    try:
        found, problem, used = _CHECKER.check_file(Path(path))
    except RecursionError:
        return path, (), FileProblem(path, "too-complex", "skipped: too deeply nested to analyze"), ()
    except Exception as exc:  # noqa: BLE001 - one bad file must not end the run; reported, not raised
        return path, (), FileProblem(path, "internal-error", f"fxlint could not analyze this file "
                                                            f"({type(exc).__name__}: {exc}); please report it"), ()
    deps = tuple((dep, _dependency_digest(dep)) for dep in used)
    return path, found, problem, deps


_DEPENDENCY_DIGESTS: Dict[str, str] = {}  #: per run: most checked files use the same few dependencies


def _dependency_digest(path: str) -> str:
    digest = _DEPENDENCY_DIGESTS.get(path)
    if digest is None:
        digest = _DEPENDENCY_DIGESTS[path] = digest_file(path) or ""
    return digest


def _analyze(paths: List[str], jobs: int, blocks: FrozenSet[str]):
    global _BLOCKS, _CHECKER
    if not paths:
        return []
    # a fresh checker per run: its parse cache must not outlive the files' contents
    _BLOCKS, _CHECKER = blocks, None
    _DEPENDENCY_DIGESTS.clear()
    if not _parallel(jobs, len(paths)):
        try:
            return [_check_one(p) for p in paths]
        finally:
            if _CHECKER is not None:  # the report is built next: let it reuse the trees' memory
                _CHECKER.release_trees()
    gc.freeze()  # forked workers then share the parent's objects without copying them
    try:
        return _in_workers(_check_one, paths, jobs)
    finally:
        gc.unfreeze()


def _parallel(jobs: int, count: int) -> bool:
    """Run ``count`` files' work in worker processes? (``jobs``: already resolved, never 0)"""
    return jobs > 1 and count >= PARALLEL_THRESHOLD


def _in_workers(work, paths: List[str], jobs: int, progress=None, largest: int = 16) -> list:
    """``[work(p) for p in paths]``, in a pool of forked processes (results in order);
    ``progress(done, total)`` after each batch (`fix` shows it on a terminal). ``largest``: the most
    files handed to a worker at once (see :func:`_batches`)."""
    import functools
    import multiprocessing  # ~45 ms: not for single-process runs and cache hits

    context = multiprocessing.get_context("fork" if hasattr(os, "fork") else "spawn")
    with context.Pool(min(jobs, len(paths))) as pool:
        done = pool.imap(functools.partial(_each, work), _batches(paths, jobs, largest))
        results: list = []
        for batch in done:
            results.extend(batch)
            if progress is not None:
                progress(len(results), len(paths))
        return results


def _each(work, batch: List[str]) -> list:
    return [work(p) for p in batch]


def _batches(paths: List[str], jobs: int, largest: int = 16) -> List[List[str]]:
    """Consecutive runs of ``paths`` (neighbours share imports: a worker that checks them together
    keeps their trees), each a quarter of an even share of what is left, at most ``largest``: whole
    batches while much is left, single files at the end, so the workers finish together (guided
    self-scheduling). With a fixed size of 16, one worker went on alone for 0.1-0.4 s at the end of
    timm's checking phase (2.4 s); now the two end within 0.03 s."""
    batches, start = [], 0
    while start < len(paths):
        size = max(1, min(largest, (len(paths) - start) // (jobs * 4)))
        batches.append(paths[start:start + size])
        start += size
    return batches


__all__ = ["check_source", "check_paths", "digest_bytes"]
