"""The small NXtomo scan of the phantom that the resident path's tests read (tests/test_reco_resident.py,
tests/test_resident_reader.py), and the `ufo reco` options they share."""

from __future__ import annotations

import numpy as np

from ufo import reco
from ufo.storage import open_writer
from ufo.tomo.phantom import Phantom

W, H, N = 96, 20, 150
AXIS = W / 2 + 2.5
MU = 0.01
DARK, FLAT = 100.0, 3000.0


def write_scan(path: str) -> tuple[str, Phantom]:
    """A uint16 NXtomo scan (darks, flats, projections with angles) of the phantom, axis off centre."""
    phantom = Phantom(W, height=H)
    rng = np.random.default_rng(1)
    with open_writer(path, overwrite=True) as writer:
        for key, level in ((2, DARK), (1, FLAT)):
            for _ in range(4):
                writer.write(np.clip(np.rint(level + rng.normal(0, 3, (H, W))), 0, None).astype(np.uint16),
                             {"image_key": key})
        for i in range(N):
            angle = i * np.pi / N
            frame = DARK + (FLAT - DARK) * np.exp(-MU * phantom.projection(angle, axis=AXIS))
            writer.write(np.clip(np.rint(frame + rng.normal(0, 3, (H, W))), 0, None).astype(np.uint16),
                         {"image_key": 0, "angle": angle})
    return path, phantom


def options(path, output, **kw):
    return reco.RecoOptions(projections=path, output=str(output), overwrite=True, replicas=2,
                            **{"axis": str(AXIS), "gpus": "cpu", **kw})
