"""The online engine with flats that first come mid-scan, its count of projections back-projected,
and the addon's warnings said where a scan's user sees them.

- Flats first recorded in the middle of a scan: the projections kept until then were back-projected
  only at finish(), after the later ones: slices during the scan lacked its first part, and the
  engine took the scan for out of angle order (weights 6 % rms off on a jittered fly scan).
- A scan whose first angle is not 0: the first projection's weight correction at the end counted as
  one more projection back-projected (601 of 600).
- The engine's warnings ("flats after the projections were recorded, not used") sat in its stats
  alone: the README's own scan with flats after it printed nothing.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from ufo.tomo.streaming import StreamingReconstructor

W, H, N, AXIS = 128, 2, 120, 63.6
RNG = np.random.default_rng(0)
ANGLES = np.sort(np.linspace(0, np.pi, N, endpoint=False) + RNG.uniform(-0.3, 0.3, N) * np.pi / N) + 0.004
X = np.arange(W) - AXIS


def _frame(angle):
    s0 = 20 * np.cos(angle)
    p = 2 * np.sqrt(np.clip(40 ** 2 - X ** 2, 0, None)) * 2e-3 + 2 * np.sqrt(np.clip(8 ** 2 - (X - s0) ** 2, 0, None)) * 2e-2
    return np.tile((100 + 3000 * np.exp(-p)).astype(np.uint16), (H, 1))


def _run(flats_at):
    engine = StreamingReconstructor(axis=AXIS, device="cpu", threads=1)
    dark, flat = np.full((H, W), 100, np.uint16), np.full((H, W), 3100, np.uint16)
    engine.add(dark, {"image_key": 2})
    at_three_quarters = None
    for i, angle in enumerate(ANGLES):
        if i == flats_at:
            engine.add(flat, {"image_key": 1})
        engine.add(_frame(angle), {"image_key": 0, "angle": float(angle)})
        if i == 3 * N // 4:
            at_three_quarters = engine.stats.backprojected
    return engine.finish(), engine.stats, at_three_quarters


def test_flats_first_come_mid_scan_give_the_slices_of_flats_first():
    first, stats_first, early = _run(0)
    middle, stats_middle, late = _run(N // 2)
    assert late >= early - 16  # back-projected as they come once the flats are there (a batch behind at most)
    assert not [w for w in stats_middle.warnings if "out of angle order" in w], stats_middle.warnings
    np.testing.assert_allclose(middle, first, rtol=0, atol=1e-6 * np.abs(first).max())


def test_every_projection_is_counted_once():
    _, stats, _ = _run(0)
    assert stats.projections == N and stats.backprojected == N


def test_the_addon_says_the_engine_s_warnings(tmp_path, caplog):
    from ufo.control import OnlineReconstruction, SimulatedBeamline, Tomography, q
    from ufo.storage.walker import walker

    async def main():
        async with SimulatedBeamline(width=64, height=8, axis_offset=1.5) as beamline:
            await beamline.flat_motor.set_velocity(100 * q("mm/s"))
            scan = Tomography(beamline, walker(str(tmp_path)), projections=60, flats_after=True)
            scan.attach(OnlineReconstruction(axis=33.5))
            await scan.run()

    with caplog.at_level(logging.WARNING, logger="ufo.control"):
        asyncio.run(main())
    assert any("flats after the projections were recorded, not used" in r.getMessage() for r in caplog.records)
