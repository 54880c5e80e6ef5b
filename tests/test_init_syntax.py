"""``__init__`` read from the stdlib `ast` (fxlint/analysis/init_syntax.py) registers what the LibCST
reading registers, in the same order, for every class of the fixtures and for constructs whose
order differs between the two trees."""

from pathlib import Path

import libcst as cst
import pytest

from fxlint import registry
from fxlint.analysis.init_syntax import init_syntax
from fxlint.analysis.project import ClassInfo, ModuleSource, module_name_for
from fxlint.analysis.semantics import CstSyntax, _InitScanner
from fxlint.engine import Checker, load_light

ROOT = Path(__file__).resolve().parent.parent

TRICKY = '''\
import torch
from torch import nn


class A(nn.Module):
    def forward(self, x):
        return x


class B(A):
    pass


class C(A):
    pass


def make(*args, **kwargs):
    return A()


class Net(nn.Module):
    def __init__(self, block=B, flag=True, act=None, *, other=C):
        super().__init__()
        self.d = nn.ModuleDict({A(): B(), C(): A()})
        self.k = nn.ModuleList(make(x=B(), *[C()]))
        self.pick = A() if flag else B()
        self.either = flag and C() or B()
        local = block()
        self.local = local
        self.seq = nn.Sequential(*[other() for _ in range(2)], A())
        self.blocks = nn.ModuleList()
        self.register_buffer("buf", torch.zeros(1))
        self.register_buffer("con" "cat", torch.zeros(1))
        self.register_buffer(f"f{1}", torch.zeros(1))
        self.register_parameter("weight", None)
        self.register_parameter(name="bias", param=nn.Parameter(torch.zeros(1)))
        self.add_module("added", B())
        self.w = nn.Parameter(torch.ones(1))
        self.x: int
        self.y: int = 3
        self.p, self.q = A(), B()
        try:
            self.t = C()
        except (make(), ValueError):
            self.t = B()
        while flag:
            self.loop = A()
            break
        with torch.no_grad():
            self.ctx = act
'''

NESTED_DEF = '''\
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()

        def build():
            return nn.Linear(1, 1)
        self.fc = build()
'''


def _scan(project, cls, syntax):
    clone = ClassInfo(cls.name, cls.module, None, cls.base_names, dict(cls.methods))
    scanner = _InitScanner(project, clone, syntax)
    scanner.scan()
    return (list(clone.attr_kinds.items()), list(clone.attr_classes.items()), scanner.instantiated,
            list(scanner.aliases.items()), list(scanner.locals.items()))


def _both(project, module, cls):
    syntax = init_syntax(module, cls.name)
    assert syntax is not None
    from_ast = _scan(project, cls, syntax)
    from_cst = _scan(project, cls, CstSyntax(cls.methods["__init__"].node))
    assert from_ast == from_cst
    return from_ast


def _load(tmp_path: Path, text: str):
    path = tmp_path / "net.py"
    path.write_text(text)
    checker = Checker(registry.all_rules(), roots=(tmp_path,))
    module = load_light(path).module
    checker.project.add(module, module_name_for(path)[1])
    return checker.project, module


def test_order_sensitive_constructs_are_read_as_libcst_reads_them(tmp_path: Path):
    project, module = _load(tmp_path, TRICKY)
    a, b, c = (module.classes[n] for n in "ABC")

    kinds, classes, instantiated, aliases, locals_ = _both(project, module, module.classes["Net"])

    assert dict(kinds) == {
        "d": "container", "k": "container", "pick": "module", "either": "module", "local": "module",
        "seq": "container", "blocks": "container", "buf": "buffer", "weight": "const", "bias": "parameter",
        "added": "module", "w": "parameter", "y": "const", "t": "module", "loop": "module", "ctx": "const"}
    # LibCST's walk meets the last child first, a dict's entries key and value together, a call's
    # arguments in source order (keywords among the positional ones); an `ast` walk in its own field
    # order (keys, then values; positional arguments, then keywords) would give (A, B, C) and (B, C)
    assert dict(classes)["d"] == (a, c, b) and dict(classes)["k"] == (c, b)
    assert dict(classes)["pick"] == (b, a) and dict(classes)["either"] == (b, c) and dict(classes)["t"] == (c, b)
    assert dict(classes)["seq"] == (a, c) and dict(classes)["blocks"] == (a, b, c)  # all built: a fallback
    assert instantiated == [a, b, c, "torch.nn.Parameter", "torch.nn.ModuleList", "torch.nn.Sequential",
                            "torch.nn.ModuleDict"]
    assert dict(aliases) == {"block": "net.B", "flag": "True", "act": "None", "other": "net.C"}
    assert dict(locals_) == {"local": b}


def test_an_init_with_a_nested_def_is_read_with_libcst(tmp_path: Path):
    _, module = _load(tmp_path, NESTED_DEF)

    assert init_syntax(module, "Net") is None


@pytest.mark.parametrize("kept", [False, True], ids=["parsed-alone", "from-the-checked-file-ast"])
def test_every_class_of_the_fixtures_is_read_alike(kept: bool):
    """Both ways to the `ast` def: the method's lines parsed alone, or the def found in the `ast` the
    engine keeps for the file it checks (ModuleSource.kept_ast)."""
    files = sorted((ROOT / "fixtures").rglob("*.py"))
    checker = Checker(registry.all_rules())
    compared = 0
    for path in files:
        loaded = load_light(path)
        module = loaded.module
        if module is None or module.parsed_whole:
            continue
        module.kept_ast = loaded.syntax_tree if kept else None
        checker.project.add(module, module_name_for(path)[1])
        for cls in list(module.classes.values()):
            syntax = init_syntax(module, cls.name) if "__init__" in cls.methods else None
            if syntax is not None:
                assert (syntax.text == module.text) is kept
                _both(checker.project, module, cls)
                compared += 1
    assert compared > 200


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_the_ast_reading_needs_no_libcst_parse(tmp_path: Path, newline: str):
    path = tmp_path / "net.py"
    path.write_bytes(TRICKY.replace("\n", newline).encode())
    checker = Checker(registry.all_rules(), roots=(tmp_path,))
    module = load_light(path).module
    checker.project.add(module, module_name_for(path)[1])

    kinds = checker.project.class_attrs(module.classes["Net"])

    assert kinds["buf"] == "buffer" and kinds["seq"] == "container"
    assert not module.has_tree  # __init__ was never parsed with LibCST


ANNOTATED = '''\
from typing import Optional

from torch import nn


class A(nn.Module):
    def forward(self, x):
        return x


class Net(nn.Module):
    def __init__(self, block: A, quoted: "A", maybe: Optional[A] = None, *, layer: nn.Module, plain=None):
        super().__init__()
        self.block = block
        self.quoted = quoted
        self.maybe = maybe
        self.layer = layer
        self.declared: A = plain
        self.quoted_attr: "A" = quoted
        self.loose: nn.Module = block
        self.plain = plain
'''


def test_annotated_submodules_are_read_alike(tmp_path: Path):
    """A submodule handed in and declared by the attribute's annotation (`self.x: A = plain`, also
    quoted) is of the declared class when that is a module class of the checked files; a parameter's
    annotation (`block: A`), torch's own `nn.Module` and unannotated values stay unknown (const)."""
    project, module = _load(tmp_path, ANNOTATED)
    a = module.classes["A"]

    kinds, classes, _, _, _ = _both(project, module, module.classes["Net"])

    assert dict(kinds) == {"block": "const", "quoted": "const", "maybe": "const", "layer": "const",
                           "declared": "module", "quoted_attr": "module", "loose": "const", "plain": "const"}
    assert dict(classes) == {"declared": (a,), "quoted_attr": (a,)}


OPTIONAL_IMPORTS = '''\
from monai.utils import optional_import, min_version

Rearrange, _ = optional_import("einops.layers.torch", name="Rearrange")
rearrange, has_einops = optional_import("einops", "0.6", min_version, "rearrange")
np = optional_import("numpy")[0]
skipped, _ = optional_import(name_variable)
other = something("einops")
'''


def test_optional_import_is_an_import_in_both_indexes(tmp_path: Path):
    """MONAI's `X, _ = optional_import("pkg.mod", name="Y")` binds X like `from pkg.mod import Y as X`,
    in the LibCST index (checked source) and in the `ast` index (engine.load_light) alike."""
    path = tmp_path / "mod.py"
    path.write_text(OPTIONAL_IMPORTS)
    light = load_light(path).module
    whole = ModuleSource(str(path), "mod", OPTIONAL_IMPORTS, tree=cst.parse_module(OPTIONAL_IMPORTS))

    expected = {"optional_import": "monai.utils.optional_import", "min_version": "monai.utils.min_version",
                "Rearrange": "einops.layers.torch.Rearrange", "rearrange": "einops.rearrange", "np": "numpy"}
    assert light.imports == whole.imports == expected
    assert light.globals_assigned == whole.globals_assigned == {"other"}
