"""The engine keeps at most MAX_TREE_LINES lines of LibCST trees across checks (the bulk of its
memory), and dropping trees never changes what a check finds."""

import hashlib
from pathlib import Path

import pytest

from fxlint import engine, registry
from fxlint.engine import Checker

SHARED = '''\
import torch


class Shared(torch.nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x
        return -x
'''

MODEL = '''\
import torch
from pkg.shared import Shared
{extra}


class Model{i}(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = Shared()
        self.extra = {block}

    def forward(self, x):
        for _ in range(x.size(0)):
            x = self.shared(x)
        return self.extra(x)
'''


def _package(root: Path, n: int) -> list:
    pkg = root / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "shared.py").write_text(SHARED)
    paths = []
    for i in range(n):
        # each model also enters its predecessor's file, so old files' trees are wanted again
        extra, block = (f"from pkg.model{i - 1} import Model{i - 1}", f"Model{i - 1}()") if i else ("", "Shared()")
        path = pkg / f"model{i}.py"
        path.write_text(MODEL.format(i=i, extra=extra, block=block))
        paths.append(path)
    return paths


def _holding_trees(checker: Checker) -> list:
    return [p for p, loaded in checker._loaded.items() if loaded.module is not None and loaded.module.has_tree]


def _lines_held(checker: Checker) -> int:
    return sum(checker._loaded[p].module.tree_lines for p in _holding_trees(checker))


def _check_all(paths, limit, monkeypatch) -> list:
    monkeypatch.setattr(engine, "MAX_TREE_LINES", limit)
    checker = Checker(registry.all_rules(), roots=(paths[0].parent.parent,))
    found = []
    for path in paths:
        diagnostics, problem, _ = checker.check_file(path)
        assert problem is None
        found.append([(d.filename, d.location.row, d.code, d.message) for d in diagnostics])
        checker._trim()
        assert _lines_held(checker) <= limit
    return found


@pytest.mark.parametrize("limit", [1, 12])
def test_trees_are_dropped_beyond_the_budget_and_findings_do_not_change(tmp_path, monkeypatch, limit):
    paths = _package(tmp_path, 6)
    small = _check_all(paths, limit, monkeypatch)
    large = _check_all(paths, 100_000, monkeypatch)
    assert small == large
    assert any(small)  # the shared helper's branch is found through every model


class _Forgetful(dict):
    """A preload table that keeps nothing: every file is indexed again by the engine."""

    def __setitem__(self, key, value):
        pass


def test_each_checked_file_is_indexed_once_and_the_preload_changes_nothing(tmp_path, monkeypatch):
    from collections import Counter

    from fxlint import api
    from fxlint.config import Config

    paths = _package(tmp_path, 4)
    indexed = Counter()
    real = engine._index_text

    def counting(path, text):
        indexed[str(path)] += 1
        return real(path, text)

    monkeypatch.setattr(engine, "_index_text", counting)
    config = Config(root=tmp_path)
    preloaded = api.check_paths([tmp_path / "pkg"], config, jobs=1, use_cache=False)
    assert set(indexed) == {str(p) for p in (tmp_path / "pkg").glob("*.py")}
    assert set(indexed.values()) == {1}  # files with classes while reading references, the rest by the engine

    monkeypatch.setattr(api, "_PRELOADED", _Forgetful())
    indexed.clear()
    again = api.check_paths([tmp_path / "pkg"], config, jobs=1, use_cache=False)
    assert max(indexed.values()) == 2  # read for its references, then again by the engine
    assert again.diagnostics == preloaded.diagnostics and preloaded.diagnostics


def test_two_jobs_parse_each_file_once_across_all_processes(tmp_path, monkeypatch):
    """The indexing workers send each file's `ast` index back; the checking workers, forked later,
    inherit them, for the files they check and for those files' dependencies. Before, each file was
    parsed for its references, then again by the worker that checked it, and a dependency again by
    every worker that used it. Counted in every process through a log file (forked workers inherit
    the patched functions, not the parent's counter)."""
    from fxlint import api
    from fxlint.analysis import references
    from fxlint.config import Config

    log = tmp_path / "parsed.log"
    real_index, real_references = engine._index_text, references._references

    def logged(path_or_text, *rest):
        text = rest[0] if rest else path_or_text
        with open(log, "a") as fh:  # one short write per call: whole lines from every process
            fh.write(hashlib.sha1(text.encode()).hexdigest() + "\n")
        return real_index(path_or_text, *rest) if rest else real_references(path_or_text)

    monkeypatch.setattr(engine, "_index_text", logged)
    monkeypatch.setattr(references, "_references", logged)
    (tmp_path / "tree").mkdir()
    paths = _package(tmp_path / "tree", api.PARALLEL_THRESHOLD + 2)
    config = Config(root=tmp_path)
    parallel = api.check_paths([tmp_path / "tree" / "pkg"], config, jobs=2, use_cache=False)
    files = list((tmp_path / "tree" / "pkg").glob("*.py"))
    assert len(files) == len(paths) + 2  # the models, shared.py and __init__.py
    parses = log.read_text().splitlines()
    assert sorted(parses) == sorted(set(parses)) and len(parses) == len(files)

    log.unlink()
    single = api.check_paths([tmp_path / "tree" / "pkg"], config, jobs=1, use_cache=False)
    assert sorted(log.read_text().splitlines()) == sorted(parses)
    assert parallel.diagnostics == single.diagnostics and single.diagnostics


@pytest.mark.parametrize("count", [1, 9, 304, 2597])
def test_work_is_handed_out_in_shrinking_runs_of_neighbours(count):
    """Workers get consecutive files (neighbours share imports), whole runs of 16 while much is
    left and single files at the end, so that they finish together."""
    from fxlint.api import _batches

    paths = [f"f{i}.py" for i in range(count)]
    batches = _batches(paths, jobs=2)
    assert [p for b in batches for p in b] == paths
    sizes = [len(b) for b in batches]
    assert sizes == sorted(sizes, reverse=True) and max(sizes) <= 16 and sizes[-1] == 1
    if count >= 304:
        assert sizes[0] == 16 and sizes[-8:] == [1] * 8


def test_a_tree_still_in_use_outlives_one_looked_up_later(tmp_path, monkeypatch):
    """A use of a kept node (a base class's method reached again, not looked up by name) counts as a
    use of its file's tree: the file least recently *used* loses its tree, not the one least recently
    looked up (transformers' DistributedMixin was parsed again for every model)."""
    paths = _package(tmp_path, 1)
    checker = Checker(registry.all_rules(), roots=(tmp_path,))
    shared = checker._load_for_project(tmp_path / "pkg" / "shared.py")
    model = checker._load_for_project(paths[0])  # looked up after shared.py
    shared_forward = shared.classes["Shared"].methods["forward"]
    shared_forward.node, model.classes["Model0"].methods["forward"].node  # a tree each
    checker._trim()  # both were used: both stay, and the flags are cleared
    assert sorted(_holding_trees(checker)) == sorted([shared.path, model.path])
    shared_forward.node  # kept on the FunctionRef: no lookup of shared.py
    monkeypatch.setattr(engine, "MAX_TREE_LINES", shared.tree_lines)
    checker._trim()
    assert _holding_trees(checker) == [shared.path]
