"""The `ufo` command's first step: `ufo reco --on-server ...` is sent to the warm server before
click, rich, NumPy or any task is imported.

Why: that client's whole work is to send the command line and print what comes back, and the
command's floor is about a second (a 1024^3 scan, file to file on the H200 host); every module
the client imports is read from the disk when the page cache is cold (click alone is a dozen
files). Everything else goes on to ufo.cli.main.
"""

from __future__ import annotations

import sys


def forward_on_server() -> None:
    """Where the command is `ufo reco ... --on-server ...` (not asking for help): send it to the
    server and exit with its status; where no server runs, drop the flag and return (the command
    then runs in this process, after the client's warning)."""
    argv = sys.argv
    if argv[1:2] != ["reco"] or "--on-server" not in argv[2:] or {"-h", "--help"} & set(argv):
        return
    from .reco_client import INTERRUPTED, forward, without_flag

    try:
        code = forward(argv[2:])
    except KeyboardInterrupt:  # before the job was sent: nothing runs
        code = INTERRUPTED
    if code is not None:
        sys.exit(code)
    argv[2:] = without_flag(argv[2:])


def early_sigterm() -> None:
    """SIGTERM ends the command with 143 from here on, until ufo.cli.errors installs its own handler
    (during the imports it died of the signal: status -15)."""
    import signal

    from .exit_status import exit_terminated

    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, exit_terminated)


def entry() -> None:
    """The console script and `python -m ufo`."""
    early_sigterm()
    forward_on_server()
    from .main import entry as main_entry

    main_entry()
