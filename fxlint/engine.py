"""Check one file: load, analyze every nn.Module's forward once, run the rules, place findings.

Pure: returns values, never prints. :mod:`fxlint.api` fans files out over processes and
caches results; :mod:`fxlint.render` formats them.
"""

from __future__ import annotations

import ast
import contextlib
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, FrozenSet, Iterable, Iterator, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from fxlint.analysis import child_nodes
from fxlint.analysis.context import Finding, RuleContext
from fxlint.analysis.interp import Analysis
from fxlint.analysis.project import ClassInfo, ModuleSource, module_name_for, parse_module
from fxlint.analysis.light_index import first_line
from fxlint.analysis.optional_uses import name_sites
from fxlint.analysis.references import package_exports, referenced_class_names
from fxlint.analysis.semantics import Project
from fxlint.diagnostics import Diagnostic, FileProblem, Hazard, Location, Step, merge_reports
from fxlint.positions import PositionIndex
from fxlint.suppression import Suppressions

#: files larger than this are skipped with a message: model files are far smaller, and a
#: multi-megabyte generated file would dominate the run (LibCST builds a full object tree).
MAX_FILE_BYTES = 2_000_000

SYNTAX_ERROR_CODE = "TRC901"

#: lines of LibCST trees kept for cross-file analysis; helpers (timm/layers, transformers' utils) stay
#: warm. Counted in lines, not files: a dependency holds only the methods entered (a few dozen lines)
#: where a whole file holds thousands; 32 files held ~7-12k lines on transformers' models/.
MAX_TREE_LINES = 40_000
MAX_INDEXED_MODULES = 4096  #: an index is the file's text plus a few dicts
#: dependency indexes kept between Checkers while fix runs (:func:`sharing_dependencies`)
MAX_SHARED_DEPENDENCIES = 48


class Loaded:
    """A file as read from disk: its module, or the reason it could not be loaded."""

    def __init__(self, module: Optional[ModuleSource] = None, problem: Optional[FileProblem] = None,
                 syntax_error: Optional[Diagnostic] = None, syntax_tree: Optional[ast.Module] = None) -> None:
        self.module = module
        self.problem = problem
        self.syntax_error = syntax_error
        #: the `ast` the module was indexed from, kept only while the file itself is checked
        self.syntax_tree = syntax_tree
        #: hash of the text while it is set aside (``set_text_aside``)
        self._text_hash: Optional[int] = None

    def set_text_aside(self) -> None:
        """Keep the index, drop the text (a preloaded index waits without it: texts of a large tree
        take hundreds of MB as `str`); ``take_text`` puts it back."""
        assert self.module is not None
        self._text_hash, self.module.text = hash(self.module.text), None  # type: ignore[assignment]

    def take_text(self, text: str) -> bool:
        """Put the file's text back, read again; False if it is not the text indexed."""
        if self.module is None or hash(text) != self._text_hash:
            return False
        self.module.text, self._text_hash = text, None
        return True


def read_source(path: Path) -> Union[str, FileProblem]:
    """The text of a Python file, or a one-line reason it cannot be checked."""
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return FileProblem(name, "too-large", f"skipped: {size / 1e6:.1f} MB is over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
        data = path.read_bytes()
    except FileNotFoundError:
        return FileProblem(name, "missing", "no such file")
    except OSError as exc:
        return FileProblem(name, "unreadable", f"cannot read: {exc.strerror or exc}")
    return decode_source(name, data)


def decode_source(name: str, data: bytes) -> Union[str, FileProblem]:
    """The text of a Python file read as ``data``, or why it cannot be checked (binary, not UTF-8)."""
    if b"\x00" in data[:8192]:
        return FileProblem(name, "binary", "skipped: binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return FileProblem(name, "not-utf8", f"skipped: not UTF-8 (byte {exc.start}: {exc.reason})")


#: path -> a dependency's index, shared by the Checkers of one process while fix runs; None otherwise
_SHARED: "Optional[OrderedDict[str, Loaded]]" = None


@contextlib.contextmanager
def sharing_dependencies() -> Iterator[None]:
    """While open, the files a check imports from are indexed (and LibCST-parsed where entered) once
    per process, not once per Checker. `fix` checks each file alone after every round, with a new
    Checker each time: on timm that re-read every file's imports 12 times per fixed file. A shared
    index is reused only while its file's text on disk is unchanged; the file being checked is never
    taken from here (a Checker remembers its in-memory text first)."""
    global _SHARED
    outermost = _SHARED is None
    if outermost:
        _SHARED = OrderedDict()
    try:
        yield
    finally:
        if outermost:
            _SHARED = None


def _shared_dependency(path: Path, load: Callable[[Path], Loaded]) -> Loaded:
    """``load(path)``, or the index an earlier Checker made of the same text (see sharing_dependencies).
    An index dropped from the memo keeps its tree: the Checker using it may be inside it."""
    shared = _SHARED
    if shared is None:
        return load(path)
    key = str(path)
    found = shared.get(key)
    if found is not None and found.module is not None and read_source(path) == found.module.text:
        shared.move_to_end(key)
        return found
    loaded = load(path)
    if loaded.module is not None and loaded.module.text is not None:
        shared[key] = loaded
        while len(shared) > MAX_SHARED_DEPENDENCIES:
            shared.popitem(last=False)
    return loaded


def load(path: Path) -> Loaded:
    text = read_source(path)
    if isinstance(text, FileProblem):
        return Loaded(problem=text)
    return parse_text(text, path)


def load_light(path: Path) -> Loaded:
    """Read and index a file with the stdlib `ast` only (see ModuleSource)."""
    text = read_source(path)
    if isinstance(text, FileProblem):
        return Loaded(problem=text)
    return _index_text(path, text) or parse_text(text, path)  # LibCST reports what ast rejects (or accepts it)


def index_with_stdlib_ast(path: Path, data: Optional[bytes] = None) -> Optional[Loaded]:
    """``load_light`` for a file the stdlib `ast` parses; None for one it does not (or cannot read).
    ``data``: the file's bytes, if the caller has read them."""
    if data is None:
        text = read_source(path)
    elif len(data) > MAX_FILE_BYTES:
        return None
    else:
        text = decode_source(str(path), data)
    return None if isinstance(text, FileProblem) else _index_text(path, text)


def _index_text(path: Path, text: str) -> Optional[Loaded]:
    try:
        syntax_tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return Loaded(module=ModuleSource(str(path), module_name_for(path)[0], text, None, syntax_tree),
                  syntax_tree=syntax_tree)


def parse_text(text: str, path: Path, module_name: Optional[str] = None, tree: Optional[cst.Module] = None) -> Loaded:
    """``tree``: ``text`` already parsed by the caller (fix shares its tree with the check)."""
    try:
        tree = tree if tree is not None else parse_module(text)
    except cst.ParserSyntaxError as exc:
        return Loaded(syntax_error=_syntax_diagnostic(str(path), exc))
    except (RecursionError, MemoryError):
        return Loaded(problem=FileProblem(str(path), "too-complex", "skipped: too deeply nested to parse"))
    name = module_name if module_name is not None else module_name_for(path)[0]
    return Loaded(module=ModuleSource(str(path), name, text, tree))


def _syntax_diagnostic(filename: str, exc: cst.ParserSyntaxError) -> Diagnostic:
    message = exc.message.strip().splitlines()[0] if exc.message else "invalid syntax"
    at = Location(exc.raw_line, exc.raw_column + 1)
    return Diagnostic(SYNTAX_ERROR_CODE, "invalid-syntax", Hazard.INTERNAL,
                      f"cannot parse: {message}; the file was not analyzed", filename, at, at)


class Checker:
    """Checks files with one set of rules; keeps parsed files for cross-file analysis."""

    def __init__(self, rules: Sequence[type], roots: Sequence[Path] = (), blocks: FrozenSet[str] = frozenset(),
                 preloaded: Optional[Dict[str, Loaded]] = None) -> None:
        """``preloaded``: absolute path -> a file's `ast` index built by the caller (api reads every
        file's references first, from the same parse); each is taken once, instead of a new parse."""
        self.rules = [r() for r in rules]
        self._preloaded = preloaded if preloaded is not None else {}
        #: names of classes other classes build on: analyzed through their parents, not as entries
        self.blocks = blocks
        self._dispatch = _dispatch_table(self.rules)
        #: node type -> how the rules' walk treats it (see _plan)
        self._plans: Dict[type, Tuple[int, Tuple[tuple, ...]]] = {}
        self._loaded: "OrderedDict[str, Loaded]" = OrderedDict()
        #: when each index was last used (the order of ``_loaded``), and the paths whose module has
        #: reported a LibCST tree since the last trim: what ``_trim`` sorts instead of every index
        self._used_at: Dict[str, int] = {}
        self._clock = 0
        self._holding: Set[str] = set()
        self.project = Project(self._load_for_project, tuple(roots), touch=self._touch)
        #: per file, the position index of each of its live trees (by id; the index holds the tree)
        self._positions: Dict[str, Dict[int, PositionIndex]] = {}
        #: per file, provenance step texts of its live trees: a step recurs in many findings (and in
        #: the checks of every file reaching a helper), and its text costs a code generation (of a
        #: whole multi-line call for an assignment)
        self._headers: Dict[str, Dict[cst.CSTNode, str]] = {}
        #: per file, the rules' walk of each function of its live trees (see _visit_function)
        self._walks: Dict[str, Dict[cst.FunctionDef, tuple]] = {}
        #: per file, the Name sites of each function of its live trees (optional_uses.name_sites)
        self._sites: Dict[str, Dict[cst.FunctionDef, list]] = {}
        #: per file, the code of nodes rules named in messages (RuleContext.code)
        self._codes: Dict[str, Dict[cst.CSTNode, str]] = {}
        #: path -> (the text read, its suppression comments)
        self._suppressions: Dict[str, Tuple[str, Suppressions]] = {}

    def _load_for_project(self, path: Path) -> Optional[ModuleSource]:
        """A file a checked file imports from: indexed with `ast`, LibCST-parsed only if entered."""
        key = str(path)
        if key in self._loaded:
            self._touch(key)
            return self._loaded[key].module
        loaded = _shared_dependency(path, self._load)
        loaded.syntax_tree = None  # a dependency: its index is built, the `ast` is not needed again
        self._remember(key, loaded)
        return loaded.module

    def _get(self, path: Path) -> Loaded:
        key = str(path)
        if key not in self._loaded:
            self._remember(key, self._load(path))
        else:
            self._touch(key)
        return self._loaded[key]

    def _load(self, path: Path) -> Loaded:
        found = self._preloaded.pop(os.path.abspath(path), None) if self._preloaded else None
        if found is not None:
            text = read_source(path)
            if isinstance(text, str) and found.take_text(text):
                return found
        return load_light(path)  # not preloaded, or changed since

    def _remember(self, key: str, loaded: Loaded) -> None:
        """Index a file, most recently used; its module reports when it gets a LibCST tree."""
        self._loaded[key] = loaded
        self._clock += 1
        self._used_at[key] = self._clock
        if loaded.module is not None:
            loaded.module.on_tree = self._holding.add  # the set is only ever updated in place
            if loaded.module.has_tree:
                self._holding.add(key)

    def _touch(self, path: str) -> None:
        if path in self._loaded:
            self._loaded.move_to_end(path)
            self._clock += 1
            self._used_at[path] = self._clock

    def _trim(self) -> None:
        """Keep at most MAX_TREE_LINES lines of LibCST trees (~1 MB per 1k lines; a dependency
        file's are partial, see ModuleSource), dropping whole files' trees least recently used
        first, and MAX_INDEXED_MODULES `ast` indexes. A dropped tree is re-parsed if entered again;
        a dropped index is re-read. Trees go first: re-reading an index costs an `ast` parse, which
        is cheap, but a checked file's imports are consulted again and again (dropping them made
        timm re-parse each ~6 times)."""
        with_tree = self._files_with_trees()
        held = sum(self._loaded[p].module.tree_lines for p in with_tree)  # type: ignore[union-attr]
        for path in with_tree:
            if held <= MAX_TREE_LINES:
                break
            module = self._loaded[path].module
            held -= module.tree_lines  # type: ignore[union-attr]
            module.release_tree()  # type: ignore[union-attr]
            self._drop_tree_memos(path)
            self._holding.discard(path)
        while len(self._loaded) > MAX_INDEXED_MODULES:
            path, _ = self._loaded.popitem(last=False)
            self._used_at.pop(path, None)
            self._suppressions.pop(path, None)
            self.project.forget(path)
            self._drop_tree_memos(path)

    def _files_with_trees(self) -> List[str]:
        """The files holding a LibCST tree, least recently used first. A file whose tree handed out
        a node since the last trim counts as used now: most uses find a node kept on a FunctionRef
        and never look the file up (transformers' `DistributedMixin.init_parallel_plans`, run by
        every model's `post_init`, was dropped as unused and parsed again 641 times). Only the
        modules that reported a tree are looked at (scanning every index here made the trim
        quadratic: 4% of a cold transformers run)."""
        with_tree = [p for p in self._holding if p in self._loaded and self._loaded[p].module is not None
                     and self._loaded[p].module.has_tree]  # type: ignore[union-attr]
        self._holding.intersection_update(with_tree)
        with_tree.sort(key=self._used_at.__getitem__)
        for path in with_tree:  # in their old order, so the ones used keep theirs among themselves
            module = self._loaded[path].module
            if module.tree_used:  # type: ignore[union-attr]
                module.tree_used = False  # type: ignore[union-attr]
                self._touch(path)
        with_tree.sort(key=self._used_at.__getitem__)
        return with_tree

    def release_trees(self) -> None:
        """Drop every LibCST tree and what was kept per node of them (the indexes stay): at the end
        of a run, so the memory they held (~2.4 MB per 1k lines held, memos included) serves the
        report instead of adding to it. Trees hold no cycles: they go by reference counting."""
        for path in self._files_with_trees():
            self._loaded[path].module.release_tree()  # type: ignore[union-attr]
            self._drop_tree_memos(path)
        self._holding.clear()

    def _drop_tree_memos(self, path: str) -> None:
        """Forget what was kept per node of ``path``'s trees (they are released or re-parsed)."""
        for memo in (self._positions, self._walks, self._sites, self._codes, self._headers):
            memo.pop(path, None)

    def check_file(self, path: Path) -> Tuple[Tuple[Diagnostic, ...], Optional[FileProblem], Tuple[str, ...]]:
        """(diagnostics, problem, other files used). Diagnostics may lie in helper files."""
        self._trim()
        loaded = self._get(path)
        # the `ast` load_light parsed the file with anchors the positions of its findings
        syntax, loaded.syntax_tree = loaded.syntax_tree, None
        # Indexed with `ast` first: a file that defines no nn.Module class has nothing to trace and
        # is never LibCST-parsed (a quarter of transformers' models/ tree: configs, tokenizers, ...).
        classes = self._module_classes(loaded.module) if loaded.module is not None else []
        if loaded.module is not None and not classes:
            return (), None, self._used_besides(loaded.module.path)
        if loaded.problem is not None:
            return (), loaded.problem, ()
        if loaded.syntax_error is not None:
            return (loaded.syntax_error,), None, ()
        assert loaded.module is not None
        # Like a dependency, the file is LibCST-parsed only in the top-level statements the analysis
        # enters (its classes' methods); the rest (docstrings, config and output classes, module
        # code) is never read. A statement LibCST rejects stops the check of the file with TRC901
        # as a whole-file parse failure did; one it rejects but the analysis never enters is not seen.
        try:
            return self.check_module(loaded.module, classes, syntax)
        except cst.ParserSyntaxError:
            try:
                cst.parse_module(loaded.module.text)
            except cst.ParserSyntaxError as exc:  # this file's: reported as before, not analyzed
                failed = self._loaded[str(path)] = Loaded(syntax_error=_syntax_diagnostic(str(path), exc))
                return (failed.syntax_error,), None, ()
            raise  # a dependency's

    def _module_classes(self, module: ModuleSource) -> List[ClassInfo]:
        """The file's nn.Module classes. Starts a new record of the files consulted: base classes
        looked up in other files are dependencies of this file's result."""
        _, root = module_name_for(Path(module.path))
        self.project.add(module, root)
        self.project.start_check()
        return [c for c in module.classes.values() if self.project.is_module_class(c)]

    def _used_besides(self, path: str) -> Tuple[str, ...]:
        return tuple(sorted(p for p in self.project.used_paths if p != path))

    def check_source(self, text: str, filename: str, tree: Optional[cst.Module] = None,
                     syntax_tree: Optional[ast.Module] = None) -> Tuple[Diagnostic, ...]:
        """``tree``, ``syntax_tree``: ``text`` parsed by LibCST and by `ast`, if the caller has them
        (the analysis only reads them)."""
        loaded = parse_text(text, Path(filename), module_name=Path(filename).stem, tree=tree)
        self._remember(filename, loaded)
        if loaded.syntax_error is not None:
            return (loaded.syntax_error,)
        if loaded.problem is not None or loaded.module is None:
            return ()
        return self.check_module(loaded.module, syntax_tree=syntax_tree)[0]

    def check_module(self, module: ModuleSource, classes: Optional[List[ClassInfo]] = None,
                     syntax_tree: Optional[ast.Module] = None) -> Tuple[Tuple[Diagnostic, ...], None, Tuple[str, ...]]:
        """``syntax_tree``: the file's `ast`, if already parsed (it anchors the positions of findings)."""
        if classes is None:
            classes = self._module_classes(module)
        analysis = Analysis(self.project)
        analysis.name_sites = self._name_sites
        local = referenced_class_names(module.text)
        exported = self._exported_here(module)
        blocks = [c for c in classes if (c.name in local or c.name in self.blocks) and c.name not in exported]
        module.kept_ast = syntax_tree  # for positions and init_syntax, while this file is checked
        try:
            for cls in classes:
                if cls not in blocks:
                    analysis.analyze_class(cls)
            self._analyze_unreached_blocks([c for c in blocks if c.name in local], analysis)
            findings = self._run_rules(analysis)
            diagnostics = self._place(findings)
        finally:
            module.kept_ast = None
        used = self._used_besides(module.path)
        # a checked file is rarely needed again: keep its index, free its tree (re-parsed if entered)
        self._drop_tree_memos(module.path)
        module.release_tree()
        return diagnostics, None, used

    def _exported_here(self, module: ModuleSource) -> Set[str]:
        """Names of this file's classes that its top-level package's ``__init__.py`` re-exports
        (references.package_exports): public models, entry points even when another class builds
        them. The ``__init__.py`` becomes a dependency of the file's cached result."""
        top = module.name.partition(".")[0]
        if not top or top == module.name:
            return set()
        init = self.project.package_init(top)
        if init is None:
            return set()
        init_path, init_text = init
        exported = package_exports(init_text, top)
        names = {name for source, name in exported if source == module.name}
        for source, name in exported:  # re-exported through a subpackage's __init__
            if source != module.name and name in module.classes and module.name.startswith(source + "."):
                found = self.project.lookup(f"{source}.{name}")
                if found is module.classes[name]:
                    names.add(name)
        if exported:
            self.project.used_paths.add(init_path)
        return names

    def _analyze_unreached_blocks(self, blocks: List, analysis: Analysis) -> None:
        """A block used in this very file that no parent's analysis reached (a factory the analysis
        cannot resolve) is analyzed as an entry with opaque inputs, so its hazards are not lost.
        Blocks used only by other files are left to those files' analysis."""
        eager = _blocks_run_by_wrapped_calls(blocks[0].module, self._syntax_of(blocks[0].module)) if blocks else set()
        for cls in self._parents_first(blocks):
            forward = self.project.find_method(cls, "forward")
            if forward is not None and forward.node not in analysis.reached and cls.name not in eager:
                analysis.analyze_class(cls, as_block=True)

    def _parents_first(self, blocks: List[ClassInfo]) -> List[ClassInfo]:
        """``blocks`` with each one before the blocks its ``__init__`` builds (reverse post-order of
        the "builds" edges), so a block whose parent is itself unreached is analyzed through that
        parent, with the values it passes, not first on its own with opaque inputs and then again.
        Unrelated blocks come last-defined first: Python files usually define parts before wholes.
        (Definition order analyzed 2,876 blocks on their own in transformers' models/, 1,090 this way.)"""
        local = {id(c) for c in blocks}
        seen: Set[int] = set()
        post: List[ClassInfo] = []
        for root in blocks:  # reversed at the end: unrelated blocks last-defined first
            if id(root) in seen:
                continue
            seen.add(id(root))
            stack = [(root, iter(self._built_by(root, local)))]
            while stack:  # a depth-first walk without recursion
                cls, children = stack[-1]
                child = next((c for c in children if id(c) not in seen), None)
                if child is None:
                    post.append(cls)
                    stack.pop()
                else:
                    seen.add(id(child))
                    stack.append((child, iter(self._built_by(child, local))))
        return post[::-1]

    def _built_by(self, cls: ClassInfo, among: Set[int]) -> List[ClassInfo]:
        """The classes of ``among`` that ``cls.__init__`` assigns to its attributes (or containers)."""
        self.project.class_attrs(cls)
        return [c for built in cls.attr_classes.values() for c in built
                if isinstance(c, ClassInfo) and id(c) in among]

    # ------------------------------------------------------------------ rules
    def _run_rules(self, analysis: Analysis) -> List[Finding]:
        findings: List[Finding] = []
        for reach in list(analysis.reached.values()):
            self._visit_function(reach.func.node, RuleContext(analysis, reach, findings), reach.func.module.path)
        return findings

    def _visit_function(self, func: cst.FunctionDef, ctx: RuleContext, path: str) -> None:
        """Pre-order walk of a function (decorators and body), not into nested defs or classes,
        calling each rule's ``visit_<NodeType>`` on the nodes of its types.

        Rules look upwards from the node they are given (``ctx.parent``, ``ctx.statement_of``): every
        node's parent and innermost enclosing statement are known before any visit. The walk itself
        (which nodes, in which order, with which rules' methods, and those two maps) depends only on
        the tree, so it is kept per function while its tree is (``_walks``, by file): transformers'
        checks reach each function ~4.5 times (a helper, a base class's forward), and the walk was
        ~40% of the rules' time."""
        walks = self._walks.get(path)
        if walks is None:
            walks = self._walks[path] = {}
        codes = self._codes.get(path)
        ctx.codes = codes if codes is not None else self._codes.setdefault(path, {})
        plan = walks.get(func)
        if plan is None:
            plan = walks[func] = self._walk_plan(func)
        visits, ctx.parents, ctx.statements = plan
        for node, handlers in visits:
            ctx.current = node
            for rule_type, method in handlers:
                ctx.rule = rule_type
                method(node, ctx)

    def _name_sites(self, func: cst.FunctionDef, reach) -> list:
        """``optional_uses.name_sites(func)``, kept like the rules' walk (``_visit_function``)."""
        path = reach.func.module.path
        sites = self._sites.get(path)
        if sites is None:
            sites = self._sites[path] = {}
        found = sites.get(func)
        if found is None:
            found = sites[func] = name_sites(func)
        return found

    def _walk_plan(self, func: cst.FunctionDef) -> Tuple[List[Tuple[cst.CSTNode, Tuple[tuple, ...]]],
                                                          Dict[cst.CSTNode, cst.CSTNode],
                                                          Dict[cst.CSTNode, Optional[cst.CSTNode]]]:
        """(the nodes to visit in pre-order with their rules' methods, each node's parent, each
        node's innermost enclosing statement) of a function. One loop with the type dispatch in it
        (a generator and a lookup by type name per node were a sixth of the rules' time)."""
        plans = self._plans
        parents: Dict[cst.CSTNode, cst.CSTNode] = {}
        statements: Dict[cst.CSTNode, Optional[cst.CSTNode]] = {}
        visits: List[Tuple[cst.CSTNode, Tuple[tuple, ...]]] = []
        handlers = self._plan(func.__class__)[1]
        if handlers:
            visits.append((func, handlers))
        top: List[cst.CSTNode] = list(func.decorators) + [func.body]
        for child in top:
            parents[child] = func
            statements[child] = func
        stack = top[::-1]
        while stack:
            node = stack.pop()
            plan = plans.get(node.__class__)
            if plan is None:
                plan = self._plan(node.__class__)
            kind, handlers = plan
            if kind == 1:
                if handlers:
                    visits.append((node, handlers))
                continue
            children = child_nodes(node)
            owner = node if kind == 2 else statements.get(node)
            for child in children:
                parents[child] = node
                statements[child] = owner
            if handlers:
                visits.append((node, handlers))
            if children:
                children.reverse()
                stack.extend(children)
        return visits, parents, statements

    def _plan(self, node_type: type) -> Tuple[int, Tuple[tuple, ...]]:
        """(1 nested scope, 2 statement, 0 other; the rules' visit methods) of a node type
        (LibCST's bases are ABCs, whose ``isinstance`` is slow)."""
        kind = 1 if issubclass(node_type, _NESTED) else 2 if issubclass(node_type, _STATEMENTS) else 0
        handlers = tuple((type(rule), method) for rule, method in self._dispatch.get(node_type.__name__, ()))
        plan = self._plans[node_type] = (kind, handlers)
        return plan

    # ------------------------------------------------------------------ positions
    def _place(self, findings: Iterable[Finding]) -> Tuple[Diagnostic, ...]:
        out: Dict[tuple, Diagnostic] = {}
        for f in findings:
            d = self._diagnostic(f)
            sup = self._suppressions_of(f.module)
            if sup.suppresses(d.code, d.location.row, d.end_location.row):
                continue
            key = (d.filename, d.location.row, d.location.column, d.code)
            out[key] = merge_reports(out.get(key), d)
        return tuple(sorted(out.values(), key=Diagnostic.sort_key))

    def _suppressions_of(self, module: ModuleSource) -> Suppressions:
        """A file's suppression comments, read once per text (a helper file gets findings in the
        checks of many files)."""
        known = self._suppressions.get(module.path)
        if known is None or known[0] is not module.text:
            known = self._suppressions[module.path] = (module.text, Suppressions(module.text))
        return known[1]

    def _syntax_of(self, module: ModuleSource) -> Optional[ast.Module]:
        """The `ast` of the file being checked, if ``module`` is it and it was kept."""
        return module.kept_ast  # type: ignore[return-value]

    def positions(self, module: ModuleSource, tree: Optional[cst.Module] = None) -> PositionIndex:
        """Positions in ``tree``, a tree of ``module`` (default: the whole file's)."""
        tree = tree if tree is not None else module.tree
        indexes = self._positions.setdefault(module.path, {})
        index = indexes.get(id(tree))
        if index is None or index.tree is not tree:
            text, offset = module.source_of(tree)
            index = indexes[id(tree)] = PositionIndex(tree, text, offset, self._syntax_body(module, tree, offset))
        return index

    def _syntax_body(self, module: ModuleSource, tree: cst.Module, offset: int) -> Optional[List[ast.stmt]]:
        """The statements of the checked file's kept `ast` that ``tree`` holds: all of them for the
        whole file, the top-level one starting on the partial tree's first line for a partial one,
        the method's def under a made-up class for a method's tree (ModuleSource.cst_function)."""
        syntax = self._syntax_of(module)
        if syntax is None:
            return None
        if tree is module._tree:
            return syntax.body
        if len(tree.body) != 1:
            return None
        if module.is_method_tree(tree):
            return _method_syntax(syntax.body, tree.body[0], offset)
        for stmt in syntax.body:
            if first_line(stmt) == offset + 1:
                return [stmt]
        return None

    def _diagnostic(self, f: Finding) -> Diagnostic:
        positions = self.positions(f.module, f.tree)
        line, col, end_line, end_col = positions.span(f.node, f.statement)
        through = positions.statement_line(f.through) if f.through is not None else None
        if through is not None and through > end_line:  # the span runs to the end of that statement's line
            index = through - positions.line_offset - 1
            text = positions.lines[index] if 0 <= index < len(positions.lines) else ""
            end_line, end_col = through, len(text.rstrip("\r\n"))
        steps: List[Step] = []
        source = ""
        if f.value is not None:
            source = f.value.origin.name if f.value.origin is not None else ""
            for func, stmt in f.value.steps:
                module = func.module
                row = self.positions(module, func.tree).statement_line(stmt)
                if row is not None:
                    headers = self._headers.get(module.path)
                    if headers is None:
                        headers = self._headers[module.path] = {}
                    text = headers.get(stmt)
                    if text is None:
                        text = headers[stmt] = statement_header(func.tree, stmt)
                    steps.append(Step(row, text, "" if module is f.module else module.path))
        rule = f.rule
        return Diagnostic(
            rule.code, rule.name(), rule.hazard, f.message, f.module.path,
            Location(line, col + 1), Location(end_line, end_col + 1),
            tuple(steps), f.chain, source, f.fix, f.help, f.entries,
        )


def _dispatch_table(rules: Sequence[object]) -> Dict[str, List[tuple]]:
    table: Dict[str, List[tuple]] = {}
    for rule in rules:
        for name in type(rule).visitor_names():  # type: ignore[attr-defined]
            table.setdefault(name[len("visit_"):], []).append((rule, getattr(rule, name)))
    return table


_NESTED = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_STATEMENTS = (cst.BaseSmallStatement, cst.BaseCompoundStatement)


def _method_syntax(body: List[ast.stmt], header: cst.CSTNode, offset: int) -> Optional[List[ast.stmt]]:
    """For a method's tree (its lines under a made-up ``class Name:`` line ``offset + 1``): that class
    around the method's def from the file's `ast` (the def whose first line, decorators included, is
    ``offset + 2``), or None (the tree's own text is parsed then)."""
    line = offset + 2
    statements = list(body)
    while statements:
        stmt = statements.pop()
        if not first_line(stmt) <= line <= (stmt.end_lineno or stmt.lineno):
            continue
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)) and first_line(stmt) == line:
            if not isinstance(header, cst.ClassDef):
                return None
            return [ast.ClassDef(name=header.name.value, bases=[], keywords=[], body=[stmt], decorator_list=[],
                                 lineno=offset + 1, col_offset=0)]
        for field in ("body", "orelse", "handlers", "finalbody"):
            for child in getattr(stmt, field, ()):
                if isinstance(child, ast.stmt):
                    statements.append(child)
                elif isinstance(child, ast.ExceptHandler):
                    statements.extend(child.body)
    return None


def statement_header(tree: cst.Module, stmt: cst.CSTNode) -> str:
    """A statement's first line as written, without generating code for a whole loop body."""
    if isinstance(stmt, cst.For):
        return f"for {tree.code_for_node(stmt.target)} in {tree.code_for_node(stmt.iter)}:"
    if isinstance(stmt, (cst.If, cst.While)):
        return f"{'if' if isinstance(stmt, cst.If) else 'while'} {tree.code_for_node(stmt.test)}:"
    if isinstance(stmt, cst.With):
        return "with ...:"
    text = tree.code_for_node(stmt).strip()
    return text.splitlines()[0] if text else text


def _blocks_run_by_wrapped_calls(module, syntax_tree: Optional[ast.Module] = None) -> Set[str]:
    """Classes whose instances (`self.rot = Rotary(...)`) are passed into a call of a `@torch.fx.wrap`
    function of the module (`_fx_forward_59(v, rotary_emb=self.rot)`): FX runs them eagerly inside
    the wrapped call, so their hazards are not FX's (what `fxlint fix` does with a submodule that
    updates its own state). An attr built by a method of the file (`self.head = self.build_head()`)
    has the classes that method returns (`return AffineHead(...)`, in any class defining it: MONAI
    GlobalNet overrides RegUNet's `build_output_block`). Blind spot: an instance reached through a
    local is not followed."""
    wrapped = getattr(module, "wrapped", set())
    if not wrapped:
        return set()
    try:
        tree = syntax_tree or ast.parse(module.text)
    except (SyntaxError, ValueError):
        return set()
    classes_of: Dict[str, Set[str]] = {}
    passed: Set[str] = set()
    returned: Dict[str, Set[str]] = {}  #: method name -> callees of its return values
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and _self_attr(node.targets[0]):
            built = {_callee(c.func) for c in ast.walk(node.value) if isinstance(c, ast.Call)}
            classes_of.setdefault(_self_attr(node.targets[0]), set()).update(built)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in wrapped:
            passed |= {_self_attr(a) for a in [*node.args, *(k.value for k in node.keywords)]}
        elif isinstance(node, ast.ClassDef):
            for f in node.body:
                if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    returned.setdefault(f.name, set()).update(
                        _callee(c.func) for r in ast.walk(f) if isinstance(r, ast.Return) and r.value is not None
                        for c in ast.walk(r.value) if isinstance(c, ast.Call))
    return {c for attr in passed if attr for built in classes_of.get(attr, ())
            for c in (built, *returned.get(built, ()))}


def _self_attr(expr: ast.AST) -> str:
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    if isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id == "self":
        return expr.attr
    return ""


def _callee(func: ast.AST) -> str:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
