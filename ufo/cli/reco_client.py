"""`ufo reco --on-server ...`: the command sent to a warm reconstruction server and watched here.

Why: a new `ufo reco` process spends 1-2 s before its first frame is reconstructed (the
interpreter, NumPy, h5py, CuPy's import, CUDA's context, the first kernels) and more when the
page cache was dropped, on a scan whose file-to-file floor is about a second. A server started
once (`ufo reco --serve`, ufo/cli/reco_server.py) keeps all of that warm; this client imports
only ZMQ, sends the command line, the working folder and the UFO_* and terminal variables, and
prints what the server's run of the command prints (its progress bar, table, warnings and
errors), then exits with the command's exit status.

Nothing is lost silently: Ctrl-C stops the job on the server (which closes the output, as the
command does) and exits 130; a server that ends during a job is reported (exit 1, the output
may be incomplete); a client that is killed stops its job, since the server hears no more pings
from it. Where no server runs, the command runs in this process after a warning.

The server's address, process id and a random token are in a file only this user can read
(`state_file()`): only this user's clients can send it work, and it listens on 127.0.0.1 only.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any

from .exit_status import INTERRUPTED, TERMINATED  # not from ufo.cli.errors: with it come click and the rest

#: seconds between the client's pings; the server stops a job whose client sent none for PING_LOST
PING = 0.25
PING_LOST = 3.0
#: seconds without any message (the server answers every ping, from a thread of its own, also
#: during a job) before the client gives up on a server whose process seems alive
SILENT = 10.0
#: the environment a job gets from its client (the rest is the server's)
FORWARDED = ("COLUMNS", "LINES", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR",
             "HOME")  # '~/scan.nx' in a quoted argument or a --config file: the client's home, not the server's


def state_file() -> str:
    """Where a running server records itself: UFO_RECO_SERVER_FILE, else in XDG_RUNTIME_DIR (a
    folder of this user's, cleared at logout) or ~/.cache/ufo."""
    given = os.environ.get("UFO_RECO_SERVER_FILE")
    if given:
        return os.path.abspath(given)
    folder = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(folder, "ufo", "reco-server.json")


def alive(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # PermissionError: another user's process, not our server
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):  # no /proc here: os.kill's answer
        return True


def read_state(path: str | None = None) -> dict[str, Any] | None:
    """The running server's record, or None when there is none (or its process has ended, or the
    record's pid is now another process's: the server's lock is not held)."""
    path = path or state_file()
    try:
        with open(path, encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not isinstance(state.get("pid"), int) or not alive(state["pid"]):
        return None
    if state.get("locked") and not _lock_held(path + ".lock"):  # a pid reused after the server was killed: a
        return None  # job sent there waited 10 s for nothing, and `--serve` said to kill that process
    return state


def hold_server_lock(path: str | None = None) -> int | None:
    """The server's lock (an exclusive flock on the record's `.lock` file, held for its life and
    dropped by the kernel when it ends), or None where another process holds it."""
    import fcntl

    lock = (path or state_file()) + ".lock"
    os.makedirs(os.path.dirname(lock), mode=0o700, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _lock_held(lock: str) -> bool:
    """Whether a process holds the server lock `lock` (a shared flock of ours would be refused)."""
    import fcntl

    try:
        fd = os.open(lock, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def process_start(pid: int) -> int | None:
    """When process `pid` started (clock ticks after boot, /proc's field 22), or None where it is not
    there (gone, or no /proc): with the pid it names one process, a pid reused after it does not."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rpartition(")")[2].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def job_request(argv: Sequence[str], token: str) -> dict[str, Any]:
    """What the server needs to run `ufo reco ARGV` as if started here."""
    import shutil

    size = shutil.get_terminal_size()
    env = {k: v for k, v in os.environ.items() if k.startswith("UFO_") or k in FORWARDED}
    env.setdefault("COLUMNS", str(size.columns))
    env.setdefault("LINES", str(size.lines))
    env.pop("UFO_RECO_SERVER_FILE", None)
    mask = os.umask(0o022)
    os.umask(mask)  # the server makes the files: with the client's umask (077 made them world-readable)
    from ..tomo.timing import process_age

    return {"token": token, "argv": list(argv), "cwd": os.getcwd(), "env": env, "pid": os.getpid(),
            "tty": [_isatty(sys.stdout), _isatty(sys.stderr)], "umask": mask,
            "age": process_age(),  # the client's seconds so far: --profile's timeline counts from its start
            "started": process_start(os.getpid())}  # the server tells this client from a later one of its pid


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def without_flag(argv: Sequence[str]) -> list[str]:
    return [a for a in argv if a != "--on-server"]


def forward(argv: Sequence[str]) -> int | None:
    """Run `ufo reco ARGV` on the server; its exit status, or None when no server runs (the caller
    then runs the command itself: the warning says so)."""
    argv = without_flag(argv)
    try:
        os.getcwd()
    except FileNotFoundError:  # the folder was removed under the shell: a traceback before
        _say("error: the current folder no longer exists (removed?): cd to a folder that exists; --on-server "
             "runs the job in the client's folder")
        return 2
    state = read_state()
    if state is None:
        _say(f"warning: no reconstruction server is running (none recorded in {state_file()}): start one with "
             "`ufo reco --serve`; reconstructing in this process")
        return None
    if state.get("ufo") != os.path.dirname(os.path.dirname(os.path.abspath(__file__))):
        _say(f"warning: the reconstruction server (pid {state['pid']}) runs ufo from {state.get('ufo')}, "
             "not this command's installation")
    import zmq

    from ..storage import prefetch

    # Ctrl-C is counted by a handler, never raised: an exception could land between sending the
    # job and watching it (in the prefetch child's start), leaving a job on the server that
    # nobody cancels and a client that says nothing. ZMQ's poll resumes after the handler runs.
    interrupts: list[float] = []
    terminated: list[int] = []  # SIGTERM (a batch system's stop) as Ctrl-C: the job stopped, then 143

    def on_term(signum: int, frame: Any) -> None:
        terminated.append(signum)
        interrupts.append(time.monotonic())

    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupts.append(time.monotonic()))
    previous_term = signal.signal(signal.SIGTERM, on_term)  # it killed the client at once, the job ran on
    context = zmq.Context()
    socket = context.socket(zmq.DEALER)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(state["address"])
    child = None
    try:
        if interrupts:  # before the job was sent: nothing runs
            return TERMINATED if terminated else INTERRUPTED
        socket.send_multipart([b"job", json.dumps(job_request(argv, state["token"])).encode()])
        # HDF5 inputs are read ahead by the server, which knows the passes' bands (prefetch_passes)
        if os.environ.get("UFO_PREFETCH", "1") != "0" and prefetch.worth_reading(argv) and \
                not prefetch.all_hdf5(prefetch.inputs_asked(argv)):
            child = prefetch.start(prefetch.inputs_asked(argv))
        code = _watch(socket, state, interrupts)
        return TERMINATED if terminated and code == INTERRUPTED else code
    finally:
        if child is not None:
            child.stop()
        socket.close(0)
        context.term()
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)


def _watch(socket: Any, state: dict[str, Any], interrupts: list[float]) -> int:
    """Print the job's output until its exit status comes; the first Ctrl-C (counted in
    `interrupts`) asks the server to stop the job, the second leaves at once."""
    import zmq

    pid = state["pid"]
    heard = sent = time.monotonic()
    cancelled = False
    while True:
        wait, began = int(PING * 1000), time.monotonic()
        # all that has come is printed before a Ctrl-C is acted on; a flood still lets pings out
        while time.monotonic() - began < PING and socket.poll(wait, zmq.POLLIN):
            wait = 0
            kind, payload = socket.recv_multipart()
            heard = time.monotonic()
            if kind == b"exit":
                return int(payload)
            if kind in (b"out", b"err"):
                stream = sys.stdout if kind == b"out" else sys.stderr
                stream.write(payload.decode("utf-8", "replace"))
                stream.flush()
            elif kind == b"note":
                _say(payload.decode("utf-8", "replace"))
        if len(interrupts) > 1:  # the second Ctrl-C: the server stops the job when the pings stop
            _say("interrupted again: leaving; the server stops the job within a few seconds")
            return INTERRUPTED
        if interrupts and not cancelled:
            cancelled = True
            socket.send_multipart([b"cancel", b""])
        now = time.monotonic()
        if now - sent >= PING:
            socket.send_multipart([b"ping", b""])
            sent = now
        if not alive(pid):
            _say(f"error: the reconstruction server (pid {pid}) ended during the job; the output may be "
                 "incomplete (its slices up to the last one written are readable)")
            return 1
        if now - heard > SILENT:
            _say(f"error: the reconstruction server (pid {pid}, {state['address']}) sent nothing for "
                 f"{SILENT:.0f} s; the job is given up here (the server stops it once it hears no pings)")
            return 1


def _say(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
