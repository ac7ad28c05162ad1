"""`ufo session`: beamline sessions (Python files with top-level await), as Concert has them."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
from typing import Any

import click

from ..control import session as sessions
from ..core.errors import UsageError
from .errors import default_sigint, handle_errors

EXAMPLES = """
\b
Examples:
  ufo session init tomo           create ~/.local/share/ufo/sessions/tomo.py (UFO_SESSIONS moves the folder)
  ufo session edit tomo           open it in $EDITOR
  ufo session start tomo          IPython with autoawait and the session's objects
  ufo session start tomo --non-interactive    run it as a script
  ufo session list | show tomo | log tomo | rm tomo
"""


@click.group(epilog=EXAMPLES)
def session() -> None:
    """Create, edit and start beamline sessions."""


@session.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Replace an existing session.")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def init(name: str, force: bool, debug: bool) -> None:
    """Create a session from the template."""
    path = sessions.path_of(name, must_exist=False)
    if path.exists() and not force:
        raise UsageError(f"session '{name}' exists ({path}); use --force to replace it")
    path.write_text(sessions.TEMPLATE.format(name=name))
    click.echo(path)


@session.command()
@click.argument("name")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def edit(name: str, debug: bool) -> None:
    """Open a session in $EDITOR."""
    path = sessions.path_of(name, must_exist=False)
    if not path.exists():
        path.write_text(sessions.TEMPLATE.format(name=name))
    subprocess.call([os.environ.get("EDITOR", "vi"), str(path)])


@session.command("list")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def list_(debug: bool) -> None:
    """Sessions in the sessions folder."""
    for name in sessions.names():
        click.echo(name)


@session.command()
@click.argument("name")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def show(name: str, debug: bool) -> None:
    """Print a session's code."""
    click.echo(sessions.path_of(name).read_text())


@session.command()
@click.argument("name")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def rm(name: str, debug: bool) -> None:
    """Delete a session (its log stays)."""
    sessions.path_of(name).unlink()


@session.command()
@click.argument("name")
@click.option("--debug", is_flag=True, hidden=True)
@handle_errors
def log(name: str, debug: bool) -> None:
    """Print a session's log (every parameter set, experiment and error)."""
    path = sessions.log_path(name)
    if not path.exists():
        sessions.path_of(name)  # no such session: exit 2 as show, rm and start say
    click.echo(path.read_text() if path.exists() else f"no log yet for '{name}'")


@session.command()
@click.argument("name")
@click.option("--non-interactive", is_flag=True, help="Run the session as a script and exit.")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def start(name: str, non_interactive: bool, debug: bool) -> None:
    """Run a session: IPython with its objects, or a script with --non-interactive.

    Ctrl-C during an experiment: at the IPython prompt it pauses the experiment and asks
    whether to resume or abort; in a script it aborts (devices stopped, files closed, exit 130)."""
    path = sessions.path_of(name)
    handler = logging.FileHandler(sessions.log_path(name))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ufo")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    shown = logging.StreamHandler()  # warnings reach the terminal too (a stale lock taken over went to the log only)
    shown.setLevel(logging.WARNING)
    shown.setFormatter(logging.Formatter("warning: %(message)s"))
    logger.addHandler(shown)
    if non_interactive:
        try:
            with default_sigint():  # Ctrl-C cancels the session's task: devices stopped, files closed
                asyncio.run(sessions.run_file(path))
        except KeyboardInterrupt as err:
            click.echo("interrupted", err=True)
            raise SystemExit(130) from err
        return
    try:
        from IPython import start_ipython
    except ImportError as err:
        raise UsageError("interactive sessions need IPython: pip install 'ufo[session]' (or use --non-interactive)") from err
    sessions.compile_file(path)  # a file that is not Python: one clear error here, not inside IPython
    from ..control.interrupts import ASK

    ASK.set(True)  # at the prompt, Ctrl-C pauses a running experiment and asks: resume or abort
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # IPython would take SIGTERM's KeyboardInterrupt for a Ctrl-C
    errors = "" if debug else "\n__import__('ufo.cli.session', fromlist=['x']).one_line_errors(get_ipython())"
    start_ipython(argv=["--no-banner", "-i", "-c", f"%autoawait asyncio{errors}\n_session = await __import__("
                        f"'ufo.control.session', fromlist=['run_file']).run_file(__import__('pathlib').Path("
                        f"{str(path)!r}), globals())"])


def one_line_errors(shell: Any) -> None:
    """At a session's prompt, ufo errors (an aborted scan, a limit, a unit) print as the command
    prints them: one line that says what and how to fix it, not a traceback."""
    from ..core.errors import UfoError

    def show(self: Any, etype: type, value: BaseException, tb: Any, tb_offset: Any = None) -> list[str]:
        click.echo(f"error: {value}\n(ufo session start NAME --debug shows the full traceback)", err=True)
        return []

    shell.set_custom_exc((UfoError,), show)
