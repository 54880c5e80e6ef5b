"""The worker process of `fxlint verify`: the only place torch is imported.

Two ways to run, both speaking JSON lines (see :mod:`fxlint.verify.pool` for the parent's side):

``python -m fxlint.verify.worker serve``
    A zygote: imports torch and torch.ao once, then reads one job per line on stdin and forks one child
    per job. Each child runs the job with its own deadline and writes its messages to a private pipe;
    each message is passed on at once as ``{"id", "message"}``, and when the child exits (or is killed
    at its deadline) one line ``{"id", "done": true, "exit", "timed_out", "output_tail", "elapsed"}``
    closes the job. A fresh child per model keeps
    the process-global FX wrap registry and user state from leaking between models (fx-hazards.md §4)
    while paying torch's import once.
``python -m fxlint.verify.worker run``
    One job from stdin, messages on stdout, then exit: used where ``os.fork`` does not exist.

The zygote never runs a torch op itself (forking after one would inherit a started OpenMP pool).
Children get their own process group so a kill also ends anything the user's code spawned.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional

#: the child raises VerifyTimeout at the job's deadline; the zygote SIGKILLs it up to this much later
#: (half the timeout, at least 1 s), for code stuck where Python cannot raise: C loops, `except BaseException`
KILL_GRACE_S = 5.0
_OUTPUT_TAIL = 2000


# ---------------------------------------------------------------------------------------------- one job
def execute(job: Dict[str, Any], emit: Callable[[Dict[str, Any]], None]) -> None:
    """Run one job in this process (a child): the pipeline, or discovery of a file's classes."""
    import warnings

    warnings.simplefilter("ignore")  # torch.ao deprecations are recorded per stage, never printed
    from fxlint.verify import stages

    _set_threads(job.get("threads"))
    _arm_deadline(float(job.get("timeout") or 0), stages.VerifyTimeout)
    try:
        pipeline = stages.Pipeline(job, emit)
        pipeline.discover() if job["kind"] == "discover" else pipeline.run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _set_threads(threads: Optional[int]) -> None:
    if threads:
        import torch

        torch.set_num_threads(int(threads))


def _arm_deadline(timeout: float, exception: type) -> None:
    if timeout <= 0 or not hasattr(signal, "setitimer"):
        return

    def on_alarm(signum: int, frame: Any) -> None:
        raise exception(f"timed out after {timeout:g} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout)


def _json_line(message: Dict[str, Any]) -> bytes:
    return (json.dumps(message, default=str) + "\n").encode()


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


# ---------------------------------------------------------------------------------------------- zygote
def preload() -> Dict[str, Any]:
    """Import everything a child needs, once, so forking is all a model costs."""
    import torch
    import torch.fx  # noqa: F401
    from torch.ao.quantization import get_default_qat_qconfig_mapping  # noqa: F401
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx  # noqa: F401

    from fxlint.verify import coverage, example_inputs, loading, outputs, stages  # noqa: F401

    _warm_up_lazy_imports()
    return {"torch": torch.__version__, "threads_started": _thread_count()}


def _warm_up_lazy_imports() -> None:
    """Trace and prepare a one-layer model, never calling it.

    The first prepare_qat_fx in a process lazily imports ~1,600 modules (its stack-trace recording
    pulls in torch._inductor, sympy, networkx: ~5 s). Paying that here, once, instead of in every
    forked child is most of what keeps per-model overhead low. No forward runs, so no compute kernel
    starts an OpenMP/oneDNN thread pool that the children would inherit half-initialised (convert_fx
    is left out for that reason: computing qparams starts the OpenMP pool, measured as an extra thread).
    """
    import warnings

    import torch
    from torch.ao.quantization import get_default_qat_qconfig_mapping
    from torch.ao.quantization.quantize_fx import prepare_qat_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = torch.nn.Sequential(torch.nn.Linear(2, 2))
        torch.fx.symbolic_trace(model)
        prepare_qat_fx(model.train(), get_default_qat_qconfig_mapping("x86"), (torch.zeros(1, 2),))


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0


class Zygote:
    """Forks one child per job, enforces deadlines, and answers each job with one line."""

    def __init__(self, out_fd: int):
        self.out_fd = out_fd
        self.children: Dict[int, Dict[str, Any]] = {}  # read end of the child's pipe -> its record
        self.stdin_buffer = b""
        self.stdin_open = True

    def serve(self) -> None:
        while self.stdin_open or self.children:
            readable = [0] if self.stdin_open else []
            ready, _, _ = select.select(readable + list(self.children), [], [], self._next_wakeup())
            for fd in ready:
                self._read_stdin() if fd == 0 else self._read_child(fd)
            self._enforce_deadlines()

    def _next_wakeup(self) -> float:
        if not self.children:
            return 1.0
        soonest = min(c["deadline"] for c in self.children.values())
        return max(0.01, min(1.0, soonest - time.monotonic()))

    def _read_stdin(self) -> None:
        chunk = os.read(0, 1 << 16)
        if not chunk:
            self.stdin_open = False
            for record in self.children.values():
                _kill_group(record["pid"])
            return
        self.stdin_buffer += chunk
        while b"\n" in self.stdin_buffer:
            line, self.stdin_buffer = self.stdin_buffer.split(b"\n", 1)
            if line.strip():
                self._start(json.loads(line))

    def _start(self, request: Dict[str, Any]) -> None:
        job = request["job"]
        read_fd, write_fd = os.pipe()
        output = tempfile.TemporaryFile()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            _child_main(job, write_fd, output.fileno(), close=[r for r in self.children] + [self.out_fd])
        os.close(write_fd)
        timeout = float(job.get("timeout") or 0) or 1e9
        grace = min(KILL_GRACE_S, max(1.0, timeout / 2))
        self.children[read_fd] = {"id": request["id"], "pid": pid, "start": time.monotonic(),
                                  "deadline": time.monotonic() + timeout + grace, "pending": b"",
                                  "output": output, "timed_out": False}

    def _read_child(self, fd: int) -> None:
        chunk = os.read(fd, 1 << 16)
        if chunk:
            self._forward_messages(self.children[fd], chunk)
            return
        record = self.children.pop(fd)
        os.close(fd)
        _, status = os.waitpid(record["pid"], 0)
        self._answer(record, status)

    def _forward_messages(self, record: Dict[str, Any], chunk: bytes) -> None:
        """Pass each complete message on at once: if this zygote dies, the parent still knows how far
        the model got."""
        record["pending"] += chunk
        *lines, record["pending"] = record["pending"].split(b"\n")
        for message in _parse_messages(b"\n".join(lines)):
            _write_all(self.out_fd, _json_line({"id": record["id"], "message": message}))

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for record in self.children.values():
            if not record["timed_out"] and now > record["deadline"]:
                record["timed_out"] = True
                _kill_group(record["pid"])

    def _answer(self, record: Dict[str, Any], status: int) -> None:
        self._forward_messages(record, b"\n")  # a last message without its newline
        exit_code = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
        answer = {"id": record["id"], "done": True, "exit": exit_code, "timed_out": record["timed_out"],
                  "output_tail": _tail(record["output"]) if exit_code != 0 else "",
                  "elapsed": round(time.monotonic() - record["start"], 3)}
        record["output"].close()
        _write_all(self.out_fd, _json_line(answer))


def _child_main(job: Dict[str, Any], result_fd: int, output_fd: int, close: List[int]) -> None:
    """In the forked child: isolate, run the job, exit without running the zygote's cleanup."""
    code = 0
    try:
        os.setpgid(0, 0)
        _die_with_parent()
        for fd in close:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output_fd, 1)  # the user's prints must not corrupt the protocol: kept for crash reports
        os.dup2(output_fd, 2)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        execute(job, lambda message: _write_all(result_fd, _json_line(message)))
    except BaseException as exc:  # noqa: BLE001 - report, never propagate into the zygote's loop
        try:
            _write_all(result_fd, _json_line({"type": "internal", "error": f"{type(exc).__name__}: {exc}"}))
        except OSError:
            pass
        code = 70
    finally:
        os._exit(code)


def _die_with_parent() -> None:
    """Linux only: a child whose zygote was killed is killed too, instead of running on as an orphan."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _kill_group(pid: int) -> None:
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
            return
        except (ProcessLookupError, PermissionError):
            continue


def _parse_messages(data: bytes) -> List[Dict[str, Any]]:
    messages = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue  # a message cut short by a kill
    return messages


def _tail(handle: Any) -> str:
    try:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        handle.seek(max(0, size - _OUTPUT_TAIL))
        return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


# ---------------------------------------------------------------------------------------------- entry points
def _protocol_fd() -> int:
    """Keep the real stdout for the protocol; anything else printing to fd 1 goes to stderr."""
    out_fd = os.dup(1)
    os.dup2(2, 1)
    return out_fd


def serve() -> int:
    out_fd = _protocol_fd()
    # Ctrl-C reaches the whole foreground process group: the parent decides (it closes our stdin, we
    # kill the children and exit); children restore the default handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        info = preload()
    except BaseException as exc:  # noqa: BLE001 - e.g. torch not installed: tell the parent, once
        _write_all(out_fd, _json_line({"ready": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    _write_all(out_fd, _json_line({"ready": True, **info}))
    Zygote(out_fd).serve()
    os._exit(0)  # skip tearing down ~2,400 modules (about a second): nothing is left to flush


def run_one() -> int:
    out_fd = _protocol_fd()
    job = json.loads(sys.stdin.readline())
    try:
        execute(job, lambda message: _write_all(out_fd, _json_line(message)))
    except BaseException as exc:  # noqa: BLE001
        _write_all(out_fd, _json_line({"type": "internal", "error": f"{type(exc).__name__}: {exc}"}))
        return 70
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve()
    if argv[:1] == ["run"]:
        return run_one()
    print("usage: python -m fxlint.verify.worker serve|run", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
