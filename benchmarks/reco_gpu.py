"""GPU reconstruction on the device machine: back-projection alone, full FBP from host memory
to host memory through the runtime, a GPU peer (algotom) in the same run, and the ceilings.

1. Back-projection alone: 2048^2 slices from 2048 angles, data on the GPU (fp32 and fp16 storage).
2. Full FBP: N sinograms (2048 angles x 2048 pixels) in pinned host memory -> slices in
   host memory, through ufo's runtime (stack of 16 sinograms per frame, GPU segment with
   2 streams, slices copied into the output volume). Breakdown from CUDA events.
3. Peer: algotom fbp_reconstruction(gpu=True) (numba-cuda) on the same sinograms.
4. Ceilings: device-to-device copy bandwidth and pinned host<->device bandwidth.
The measurements are ufo.bench.gpu's; this script prints them.

Run on the device machine: python benchmarks/reco_gpu.py [--slices 2048]
"""

from __future__ import annotations

import argparse

from ufo.bench.gpu import device_name, reco_gpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slices", type=int, default=2048)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--peer-slices", type=int, default=64)
    parser.add_argument("--variants", default="fp32/2,fp16/2", help="storage/streams per device, comma separated")
    args = parser.parse_args()
    print(device_name(), flush=True)
    r = reco_gpu(args.size, args.slices, args.peer_slices, args.variants, log=lambda line: print(line, flush=True))
    n, count, per, full, steps = r.size, r.slices, r.per, r.full, r.steps
    d2d, h2d, d2h = r.ceilings
    print(f"\nceilings: device-to-device {d2d:.0f} GB/s (read + write), pinned H2D {h2d:.1f} GB/s, D2H {d2h:.1f} GB/s")
    for name, gups in r.alone:
        print(f"{name:<55} {gups:8.0f} GUPS")
    for precision, streams, t_full, gups_full, err, stats in full:
        print(f"full FBP host->host through the runtime, {count} slices of {n}^2 from {n} angles, {precision} storage, "
              f"{streams} streams: {t_full:.2f} s, {count / t_full:.1f} slices/s, {gups_full:.0f} GUPS, RMSE {err:.4f}")
    print(f"  per stack of {per} on one stream (fp32): " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in steps.items()))
    moved = 2 * per * n * n * 4
    print(f"  transfers per stack {moved / 2**20:.0f} MiB; bound by the busiest engine: "
          f"{count / per * max(steps['back-project'] + steps['filter'], steps['H2D'], steps['D2H']):.2f} s")
    if r.peer:
        k, t_peer, gups_peer = r.peer
        fp32 = [f[3] for f in full if f[0] == "fp32"]  # the same precision as the peer's
        ratio = f"ufo fp32 {max(fp32) / gups_peer:.1f}x" if fp32 else "no fp32 variant run: no ratio"
        print(f"algotom fbp_reconstruction(gpu=True, fp32), {k} slices, host to host, warmed up: {t_peer:.2f} s, "
              f"{k / t_peer:.1f} slices/s, {gups_peer:.0f} GUPS -> {ratio}")
    for precision, streams, *_, stats in full:
        print(f"stats {precision}/{streams}: {stats}")


if __name__ == "__main__":
    main()
