"""Camera throughput against its peers, same run.

1. mock camera at unlimited fps without pattern filling: grab rate (into a caller's array)
   vs copying the same frames with numpy in one thread.
2. net camera over tcp://127.0.0.1, 2048 x 2048 uint16: MB/s through `ufo camera serve`'s
   server and the net client, vs a bare pyzmq PUSH/PULL pair sending the same frames
   (zero-copy send, receive, copy into the caller's array: the client's own work), sender
   and receiver each with its own ZMQ context as two processes have.

Run: python benchmarks/camera.py [--frames 500]
"""

from __future__ import annotations

import argparse
import os
import platform

from ufo.bench.camera import detailed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {platform.node()}, {os.cpu_count()} cores")
    mock, ours, bare = detailed(args.frames, args.repeat)
    rows = []
    for shape, grab, copy in mock:
        rows.append((f"mock grab, pattern none, {shape[0]}x{shape[1]} uint16", f"{grab:,.0f} fps",
                     f"numpy copy {copy:,.0f} fps", f"{grab / copy:.1f}x"))
    rows.append(("net camera 2048x2048 uint16 over tcp://127.0.0.1", f"{ours:,.0f} MB/s",
                 f"bare pyzmq PUSH/PULL {bare:,.0f} MB/s", f"{ours / bare:.2f}x (goal >= 0.9)"))
    width = max(len(r[0]) for r in rows)
    for row in rows:
        print(f"{row[0]:<{width}}  {row[1]:>14}  {row[2]:>34}  {row[3]}")


if __name__ == "__main__":
    main()
