"""The GUI inside a session's process: `serve(board)` starts it in a thread, so the experiment
view reads the session's running experiments directly (an experiment lives in one process).

    from ufo.gui.experiments import Board
    from ufo.gui.serve import serve
    board = Board(); board.show(tomo)
    gui = serve(board)          # prints nothing; gui.url carries the token
    await tomo.run()            # the page's Experiment tab follows it
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ..core.errors import UsageError
from .experiments import Board


class GuiServer:
    """A running GUI: `url` (with its token), `port`, `app`, `stop()`."""

    def __init__(self, app: Any, server: Any, thread: threading.Thread, port: int):
        self.app = app
        self.server = server
        self.thread = thread
        self.port = port
        self.url = f"http://127.0.0.1:{port}/?token={app.state.token}"

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def serve(board: Board, root: str = ".", port: int = 0, token: str | None = None,
          timeout: float = 20.0) -> GuiServer:
    """Start the GUI on 127.0.0.1 (`port` 0: a free one) in a daemon thread; returns once it listens."""
    try:
        import uvicorn
    except ImportError as err:
        raise UsageError("the GUI needs FastAPI and uvicorn: pip install 'ufo[gui]'") from err
    from .app import create_app

    app = create_app(root, token, board=board)
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on 127.0.0.1:{port} for the GUI: {exc.strerror}; choose another port") from exc
    # an open event stream (a page left open) holds a graceful shutdown for at most 2 s
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ufo:gui", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:  # uvicorn says when it accepts connections, by this flag only
        if not thread.is_alive() or time.monotonic() > deadline:
            raise UsageError(f"the GUI did not start on 127.0.0.1:{sock.getsockname()[1]}")
        time.sleep(0.02)
    return GuiServer(app, server, thread, sock.getsockname()[1])
