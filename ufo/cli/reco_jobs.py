"""A job of the warm reconstruction server (`ufo.cli.reco_server`): its client's request, the
command run in this process with the client's folder, variables and streams, and whether its
client is still there."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from .reco_client import PING_LOST, process_start, without_flag


@dataclass
class Job:
    """One client's `ufo reco` command line and its state on the server."""
    identity: bytes
    request: dict[str, Any]
    number: int
    pinged: float = field(default_factory=time.monotonic)
    cancelled: bool = False


class Output(io.TextIOBase):
    """stdout or stderr of a job: text sent to its client, a terminal when the client's is one (so
    rich draws the live progress bar there)."""

    def __init__(self, send: Any, kind: bytes, tty: bool):
        self._send, self._kind, self._tty = send, kind, tty

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as a text stream: click tells text from binary streams this way
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self._send(self._kind, text.encode("utf-8", "replace"))
        return len(text)

    def isatty(self) -> bool:
        return self._tty


def client_gone(job: Job, starting: bool = False) -> bool:
    """Whether the job's client has sent no ping for PING_LOST s and its process is gone: a client
    stopped (Ctrl-Z) or starved of CPU for a few seconds had its job cancelled, and said
    "interrupted". Its process is the pid it sent, started when it said (a pid reused since is
    another process); a zombie (killed, not yet reaped) is gone. Without /proc: the ping alone.
    `starting` (its turn has come): the process is looked at whatever the ping: a client killed
    within the ping's window before its turn had its job started, and stopped 1.5 s later."""
    silent = time.monotonic() - job.pinged > PING_LOST
    if not (silent or starting and os.path.isdir("/proc")):
        return False
    pid, started = job.request.get("pid"), job.request.get("started")
    if not isinstance(pid, int) or pid <= 0 or not isinstance(started, int):
        return silent
    if process_start(pid) != started:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] in ("Z", "X")
    except OSError:
        return True


@contextlib.contextmanager
def job_context(request: dict[str, Any], send: Any) -> Iterator[None]:
    """The client's working folder, umask, UFO_* and terminal variables, and stdout/stderr for one
    job, and its own warnings (each said once a job: the warm-up's "no GPU found" hid it from every
    job); everything restored after it."""
    import warnings

    from .main import _one_line_warnings

    cwd, env, streams, shown = os.getcwd(), dict(os.environ), (sys.stdout, sys.stderr), warnings.showwarning
    tty = list(request.get("tty") or [False, False]) + [False, False]
    mask = request.get("umask")
    mask = os.umask(mask) if isinstance(mask, int) and 0 <= mask <= 0o777 else None
    from ..tomo.timing import COMMAND_STARTED

    age = request.get("age")
    started = COMMAND_STARTED.set(time.perf_counter() - (age if isinstance(age, (int, float)) and age >= 0 else 0.0))
    try:
        warnings.onceregistry.clear()
        _one_line_warnings()
        os.chdir(request["cwd"])
        for name in [k for k in os.environ if k.startswith("UFO_")]:
            del os.environ[name]
        os.environ.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
        sys.stdout, sys.stderr = Output(send, b"out", bool(tty[0])), Output(send, b"err", bool(tty[1]))
        yield
    finally:
        COMMAND_STARTED.reset(started)
        sys.stdout, sys.stderr = streams
        warnings.showwarning = shown
        if mask is not None:
            os.umask(mask)
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)


def run_command(request: dict[str, Any], send: Any) -> int:
    """`ufo reco ARGV` in this process, as the command runs it; its exit status."""
    from .main import cli

    argv = without_flag([str(a) for a in request["argv"]])  # a job sent on by this server would wait for itself
    if "--serve" in argv:
        send(b"err", b"error: --serve starts a server; a job cannot (drop --serve or --on-server)\n")
        return 2
    if not os.path.isdir(request["cwd"]):
        send(b"err", f"error: the reconstruction server cannot work in {request['cwd']}: no such folder here "
             "(a server sees this machine's files only)\n".encode())
        return 1
    try:
        with job_context(request, send):
            cli.main(args=["reco", *argv], prog_name="ufo", standalone_mode=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Exception:  # noqa: BLE001 - what the command would end with (a bug): its traceback to the client,
        import traceback  # and the server takes the next job

        send(b"err", traceback.format_exc().encode("utf-8", "replace"))
        return 1
    return 0
