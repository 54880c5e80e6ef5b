"""transformers proving ground for `fxlint fix` and `fxlint check`: tiny-config models, eager bit for bit.

usage: python tests/benchmarks/bench_hf.py [--jobs 2] [--timeout 120] [--fix-timeout 5400] [--fix-per-target]
                                           [--fixed-tree DIR] [--models a,b] [--no-fix] [--cache DIR]
                                           [--out FILE.json]

Steps (the worker, hf_trace.py, runs in ~/.cache/fxlint-bench/venv-hf built by corpora.ensure_hf_venv):
  1. ground truth on the pristine transformers 5.24.0 tree: every model of hf_models.MODELS built from a tiny
     config, eager outputs (train/eval x 2 input shapes x mask given/omitted, saved as tensors), and
     symbolic_trace in five modes (plain, wrapped, wrapped_mask, and both wrappers on a copy switched to
     eager attention: wrapped_eager_attn, wrapped_mask_eager_attn) with traced-vs-eager equality and the
     innermost failing frame inside transformers;
  2. the fix gate: a copy of the pristine tree, `fxlint fix --apply --unsafe-fixes -q TARGETS` run on it
     (the chosen model directories and the shared modules the failures point to) with a timeout: one process
     for all targets, and when it crashes ("internal error") a fresh copy fixed once per target, so a failing
     target does not stop the others (--fix-per-target: always per target); wall time, exit codes, crashes
     and the files changed (also outside the targets: the fixer may rewrite modules it analyses) are kept;
  3. the worker again on the fixed copy: eager outputs compared bit for bit per model and key, eager
     success changes, and which modes now trace and match eager;
  4. check recall: `fxlint check` on the pristine models/ tree plus the shared modules: the distinct innermost
     failing lines per mode that a diagnostic flags (same file, line inside the diagnostic's span), and the
     false-positive models (traced and matched eager in some mode, yet a line of their own modeling file
     is flagged).
Everything big (trees, tensors, logs) stays under <cache>/hf/; the returned dict is what results.json keeps.
"""
from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import corpora  # noqa: E402
import hf_models  # noqa: E402
from _measure import HERE, fxlint_cmd, fxlint_env, log, md_table, run_measured, write_json  # noqa: E402

WORKER = os.path.join(HERE, "hf_trace.py")
MODES = ("plain", "wrapped", "wrapped_mask", "wrapped_eager_attn", "wrapped_mask_eager_attn")  # hf_trace.MODES
# shared modules fixed (and checked) beside the model directories, besides those the failures point to:
# the attention-mask builders, RoPE and the SDPA integration every decoder runs through
SHARED_ALWAYS = ("transformers/masking_utils.py", "transformers/utils/generic.py",
                 "transformers/modeling_rope_utils.py", "transformers/integrations/sdpa_attention.py")
FIX_FLAGS = ("--apply", "--unsafe-fixes", "-q")
WRAP_RE = re.compile(r"^\s*@(?:torch\.)?fx\.wrap\b", re.M)


# ---------------------------------------------------------------------------------------------
# running the worker

def run_worker(py, tf_root, out_dir, jobs, timeout, models=None):
    """hf_trace.py run on the tree under tf_root -> its JSON (also at out_dir/gt.json)."""
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    out = os.path.join(out_dir, "gt.json")
    cmd = [py, WORKER, "run", "--tf-root", tf_root, "--out", out, "--outputs", os.path.join(out_dir, "tensors"),
           "--jobs", str(jobs), "--timeout", str(timeout)] + (["--models", ",".join(models)] if models else [])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    r = run_measured(["nice", "-n", "5"] + cmd, env=env)
    if r["rc"] != 0:
        raise RuntimeError(f"hf_trace.py run failed (rc {r['rc']}): {r['stderr'][-2000:]}")
    with open(out) as fh:
        gt = json.load(fh)
    gt["meta"]["cpu_s"] = r["cpu_s"]
    return gt


def compare_eager(py, before_dir, after_dir, out):
    r = run_measured([py, WORKER, "compare", "--before", os.path.join(before_dir, "tensors"), "--after",
                      os.path.join(after_dir, "tensors"), "--out", out])
    if r["rc"] != 0:
        raise RuntimeError(f"hf_trace.py compare failed: {r['stderr'][-2000:]}")
    with open(out) as fh:
        return json.load(fh)


# ---------------------------------------------------------------------------------------------
# pure evaluation of worker records

def frame_of(mode_rec):
    return ((mode_rec or {}).get("error") or {}).get("frame")


def passes(mode_rec):
    """Traced and matched eager on both inputs."""
    return bool(mode_rec and mode_rec.get("ok") and mode_rec.get("match"))


def mode_status(mode_rec):
    if not mode_rec:
        return "missing"
    if mode_rec.get("skipped"):
        return "skipped"
    if passes(mode_rec):
        return "pass"
    if mode_rec.get("ok"):
        return "traced, output differs"
    e = mode_rec.get("error") or {}
    f = e.get("frame") or {}
    where = f"{f.get('file')}:{f.get('line')}" if f else "?"
    return f"{mode_rec.get('stage', 'trace')} {e.get('type')} at {where}"


def failing_lines(models):
    """{mode: {(file, line): {"src", "types", "models"}}} of the innermost failing frames."""
    out = {m: {} for m in MODES}
    for r in models:
        for m in MODES:
            rec = (r.get("trace") or {}).get(m)
            f = frame_of(rec)
            if not f or passes(rec):
                continue
            e = out[m].setdefault((f["file"], f["line"]), {"src": f["src"], "types": set(), "models": []})
            e["types"].add(rec["error"]["type"])
            e["models"].append(r["name"])
    return out


def shared_modules(models):
    """Files outside models/ that the innermost failing frames point to, plus SHARED_ALWAYS."""
    files = set(SHARED_ALWAYS)
    for lines in failing_lines(models).values():
        files.update(f for f, _ in lines if "/models/" not in f)
    return sorted(files)


def eager_status(rec):
    return {k: ("ok" if v["ok"] else f"{v['error']['type']}") for k, v in (rec.get("eager") or {}).items()}


def summarize(models):
    built = [r for r in models if "eager" in r]
    s = {"models": len(models), "built": len(built),
         "not_built": {r["name"]: (r.get("build_error") or {}).get("msg") or ("timeout" if r.get("timeout") else
                                                                              "crashed") for r in models
                       if "eager" not in r},
         "eager_calls": sum(len(r["eager"]) for r in built),
         "eager_failing_calls": sum(1 for r in built for v in r["eager"].values() if not v["ok"])}
    for m in MODES:
        recs = [(r["trace"] or {}).get(m) for r in built]
        s[m] = {"attempted": sum(1 for x in recs if x and not x.get("skipped")),
                "traced": sum(1 for x in recs if x and x.get("ok")),
                "traced_and_match": sum(1 for x in recs if passes(x))}
    s["any_mode_pass"] = sum(1 for r in built if any(passes((r["trace"] or {}).get(m)) for m in MODES))
    return s


def first_failures(models, top=8):
    """{mode: [[count, "stage Type at file:line", source line], ...]} of the models that do not pass."""
    out = {}
    for m in MODES:
        groups = {}
        for r in models:
            rec = (r.get("trace") or {}).get(m)
            if not rec or rec.get("skipped") or passes(rec):
                continue
            f = frame_of(rec) or {}
            key = mode_status(rec)
            g = groups.setdefault(key, [0, key, f.get("src", "")])
            g[0] += 1
        out[m] = sorted(groups.values(), key=lambda g: (-g[0], g[1]))[:top]
    return out


def compare_runs(pristine, fixed, bits):
    """Per model: eager changes (bit for bit, success), trace mode changes; counts failing -> fixed."""
    after = {r["name"]: r for r in fixed["models"]}
    eager_changed, per_model, counts = {}, {}, {m: {"failing_before": 0, "fixed": 0, "broken": 0} for m in MODES}
    for r in pristine["models"]:
        name = r["name"]
        a = after.get(name) or {}
        if "eager" not in r:
            continue
        if "eager" not in a:
            eager_changed[name] = {"build": (a.get("build_error") or {}) or a.get("timeout") or "crashed"}
            continue
        es_b, es_a = eager_status(r), eager_status(a)
        status = {k: f"{es_b.get(k)} -> {es_a.get(k)}" for k in es_b if es_b.get(k) != es_a.get(k)}
        errors = []   # distinct exceptions (type + frame), with the eager calls that raised each
        for k in status:
            e = (a["eager"].get(k) or {}).get("error")
            if e is None:
                continue
            same = next((x for x in errors if x["type"] == e["type"] and x["frame"] == e["frame"]), None)
            if same is None:
                errors.append(dict(e, calls=[k]))
            else:
                same["calls"].append(k)
        diffs = {k: v for k, v in ((bits.get(name) or {}).get("diffs") or {}).items() if k not in status}
        if status or diffs:
            eager_changed[name] = {"status": status, "errors": errors, "bit_diffs": diffs}
        modes = {}
        for m in MODES:
            b, f = (r.get("trace") or {}).get(m), (a.get("trace") or {}).get(m)
            if b and b.get("skipped"):
                continue
            if not passes(b):
                counts[m]["failing_before"] += 1
                counts[m]["fixed"] += passes(f)
            elif not passes(f):
                counts[m]["broken"] += 1
            modes[m] = {"before": mode_status(b), "after": mode_status(f)}
        per_model[name] = modes
    eager_ok = [n for n in per_model if n not in eager_changed]
    causes = {}
    for name, ch in sorted(eager_changed.items()):
        # one cause = exception type + the failing source line (the same rewrite copied into many models'
        # files gives one cause, with every file:line it is at)
        for err in ch.get("errors") or []:
            f = err.get("frame") or {}
            c = causes.setdefault(f"{err['type']}: {f.get('src')}", {"msg": err.get("msg", "")[:200], "models": [],
                                                                      "at": []})
            if name not in c["models"]:
                c["models"].append(name)
            where = f"{f.get('file')}:{f.get('line')}"
            if where not in c["at"]:
                c["at"].append(where)
        if ch.get("bit_diffs"):
            causes.setdefault("outputs differ without an exception", {"msg": "", "models": [], "at": []})[
                "models"].append(name)
        if ch.get("build"):
            causes.setdefault("model no longer builds", {"msg": str(ch["build"])[:200], "models": [], "at": []})[
                "models"].append(name)
    fixed_models = sorted(n for n, ms in per_model.items()
                          if any(v["after"] == "pass" and v["before"] != "pass" for v in ms.values()))
    return {"eager_changed": eager_changed, "n_eager_changed": len(eager_changed), "eager_change_causes": causes,
            "first_failures_before": first_failures(pristine["models"]),
            "first_failures_after": first_failures(fixed["models"]),
            "n_eager_identical": len(eager_ok), "modes": counts, "per_model": per_model,
            "now_trace_and_match": fixed_models,
            "now_trace_and_match_eager_identical": sorted(n for n in fixed_models if n not in eager_changed),
            "summary_after": summarize(fixed["models"])}


def recall(models, diags, tf_root):
    """Check recall on the distinct innermost failing lines per mode, and false-positive models."""
    by_file = {}
    for d in diags:
        rel = os.path.relpath(os.path.abspath(d["filename"]), tf_root)
        by_file.setdefault(rel, []).append(d)

    spans = {}

    def last_row(file, d):
        """A diagnostic's last row; a TRC405 finding names a decorator's wrapper (reported at its
        first line), and torch stops somewhere inside it, at a line that depends on the wrapper's body
        and on the model's signature: the whole wrapper is its span."""
        end = (d.get("end_location") or d["location"])["row"]
        if d["code"] != "TRC405":
            return end
        if file not in spans:
            try:
                with open(os.path.join(tf_root, file), encoding="utf-8") as fh:
                    tree = ast.parse(fh.read())
                spans[file] = [(min([n.lineno] + [x.lineno for x in n.decorator_list]), n.end_lineno)
                               for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
            except (OSError, SyntaxError, ValueError):
                spans[file] = []
        row = d["location"]["row"]
        return max([e for s, e in spans[file] if s == row] + [end])

    def flagged(file, line):
        return sorted({d["code"] for d in by_file.get(file, [])
                       if d["location"]["row"] <= line <= last_row(file, d)})

    out = {}
    for m, lines in failing_lines(models).items():
        rows = []
        for (file, line), e in sorted(lines.items()):
            rows.append({"file": file, "line": line, "src": e["src"], "types": sorted(e["types"]),
                         "models": e["models"], "flagged_by": flagged(file, line)})
        hit = sum(1 for x in rows if x["flagged_by"])
        out[m] = {"failing_lines": len(rows), "flagged": hit,
                  "recall": round(hit / len(rows), 3) if rows else None, "lines": rows}
    fps = {}
    for r in models:
        if "eager" not in r or not any(passes((r.get("trace") or {}).get(m)) for m in MODES):
            continue
        own = f"transformers/models/{r['model_type'].replace('-', '_')}/modeling_{r['model_type'].replace('-', '_')}.py"
        hits = by_file.get(own, [])
        if hits:
            fps[r["name"]] = {"file": own, "n": len(hits),
                              "codes": sorted({d["code"] for d in hits})}
    out["passing_models"] = sum(1 for r in models if "eager" in r and
                                any(passes((r.get("trace") or {}).get(m)) for m in MODES))
    out["false_positive_models"] = fps
    out["diagnostics"] = len(diags)
    return out


# ---------------------------------------------------------------------------------------------
# the fix gate

def diff_tree(orig_pkg, new_pkg):
    changed, diff_lines, wraps, unparsable = [], 0, 0, []
    for f in corpora.py_files(new_pkg):
        rel = os.path.relpath(f, os.path.dirname(new_pkg))
        o = os.path.join(os.path.dirname(orig_pkg), rel)
        with open(f, encoding="utf-8", errors="replace") as fh:
            new = fh.read()
        old = ""
        if os.path.exists(o):
            with open(o, encoding="utf-8", errors="replace") as fh:
                old = fh.read()
        if new == old:
            continue
        changed.append(rel)
        diff_lines += sum(1 for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
                          if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
        wraps += len(WRAP_RE.findall(new)) - len(WRAP_RE.findall(old))
        try:
            ast.parse(new)
        except SyntaxError as e:
            unparsable.append(f"{rel}:{e.lineno}: {e.msg}")
    return {"files_changed": len(changed), "changed": changed, "diff_lines": diff_lines,
            "fx_wrap_decorators_added": wraps, "unparsable_after_fix": unparsable}


def _crash_lines(text):
    return [ln.strip()[:300] for ln in text.splitlines() if "internal error" in ln.lower()][:5]


def _fix_run(work, targets, timeout, label):
    r = run_measured(["nice", "-n", "5"] + fxlint_cmd("fix", *FIX_FLAGS, *targets), env=fxlint_env(), cwd=work,
                     timeout=timeout)
    text = r["stdout"] + r["stderr"]
    summary = next((ln.strip() for ln in text.splitlines() if ln.startswith("Fixed ")), "")
    run = {"target": label, "rc": r["rc"], "wall_s": round(r["wall_s"], 1), "cpu_s": round(r["cpu_s"], 1),
           "summary": summary, "crash": _crash_lines(text)}
    if r.get("timeout"):
        run["timeout"] = True
    if r["rc"] not in (0, 1) and not r.get("timeout"):
        run["stderr_tail"] = r["stderr"][-600:]
    with open(os.path.join(work, f"fix_{len(os.listdir(work))}.log"), "w") as fh:
        fh.write(text)
    log(f"[hf] fix {label}: rc {r['rc']}, {r['wall_s']:.0f} s wall, {r['cpu_s']:.0f} s CPU"
        f"{' TIMEOUT' if r.get('timeout') else ''}{' CRASH' if run['crash'] else ''} {summary}")
    return run


def _fresh_copy(pristine_root, work):
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    shutil.copytree(os.path.join(pristine_root, "transformers"), os.path.join(work, "transformers"))


def apply_fix(pristine_root, work, targets, timeout, per_target=False):
    """Copy the pristine package to work/transformers and run the fixer on the copy (cwd = work).

    One fixer process over all targets by default (one analysis of the shared modules: on this 2-core
    machine 58 per-directory runs cost ~28 s CPU each, ~27 min). When that run crashes (exit 2, "internal
    error": the fixer stops at the first file it cannot handle; a timeout is only recorded), the copy is made
    afresh and the
    fixer runs once per target in order (model directories, then shared modules), so one bad file costs
    only its own target; `per_target` goes there directly."""
    runs = []
    t0 = time.time()
    if not per_target:
        _fresh_copy(pristine_root, work)
        runs.append(_fix_run(work, targets, timeout, "all targets at once"))
        per_target = runs[-1]["rc"] not in (0, 1) and not runs[-1].get("timeout")
    if per_target:
        _fresh_copy(pristine_root, work)
        for target in targets:
            runs.append(_fix_run(work, [target], timeout, target))
    with open(os.path.join(work, "fix_runs.json"), "w") as fh:
        json.dump(runs, fh, indent=1)
    per = [x for x in runs if x["target"] != "all targets at once"]
    return {"runs": runs, "wall_s": round(time.time() - t0, 1), "cpu_s": round(sum(x["cpu_s"] for x in runs), 1),
            "targets": len(targets), "per_target": bool(per),
            "crashed_targets": [x["target"] for x in runs if x["crash"]],
            "timed_out_targets": [x["target"] for x in runs if x.get("timeout")],
            "failed_targets": [x["target"] for x in runs if x["rc"] not in (0, 1)]}


def run_check(tf_root, shared):
    """`fxlint check --format json` on <tree>/transformers/models plus the shared modules."""
    cmd = fxlint_cmd("check", "--format", "json", "--no-cache", "--exit-zero", "transformers/models", *shared)
    r = run_measured(["nice", "-n", "5"] + cmd, env=fxlint_env(), cwd=tf_root)
    try:
        diags = json.loads(r["stdout"] or "[]")
    except json.JSONDecodeError:
        diags = None
    return diags, {"rc": r["rc"], "wall_s": round(r["wall_s"], 1), "cpu_s": round(r["cpu_s"], 1),
                   "stderr_tail": r["stderr"][-300:] if diags is None else ""}


# ---------------------------------------------------------------------------------------------

def reuse_fix(work, targets):
    """A copy fixed earlier (same targets, same fixer): its fix_runs.json, written by apply_fix or by hand from
    the measured run, is carried over; on this shared machine one fixer run over the 63 targets took 41 min of
    wall time (486 s CPU) at a load of 12-14, so a baseline may re-evaluate a kept copy instead of re-fixing."""
    with open(os.path.join(work, "fix_runs.json")) as fh:
        runs = json.load(fh)
    return {"runs": runs, "reused_copy": True, "wall_s": round(sum(x["wall_s"] for x in runs), 1),
            "cpu_s": round(sum(x["cpu_s"] for x in runs), 1), "targets": len(targets),
            "per_target": any(x["target"] != "all targets at once" for x in runs),
            "crashed_targets": [x["target"] for x in runs if x["crash"]],
            "timed_out_targets": [x["target"] for x in runs if x.get("timeout")],
            "failed_targets": [x["target"] for x in runs if x["rc"] not in (0, 1)]}


def reevaluate(hf, cache):
    """Recompute the fix section's comparison from the worker outputs a run left in <cache>/hf (no model runs,
    no fixer): for a change of the evaluation after a long run."""
    base = os.path.join(cache, "hf")
    with open(os.path.join(base, "pristine", "gt.json")) as fh:
        pristine = json.load(fh)
    with open(os.path.join(base, "fixed", "gt.json")) as fh:
        fixed = json.load(fh)
    with open(os.path.join(base, "eager_bits.json")) as fh:
        bits = json.load(fh)
    hf["fix"]["retrace"] = compare_runs(pristine, fixed, bits)
    hf["fix"]["retrace_reevaluated"] = True
    return hf


def run(info, jobs=2, timeout=120.0, fix_timeout=5400.0, models=None, do_fix=True, fix_per_target=False,
        fixed_tree=None):
    cache = info["cache"]
    base = os.path.join(cache, "hf")
    py = corpora.ensure_hf_venv(cache)
    tf_root = info["transformers"]["root"]
    durations = {}
    t = time.time()
    pristine = run_worker(py, tf_root, os.path.join(base, "pristine"), jobs, timeout, models)
    durations["ground_truth"] = round(time.time() - t, 1)
    log(f"[hf] ground truth: {len(pristine['models'])} models in {durations['ground_truth']} s")
    names = [r["name"] for r in pristine["models"]]
    shared = shared_modules(pristine["models"])
    targets = [f"transformers/models/{d}" for d in hf_models.model_dirs(names)] + shared
    res = {"transformers": info["transformers"]["version"], "worker": pristine["meta"].get("workers"),
           "models": names, "kinds": {k: sum(1 for n in names if hf_models.MODELS[n][1] == k)
                                      for k in sorted({v[1] for v in hf_models.MODELS.values()})},
           "pristine": summarize(pristine["models"]),
           "pristine_status": {r["name"]: {m: mode_status((r.get("trace") or {}).get(m)) for m in MODES}
                               for r in pristine["models"] if "eager" in r},
           "shared_modules": shared}

    t = time.time()
    diags, chk = run_check(tf_root, shared)
    durations["check"] = round(time.time() - t, 1)
    res["check"] = dict(recall(pristine["models"], diags or [], tf_root), run=chk)
    log(f"[hf] check: {len(diags or [])} diagnostics in {chk['wall_s']} s")

    if do_fix:
        work = os.path.abspath(fixed_tree) if fixed_tree else os.path.join(base, "fixed-tree")
        t = time.time()
        fx = reuse_fix(work, targets) if fixed_tree else apply_fix(tf_root, work, targets, fix_timeout,
                                                                     fix_per_target)
        fx["changes"] = diff_tree(os.path.join(tf_root, "transformers"), os.path.join(work, "transformers"))
        fx["changed_outside_targets"] = [f for f in fx["changes"]["changed"]
                                         if not any(f == x or f.startswith(x + "/") for x in targets)]
        durations["fix"] = round(time.time() - t, 1)
        t = time.time()
        fixed = run_worker(py, work, os.path.join(base, "fixed"), jobs, timeout, models)
        bits = compare_eager(py, os.path.join(base, "pristine"), os.path.join(base, "fixed"),
                             os.path.join(base, "eager_bits.json"))
        fx["retrace"] = compare_runs(pristine, fixed, bits)
        durations["fixed_run"] = round(time.time() - t, 1)
        fx["tree"] = work
        res["fix"] = fx
    res["durations_s"] = durations
    return res


def markdown(res):
    if res.get("skipped"):
        return f"_{res['skipped']}._"
    p = res["pristine"]
    stamp = (f"Measured {res['date']} at fxlint {res.get('fxlint_git')}"
             + (f" ({res['section_wall_s'] / 60:.1f} min, `run_all.py --hf-only`)" if res.get("section_wall_s") else "")
             + ". ") if res.get("date") else ""
    out = [stamp + f"{p['built']} of {p['models']} architectures built from tiny configs ({', '.join(f'{n} {k}' for k, n in res['kinds'].items())}), "
           f"{p['eager_calls']} eager calls ({p['eager_failing_calls']} raise) on transformers {res['transformers']}."]
    fix = res.get("fix")
    rows = []
    for m in (m for m in MODES if m in p):   # results measured before a mode existed lack it
        row = [m, f"{p[m]['traced_and_match']}/{p[m]['attempted']}"]
        if fix:
            c = fix["retrace"]["modes"][m]
            a = fix["retrace"]["summary_after"][m]
            row += [f"{a['traced_and_match']}/{a['attempted']}", f"{c['fixed']}/{c['failing_before']}", c["broken"]]
        ck = res["check"][m]
        row.append(f"{ck['flagged']}/{ck['failing_lines']}")
        rows.append(row)
    head = ["mode", "pristine: trace + match eager"]
    if fix:
        head += ["after fix", "failing → fixed", "passing → broken"]
    head.append("check: failing lines flagged")
    out += ["", md_table(head, rows)]
    ck = res["check"]
    out.append(f"\n`fxlint check` on models/ + {len(res['shared_modules'])} shared modules: {ck['diagnostics']} "
               f"diagnostics in {ck['run']['wall_s']} s; false-positive models "
               f"{len(ck['false_positive_models'])}/{ck['passing_models']} passing.")
    if fix:
        fr = fix["retrace"]
        out.append(f"\n`fxlint fix {' '.join(FIX_FLAGS)}` on {fix['targets']} targets "
                   f"({'per target' if fix['per_target'] else 'one process'}"
                   f"{'; a copy fixed before this run, re-evaluated' if fix.get('reused_copy') else ''}): {fix['wall_s']} s wall, {fix['cpu_s']} s CPU, "
                   f"{fix['changes']['files_changed']} files / {fix['changes']['diff_lines']} lines changed "
                   f"({len(fix['changed_outside_targets'])} outside the targets), "
                   f"{fix['changes']['fx_wrap_decorators_added']} `@torch.fx.wrap` added; crashed targets "
                   f"{len(fix['crashed_targets'])}, timed out {len(fix['timed_out_targets'])}, unparsable files "
                   f"{len(fix['changes']['unparsable_after_fix'])}.")
        out.append(f"\n**Eager behaviour changed in {fr['n_eager_changed']} of "
                   f"{fr['n_eager_changed'] + fr['n_eager_identical']} models** (bit for bit, any mode/input): "
                   + (", ".join(sorted(fr["eager_changed"])) or "none") + ".")
        out.append("")
        for cause, c in sorted(fr.get("eager_change_causes", {}).items(), key=lambda kv: (-len(kv[1]["models"]), kv[0])):
            at = c.get("at") or []
            out.append(f"- {len(c['models'])} model(s): `{cause[:160]}` ({', '.join(c['models'])})"
                       + (f" at {', '.join(at[:4])}{' …' if len(at) > 4 else ''}" if at and at != ['None:None'] else ""))
        if fr.get("first_failures_after"):
            out.append("\nFirst failures after the fix (models; line numbers of the fixed copy):")
            for m, groups in fr["first_failures_after"].items():
                out.append(f"- {m}: " + "; ".join(f"{n} × {where} `{src[:70]}`" for n, where, src in groups[:5]))
        out.append(f"\nNow trace and match eager (some mode): {len(fr['now_trace_and_match'])} "
                   f"({len(fr['now_trace_and_match_eager_identical'])} with eager unchanged): "
                   + (", ".join(fr["now_trace_and_match"]) or "none") + ".")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=120.0, help="per-model timeout of the worker (s)")
    ap.add_argument("--fix-timeout", type=float, default=5400.0, help="timeout of one `fxlint fix` process (s)")
    ap.add_argument("--fix-per-target", action="store_true", help="one fixer process per target")
    ap.add_argument("--fixed-tree", help="evaluate this copy, fixed earlier (it holds transformers/ and "
                                         "fix_runs.json), instead of running the fixer")
    ap.add_argument("--models", help="comma-separated subset of hf_models.MODELS")
    ap.add_argument("--no-fix", action="store_true")
    ap.add_argument("--cache", help="corpus cache folder")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()
    info = corpora.get_all(corpora.cache_dir(args.cache))
    t0 = time.time()
    res = run(info, args.jobs, args.timeout, args.fix_timeout, args.models.split(",") if args.models else None,
              not args.no_fix, args.fix_per_target, args.fixed_tree)
    res["wall_s"] = round(time.time() - t0, 1)
    if args.out:
        write_json(args.out, res)
    print(markdown(res))


if __name__ == "__main__":
    main()
