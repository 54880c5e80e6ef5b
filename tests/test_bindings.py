"""Definite assignment for hoist regions (fxlint/fix/bindings.py): small VALID/INVALID functions.

The region is the run of statements whose first line ends in `# R`; ``read_after`` is every name
that appears in a statement after it (the tests choose code where that is what the hoist sees)."""
from __future__ import annotations

import textwrap

import libcst as cst
import pytest

from fxlint.fix.bindings import bound_at, flow, interface
from fxlint.fix.tree import Tree, walk


def _parse(src: str):
    """(tree, function, marked statements)."""
    tree = Tree(textwrap.dedent(src))
    func = next(s for s in tree.module.body if isinstance(s, cst.FunctionDef))
    lines = tree.text.splitlines()
    marked = [n for n in walk(func.body) if isinstance(n, (cst.SimpleStatementLine, cst.BaseCompoundStatement))
              and lines[tree.start(n)[0] - 1].rstrip().endswith("# R")]
    # keep the outermost marked statements (an `if` marked is one statement, not its body too)
    marked = [n for n in marked if not any(m is not n and tree.contains(m, n) for m in marked)]
    return tree, func, marked


def iface(src: str, read_after=None):
    tree, func, region = _parse(src)
    end = tree.end(region[-1])[0]
    after = {n.value for n in walk(func.body) if isinstance(n, cst.Name) and tree.start(n)[0] > end} \
        if read_after is None else set(read_after)
    return interface(func, region, after)


# ------------------------------------------------------------------------------------- parameters
def test_parameter_bound_on_every_path_is_passed():
    i = iface("""
        def f(x, flag):
            if flag:
                y = x + 1
            else:
                y = x - 1
            z = y * 2  # R
            return z
    """)
    assert i.params == ("y",) and i.outputs == ("z",) and not i.maybe_unbound


def test_local_bound_in_one_branch_only_is_maybe_unbound():
    i = iface("""
        def f(x, flag):
            if flag:
                s = x.sum()
            if x.sum() > 0:  # R
                x = x / s
            return x
    """)
    assert i.maybe_unbound == ("s",) and i.params == ("x",)


def test_elif_chain_without_else_leaves_name_maybe_bound():
    i = iface("""
        def f(x, mode):
            if mode == 1:
                s = 1
            elif mode == 2:
                s = 2
            y = x * s  # R
            return y
    """)
    assert i.maybe_unbound == ("s",)


def test_elif_chain_with_else_binds_definitely():
    i = iface("""
        def f(x, mode):
            if mode == 1:
                s = 1
            elif mode == 2:
                s = 2
            else:
                s = 3
            y = x * s  # R
            return y
    """)
    assert i.params == ("x", "s") and not i.maybe_unbound


def test_branch_that_returns_does_not_weaken_the_join():
    i = iface("""
        def f(x, flag):
            if flag:
                s = 2
            else:
                return x
            y = x * s  # R
            return y
    """)
    assert i.params == ("x", "s") and not i.maybe_unbound


def test_branch_that_raises_does_not_weaken_the_join():
    i = iface("""
        def f(x, flag):
            if flag:
                s = 2
            else:
                raise ValueError(flag)
            y = x * s  # R
            return y
    """)
    assert not i.maybe_unbound


def test_loop_body_binding_is_maybe_after_the_loop():
    i = iface("""
        def f(xs):
            for x in xs:
                last = x
            y = last + 1  # R
            return y
    """)
    assert i.maybe_unbound == ("last",)


def test_loop_target_is_maybe_after_the_loop():
    i = iface("""
        def f(xs):
            for x in xs:
                pass
            y = x + 1  # R
            return y
    """)
    assert i.maybe_unbound == ("x",)


def test_while_else_binding_and_break():
    i = iface("""
        def f(n):
            while n > 0:
                n -= 1
                if n == 3:
                    found = True
                    break
            else:
                found = False
            y = found  # R
            return y
    """)
    assert i.params == ("found",) and not i.maybe_unbound


def test_for_else_without_break_binding_is_maybe():
    i = iface("""
        def f(xs):
            for x in xs:
                if x:
                    break
            else:
                hit = None
            y = hit  # R
            return y
    """)
    assert i.maybe_unbound == ("hit",)


def test_continue_path_keeps_loop_head_state():
    i = iface("""
        def f(xs):
            acc = 0
            for x in xs:
                if x < 0:
                    continue
                tmp = x
                acc = acc + tmp  # R
            return acc
    """, read_after={"acc", "xs"})
    assert i.params == ("acc", "tmp") and i.outputs == ("acc",)


def test_del_unbinds():
    i = iface("""
        def f(x):
            y = x
            del y
            z = y  # R
            return z
    """)
    assert i.maybe_unbound == ("y",)


def test_del_in_loop_body_is_seen_at_its_top():
    i = iface("""
        def f(x, n):
            y = x
            for _ in range(n):
                z = y + 1  # R
                del y
            return x
    """, read_after=set())
    assert i.maybe_unbound == ("y",)


def test_try_body_binding_is_maybe_in_handler_and_after():
    i = iface("""
        def f(x):
            try:
                y = x.item()
            except ValueError:
                pass
            z = y  # R
            return z
    """)
    assert i.maybe_unbound == ("y",)


def test_try_with_binding_handlers_is_definite():
    i = iface("""
        def f(x):
            try:
                y = x.item()
            except ValueError:
                y = 0
            z = y  # R
            return z
    """)
    assert i.params == ("y",) and not i.maybe_unbound


def test_handler_as_name_is_deleted_after_the_handler():
    i = iface("""
        def f(x):
            try:
                y = 1
            except ValueError as err:
                y = 2
            z = err  # R
            return z
    """)
    assert i.maybe_unbound == ("err",)


def test_finally_runs_after_normal_paths():
    i = iface("""
        def f(x):
            try:
                y = 1
            finally:
                w = 2
            z = y + w  # R
            return z
    """)
    assert i.params == ("y", "w")


def test_with_binds_its_target_and_body():
    i = iface("""
        def f(x):
            with open(x) as fh:
                data = fh.read()
            z = data + fh.name  # R
            return z
    """)
    assert i.params == ("data", "fh")


def test_walrus_binds_the_function_name():
    i = iface("""
        def f(x):
            if (n := len(x)) > 2:
                pass
            z = n  # R
            return z
    """)
    assert i.params == ("n",)


def test_walrus_under_short_circuit_is_maybe():
    i = iface("""
        def f(x, flag):
            ok = flag and (n := len(x)) > 2
            z = n  # R
            return z
    """)
    assert i.maybe_unbound == ("n",)


def test_comprehension_target_does_not_leak():
    i = iface("""
        def f(xs):
            ys = [v * 2 for v in xs]
            z = v  # R
            return z
    """)
    # `v` is never bound by f itself: a global, not a parameter
    assert i.params == () and i.maybe_unbound == ()


def test_comprehension_reads_outer_names_only():
    i = iface("""
        def f(xs, k):
            z = [v * k for v in xs if v > k]  # R
            return z
    """)
    assert i.params == ("xs", "k")


def test_lambda_and_nested_def_read_free_names():
    i = iface("""
        def f(x, k, m):
            g = lambda v: v * k  # R
            def h(w):  # R
                u = w + m
                return u
            return g(x) + h(x)
    """)
    assert set(i.params) == {"k", "m"} and set(i.outputs) == {"g", "h"}


def test_global_declaration_is_a_problem():
    i = iface("""
        def f(x):
            global counter
            counter = x  # R
            return counter
    """)
    assert "global" in i.problem


def test_nonlocal_in_nested_function_is_a_problem():
    i = iface("""
        def f(x):
            n = 0
            def bump():  # R
                nonlocal n
                n += 1
            return bump
    """)
    assert "nonlocal" in i.problem


# ------------------------------------------------------------------------------------------- outputs
def test_output_bound_on_every_path_through_region():
    i = iface("""
        def f(x):
            if x.sum() > 0:  # R
                y = x
            else:
                y = -x
            return y
    """)
    assert i.outputs == ("y",) and not i.partial_outputs and i.params == ("x",)


def test_output_bound_on_one_path_not_bound_before_is_partial():
    i = iface("""
        def f(x):
            if x.sum() > 0:  # R
                y = x
            return y
    """)
    assert i.outputs == ("y",) and i.partial_outputs == ("y",)


def test_output_bound_on_one_path_but_bound_before_is_passed_in():
    i = iface("""
        def f(x):
            y = None
            if x.sum() > 0:  # R
                y = x
            return y
    """)
    assert i.outputs == ("y",) and i.params == ("x", "y") and not i.partial_outputs


def test_output_bound_before_only_on_some_paths_is_partial_not_passed():
    i = iface("""
        def f(x, flag):
            if flag:
                y = x
            if x.sum() > 0:  # R
                y = x * 2
            return y
    """)
    assert i.partial_outputs == ("y",) and "y" not in i.params


def test_region_that_always_returns_has_vacuous_outputs():
    f = flow(cst.parse_module("if a:\n    return 1\nelse:\n    raise E\n").body)
    assert f.reads == ("a", "E")


def test_augassign_reads_then_binds():
    i = iface("""
        def f(x):
            total = 0
            total += x  # R
            return total
    """)
    assert i.params == ("x", "total") and i.outputs == ("total",)


def test_mutated_container_handed_back():
    _, func, region = _parse("""
        def f(x):
            out = []
            out.append(x)  # R
            return out
    """)
    i = interface(func, region, {"out"}, changed={"out"})
    assert i.params == ("out", "x") and i.outputs == ("out",)


def test_import_and_def_inside_function_bind_locals():
    i = iface("""
        def f(x):
            import math
            from os import path as p
            z = math.pi + p.sep  # R
            return z
    """)
    assert i.params == ("math", "p")


def test_bound_at_a_nested_statement():
    module = cst.parse_module(textwrap.dedent("""
        def f(x, flag):
            a = 1
            if flag:
                b = 2
                c = a + b
            return a
    """))
    func = module.body[0]
    inner = func.body.body[1].body.body[1]
    entry, possible, problem = bound_at(func, inner)
    assert entry == {"x", "flag", "a", "b"} and possible == {"x", "flag", "a", "b"} and not problem


def test_name_bound_only_inside_the_region_is_not_a_parameter():
    i = iface("""
        def f(x, flag):
            if flag:  # R
                s = x.sum()
            if x.sum() > 0:  # R
                x = x / s
            return x
    """)
    assert i.params == ("flag", "x") and not i.maybe_unbound and i.outputs == ("x",)


def test_loop_carried_name_bound_after_the_region_is_maybe_at_its_entry():
    i = iface("""
        def f(xs):
            for x in xs:
                if x > 0:  # R
                    y = prev
                prev = x
            return xs
    """, read_after=set())
    assert i.maybe_unbound == ("prev",)


def test_match_statement_is_a_problem():
    i = iface("""
        def f(x):
            match x:
                case 1:
                    y = 1
            z = 1  # R
            return z
    """)
    assert "match" in i.problem
