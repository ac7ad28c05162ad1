"""Entry point of the `ufo` command."""

from __future__ import annotations

import signal

import click

from .. import __version__
from .camera import camera
from .reco import reco
from .session import session
from .run import run
from .tasks import tasks
from .tango import tango
from .gui import gui
from .demo import demo
from .bench import bench
from .errors import (INTERRUPTED, err_console, install_interrupt_handler, interrupted, reset_interrupts,
                     stop_after_interrupt)

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


class UfoGroup(click.Group):
    """The `ufo` group: Ctrl-C in any command ends the same way, once, here.

    Click would turn KeyboardInterrupt into "Aborted!" and exit 1, and a command that catches
    it itself (a server's serve-forever loop) would exit 0. Instead: every graph still running
    is cancelled and its files are closed, then the command exits 130 (128 + SIGINT).
    """

    def invoke(self, ctx: click.Context) -> object:
        reset_interrupts()
        try:
            result = super().invoke(ctx)
        except KeyboardInterrupt as err:
            _stop("interrupted; stopped")
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
        err_console.print(f"[yellow]{message}[/]")


@click.group(cls=UfoGroup, epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ufo")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def cli(debug: bool) -> None:
    """ufo: stream processing and control for X-ray imaging beamlines."""


cli.add_command(run)
cli.add_command(tasks)
cli.add_command(reco)
cli.add_command(camera)
cli.add_command(session)
cli.add_command(tango)
cli.add_command(gui)
cli.add_command(demo)
cli.add_command(bench)


def main() -> None:
    install_interrupt_handler()
    try:
        cli(prog_name="ufo")
    except SystemExit as exc:
        if exc.code == INTERRUPTED or interrupted():
            # the work is stopped and the files are closed: one more Ctrl-C while the interpreter winds
            # down (Python restores the default handler then) must not turn exit 130 into death by SIGINT
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise


if __name__ == "__main__":
    main()
