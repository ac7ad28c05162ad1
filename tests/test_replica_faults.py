"""Replicas that must give what one thread gives, and runs whose user code fails (a probe of the
runtime, 2026-12-06): tasks that estimate their noise from the first frame estimated it per
replica (12 of 16 frames different, and different on each run); a replicated map failing at
frame 50 dropped 3-5 of the frames before it on their way to the writer; a done callback that
raised stopped the later ones, so `await handle` never returned."""

from __future__ import annotations

import asyncio

import h5py
import numpy as np
import pytest

import ufo
from ufo import Task
from ufo.core.task import Kind


def _noisier_frames(count: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    frames = np.stack([100 + rng.normal(0, 1 + 4 * i, (64, 64)) for i in range(count)]).astype(np.float32)
    frames[:, 28:36, 28:36] = 1000  # a large spot
    return frames


@pytest.mark.parametrize("name, props", [("find-large-spots", dict(spot_threshold=500, spot_threshold_mode="above")),
                                         ("non-local-means", dict(search_radius=3, patch_radius=1))])
def test_a_first_frame_estimate_is_the_same_in_every_replica(name, props):
    data = _noisier_frames()
    one = ufo.task(name, **props)(data).collect()
    for _ in range(2):  # which replica takes which frame changes from run to run
        four = ufo.task(name, replicas=4, **props)(data).collect()
        assert [i for i in range(len(data)) if not np.array_equal(one[i], four[i])] == []


class FailAt(Task):
    name = "fail-at-50-test"
    kind = Kind.MAP
    uses_meta = True

    def process(self, x, out, meta):
        if meta["index"] == 50:
            raise ValueError("detector glitch at frame 50")
        out[...] = x
        return out


@pytest.mark.parametrize("replicas", [1, 2, 4])
def test_a_replicated_map_failing_keeps_the_frames_before_its_error(tmp_path, replicas):
    path = str(tmp_path / "f.h5")
    source = ufo.MemoryIn(data=[np.full((256, 256), k, np.float32) for k in range(100)])()
    with pytest.raises(Exception, match="glitch at frame 50"):
        ufo.Writer(path=path + ":/data")(FailAt(replicas=replicas)(source)).run().wait(60)
    with h5py.File(path) as f:
        assert f["data"].shape[0] == 50
        assert [int(f["data"][k][0, 0]) for k in (0, 25, 49)] == [0, 25, 49]


def test_a_done_callback_that_raises_is_said_and_the_run_is_awaited():
    def bad(_):
        raise RuntimeError("user callback failed")

    seen = []

    async def go():
        handle = ufo.task("dummy-data", shape=[8, 8], number=3)().run()
        handle.add_done_callback(bad)
        handle.add_done_callback(lambda h: seen.append("later"))
        await asyncio.wait_for(handle, 30)
        handle.add_done_callback(bad)  # on a finished run: said, not raised in the caller
        return handle

    handle = asyncio.run(go())
    assert seen == ["later"]
    assert sum("raised RuntimeError: user callback failed" in w for w in handle.warnings) == 2
