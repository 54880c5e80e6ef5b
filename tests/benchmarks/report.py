"""Render results.json as Markdown: the full report (results.md) and the README's results section.

Pure functions of the results dict (no benchmark run, no torch): tests/test_bench_results.py renders the
committed results.json and checks that README.md and results.md hold exactly that, so the published
figures cannot drift from the raw ones. run_all.py writes both after a run (splice_readme).
"""
from __future__ import annotations

import os
import re

import bench_fix
import bench_fix_speed
import bench_hf
import bench_libs
import bench_speed
import bench_timm
from _measure import REPO, md_table

README = os.path.join(REPO, "README.md")
START = "<!-- bench-results:start -->"
END = "<!-- bench-results:end -->"
WALL_TARGET_MIN = 30.0
_SECTION_RE = re.compile(re.escape(START) + r"\n(.*?)" + re.escape(END), re.S)


def _header(res):
    m, v = res["machine"], res["versions"]
    load = m.get("loadavg_at_start") or []
    return (f"Measured {res['date']} with `python tests/benchmarks/run_all.py{' --quick' if res['quick'] else ''}` "
            f"on {m['cores']} cores ({m.get('cpu') or 'unknown CPU'}, {m.get('mem_gib')} GiB), Python {m['python']}, "
            f"libcst {m.get('libcst')}; fxlint {v.get('fxlint')} ({v.get('fxlint_git')}), timm {v['timm']}, "
            f"transformers {v['transformers']}"
            + (f", torch {v['torch (ground truth)']} for the ground truth" if v.get("torch (ground truth)") else "")
            + f". Load average (1, 5, 15 min) at start {', '.join(str(x) for x in load)}"
            + (f", at end {', '.join(str(x) for x in m['loadavg_at_end'])}" if m.get("loadavg_at_end") else "")
            + f" (the machine is shared). Whole run: {res['wall_s'] / 60:.1f} min.")


def _peers_note(res):
    when = (res.get("peers") or {}).get("carried_over_from")
    return (f"_TorchFix / Fixit figures carried over from the run of {when} (this run had `--no-peers` or "
            f"`--quick`)._") if when else None


def full_markdown(res):
    """results.md: every figure, every miss and false positive (file:line)."""
    out = ["## Benchmark results", "", _header(res), "",
           "### Durations", "", durations_table(res), "",
           "### Detection on timm (ground truth: plain `torch.fx.symbolic_trace`, one model per family)", "",
           bench_timm.markdown(res["detection"]) if res.get("detection") else "_not run_"]
    qat = (res.get("detection") or {}).get("qat_findings_not_judged")
    if qat:
        out += ["", f"QAT findings (TRC6xx: traces, but crashes `prepare_qat_fx`'s fake-quant run), not judged by "
                    f"this ground truth and left out of the figures above: {', '.join(qat)}."]
    out += ["", "### Speed", "",
           "Whole-process wall time, start-up included; CPU = user+sys of the process tree; peak = largest single "
           "process (max RSS). Cold = a fresh, empty cache folder. `× parse` pairs each command with LibCST "
           "`parse_module` of the same files in the same run.",
           "", bench_speed.markdown(res["speed"]) if res.get("speed") else "_not run_"]
    if _peers_note(res):
        out += ["", _peers_note(res)]
    out += ["", "### Fixes on timm (`fxlint fix`, then re-trace every family from the fixed copy)", "",
            bench_fix.markdown(res["fix"]) if res.get("fix") else "_not run_"]
    if res.get("fix_speed"):
        out += ["", "### `fix` on whole packages beside `check` (`bench_fix_speed.py`)", "",
                _fix_speed_when(res["fix_speed"]), "", bench_fix_speed.markdown(res["fix_speed"])]
    if res.get("hf"):
        out += ["", "### transformers proving ground (tiny-config models: eager bit for bit, trace, fix, check)", "",
                bench_hf.markdown(res["hf"])]
    if res.get("libs"):
        out += ["", "### More libraries (`bench_libs.py`: ground truth per model, check, fix gate bit for bit)", "",
                _libs_header(res["libs"]), "", bench_libs.markdown(res["libs"])]
    return "\n".join(out)


def _libs_header(libs):
    runs = libs.get("runs")  # libraries measured by separate (side-by-side) runs of bench_libs.py
    how = ("; ".join(f"`{r['command']}` {r['date']}, {r['wall_s'] / 60:.1f} min" for r in runs.values()) if runs
           else f"`python tests/benchmarks/bench_libs.py`, {libs['wall_s'] / 60:.1f} min")
    return f"Measured {libs['date']} (fxlint {libs['fxlint']}, torch {libs['torch']}): {how}."


def _libs_lines(libs):
    if not libs:
        return []
    return ["", "**More libraries** (every catalogued model: eager outputs of 2 shapes x train/eval, plain "
            "`symbolic_trace`; `fix --apply --unsafe-fixes` on a copy, then the same models from the copy, "
            "compared bit for bit). " + _libs_header(libs), "", bench_libs.summary_table(libs)]


def durations_table(res):
    d = res.get("durations_s") or {}
    loads = res.get("loadavg_1min_at_section_start") or {}
    rows = []
    for k, secs in d.items():
        rows.append([k, f"{secs:.0f}", f"{secs / 60:.1f}", loads.get(k, "")])
        if k == "speed":
            for part, ps in ((res.get("speed") or {}).get("durations_s") or {}).items():
                rows.append([f"↳ {part}", f"{ps:.0f}", f"{ps / 60:.1f}", ""])
    rows.append(["**whole run**", f"{res['wall_s']:.0f}", f"{res['wall_s'] / 60:.1f}", ""])
    return md_table(["section", "s", "min", "load (1 min) at start"], rows)


# ---------------------------------------------------------------------------------------------
# README section (short; the lists live in results.md)

def _s(x, nd=1):
    return "–" if x is None else f"{x:.{nd}f} s"


def _detection_lines(det):
    if not det or "evaluation" not in det:
        return ["_Detection not measured in this run._"]
    ev, s = det["evaluation"], det["ground_truth"]["summary"]
    rc, fm, fe = ev["recall"], ev["false_positives_by_module"], ev.get("false_positives_by_execution")
    rows = [["failing source lines flagged (same file and line)",
             f"{rc['flagged']}/{rc['failing_lines']} ({rc['families_flagged']}/{rc['failing_families']} failing "
             f"families)"]]
    rv, fv = ev.get("recall_with_variants"), ev.get("false_positives_by_module_with_variants")
    if rv:
        rows.append(["the same with the failing lines of configuration variants (`dynamic_img_size=True`, "
                     "`set_grad_checkpointing(True)` on every family that accepts them)",
                     f"{rv['flagged']}/{rv['failing_lines']} ({len(rv['lines_only_variants_fail'])} lines only a "
                     f"variant fails at; {rv['variants_flagged']}/{rv['failing_variants']} failing variants)"])
    if fe:
        rows.append(["passing families with a flagged line that ran while tracing (false positive)",
                     f"{fe['n_families']}/{ev['n_passing']} ({100 * (fe['rate_over_passing_families'] or 0):.1f} %; "
                     f"goal < {100 * bench_timm.FP_GOAL:.0f} %: "
                     f"{'**met**' if (fe['rate_over_passing_families'] or 0) < bench_timm.FP_GOAL else '**missed**'})"])
    if fv:
        rows.append(["passing families whose own module has a flagged line on which no configuration variant fails",
                     f"{fv['n_families']}/{ev['n_passing']} ({100 * (fv['rate_over_passing_families'] or 0):.1f} %)"])
    rows.append(["passing families whose own module has a flagged line"
                 + (" (default configs only: the definition before variants)" if fv else ""),
                 f"{fm['n_families']}/{ev['n_passing']} ({100 * (fm['rate_over_passing_families'] or 0):.1f} %)"])
    ma = det.get("measured_alone")
    return [f"**Detection** on timm: {s['n_models']} families (one model each); plain `torch.fx.symbolic_trace` "
            f"fails on {s['fail']} at {s['distinct_failing_lines']} distinct lines, {s['pass']} trace and match eager."
            + (f" (Measured alone {ma['date']} at fxlint {ma['fxlint_git']}: `{ma['command']}`.)" if ma else ""),
            "", md_table(["", "timm"], rows)]


def _speed_cell(c, key, ratio_key=None):
    m = c.get(key)
    if not m:
        return "–"
    ratio = f" ({c[ratio_key]:.2f}× parse)" if ratio_key and c.get(ratio_key) is not None else ""
    return f"{m['wall_s']:.2f} s{ratio}" if m["wall_s"] < 10 else f"{m['wall_s']:.0f} s{ratio}"


def _speed_lines(res):
    sp = res.get("speed")
    if not sp:
        return ["_Speed not measured in this run._"]
    names = list(sp["corpora"])
    cs = [sp["corpora"][n] for n in names]
    head = [""] + [f"{n} {c.get('version', '')}{' `models/`' if n == 'transformers' else ''} "
                   f"({c['files']:,} files, {c['lines']:,} lines)" for n, c in zip(names, cs)]
    rows = [["LibCST `parse_module` alone, 1 process"] + [_speed_cell(c, "parse") for c in cs],
            ["`fxlint check`, cold, 1 process"] + [_speed_cell(c, "check1", "check1_over_parse") for c in cs],
            ["`fxlint check`, cold, default jobs"] + [_speed_cell(c, "check_par", "check_par_over_parse") for c in cs],
            ["speed-up of default jobs over 1 process"]
            + [f"{c['speedup_par']:.2f}×" if c.get("speedup_par") else "–" for c in cs],
            ["`fxlint check`, warm (unchanged re-run)"] + [_speed_cell(c, "warm") for c in cs],
            ["peak memory (largest process)"]
            + [f"{max(c[k]['peak_mib'] for k in ('check1', 'check_par', 'warm') if k in c):.0f} MiB"
               if any(k in c for k in ("check1", "check_par", "warm")) else "–" for c in cs]]
    when = (res.get("peers") or {}).get("carried_over_from")
    for tool, p in sp.get("peers", {}).items():
        label = f"{tool} {p.get('version') or ''}".strip() + (f" (measured {when})" if when else "")
        rows.append([label] + [("not installable here" if not p.get("available") else
                                _s(p["runs"][n]["wall_s"], 0) + (" (timeout)" if p["runs"][n].get("timeout") else "")
                                if n in p.get("runs", {}) else "–") for n in names])
    for n, c in zip(names, cs):
        if c.get("check_skipped"):
            rows.append([f"{n}: `fxlint check` not measured", c["check_skipped"]])
    one = []
    for f in sp.get("one_file", {}).values():
        if "check_cold" in f:
            one.append(f"`{os.path.basename(f['path'])}` ({f['lines']:,} lines) {f['check_cold']['wall_s']:.2f} s cold, "
                       f"{f['check_warm']['wall_s']:.2f} s warm (parse alone {f['parse']['wall_s']:.2f} s)"
                       if "check_warm" in f else f"`{os.path.basename(f['path'])}` {f['check_cold']['wall_s']:.2f} s")
    out = ["**Speed**: whole-process wall time, start-up included, median of the runs; cold = empty cache; "
           "× parse = multiple of LibCST `parse_module` of the same files, timed alternately in the same run."
           + (f" Measured alone: {sp['measured_alone']}." if sp.get("measured_alone") else ""),
           "", md_table(head, rows)]
    if one:
        out += ["", "One file (cold start-up included): " + "; ".join(one) + "."]
    return out


def _fix_lines(fix):
    if not fix or fix.get("skipped") or not fix.get("variants"):
        return [f"_Fixes not measured in this run{': ' + fix['skipped'] if fix and fix.get('skipped') else ''}._"]
    rows = []
    for name, v in fix["variants"].items():
        if v.get("error"):
            rows.append([f"`fix {' '.join(v['flags'])}`", v["error"], "", "", ""])
            continue
        t, c = v["retrace"], v["changes"]
        rows.append([f"`fix {' '.join(v['flags'])}`", f"{t['now_trace_and_match']}/{t['previously_failing']}",
                     f"{t['still_pass']}/{t['previously_passing']}", str(c["fx_wrap_added"]),
                     f"{t['quant_coverage_before']:.3f} → {t['quant_coverage_after']:.3f}"
                     if t["quant_coverage_before"] is not None and t["quant_coverage_after"] is not None else "–"])
    return ["**Fixes** on a copy of timm, then every family re-traced from the copy (quantization coverage = "
            "share of Conv/Linear weights that are `call_module` nodes of the traced graphs):", "",
            md_table(["", "failing families that now trace and match eager", "passing families still passing",
                      "hoists (`fx.wrap` added)", "quantization coverage"], rows)]


def _fix_speed_when(section):
    note = section.get("measured_alone")
    return (f"Measured {section['date']} at {section.get('fxlint_git') or 'an unrecorded revision'} with "
            f"`python tests/benchmarks/bench_fix_speed.py --merge-results`" + (f" ({note})" if note else "") + ".")


def _fix_speed_lines(section):
    if not section:
        return []
    when = _fix_speed_when(section)
    return ["", "**`fix` on whole packages** (`fix --apply --unsafe-fixes` beside `check`, same run, default jobs; "
            + when[0].lower() + when[1:].rstrip(".") + "):", "",
            bench_fix_speed.markdown(section)]


def verdict(res):
    """Every target with met/missed: issue 2 section 8's speed targets, the FP goal, the run's wall time."""
    v = dict((res.get("speed") or {}).get("verdict") or {})
    fe = ((res.get("detection") or {}).get("evaluation") or {}).get("false_positives_by_execution")
    if fe:
        v[f"timm: false-positive families < {100 * bench_timm.FP_GOAL:.0f} %"] = \
            (fe["rate_over_passing_families"] or 0) < bench_timm.FP_GOAL
    for name, var in ((res.get("fix") or {}).get("variants") or {}).items():
        if var.get("retrace"):
            t = var["retrace"]
            v[f"fix {name}: every passing family still passes"] = t["still_pass"] == t["previously_passing"]
    for name, r in ((res.get("fix_speed") or {}).get("corpora") or {}).items():
        v[f"{name} whole package: fix never fails inside fxlint, writes only parsable code, converges"] = \
            r["internal_errors"] == 0 and not r["unparsable_outputs"] and not r["second_run_would_fix"]
        v[f"{name} whole package: fix wall <= {bench_fix_speed.TARGET_RATIO:.0f}x check wall"] = \
            (r["fix_over_check_wall"] or 99) <= bench_fix_speed.TARGET_RATIO
    for name, lib in ((res.get("libs") or {}).get("libraries") or {}).items():
        t = (lib.get("fix") or {}).get("retrace")
        if t:
            v[f"{name}: the fix changes no model's eager outputs"] = t["n_eager_changed"] == 0
    v[f"whole benchmark run < {WALL_TARGET_MIN:.0f} min"] = res["wall_s"] < WALL_TARGET_MIN * 60
    return v


def readme_section(res):
    v = verdict(res)
    missed = [k for k, ok in v.items() if not ok]
    out = ["<!-- generated by tests/benchmarks/run_all.py from tests/benchmarks/results.json: do not edit by hand -->",
           "", _header(res), ""] + _detection_lines(res.get("detection")) + [""] + _speed_lines(res)
    if _peers_note(res):
        out += ["", _peers_note(res)]
    out += [""] + _fix_lines(res.get("fix"))
    out += _fix_speed_lines(res.get("fix_speed"))
    out += _libs_lines(res.get("libs"))
    out += ["", f"Targets ({len(v) - len(missed)}/{len(v)} met):", ""]
    out += [f"- {k}: {'met' if ok else '**missed**'}" for k, ok in v.items()]
    out += ["", "Every figure, with each missed line and false positive as file:line: "
            "[`tests/benchmarks/results.md`](tests/benchmarks/results.md); raw figures: "
            "[`tests/benchmarks/results.json`](tests/benchmarks/results.json)."]
    return "\n".join(out) + "\n"


def readme_current(text):
    """The README's generated section (between the markers), or None when the markers are missing."""
    m = _SECTION_RE.search(text)
    return m.group(1) if m else None


def splice_readme(res, path=README):
    """Replace the README's section between the markers by readme_section(res); touches nothing else."""
    with open(path) as fh:
        text = fh.read()
    if readme_current(text) is None:
        raise RuntimeError(f"{path}: markers {START} / {END} not found")
    new = _SECTION_RE.sub(lambda _m: f"{START}\n{readme_section(res)}{END}", text, count=1)
    with open(path, "w") as fh:
        fh.write(new)


def main():
    """Re-render results.md and README.md's section from results.json (e.g. after a rebase brought a new run)."""
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "results.json")) as fh:
        res = json.load(fh)
    with open(os.path.join(here, "results.md"), "w") as fh:
        fh.write(full_markdown(res) + "\n")
    splice_readme(res)
    print("re-rendered tests/benchmarks/results.md and README.md's results section from results.json")


if __name__ == "__main__":
    main()
