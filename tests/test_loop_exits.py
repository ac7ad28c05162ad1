"""Leaving a loop over a stream: Ctrl-C with a node in a long call, an iterator kept after next();
a script that ends without waiting for its run."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

from .test_interrupts import _interrupt, _start

LOOP_STUCK = """
import time
import numpy as np
import ufo

def frames():
    for i in range(300):
        if i == 5:
            time.sleep(1000)  # a user's source in a long call of its own (a slow device read)
        yield np.full((64, 64), i, np.uint16)

print("looping", flush=True)
for result in ufo.Calculate(expression="x * 2")(frames()):
    time.sleep(0.05)
"""

LEFT_AFTER_NEXT = """
import numpy as np
import ufo

frames = iter(ufo.Calculate(expression="x * 2")(np.ones((200, 64, 64), np.float32)))
print("first", float(next(frames).mean()), flush=True)
"""


def test_ctrl_c_in_a_loop_over_a_stream_ends_the_script_with_a_node_stuck(tmp_path):
    """The loop's clean-up waited for every node without a bound: a node in a long call kept the
    script until a second Ctrl-C (wait() itself stopped in under a second)."""
    script = tmp_path / "loop.py"
    script.write_text(LOOP_STUCK)
    proc = _start([sys.executable, str(script)])
    assert proc.stdout.readline().strip() == "looping", proc.communicate()
    time.sleep(1.0)
    code, seconds, _out, err = _interrupt(proc, timeout=20)
    assert code != 0 and "KeyboardInterrupt" in err
    assert seconds < 2.0, f"{seconds:.2f} s from SIGINT to exit"


def test_a_script_that_left_an_iterator_after_next_exits():
    """The exit hook waited for every graph not cancelled: one whose frames nobody would read
    again (an iterator kept after next()) kept the script forever."""
    done = subprocess.run([sys.executable, "-c", LEFT_AFTER_NEXT], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stdout.strip() == "first 2.0", done.stderr


ENDS_WITHOUT_WAIT = """
import sys
import numpy as np
import ufo

data = np.arange(12 * 256 * 256, dtype=np.float32).reshape(12, 256, 256)
ufo.Writer(path=sys.argv[1])(ufo.Calculate(expression="x + 1")(data)).run()  # no wait(): the exit waits
"""

FAILS_AFTER_THE_SCRIPT = """
import sys, time
import numpy as np
import ufo

def frames():
    for _ in range(3):
        time.sleep(0.2)
        yield np.zeros((64, 64), np.float32)
    raise ValueError("the detector said no")

ufo.Writer(path=sys.argv[1])(ufo.Calculate(expression="x + 1")(frames())).run()
"""


def test_a_script_that_ends_without_waiting_for_its_run_writes_every_frame(tmp_path):
    """The exit hook waited for the run, but the TIFF writer's first import of tifffile (which
    imports concurrent.futures.thread, which registers an exit hook of its own) came after
    Python's shutdown had begun: the run failed, no file was written and the script exited 0
    without a word. A run that fails after the script's end is now said on stderr."""
    import tifffile

    out = tmp_path / "slices.tif"
    done = subprocess.run([sys.executable, "-c", ENDS_WITHOUT_WAIT, str(out)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "Error" not in done.stderr, done.stderr
    expected = np.arange(12 * 256 * 256, dtype=np.float32).reshape(12, 256, 256) + 1
    np.testing.assert_array_equal(tifffile.imread(out), expected)
    done = subprocess.run([sys.executable, "-c", FAILS_AFTER_THE_SCRIPT, str(tmp_path / "failed.tif")],
                          capture_output=True, text=True, timeout=60)
    assert "a run still going at exit (no wait() for it) failed" in done.stderr, done.stderr
    assert "the detector said no" in done.stderr
