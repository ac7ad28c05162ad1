"""The GUI's experiment view: progress, live frame and latest slices of running experiments.

An experiment runs in a session's process, so the GUI shows it from there: `Board.show(tomo)`
puts an experiment on the board (attaching a `ScanProgress` unless it has one) and
`ufo.gui.serve.serve(board)` starts the GUI in a thread of that process. The routes only read
what `ScanProgress` keeps: its updates (the experiment's progress API, as server-sent events),
its live thumbnail and the slices of an attached online reconstruction.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException
from fastapi.responses import StreamingResponse

from ..control.experiment import Experiment
from ..core.errors import UsageError
from ..control.progress import ScanProgress
from .engine import encode


class Board:
    """The experiments a GUI shows, by name (thread-safe: the session adds, the server reads)."""

    def __init__(self) -> None:
        self._monitors: dict[str, ScanProgress] = {}
        self._lock = threading.Lock()

    def show(self, experiment: Experiment, name: str | None = None) -> ScanProgress:
        """Show `experiment` (under `name`, default its class name); returns its ScanProgress."""
        monitor = next((a for a in experiment.addons if isinstance(a, ScanProgress)), None)
        if monitor is None:
            monitor = experiment.attach(ScanProgress())
        if monitor.experiment is None:
            monitor.experiment = experiment  # shown as 'waiting' until its first run
        name = name or type(experiment).__name__.lower()
        with self._lock:
            if self._monitors.get(name, monitor) is not monitor:
                raise UsageError(f"the board shows another experiment as '{name}'; give this one another name")
            self._monitors[name] = monitor
        return monitor

    def names(self) -> list[str]:
        with self._lock:
            return list(self._monitors)

    def get(self, name: str) -> ScanProgress:
        with self._lock:
            if name not in self._monitors:
                shown = ", ".join(self._monitors) or "none"
                raise HTTPException(404, f"no experiment '{name}' on this GUI (shown: {shown})")
            return self._monitors[name]


def add_routes(app: FastAPI, board: Board) -> None:
    """/api/experiments: the list; .../{name}/events: updates; .../frame: live frame; .../slices: slices."""

    @app.get("/api/experiments")
    async def experiments() -> dict[str, Any]:
        return {"experiments": [{"name": name, **board.get(name).update().as_dict()} for name in board.names()]}

    @app.get("/api/experiments/{name}/events")
    async def events(name: str) -> StreamingResponse:
        monitor = board.get(name)

        async def stream() -> Any:
            """Every update of every run (at most 10 a second, the final one of each run too);
            between runs it waits for the next, so one page follows a whole session."""
            while True:
                runs = monitor.runs
                async for update in monitor.watch_async():
                    yield f"data: {json.dumps({'name': name, **update.as_dict()})}\n\n"
                while not await asyncio.to_thread(monitor.wait_for_run, runs, 1.0):
                    yield ": waiting for the next run\n\n"  # a comment: ends the stream if the page left

        return StreamingResponse(stream(), media_type="text/event-stream")

    @app.get("/api/experiments/{name}/frame")
    async def frame(name: str) -> dict[str, Any]:
        live = board.get(name).live_frame()
        if live is None:
            raise HTTPException(404, f"experiment '{name}' has no frame yet")
        picture, meta = live
        return {**encode(picture), "meta": meta}

    @app.get("/api/experiments/{name}/slices")
    async def slices(name: str, index: int | None = None) -> dict[str, Any]:
        stack = await asyncio.to_thread(board.get(name).slices)
        if stack is None:
            raise HTTPException(404, f"experiment '{name}' has no slices (yet): attach an OnlineReconstruction")
        stack = np.asarray(stack)
        index = stack.shape[0] // 2 if index is None else index
        if not 0 <= index < stack.shape[0]:
            raise HTTPException(400, f"slice {index} does not exist; there are {stack.shape[0]}")
        return {**encode(stack[index]), "index": index, "count": int(stack.shape[0])}
