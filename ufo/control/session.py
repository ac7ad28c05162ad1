"""Sessions: a Python file with top-level await that sets up a beamline; run or explored in IPython.

Two sessions must not drive the same devices: `claim(...)` takes one lock file per device (or
beamline) name under the sessions folder, held with `flock` for as long as the returned
`SessionLock` lives. The kernel drops the lock when its process dies, so a lock left behind
by a crashed session is taken over (and said so), never a reason to edit files by hand.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import os
import socket
import time
import weakref
from pathlib import Path
from typing import Any

from ..core.errors import InputError, UfoError, UsageError
from .places import folder

LOG = logging.getLogger("ufo.control.session")

TEMPLATE = '''"""Session {name}: devices and experiments of this beamline."""
from ufo.control import q, SimulatedBeamline, Tomography, ImageWriter, OnlineReconstruction
from ufo.storage.walker import walker

from ufo.control.session import claim
from ufo.control.progress import visible

beamline = await SimulatedBeamline(width=256, height=32).connect()
guard = claim(beamline, session="{name}")  # a second session driving these devices is refused
# a progress bar per run, and a run id with sample, proposal and operator in the files:
# tomo = visible(Tomography(beamline, walker("scans"), metadata={{"sample": "...", "proposal": "...",
#                                                                 "operator": "..."}}))
'''


def path_of(name: str, must_exist: bool = True) -> Path:
    if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 200 or name.startswith("-"):
        # a leading '-' made a session that `show` and `rm` took for an option
        raise UsageError(f"session names use letters, digits, - and _ (200 at most, not '-' first), got '{name[:60]}'")
    path = folder() / f"{name}.py"
    if path.is_dir():
        raise UsageError(f"'{path}' is a folder, not a session file; rename it, or choose another session name")
    if must_exist and not path.exists():
        existing = ", ".join(sorted(p.stem for p in folder().glob("*.py"))) or "none"
        raise UsageError(f"no session '{name}' (existing: {existing}); create it with 'ufo session init {name}'")
    return path


def names() -> list[str]:
    return sorted(p.stem for p in folder().glob("*.py"))


def log_path(name: str) -> Path:
    return folder() / f"{name}.log"


def compile_file(path: Path) -> Any:
    """The code of a session file (top-level await allowed); UsageError naming file and line if it is not Python."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read session file '{path}': {exc}") from exc
    try:
        code = compile(text, str(path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as exc:  # IndentationError and TabError too
        where = f"{exc.filename or path}" + (f", line {exc.lineno}" if exc.lineno else "")
        where += f", column {exc.offset}" if exc.lineno and exc.offset else ""
        line = (exc.text or "").rstrip("\n")
        shown = f"\n    {line}\n    {' ' * max((exc.offset or 1) - 1, 0)}^" if line.strip() else ""
        raise UsageError(f"session file {where}: {exc.msg}{shown}") from exc
    except ValueError as exc:  # e.g. a NUL byte in the file
        raise UsageError(f"session file '{path}' cannot be compiled: {exc}") from exc
    return code


async def run_file(path: Path, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute a session file that may use top-level await; returns its namespace."""
    code = compile_file(path)  # before the namespace is touched: a broken file changes nothing
    namespace = namespace if namespace is not None else {"__name__": "__session__", "__file__": str(path)}
    try:
        result = eval(code, namespace)  # noqa: S307 - the user's own session file, as Concert runs it
        if asyncio.iscoroutine(result):
            await result
    except UfoError:
        raise
    except Exception as exc:  # the user's line, not a traceback through asyncio and ufo (or no place at all)
        lines = [tb.tb_lineno for tb in _frames(exc.__traceback__) if tb.tb_frame.f_code.co_filename == str(path)]
        where = f", line {lines[-1]}" if lines else ""
        raise InputError(f"session file '{path}'{where}: {type(exc).__name__}: {exc}") from exc
    show_experiments(namespace)
    return namespace


def _frames(tb: Any) -> list[Any]:
    found = []
    while tb is not None:
        found.append(tb)
        tb = tb.tb_next
    return found


def show_experiments(namespace: dict[str, Any]) -> None:
    """Give the session's experiments a progress bar and run ids (`ufo.control.progress.visible`),
    so that `await tomo.run()` typed in the session shows its progress."""
    from .experiment import Experiment
    from .progress import visible

    for value in list(namespace.values()):
        if isinstance(value, Experiment):
            visible(value)


class SessionBusyError(UsageError):
    """Another live session holds a device this session wants to drive."""


def lock_key(thing: Any) -> list[str]:
    """The lock names of `thing`: a name as given, a device by its remote address (Tango) or its
    name, a beamline (anything with `devices`) by each of its devices."""
    if isinstance(thing, str):
        return [thing]
    if hasattr(thing, "devices") and not hasattr(thing, "backend"):
        return [key for device in thing.devices for key in lock_key(device)]
    address = getattr(getattr(thing, "backend", None), "address", None)
    name = address or getattr(thing, "name", None)
    if not name:
        raise UsageError(f"claim takes device names, devices or beamlines, not {type(thing).__name__}")
    return [_one_spelling(str(name)) if address else str(name)]


def _one_spelling(address: str) -> str:
    """A Tango address spelled one way: device names are case-blind in Tango and 'localhost' is
    127.0.0.1 (a second session took the same walker as 'UFO/Walker' or through 'localhost')."""
    import re

    found = re.match(r"(?i)^(?:tango://)?([^/:]+):(\d+)/(.*)$", address)
    if found is None:
        return address.lower()
    host, port, rest = found.groups()
    host = "127.0.0.1" if host.lower() in ("localhost", "localhost.localdomain") else host.lower()  # no DNS asked
    return f"tango://{host}:{port}/{rest.lower()}"


def _lock_file(key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in key)
    path = folder() / "locks" / f"{safe}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _holder(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _release(files: dict[str, Any]) -> None:
    """Empty and unlock the lock files. They stay (removing one could let two sessions lock two
    files of one name); a crash leaves its holder in them, and the next session takes it over."""
    import fcntl

    for handle in files.values():
        try:
            handle.seek(0)
            handle.truncate()
            handle.flush()
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
    files.clear()


class SessionLock:
    """Locks held by this process for one session; `release()` (or the end of the process) frees them."""

    def __init__(self, session: str):
        self.session = session
        self.keys: list[str] = []
        self.taken_over: list[str] = []  # messages about stale locks of dead sessions this one took
        self._files: dict[str, Any] = {}
        weakref.finalize(self, _release, self._files)  # a session that ends without release() frees them too

    def acquire(self, key: str) -> None:
        import fcntl

        if key in self._files:
            return
        path = _lock_file(key)
        handle = open(path, "a+")  # noqa: SIM115 - kept open: the flock lives as long as the file
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = _holder(handle.read())
            handle.close()
            if holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
                return  # this process holds it through another SessionLock
            raise SessionBusyError(
                f"'{key}' is driven by session '{holder.get('session', '?')}' (pid {holder.get('pid', '?')} on "
                f"{holder.get('host', '?')}, since {holder.get('since', '?')}); end that session first "
                f"(lock file {path})") from None
        handle.seek(0)
        before = _holder(handle.read())
        if before.get("pid") and before.get("pid") != os.getpid():
            state = "no longer running" if not _alive(int(before["pid"])) else "which no longer holds it"
            message = (f"took over the stale lock of '{key}' from session '{before.get('session', '?')}' "
                       f"(pid {before['pid']}, {state})")
            self.taken_over.append(message)
            LOG.warning("%s", message)
        handle.seek(0)
        handle.truncate()
        json.dump({"session": self.session, "pid": os.getpid(), "host": socket.gethostname(),
                   "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}, handle)
        handle.flush()
        self._files[key] = handle
        self.keys.append(key)

    def release(self) -> None:
        """Free every lock (also done when this object goes away or the process exits normally)."""
        _release(self._files)
        self.keys.clear()

    def __enter__(self) -> SessionLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def claim(*things: Any, session: str | None = None) -> SessionLock:
    """Lock devices (names, devices, beamlines) for this session; raises SessionBusyError naming
    the session that drives one already (nothing stays locked then). Keep the returned lock
    referenced: it holds the locks until `release()` or the end of the process."""
    held = SessionLock(session or os.environ.get("UFO_SESSION", f"pid {os.getpid()}"))
    try:
        for key in [key for thing in things for key in lock_key(thing)]:
            held.acquire(key)
    except SessionBusyError:
        held.release()
        raise
    return held
