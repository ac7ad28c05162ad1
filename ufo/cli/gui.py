"""`ufo gui`: the reconstruction GUI with the axis view, in the browser."""

from __future__ import annotations

import secrets
import webbrowser

import click

from ..core.errors import UsageError
from .errors import handle_errors

EXAMPLES = """
\b
Examples:
  ufo gui                          # http://127.0.0.1:8765, files below the current directory
  ufo gui --root /data/experiment --open
  ufo gui --host 0.0.0.0 --port 9000   # reachable from other hosts (the printed URL carries the token)
"""


@click.command(epilog=EXAMPLES)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--root", type=click.Path(exists=True, file_okay=False), default=".", show_default=True,
              help="The directory the GUI may read and write below.")
@click.option("--open", "open_browser", is_flag=True, help="Open the page in the default browser.")
@click.option("--token", help="Access token (default: a random one for each start; the printed URL carries it).")
@click.option("--debug", is_flag=True, help="Show full tracebacks.")
@handle_errors
def gui(host: str, port: int, root: str, open_browser: bool, token: str | None, debug: bool) -> None:
    """Set up a reconstruction, find the axis, run it and look at the slices, in a browser."""
    try:
        import uvicorn

        from ..gui.app import create_app
    except ImportError as err:
        raise UsageError("the GUI needs FastAPI and uvicorn: pip install 'ufo[gui]'") from err
    if token is not None and not token.strip():
        raise UsageError(f"--token {token!r} (empty or blank) would let anyone in; leave --token out for a random one")
    if token is None:  # also on loopback: any web page the user visits could otherwise drive the API
        token = secrets.token_urlsafe(24)
    _check_bind(host, port)
    loopback = host in ("127.0.0.1", "localhost", "::1")
    app = create_app(root, token, hosts=("127.0.0.1", "localhost", "::1") if loopback else None)
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/?token={token}"  # an IPv6 address in brackets
    click.echo(f"ufo gui: {url}  (files below {root}; Ctrl-C stops)", err=True)
    if open_browser:
        webbrowser.open(url)
    # an open event stream (a page following a run) would hold a graceful shutdown, so Ctrl-C waited
    # for the reconstruction to end: 2 s, then the connections are closed
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2)


def _check_bind(host: str, port: int) -> None:
    """A host that is no address of this machine, or a port taken, is said before anything starts
    (uvicorn printed the URL, then its own error, and exited 3)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError(f"--host {host}: not a name or address of this machine ({exc}); the default is 127.0.0.1") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        try:
            probe.bind(address)
        except OSError as exc:
            raise UsageError(f"cannot listen on {host}:{port} ({exc.strerror}); choose another --port, or stop what "
                             "holds it") from exc
