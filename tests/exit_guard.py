"""Guards so that a finished test session always ends, and says what would have held it.

A session that printed its summary can still hang: a worker thread blocked for ever that the
interpreter joins at exit, a pool thread that `concurrent.futures` joins, or a child process
that outlived its test and keeps CI's output pipe open. CI then waits until its own limit and
shows nothing. Here, after the session:

* child processes started by the tests (found by the marker in their environment, even when
  re-parented) are named on stderr and killed;
* if the interpreter has not exited `EXIT_GRACE_S` later, every thread's stack is printed and
  the process exits with the session's own status (a hang at exit is reported, never waited
  out); a C-level `faulthandler` timer is the last resort if Python threads no longer run.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import signal
import sys
import threading
import time

MARK = "UFO_TEST_SESSION"
EXIT_GRACE_S = 120.0


def mark_environment() -> None:
    """Children started from here inherit the marker (subprocess copies os.environ)."""
    os.environ[MARK] = str(os.getpid())


def stray_processes() -> list[tuple[int, str]]:
    """(pid, command line) of live processes carrying this session's marker, except this one."""
    marker = f"{MARK}={os.getpid()}".encode()
    found = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            with open(f"/proc/{entry}/environ", "rb") as env:
                if marker not in env.read().split(b"\0"):
                    continue
            with open(f"/proc/{entry}/cmdline", "rb") as cmd:
                found.append((int(entry), cmd.read().replace(b"\0", b" ").decode(errors="replace").strip()))
    return found


#: the session's own helpers, not strays: multiprocessing's resource tracker (started by spawned
#: benchmark workers) lives as long as this process and ends at the end of its pipe when it exits
HELPERS = ("multiprocessing.resource_tracker",)


def kill_strays(only: set[int] | None = None) -> None:
    for pid, command in stray_processes():
        if only is not None and pid not in only or any(helper in command for helper in HELPERS):
            continue
        print(f"\nufo tests: process {pid} outlived its test and is killed: {command[:200]}", file=sys.__stderr__)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def exit_watchdog(status: int) -> None:
    """Leave the process after EXIT_GRACE_S even if something blocks the interpreter's exit."""
    def watch() -> None:
        time.sleep(EXIT_GRACE_S)
        err = sys.__stderr__
        alive = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
        print(f"\nufo tests: the interpreter did not exit {EXIT_GRACE_S:g} s after the session; "
              f"threads still alive: {alive}; their stacks:", file=err, flush=True)
        faulthandler.dump_traceback(file=err, all_threads=True)
        err.flush()
        os._exit(status)

    threading.Thread(target=watch, name="exit-watchdog", daemon=True).start()
    faulthandler.dump_traceback_later(EXIT_GRACE_S + 30, exit=True, file=sys.__stderr__)
