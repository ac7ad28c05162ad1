"""Two senders into one bound `zmq-receive` (a probe, 2026-12-06): the receive ended at the first
sender's end message, exit 0, no word: the other's 17 frames never delivered (it complained in its
own process only). Now the receive goes on until every stream that sent frames here has ended,
and says that two streams went into one output. Real sockets on 127.0.0.1, real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import h5py
import numpy as np

from .zmq_peers import free_port

SENDER = textwrap.dedent("""
    import sys, time, numpy as np, ufo
    count, port, start, pause = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    def frames():
        for i in range(start, start + count):
            time.sleep(pause)
            yield np.full((64, 64), i, np.uint16)
    ufo.ZmqSend(address=f"tcp://127.0.0.1:{port}", bind=False)(frames()).run().wait(60)
""")


def test_a_bound_receiver_takes_both_streams_whole_and_says_they_share_its_output(tmp_path):
    port = free_port()
    out = tmp_path / "both.h5"
    receiver = subprocess.Popen([sys.executable, "-m", "ufo", "run", "-q", f"zmq-receive address=tcp://127.0.0.1:{port} "
                                 f"bind=true timeout=20 ! write path={out}:/data"], stderr=subprocess.PIPE, text=True)
    senders = [subprocess.Popen([sys.executable, "-c", SENDER, str(count), str(port), str(start), str(pause)])
               for count, start, pause in ((20, 0, 0.15), (40, 1000, 0.01))]  # the first runs 3 s: both overlap
    assert [s.wait(timeout=120) for s in senders] == [0, 0]
    _, err = receiver.communicate(timeout=120)
    assert receiver.returncode == 0, err
    with h5py.File(out) as f:
        got = sorted(int(v) for v in f["data"][:, 0, 0])
    assert got == list(range(20)) + list(range(1000, 1040))
    assert "both streams go into one output" in err
    assert np.all(np.diff([v for v in got if v < 1000]) == 1)
