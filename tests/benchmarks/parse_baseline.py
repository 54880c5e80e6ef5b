"""The parse floor fxlint is compared with: ``libcst.parse_module`` of every .py file under PATHs.

usage: python parse_baseline.py [cst|ast] [-j N] PATH...
Same as ``perf_parse.py`` (appendix of shared/notes/performance-anchors.md), modes ``cst`` and ``ast``:
reads every file (sorted walk), parses it, prints one line ``MODE files N lines N errors N``.
-j N uses a fork Pool(N) (chunksize 4); the default is in-process.
"""
import os
import sys


def files_under(roots):
    out = []
    for root in roots:
        if os.path.isfile(root):
            out.append(root)
            continue
        for d, dirs, fs in os.walk(root):
            dirs.sort()
            out.extend(os.path.join(d, f) for f in sorted(fs) if f.endswith(".py"))
    return out


def work(path):
    with open(path, encoding="utf-8") as fh:
        src = fh.read()
    lines = src.count("\n")
    try:
        if MODE == "ast":
            ast.parse(src, filename=path)
        else:
            cst.parse_module(src)
        return lines, 0
    except Exception as e:  # noqa: BLE001  (count, do not stop)
        print(f"error {path}: {type(e).__name__}", file=sys.stderr)
        return lines, 1


MODE = "cst"
JOBS = 1
if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in ("cst", "ast"):
        MODE = args.pop(0)
    paths = []
    i = 0
    while i < len(args):
        if args[i] == "-j":
            JOBS = int(args[i + 1])
            i += 2
        else:
            paths.append(args[i])
            i += 1
    if MODE == "ast":
        import ast
    else:
        import libcst as cst
    files = files_under(paths)
    if JOBS > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(JOBS) as pool:
            results = pool.map(work, files, chunksize=4)
    else:
        results = [work(f) for f in files]
    print(MODE, "files", len(files), "lines", sum(r[0] for r in results), "errors", sum(r[1] for r in results))
