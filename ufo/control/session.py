"""Sessions: a Python file with top-level await that sets up a beamline; run or explored in IPython."""

from __future__ import annotations

import ast
import asyncio
import os
from pathlib import Path
from typing import Any

from ..core.errors import UsageError

TEMPLATE = '''"""Session {name}: devices and experiments of this beamline."""
from ufo.control import q, SimulatedBeamline, Tomography, ImageWriter, OnlineReconstruction
from ufo.storage.walker import walker

beamline = await SimulatedBeamline(width=256, height=32).connect()
'''


def folder() -> Path:
    path = Path(os.environ.get("UFO_SESSIONS", Path.home() / ".local" / "share" / "ufo" / "sessions"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def path_of(name: str, must_exist: bool = True) -> Path:
    if not name.replace("-", "").replace("_", "").isalnum():
        raise UsageError(f"session names use letters, digits, - and _, got '{name}'")
    path = folder() / f"{name}.py"
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
    result = eval(code, namespace)  # noqa: S307 - the user's own session file, as Concert runs it
    if asyncio.iscoroutine(result):
        await result
    return namespace
