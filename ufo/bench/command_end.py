"""Where a whole `ufo reco` command's end goes: `main()`, the non-daemon threads it leaves, the exit
handlers, and (by the wall time around it) the process's teardown after them.

Why: the command's wall time ran 0.2-0.3 s past the moment its reconstruction ended (a lent H200 VM,
1024^3, 2026-12-04). `ufo.cli.main.entry` ends with a quick exit (`os._exit` once every output is
closed) unless a non-daemon thread still runs; this runs the same steps, timing each, so that what
is left of the wall time is the interpreter's start and the kernel's and the CUDA driver's
teardown of the process.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import NoReturn


def run_timed(args: Sequence[str], start: Callable[[list[str]], None], main: Callable[[], None]) -> NoReturn:
    """`ufo reco ARGS` as `entry()` runs it (`start` and `main`: ufo.cli.main's `_start_reco` and
    `main`, given by the script: the CLI is a layer above this one), with 'probe:' lines on stderr:
    main()'s seconds and exit status, the non-daemon threads still alive (any one means no quick
    exit), the exit handlers' seconds; then the process ends as entry() ends it."""
    t0 = time.perf_counter()
    sys.argv = ["ufo", "reco", *args]
    start(list(args))
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    t1 = time.perf_counter()
    alive = [t.name for t in threading.enumerate()
             if t.is_alive() and not t.daemon and t is not threading.main_thread()]
    print(f"probe: main() {t1 - t0:.3f} s, exit status {code}, non-daemon threads alive: {alive}", file=sys.stderr)
    atexit._run_exitfuncs()
    print(f"probe: exit handlers {time.perf_counter() - t1:.3f} s", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
