"""Entry point of the `ufo` command.

The subcommands are imported only when one runs (`COMMANDS`): `ufo reco` needs numba and
scipy, `ufo session` pint, and a user who types `ufo --help` or `ufo run ...` should not wait
for them (issue 22: start-up under 0.3 s). `ufo --help` lists the commands from the short help
stored here, which tests/test_startup.py keeps equal to each command's own docstring.
"""

from __future__ import annotations

import importlib
import signal
from typing import Any

import click

from .. import __version__
from .errors import (INTERRUPTED, TERMINATED, install_interrupt_handler, interrupted, reset_interrupts,
                     stop_after_interrupt, terminated)

EXAMPLES = """
\b
Examples:
  ufo demo
  ufo tasks
  ufo run "dummy-data shape=256,256 number=100 init=random ! calculate expression='x*2' ! write path=out/frame-%05i.tif"
  ufo reco --projections scan/proj --darks scan/darks --flats scan/flats --axis auto
  ufo bench --only runtime,reco
  ufo tango walker --port 10003 --root /data/scan
  ufo run --help
"""


# name -> (module:attribute of the click command, its short help as `ufo --help` shows it)
COMMANDS: dict[str, tuple[str, str]] = {
    "bench": ("ufo.cli.bench:bench", "Run the benchmark suite and print one table of ratios against the peers "
              "(`ufo bench stream`: a scan at camera rate into storage and online reconstruction)."),
    "camera": ("ufo.cli.camera:camera", "Cameras: list plugins, show properties, grab frames, measure, serve over "
               "the network."),
    "demo": ("ufo.cli.demo:demo", "Run a simulated online-tomography experiment end to end."),
    "gui": ("ufo.cli.gui:gui", "Set up a reconstruction, find the axis, run it and look at the slices, in a browser."),
    "reco": ("ufo.cli.reco:reco", "Reconstruct slices by filtered back-projection or direct Fourier inversion "
             "(parallel beam)."),
    "run": ("ufo.cli.run:run", "Run a pipeline: TASK key=value ..."),
    "session": ("ufo.cli.session:session", "Create, edit and start beamline sessions."),
    "tango": ("ufo.cli.tango:tango", "Serve a camera, a motor, a walker or an online reconstruction over Tango."),
    "tasks": ("ufo.cli.tasks:tasks", "List tasks, or show one task's kind, inputs and properties."),
}


def load_command(name: str) -> click.Command:
    """Import the module of subcommand `name` and return its click command."""
    module, attribute = COMMANDS[name][0].split(":")
    command = getattr(importlib.import_module(module), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{COMMANDS[name][0]} is not a click command")
    return command


class UfoGroup(click.Group):
    """The `ufo` group: subcommands imported on first use, and Ctrl-C in any command ends the
    same way, once, here.

    Click would turn KeyboardInterrupt into "Aborted!" and exit 1, and a command that catches
    it itself (a server's serve-forever loop) would exit 0. Instead: every graph still running
    is cancelled and its files are closed, then the command exits 130 (128 + SIGINT).
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            self.add_command(load_command(cmd_name), cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of `ufo --help` from the stored short help, importing no command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.commands:
                command = self.commands[name]
                if command.hidden:
                    continue
                text = command.get_short_help_str(limit)
            else:
                text = click.Command(name, help=COMMANDS[name][1]).get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> object:
        reset_interrupts()
        try:
            result = super().invoke(ctx)
        except KeyboardInterrupt as err:
            _stop("terminated (SIGTERM); stopped" if terminated() else "interrupted; stopped")
            raise click.exceptions.Exit(INTERRUPTED) from err
        except SystemExit as exc:
            if exc.code == INTERRUPTED or not interrupted():
                raise
            _stop()
            raise click.exceptions.Exit(INTERRUPTED) from exc
        except click.exceptions.Exit as exc:
            if exc.exit_code == INTERRUPTED or not interrupted():
                raise
            _stop()
            raise click.exceptions.Exit(INTERRUPTED) from exc
        except BaseException as err:
            if not interrupted():
                raise
            _stop()
            raise click.exceptions.Exit(INTERRUPTED) from err
        if interrupted():  # the command caught the KeyboardInterrupt and returned
            _stop()
            raise click.exceptions.Exit(INTERRUPTED)
        return result


def _stop(message: str | None = None) -> None:
    stop_after_interrupt()
    if message:
        from .errors import err_console

        err_console.print(f"[yellow]{message}[/]")


@click.group(cls=UfoGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ufo")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """ufo: stream processing and control for X-ray imaging beamlines."""



def _one_line_warnings() -> None:
    """Warnings as a command shows them: 'warning: text' on stderr, not a source file, line and code
    (python -W, PYTHONWARNINGS and --debug's tracebacks still choose what is shown), each text once
    per command: the warnings module's own 'once' registry is forgotten whenever a library changes
    the filters (SciPy and numba do at import), so a run of two graphs said "no GPU found" twice."""
    import sys
    import warnings

    shown: set[str] = set()

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int,
             file: Any = None, line: str | None = None) -> None:
        text = f"warning: {message}"
        if text not in shown:
            shown.add(text)
            print(text, file=file or sys.stderr)

    warnings.showwarning = show
    from ..core.tell import RunWarning

    # a run's warnings come to a script as RunWarning; the commands print RunHandle.warnings themselves
    warnings.filterwarnings("ignore", category=RunWarning)


def _quiet_blas_threads() -> None:
    """Let OpenBLAS's idle threads sleep at once (unless the user chose otherwise).

    numpy's OpenBLAS starts one thread per core at import, and each spins ~0.1 s waiting for work
    (OPENBLAS_THREAD_TIMEOUT 2^28 cycles) that a pipeline's tasks rarely give it: ~45 ms of CPU taken
    from a start-up budget of 0.3 s on a 2-core machine (issue 22), and from the task threads later.
    The threads stay, so BLAS calls still run on every core; set in the command's own process
    before numpy is imported, which is the only time OpenBLAS reads it."""
    import os

    os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")


def main() -> None:
    _quiet_blas_threads()
    install_interrupt_handler()
    _one_line_warnings()
    try:
        cli(prog_name="ufo")
    except SystemExit as exc:
        if exc.code == INTERRUPTED or interrupted():
            # the work is stopped and the files are closed: one more Ctrl-C while the interpreter winds
            # down (Python restores the default handler then) must not turn exit 130 into death by SIGINT
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if terminated():
                raise SystemExit(TERMINATED) from None
        raise


def _start_reco(argv: list[str]) -> None:
    """Before `ufo reco`'s imports: CUDA's start in a thread (ufo/gpu/warmup.py) and the inputs
    read into the page cache by a child process (ufo/storage/prefetch.py), both overlapping the
    imports and planning; the child is ended when the command ends, however it ends.
    UFO_PREFETCH=0 leaves the inputs to the reader (a storage shared with others, a benchmark)."""
    import atexit
    import os

    from ..gpu.warmup import start

    start(argv)
    if any(a in ("--help", "-h", "--dry-run") for a in argv) or os.environ.get("UFO_PREFETCH", "1") == "0":
        return
    from ..storage import prefetch

    if not prefetch.worth_reading(argv):  # a preview of one slice, a narrow --region
        return
    child = prefetch.start(prefetch.inputs_asked(argv))
    if child is not None:
        atexit.register(child.stop)


def entry() -> None:
    """The `ufo` command (console script and `python -m ufo`, through ufo.cli.launch, which sends
    `ufo reco --on-server` to the server first): main(), then a quick exit.

    Why: after a large run the interpreter's own shutdown (freeing gigabytes of arrays one object
    at a time, tearing down modules, CuPy's memory pools and CUDA context) took seconds that a
    finished command does not need: every output is closed by then (a failed write has already
    failed the command). So when main() has succeeded and no other non-daemon thread runs, the
    atexit handlers run (logging's flush among them), stdout and stderr are flushed and the
    process ends with status 0. Failures and Ctrl-C take the full shutdown. In-process callers
    (tests, scripts) call main() and keep the interpreter."""
    import os
    import sys
    import threading

    if sys.argv[1:2] == ["reco"]:
        _start_reco(sys.argv[2:])
    try:
        main()
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    if code not in (0, None) or any(t.is_alive() and not t.daemon for t in threading.enumerate()
                                    if t is not threading.main_thread()):
        # a failure, Ctrl-C or a thread that must finish: the interpreter's full shutdown, which
        # also runs the C libraries' exit handlers (HDF5 closing a file some error path left open)
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:  # None: started with that descriptor closed (`ufo tasks >&-`)
                stream.flush()
        except (OSError, ValueError):  # a closed pipe (ufo ... | head): nothing more can be said
            pass
    os._exit(0)


if __name__ == "__main__":
    entry()
