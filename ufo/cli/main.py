"""Entry point of the `ufo` command."""

from __future__ import annotations

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


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
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
    cli(prog_name="ufo")


if __name__ == "__main__":
    main()
