"""Ctrl-C while the HDF5 writer flushes a frame: the frame, its count and its drops go together.

The writer counted a frame and the camera's drops before it, then flushed; a Ctrl-C in the flush
took the frame back out of the datasets but not out of the counts, so the file held a frame fewer
than said and `frames_dropped` more than its gaps (3 of 8 grabs of a probe). Here a real SIGINT
lands in a writing loop whose frames drop every third number, many times over.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

LOOP = """
import sys
import numpy as np
from ufo.cli.errors import install_interrupt_handler
from ufo.storage.hdf5 import Hdf5Writer
install_interrupt_handler()  # as the commands do: a Ctrl-C in a finalizer is not lost (Python drops it there)
writer = Hdf5Writer(sys.argv[1], "/data", record_drops=True)
frame = np.zeros((256, 256), np.uint16)
number = 0
print("ready", flush=True)
try:
    while writer.frames < 20000:  # 2.6 GB at most
        writer.write(frame, {"frame_number": number})
        number += 1 + (number % 3 == 2)  # every third number dropped
except KeyboardInterrupt:
    writer.close()
    print(writer.frames, flush=True)
else:
    writer.close()
    print("ran out", writer.frames, flush=True)
"""


@pytest.mark.parametrize("delay", [0.31, 0.47, 0.53, 0.71, 0.89])
def test_a_ctrl_c_in_the_flush_leaves_the_counts_as_the_file_has_them(tmp_path, delay):
    path = tmp_path / "f.h5"
    child = subprocess.Popen([sys.executable, "-c", LOOP, str(path)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    out = child.communicate(timeout=60)[0].split()
    assert len(out) == 1, "the loop ran out before the Ctrl-C"
    said = int(out[0])
    with h5py.File(path, "r") as f:
        numbers = f["/data_frame_number"][()]
        dropped = int(f["/data"].attrs.get("frames_dropped", 0))
        assert f["/data"].shape[0] == said == len(numbers)
    gaps = int(np.sum(np.diff(numbers) - 1))
    assert dropped == gaps, (dropped, gaps, said)
