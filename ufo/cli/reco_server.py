"""`ufo reco --serve`: a warm reconstruction server that runs `ufo reco --on-server` jobs.

Why: at a beamline every scan is reconstructed by a new `ufo reco` process, which pays 1-2 s of
start (imports, CuPy, CUDA's context, the first kernels; more after the page cache was dropped)
on a job whose file-to-file floor is about a second. This process pays it once: it imports
everything, reconstructs a small phantom to load CUDA's libraries and kernels, and then runs
each job's command line in-process, one job at a time (the GPU is one resource), the next ones
waiting in order.

A job is exactly the command: the same options, checks, errors, progress bar, table, profile
and exit status (the command's own click code runs it, with the client's working folder, its
UFO_* variables, and stdout/stderr sent to the client, a terminal when the client's is one).
Ctrl-C at the client, or a client that stops pinging (killed), stops the job the way Ctrl-C
stops the command: the output is closed with the slices written so far, and the server takes
the next job. Ctrl-C at the server stops the running job, then the server (exit 130; SIGTERM,
as from a service manager: exit 0).

Security: it binds 127.0.0.1 only, on a free port, and takes jobs only with the random token of
its record file (`reco_client.state_file()`, readable by this user only).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import signal
import sys
import tempfile
import threading
import time
from typing import Any

import zmq

from ..core.resources import release_host_memory
from .errors import INTERRUPTED, _in_finalizer, _on_sigint, reset_interrupts
from .reco_client import hold_server_lock, read_state, state_file
from .reco_jobs import Job, client_gone, run_command

#: the phantom reconstructed at start: CUDA's libraries, the kernels and every import loaded
WARM_SIZE = 64


class Server:
    """The socket (served by a thread of its own: ZMQ sockets are not shared between threads) and
    the job queue (run by the main thread, which Ctrl-C interrupts)."""

    def __init__(self, address: str = "tcp://127.0.0.1", say: Any = None):
        self.token = secrets.token_hex(16)
        self.context = zmq.Context()
        self.socket = self.context.socket(zmq.ROUTER)
        self.socket.setsockopt(zmq.LINGER, 0)
        port = self.socket.bind_to_random_port(address)
        self.address = f"{address}:{port}"
        self.jobs: queue.Queue[Job] = queue.Queue()
        self.outbox: queue.SimpleQueue[tuple[bytes, bytes, bytes]] = queue.SimpleQueue()
        self._bell = os.pipe()  # rung by `_post`: the socket's thread sends at once instead of at its next poll
        for fd in self._bell:
            os.set_blocking(fd, False)
        self.waiting: dict[bytes, Job] = {}
        self.running: Job | None = None
        self.count = 0
        self.stopping = False
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._cancel_from_client = False
        self.terminated = False
        self.stopped_by = ""  # the signal that stopped the server (not a client's Ctrl-C)
        self._say = say or (lambda text: print(text, file=sys.__stderr__, flush=True))
        self.thread = threading.Thread(target=self._serve_socket, name="ufo:reco-server", daemon=True)

    def _post(self, message: tuple[bytes, bytes, bytes]) -> None:
        """A message for a client, from any thread (ZMQ sockets are not shared between threads)."""
        self.outbox.put(message)
        with contextlib.suppress(BlockingIOError, OSError):  # full: rung already; closed: the server ends
            os.write(self._bell[1], b"\0")

    # -- the socket's thread -----------------------------------------------------------------
    def _serve_socket(self) -> None:
        poller = zmq.Poller()
        poller.register(self.socket, zmq.POLLIN)
        poller.register(self._bell[0], zmq.POLLIN)
        try:
            while not self.closed.is_set():
                ready = dict(poller.poll(100))  # a message, the bell, or time to look at the pings
                if self.socket in ready:
                    self._receive(*self.socket.recv_multipart())
                if self._bell[0] in ready:
                    with contextlib.suppress(BlockingIOError):
                        while os.read(self._bell[0], 4096):
                            pass
                while True:
                    try:
                        self.socket.send_multipart(list(self.outbox.get_nowait()))
                    except queue.Empty:
                        break
                with self._lock:
                    job = self.running
                if job is not None and not job.cancelled and client_gone(job):
                    self._say(f"job {job.number}: its client (pid {job.request.get('pid')}) has gone: stopping it")
                    self._cancel(job)
        finally:
            self.socket.close(0)
            os.close(self._bell[0])  # a ring after this fails quietly (EPIPE)

    def _receive(self, identity: bytes, kind: bytes, payload: bytes = b"", *rest: bytes) -> None:
        if kind == b"job":
            self._accept(identity, payload)
            return
        with self._lock:
            job = self.running if self.running is not None and self.running.identity == identity else None
            queued = self.waiting.get(identity)
        if kind == b"ping":
            for known in (job, queued):
                if known is not None:
                    known.pinged = time.monotonic()
            self._post((identity, b"alive", b""))
        elif kind == b"cancel":
            if job is not None:
                self._cancel(job)
            elif queued is not None:
                queued.cancelled = True  # said: a queued client's Ctrl-C printed nothing after "waiting for ..."
                self._post((identity, b"note", b"interrupted before the job started: nothing was written"))
                self._post((identity, b"exit", str(INTERRUPTED).encode()))

    def _accept(self, identity: bytes, payload: bytes) -> None:
        try:
            request = json.loads(payload)
            valid = (isinstance(request, dict) and secrets.compare_digest(str(request.get("token")), self.token)
                     and isinstance(request.get("argv"), list) and isinstance(request.get("cwd"), str))
        except ValueError:
            valid = False
        if not valid:
            self._post((identity, b"err", b"error: the reconstruction server refused the job: not a job of this "
                             b"server's user (wrong token); see `ufo reco --serve`\n"))
            self._post((identity, b"exit", b"1"))
            return
        with self._lock:
            self.count += 1
            job = Job(identity, request, self.count)
            ahead = self.jobs.qsize() + (self.running is not None)
            self.waiting[identity] = job
        if ahead:
            self._say(f"job {job.number} waits behind {ahead} (client pid {request.get('pid')})")
            self._post((identity, b"note", f"waiting for {ahead} reconstruction(s) ahead of this one on the "
                             f"server (pid {os.getpid()})".encode()))
        self.jobs.put(job)

    def _cancel(self, job: Job) -> None:
        """Ctrl-C for the job's command: SIGINT to the main thread, which runs it (once per job)."""
        with self._lock:
            if job.cancelled or self.running is not job:
                return
            job.cancelled = True
            self._cancel_from_client = True
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)  # type: ignore[arg-type]

    # -- the main thread ---------------------------------------------------------------------
    def _on_sigint(self, signum: int, frame: Any) -> None:
        with self._lock:
            from_client, self._cancel_from_client = self._cancel_from_client, False
            running = self.running
        if not from_client:
            self.stopping = True
            self.stopped_by = signal.Signals(signum).name
        if running is None:
            if from_client:
                return
            if _in_finalizer(frame):  # raised there it was printed as a traceback and lost: sent again after
                threading.Timer(0.02, os.kill, (os.getpid(), signum)).start()
                return
            raise KeyboardInterrupt
        _on_sigint(signum, frame)  # the command's own Ctrl-C: stop, close the files, exit 130

    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self.terminated = True
        self._on_sigint(signum, frame)

    def serve(self) -> int:
        """Take jobs until Ctrl-C (exit 130) or SIGTERM (exit 0)."""
        signal.signal(signal.SIGINT, self._on_sigint)
        signal.signal(signal.SIGTERM, self._on_sigterm)
        self.thread.start()
        path = _record(self.address, self.token)
        self._say(f"ready: `ufo reco --on-server ...` runs here (pid {os.getpid()}, {self.address}, record {path}); "
                  "Ctrl-C stops the server")
        try:
            while not self.stopping:
                try:
                    job = self.jobs.get(timeout=0.2)
                except queue.Empty:
                    continue
                self._run(job)
        except KeyboardInterrupt:
            pass
        finally:
            self.closed.set()
            self.thread.join(2)  # the bell's write end stays open: a late ring must never hit a reused descriptor
            with contextlib.suppress(OSError):
                if (read_state(path) or {}).get("token") == self.token:
                    os.unlink(path)
            self.context.term()
            self._say("stopped")
        if self.terminated:  # a service manager's stop: 0, also when it stopped a job (the job's own
            reset_interrupts()  # interrupt made the command exit 130)
            return 0
        return INTERRUPTED

    def _run(self, job: Job) -> None:
        with self._lock:
            self.waiting.pop(job.identity, None)
            if job.cancelled:
                return
            if client_gone(job, starting=True):  # its client went while it waited
                self._say(f"job {job.number}: its client (pid {job.request.get('pid')}) has gone while it waited")
                return
            self.running = job
        request, started = job.request, time.perf_counter()
        self._say(f"job {job.number} (client pid {request.get('pid')}, in {request['cwd']}): "
                  f"ufo reco {' '.join(request['argv'])}")
        code: int = 1
        try:
            code = run_command(request, lambda kind, data: self._post((job.identity, kind, data)))
        except KeyboardInterrupt:  # the job's Ctrl-C arrived after its command had ended
            code = INTERRUPTED if job.cancelled else code
        finally:
            with self._lock:
                self.running = None
            if self.stopped_by and not job.cancelled and code != 0:  # not the client's Ctrl-C (130): the server's stop
                self._post((job.identity, b"err", f"error: the reconstruction server (pid {os.getpid()}) was "
                            f"stopped ({self.stopped_by}) during this job; the slices written so far are "
                            "complete\n".encode()))
                code = 1
            self._post((job.identity, b"exit", str(code).encode()))
        self._say(f"job {job.number}: exit {code} after {time.perf_counter() - started:.2f} s")
        _release_gpu_memory()
        release_host_memory()


def _record(address: str, token: str) -> str:
    """Write the server's record (address, pid, token), readable by this user only."""
    path = state_file()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    ufo_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    state = {"address": address, "pid": os.getpid(), "token": token, "ufo": ufo_dir, "python": sys.executable,
             "started": time.time(), "locked": True}  # its liveness: the lock (`hold_server_lock`), not the pid
    fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".reco-server-")
    with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp: mode 0600
        json.dump(state, f)
    os.replace(temporary, path)
    return path


def _release_gpu_memory() -> None:
    """Give the job's GPU memory back to the driver: the next job plans its passes from the free
    memory, and other programs on this GPU see it free while the server waits."""
    cupy = sys.modules.get("cupy")
    if cupy is None:
        return
    with contextlib.suppress(Exception):
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()


def warm_up(say: Any) -> None:
    """Reconstruct a small phantom scan on the path a job takes (GPU if there is one): the imports,
    CUDA's context, cuFFT and the kernels are loaded before the first job."""
    from ..bench.stream import render_scan

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ufo-serve-") as folder:
        scan = os.path.join(folder, "scan.nx")
        render_scan(scan, WARM_SIZE, WARM_SIZE, WARM_SIZE)
        request = {"argv": ["--projections", scan, "--output", os.path.join(folder, "slices.h5:/data"),
                            "--axis", "auto", "--output-bits", "16", "--quiet"],  # the search's and the
                   "cwd": folder, "env": {}}  # 16-bit conversion's kernels too
        code = run_command(request, lambda kind, data: None)
    _release_gpu_memory()
    say(f"warmed up in {time.perf_counter() - started:.2f} s" + ("" if code == 0 else f" (the warm-up failed: exit {code})"))


def serve() -> int:
    """`ufo reco --serve`: refuse a second server of this user's, warm up, take jobs."""
    held = hold_server_lock()  # one server a user: two started at once both ran, one unreachable for good
    state = read_state()
    if held is not None and state is not None and state.get("locked"):
        state = None  # a locked record while this process holds the lock: its server is gone (pid reused)
    if held is None or state is not None:
        from ..core.errors import UfoError

        if state is None:
            raise UfoError(f"a reconstruction server is starting or runs (its lock {state_file()}.lock is held): "
                           "stop it first (Ctrl-C in its terminal)")
        raise UfoError(f"a reconstruction server already runs (pid {state['pid']}, {state['address']}, "
                         f"record {state_file()}): stop it first (Ctrl-C in its terminal, or kill {state['pid']})")
    server = Server()
    warm_up(server._say)
    return server.serve()
