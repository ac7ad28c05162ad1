"""Running README.md's blocks for tests/test_readme.py, several at once.

Command blocks run as the user runs them: `bash -e -o pipefail` on the block, in its own
session, with the servers of a "servers for the next block" mark started first (each awaited on
its --port) and stopped after (Ctrl-C, then kill). Python blocks run in a child forked from
tests/readme_python.py, which has imported the heavy modules once. Every block has its own
folder, so blocks do not share outputs; the README gives distinct ports to its servers, so
blocks can run at the same time: most of a block's time is start-up, waiting on servers and
camera clocks, which overlap well on two cores.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .readme_blocks import Block, env

PRELOAD = ["numpy", "scipy.fft", "h5py", "tifffile", "ufo", "ufo.reco", "ufo.control", "ufo.control.remote",
           "ufo.tango.client", "ufo.camera", "ufo.storage.walker", "ufo.kernels.jit", "ufo.tasks.jit"]


@dataclass
class Result:
    """What a block did: exit status, what it printed, what its servers printed, the folder it
    wrote into and (Python) the values of the check's expressions and of its expression statements."""
    block: Block
    folder: Path
    rc: int
    output: str
    servers: str = ""
    values: dict[str, Any] = field(default_factory=dict)

    def why(self) -> str:
        return f"{self.block.id} exited {self.rc}:\n{self.block.text}\n{self.output[-4000:]}\n{self.servers[-2000:]}"


def _signal(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the process's session: what it started goes too
    except (ProcessLookupError, PermissionError):
        pass


def stop(procs: list[subprocess.Popen]) -> None:
    """Ctrl-C to all at once (servers take seconds to close), then wait; what is still there is killed."""
    for proc in procs:
        _signal(proc.pid, signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        _signal(proc.pid, signal.SIGKILL)
        proc.wait()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_servers(block: Block, folder: Path) -> list[subprocess.Popen]:
    """Each line of `block` in the background, all at once; returns once each listens on its --port."""
    started: list[tuple[str, int, subprocess.Popen]] = []
    for line in block.text.splitlines():
        command = line.split("#")[0].strip()
        if not command:
            continue
        words = shlex.split(command)
        assert "--port" in words, f"{block.id}: '{command}' names no --port, so the test cannot tell it is up"
        port = int(words[words.index("--port") + 1])
        assert not _port_open(port), f"{block.id}: port {port} is taken; the README's servers need it"
        log = open(folder / f"server-{port}.log", "w")
        started.append((command, port, subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=folder, env=env(),
                                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)))
        log.close()
    servers = [proc for _, _, proc in started]
    deadline = time.monotonic() + 60  # a start-up bound, not a timing claim
    for command, port, proc in started:
        while not _port_open(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(servers)
                raise AssertionError(f"{block.id}: '{command}' did not start:\n"
                                     f"{(folder / f'server-{port}.log').read_text()}")
            time.sleep(0.1)
    return servers


def run_bash(block: Block, folder: Path, timeout: float) -> tuple[int, str]:
    script = folder / f"block-{block.line}.sh"
    script.write_text(block.text)
    return run_command(["bash", "-e", "-o", "pipefail", str(script)], folder, env(), timeout)


def run_command(command: list[str], folder: Path, environment: dict[str, str], timeout: float) -> tuple[int, str]:
    proc = subprocess.Popen(command, cwd=folder, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out = f"(killed after {timeout} s)"
    finally:
        stop([proc])  # and whatever it left running in its session
    return proc.returncode, out


class PythonRunner:
    """tests/readme_python.py, started once: Python blocks forked from it (see there)."""

    def __init__(self) -> None:
        script = Path(__file__).with_name("readme_python.py")
        self.proc = subprocess.Popen([sys.executable, str(script), *PRELOAD], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, env=env(), text=True, start_new_session=True)
        self.ready = threading.Event()  # set once it has imported the modules: blocks wait for it, not the fixture
        self.lock = threading.Lock()
        self.pids: dict[str, Future[int]] = {}
        self.codes: dict[str, Future[int]] = {}
        self.reader = threading.Thread(target=self._read, name="readme-python", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self.lock:
                if "ready" in message:
                    self.ready.set()
                elif "pid" in message:
                    self.pids[message["id"]].set_result(message["pid"])
                else:
                    self.codes[message["id"]].set_result(message["rc"])

    def run(self, block: Block, folder: Path, exprs: list[str], timeout: float) -> tuple[int, str, dict[str, Any]]:
        script = folder / f"block-{block.line}.py"
        script.write_text(block.text)
        output, values = folder / "output.txt", folder / "values.pickle"
        request = {"id": block.id, "script": str(script), "folder": str(folder), "exprs": exprs,
                   "output": str(output), "values": str(values), "env": env()}
        assert self.ready.wait(timeout=120), "tests/readme_python.py did not start"
        with self.lock:
            self.pids[block.id], self.codes[block.id] = Future(), Future()
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        pid = self.pids[block.id].result(timeout=60)
        try:
            rc = self.codes[block.id].result(timeout=timeout)
        except TimeoutError:
            rc = -9
        _signal(pid, signal.SIGKILL)  # whatever the block left running in its session
        found = pickle.loads(values.read_bytes()) if values.exists() else {}
        return rc, output.read_text(), found

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            _signal(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def run_block(block: Block, folder: Path, servers: Block | None, python: PythonRunner, exprs: list[str],
              timeout: float = 120) -> Result:
    started = start_servers(servers, folder) if servers else []
    try:
        if block.lang == "python":
            rc, out, values = python.run(block, folder, exprs, timeout)
        else:
            (rc, out), values = run_bash(block, folder, timeout), {}
    finally:
        stop(started)
    logs = "\n".join(p.read_text() for p in sorted(folder.glob("server-*.log")))
    return Result(block, folder, rc, out, logs, values)


def run_all(jobs: list[tuple[str, Callable[[], Any]]], workers: int) -> tuple[dict[str, Future], ThreadPoolExecutor]:
    """Start every job, `workers` at a time, in the order given (the longest first keeps the end short)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="readme")
    return {name: pool.submit(job) for name, job in jobs}, pool
