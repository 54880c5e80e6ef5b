"""Parent side: run jobs in worker processes, a few at a time, and collect one answer per job.

Never imports torch. With ``os.fork`` available one zygote (``python -m fxlint.verify.worker serve``)
imports torch once and forks a child per job, so a model costs a fork instead of a Python start-up
plus ``import torch`` (about 2.5 s here). Elsewhere every job gets its own ``... worker run`` process.

An answer is ``{"messages": [...], "exit": int, "timed_out": bool, "output_tail": str, "elapsed": s}``
whatever happened: a crashed or killed worker (or zygote) yields an answer with the messages it managed
to send.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from fxlint.verify.targets import VerifyUsageError

#: seconds the zygote may take to import torch before the run is given up
STARTUP_TIMEOUT_S = 180.0
#: the parent's own watchdog on top of the per-job deadline the zygote enforces
WATCHDOG_GRACE_S = 30.0

OnAnswer = Callable[[Dict[str, Any], Dict[str, Any]], List[Dict[str, Any]]]


#: the worker's entry: import this very fxlint from its own root, then take that root off sys.path
#: again. Putting it on PYTHONPATH instead (as before) put fxlint's folder -- site-packages for an
#: installed fxlint, the checkout for an editable one -- before the user's PYTHONPATH entries, so an
#: installed library shadowed the vendored copy the user set up, and verify ran the wrong code.
BOOTSTRAP = ("import sys; root = sys.argv.pop(1); sys.path.insert(0, root); import fxlint.verify.worker as w; "
             "sys.path.remove(root); sys.exit(w.main(sys.argv[1:]))")


def worker_env() -> Dict[str, str]:
    """The user's environment as it is: PYTHONPATH untouched, so the worker's import path is the
    user's (the job then puts the file's package root and the current directory first: stages.py)."""
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


def worker_command(mode: str, python: Optional[str] = None) -> List[str]:
    """The worker needs only torch and this package's own code, so ``python`` may be another
    environment's interpreter (the project's venv with torch, when fxlint itself lives elsewhere).
    ``-c`` starts it with the current directory first on sys.path (as `python -m` does)."""
    import fxlint

    source_root = os.path.dirname(os.path.dirname(os.path.abspath(fxlint.__file__)))
    return [python or sys.executable, "-c", BOOTSTRAP, source_root, mode]


def run_jobs(jobs: List[Dict[str, Any]], parallel: int, on_answer: OnAnswer, use_fork: Optional[bool] = None,
             python: Optional[str] = None) -> float:
    """Run every job; ``on_answer(job, answer)`` may return follow-up jobs (discovery -> classes).

    Returns the seconds spent starting zygotes (0 without fork, where every job pays its own start-up).
    """
    if use_fork is None:
        use_fork = hasattr(os, "fork") and os.environ.get("FXLINT_VERIFY_NO_FORK") != "1"
    runner = ZygoteRunner(parallel, python) if use_fork else SubprocessRunner(parallel, python)
    try:
        runner.run(list(jobs), on_answer)
    finally:
        runner.close()
    return runner.startup_s


class ZygoteRunner:
    """Feeds jobs to one zygote, at most ``parallel`` outstanding; restarts it if it dies."""

    def __init__(self, parallel: int, python: Optional[str] = None):
        self.parallel = max(1, parallel)
        self.python = python
        self.process: Optional[subprocess.Popen] = None
        self.stderr = tempfile.TemporaryFile()
        self.buffer = b""
        self.stderr_mark = 0
        self.startup_s = 0.0

    def run(self, pending: List[Dict[str, Any]], on_answer: OnAnswer) -> None:
        outstanding: Dict[int, Dict[str, Any]] = {}
        next_id = 0
        while pending or outstanding:
            self._ensure_started()
            while pending and len(outstanding) < self.parallel:
                job = pending.pop(0)
                outstanding[next_id] = {"job": job, "sent": time.monotonic(), "messages": []}
                self._send({"id": next_id, "job": job})
                next_id += 1
            for job_id, answer in self._receive(outstanding):
                entry = outstanding.pop(job_id)
                answer["messages"] = entry["messages"]
                pending.extend(on_answer(entry["job"], answer) or [])

    def _ensure_started(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.stderr.seek(0)
        self.stderr.truncate()
        self.stderr_mark = 0
        self.process = subprocess.Popen(worker_command("serve", self.python), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.stderr, env=worker_env())
        self.buffer = b""
        started = time.monotonic()
        ready = self._read_line(started + STARTUP_TIMEOUT_S)
        self.startup_s += time.monotonic() - started
        if not ready or not ready.get("ready"):
            error = (ready or {}).get("error") or self._stderr_tail() or "no answer"
            self.close()
            raise VerifyUsageError(f"the verify worker could not start (is torch installed?): {error}")
        self.stderr_mark = self.stderr.seek(0, os.SEEK_END)  # start-up chatter is no reason for a later death

    def _send(self, request: Dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        try:
            self.process.stdin.write((json.dumps(request) + "\n").encode())
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # the zygote died: noticed when reading

    def _receive(self, outstanding: Dict[int, Dict[str, Any]]):
        """Yield (id, answer) for at least one finished job, or lost answers for all if the zygote died.

        Messages of running jobs are collected on the way (``outstanding[id]["messages"]``).
        """
        deadline = min(entry["sent"] + float(entry["job"].get("timeout") or 0) + WATCHDOG_GRACE_S
                       for entry in outstanding.values()) if outstanding else time.monotonic() + 1
        while True:
            line = self._read_line(max(deadline, time.monotonic() + 1))
            if line is None or line.get("id") not in outstanding:
                break
            if "message" in line:
                outstanding[line["id"]]["messages"].append(line["message"])
                continue
            yield line["id"], line
            return
        reason = self._stderr_tail()
        self.close()  # dead or hung: every outstanding job is lost, the next round starts a new zygote
        for job_id in list(outstanding):
            yield job_id, {"exit": -9, "timed_out": False, "output_tail": reason, "elapsed": 0.0, "worker_lost": True}

    def _read_line(self, deadline: float) -> Optional[Dict[str, Any]]:
        assert self.process is not None and self.process.stdout is not None
        fd = self.process.stdout.fileno()
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([fd], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except ValueError:
            return None

    def _stderr_tail(self) -> str:
        self.stderr.seek(self.stderr_mark)
        lines = self.stderr.read().decode("utf-8", "replace").strip().splitlines()
        return lines[-1] if lines else ""

    def close(self) -> None:
        if self.process is None:
            return
        try:
            if self.process.stdin:
                self.process.stdin.close()  # the zygote kills its children and exits on EOF
            self.process.wait(timeout=10)
        except (subprocess.TimeoutExpired, OSError):
            self.process.kill()
            self.process.wait()
        self.process = None


class SubprocessRunner:
    """One fresh interpreter per job (no fork): slower, same answers."""

    def __init__(self, parallel: int, python: Optional[str] = None):
        self.parallel = max(1, parallel)
        self.python = python
        self.startup_s = 0.0

    def run(self, pending: List[Dict[str, Any]], on_answer: OnAnswer) -> None:
        lock = threading.Lock()

        def worker() -> None:
            while True:
                with lock:
                    if not pending:
                        return
                    job = pending.pop(0)
                answer = run_in_subprocess(job, self.python)
                with lock:
                    pending.extend(on_answer(job, answer) or [])

        # follow-up jobs may appear after a thread found the queue empty: loop until nothing is left
        while pending:
            threads = [threading.Thread(target=worker) for _ in range(min(self.parallel, len(pending)))]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

    def close(self) -> None:
        pass


def run_in_subprocess(job: Dict[str, Any], python: Optional[str] = None) -> Dict[str, Any]:
    timeout = float(job.get("timeout") or 0) or None
    start = time.monotonic()
    with tempfile.TemporaryFile() as stderr:
        process = subprocess.Popen(worker_command("run", python), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr, env=worker_env())
        timed_out = False
        try:
            out, _ = process.communicate((json.dumps(job) + "\n").encode(),
                                         timeout=timeout + 5.0 + 3.0 if timeout else None)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
            timed_out = True
        stderr.seek(0)
        tail = stderr.read()[-2000:].decode("utf-8", "replace") if process.returncode else ""
    messages = []
    for line in out.decode("utf-8", "replace").splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    return {"messages": messages, "exit": process.returncode, "timed_out": timed_out, "output_tail": tail,
            "elapsed": round(time.monotonic() - start, 3)}
