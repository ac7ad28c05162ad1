"""An experiment stopped while its GraphAddon's graph finishes stops that graph, whose sinks
close their files before `run()` raises: the graph ran on in its threads, writing after the run
had ended (its file incomplete when the process then exited)."""

from __future__ import annotations

import asyncio
import time

import h5py
import numpy as np
import pytest

from ufo.control import GraphAddon, ImageWriter, SimulatedBeamline, Tomography
from ufo.core import Kind, Task
from ufo.core.registry import create
from ufo.storage.walker import walker

PROJECTIONS = 40


class Slow(Task):
    """A step that takes 0.1 s a frame: the graph finishes long after the last frame was taken."""

    name = "slow"
    kind = Kind.MAP

    def process(self, frame, out):
        time.sleep(0.1)
        np.copyto(out, frame)
        return out


def test_a_run_stopped_while_its_graph_finishes_stops_the_graph_and_closes_its_file(tmp_path):
    output = tmp_path / "slow.h5"

    def build(feeds, experiment):
        return create("write", path=f"{output}:/data")(Slow()(feeds["projections"]))

    async def scan():
        async with SimulatedBeamline(width=32, height=8) as beamline:
            experiment = Tomography(beamline, walker(str(tmp_path / "exp")), projections=PROJECTIONS, darks=2, flats=2)
            experiment.attach(ImageWriter())
            addon = experiment.attach(GraphAddon(build, ("projections",), counts={"projections": PROJECTIONS}))
            run = asyncio.ensure_future(experiment.run())
            feed = None
            while not run.done():  # every projection handed to the graph: its finish is under way
                feed = addon.feeds.get("projections")
                if feed is not None and feed._closed:
                    break
                await asyncio.sleep(0.01)
            assert feed is not None and not run.done(), "the run ended before its graph was fed"
            await asyncio.sleep(0.3)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
            return addon

    addon = asyncio.run(scan())
    assert addon.handle._done.is_set(), "the graph still runs after the experiment's run() ended"
    written = addon.handle.stats["write"].frames_in
    assert 0 < written < PROJECTIONS  # stopped part-way, not finished
    with h5py.File(output, "r") as f:  # closed: readable, every frame it holds whole
        assert f["data"].shape[0] >= 1 and np.isfinite(f["data"][()]).all()
