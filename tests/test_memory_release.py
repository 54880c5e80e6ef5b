"""A check's objects are freed by reference counting as soon as it ends, and a run leaves the
process's GC settings as it found them. The engine raises the GC thresholds for a run (its objects
live until the run ends), so anything left in a reference cycle waits for a rare full pass: a cycle
through the analysis once held every tree and value of each checked file (8 M objects, ~15 s of
GC on transformers' models/)."""

import gc
from pathlib import Path

from fxlint import registry
from fxlint.analysis.interp import Analysis
from fxlint.api import check_paths
from fxlint.config import Config
from fxlint.engine import Checker

#: the None check makes TRC501 build the analysis's OptionalUses (the object that closed the cycle)
OPTIONAL_INPUT = '''\
import torch


class Net(torch.nn.Module):
    def forward(self, x, mask=None):
        if mask is not None:
            x = x + mask
        return x
'''


def _live_analyses() -> int:
    return sum(type(o) is Analysis for o in gc.get_objects())  # not isinstance: no proxy objects asked


def test_an_analysis_is_freed_when_its_check_ends_without_the_cyclic_gc():
    gc.collect()
    gc.disable()
    try:
        before = _live_analyses()
        found = Checker(registry.all_rules()).check_source(OPTIONAL_INPUT, "net.py")
        assert [d.code for d in found] == ["TRC501"]  # the None check was analyzed
        assert _live_analyses() == before
    finally:
        gc.enable()


def test_a_run_restores_the_gc_thresholds(tmp_path: Path):
    (tmp_path / "net.py").write_text(OPTIONAL_INPUT)
    previous = gc.get_threshold()
    gc.set_threshold(1234, 5, 6)
    try:
        result = check_paths([tmp_path], Config(), jobs=1, use_cache=False)
        assert [d.code for d in result.diagnostics] == ["TRC501"]
        assert gc.get_threshold() == (1234, 5, 6)
    finally:
        gc.set_threshold(*previous)
