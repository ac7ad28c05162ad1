"""Runs README.md's Python blocks for tests/test_readme.py without an interpreter start-up each.

`python tests/readme_python.py MODULE...` imports the modules (numpy, scipy, ufo's layers: what
the blocks import, a second or more per start on two cores) once, then reads one JSON request a
line on stdin and forks a child per request. The child is a fresh program as far as the block
can tell: its own session, working folder, environment, stdin from /dev/null, stdout and stderr
into a file, empty globals named __main__, the folder first on sys.path (as `python -c` has the
working folder), and a normal interpreter exit (atexit, non-daemon threads joined). The block runs
with top-level await, as IPython, Jupyter and `python -m asyncio` run it, and every top-level
expression statement's value is kept, as an interactive session shows it. After the block the
request's expressions are evaluated in its globals; their values and the shown ones are pickled
for the test to check.

Replies, one JSON line each: {"ready": true} once the imports are done, {"id", "pid"} after a
fork, {"id", "rc"} when that child has ended. End of stdin ends the runner.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import importlib
import json
import os
import pickle
import select
import sys
import traceback
from typing import Any

SHOWN = "_readme_shown_"


def say(**message: Any) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def shown_values(tree: ast.Module) -> ast.Module:
    """Each top-level expression statement `x` becomes `_readme_shown_.append(x)`: its value kept."""
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.Expr):
            call = ast.Call(ast.Attribute(ast.Name(SHOWN, ast.Load()), "append", ast.Load()), [node.value], [])
            tree.body[i] = ast.copy_location(ast.Expr(call), node)
    return ast.fix_missing_locations(tree)


def picklable(value: Any) -> Any:
    try:
        pickle.dumps(value)
        return value
    except Exception:
        return repr(value)


def child(request: dict[str, Any]) -> int:
    """Run one block as a fresh program would; returns its exit status."""
    os.setsid()
    out = os.open(request["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)
    sys.stdout.reconfigure(line_buffering=True)
    sys.stderr.reconfigure(line_buffering=True)
    os.chdir(request["folder"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = request["folder"]
    sys.argv = [request["script"]]
    shown: list[Any] = []
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins, SHOWN: shown}
    try:
        with open(request["script"]) as f:
            tree = shown_values(ast.parse(f.read(), request["id"]))
        result = eval(compile(tree, request["id"], "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT), namespace)
        if asyncio.iscoroutine(result):
            asyncio.run(result)
        values = {expr: picklable(eval(expr, namespace)) for expr in request["exprs"]}
        values["shown"] = [picklable(v) for v in shown if v is not None]
        with open(request["values"], "wb") as f:
            pickle.dump(values, f)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def main() -> None:
    for name in sys.argv[1:]:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # an optional extra not installed: the block that needs it says so itself
    say(ready=True)
    running: dict[int, str] = {}
    pending = b""
    while True:
        readable, _, _ = select.select([0], [], [], 0.05)
        if readable:
            chunk = os.read(0, 1 << 16)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    sys.exit(child(request))  # leaves main(): the child ends as an interpreter does
                running[pid] = request["id"]
                say(id=request["id"], pid=pid)
        while running:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            say(id=running.pop(pid), rc=os.waitstatus_to_exitcode(status))


if __name__ == "__main__":
    main()
