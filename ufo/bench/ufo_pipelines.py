"""UFO users' pipelines (ufo-launch strings and JSON graphs in ufo-filters' spelling), each with the
same pipeline in ufo's own spelling, and the data folder they read.

Shared by tests/test_ufo_compat.py (ufo's UFO spelling gives the numbers of ufo's own) and
benchmarks/ufo_launch.py (UFO's C runtime and ufo on the same strings, one run). OUT stands
for the output folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

SINO = "read path=sino/*.tif"
FFC = "[read path=proj/*.tif, read path=darks/*.tif, read path=flats/*.tif] ! flat-field-correct"

#: (a UFO user's pipeline, the same in ufo's own spelling); OUT is the output folder
PAIRS = [
    ("read path=proj/*.tif ! write filename=OUT/p-%05i.tif", "read path=proj/*.tif ! write path=OUT/p-%05i.tif"),
    ("read path=proj/*.tif ! write filename=OUT/p-%i.tif counter-start=10",
     "read path=proj/*.tif ! write path=OUT/p-%i.tif start=10"),
    ("read path=proj/*.tif ! write filename=OUT/p-%03i.tif counter-start=1 counter-step=2",
     "read path=proj/*.tif ! write path=OUT/p-%03i.tif start=1 step=2"),
    ("read path=proj/*.tif number=4 start=2 ! write filename=OUT/p-%05i.tif",
     "read path=proj/*.tif number=4 start=2 ! write path=OUT/p-%05i.tif"),
    ("read path=proj/*.tif y=2 height=8 y-step=2 step=2 ! write filename=OUT/p-%05i.tif",
     "read path=proj/*.tif y=2 height=8 y-step=2 step=2 ! write path=OUT/p-%05i.tif"),
    ("read path=proj/*.tif convert=true ! write filename=OUT/p-%05i.tif",
     "read path=proj/*.tif ! write path=OUT/p-%05i.tif"),
    ("read path=raw/frames.raw raw-width=32 raw-height=16 raw-bitdepth=16 raw-pre-offset=0 ! write filename=OUT/r-%05i.tif",
     "read path=raw/frames.raw raw-width=32 raw-height=16 raw-dtype=uint16 raw-offset=0 ! write path=OUT/r-%05i.tif"),
    (f"{FFC} absorption-correct=true ! write filename=OUT/c-%05i.tif",
     f"{FFC} absorption=true dark-reduction=each flat-reduction=each ! write path=OUT/c-%05i.tif"),
    (f"{FFC} fix-nan-and-inf=true sinogram-input=false dark-scale=1.0 flat-scale=1.0 ! write filename=OUT/c-%05i.tif",
     f"{FFC} dark-reduction=each flat-reduction=each ! write path=OUT/c-%05i.tif"),
    (f"{FFC} absorption-correct=false ! bin size=2 ! write filename=OUT/c-%05i.tif",
     f"{FFC} dark-reduction=each flat-reduction=each ! bin size=2 mode=sum ! write path=OUT/c-%05i.tif"),
    ("read path=proj/*.tif ! bin size=2 ! write filename=OUT/b-%05i.tif",
     "read path=proj/*.tif ! bin size=2 mode=sum ! write path=OUT/b-%05i.tif"),
    ("read path=proj/*.tif ! bin size=4 ! write filename=OUT/b-%05i.tif counter-start=0",
     "read path=proj/*.tif ! bin size=4 mode=sum ! write path=OUT/b-%05i.tif"),
    ("read path=proj/*.tif ! crop x=2 y=2 width=8 height=8 ! write filename=OUT/k-%05i.tif",
     "read path=proj/*.tif ! crop x=2 y=2 width=8 height=8 ! write path=OUT/k-%05i.tif"),
    ("read path=proj/*.tif ! crop x=4 y=1 width=0 height=0 ! write filename=OUT/k-%05i.tif",
     "read path=proj/*.tif ! crop x=4 y=1 ! write path=OUT/k-%05i.tif"),
    ("read path=proj/*.tif ! pad width=40 height=20 addressing-mode=clamp_to_edge ! write filename=OUT/d-%05i.tif",
     "read path=proj/*.tif ! pad width=40 height=20 addressing-mode=clamp ! write path=OUT/d-%05i.tif"),
    ("read path=proj/*.tif ! pad x=2 y=2 width=40 height=24 addressing-mode=mirrored_repeat ! write filename=OUT/d-%05i.tif",
     "read path=proj/*.tif ! pad x=2 y=2 width=40 height=24 addressing-mode=mirror ! write path=OUT/d-%05i.tif"),
    ("read path=proj/*.tif ! pad width=40 height=20 addressing-mode=clamp ! write filename=OUT/d-%05i.tif",
     "read path=proj/*.tif ! pad width=40 height=20 addressing-mode=constant ! write path=OUT/d-%05i.tif"),
    ("read path=proj/*.tif ! rescale factor=2 interpolation=linear ! write filename=OUT/s-%05i.tif",
     "read path=proj/*.tif ! rescale factor=2 ! write path=OUT/s-%05i.tif"),
    ("read path=proj/*.tif ! rescale x-factor=0.5 y-factor=2 ! write filename=OUT/s-%05i.tif",
     "read path=proj/*.tif ! rescale x-factor=0.5 y-factor=2 ! write path=OUT/s-%05i.tif"),
    ("read path=proj/*.tif ! rescale width=64 height=0 ! write filename=OUT/s-%05i.tif",
     "read path=proj/*.tif ! rescale x-factor=2 ! write path=OUT/s-%05i.tif"),
    ("read path=proj/*.tif ! rotate angle=0.5 reshape=false addressing-mode=clamp ! write filename=OUT/t-%05i.tif",
     "read path=proj/*.tif ! rotate angle=-0.5 ! write path=OUT/t-%05i.tif"),  # UFO turns clockwise
    ("read path=proj/*.tif ! rotate angle=1.5707963267948966 interpolation=nearest ! write filename=OUT/t-%05i.tif",
     "read path=proj/*.tif ! rotate angle=-90deg interpolation=nearest ! write path=OUT/t-%05i.tif"),
    ("read path=proj/*.tif ! calculate expression='v*2+1' dimensions=2 ! write filename=OUT/v-%05i.tif",
     "read path=proj/*.tif ! calculate expression='x*2+1' ! write path=OUT/v-%05i.tif"),
    ("read path=proj/*.tif ! flip direction=vertical ! write filename=OUT/f-%05i.tif",
     "read path=proj/*.tif ! flip direction=vertical ! write path=OUT/f-%05i.tif"),
    ("read path=proj/*.tif ! transpose ! write filename=OUT/f-%05i.tif",
     "read path=proj/*.tif ! transpose ! write path=OUT/f-%05i.tif"),
    ("read path=proj/*.tif ! fft dimensions=1 ! ifft dimensions=1 crop-width=32 ! write filename=OUT/i-%05i.tif",
     "read path=proj/*.tif ! fft size=-1 ! ifft crop-width=32 norm=ufo ! write path=OUT/i-%05i.tif"),
    (("read path=proj/*.tif ! fft dimensions=1 auto-zeropadding=true ! ifft dimensions=1 crop-width=0 crop-height=0 "
     "! write filename=OUT/i-%05i.tif"), "read path=proj/*.tif ! fft size=-1 ! ifft norm=ufo ! write path=OUT/i-%05i.tif"),
    (f"{SINO} ! fft dimensions=1 ! filter filter=ramp ! ifft dimensions=1 crop-width=32 ! write filename=OUT/g-%05i.tif",
     f"{SINO} ! fft size=-1 ! filter filter=ramp response=ufo ! ifft crop-width=32 norm=ufo ! write path=OUT/g-%05i.tif"),
    ((f"{SINO} ! fft dimensions=1 ! filter filter=butterworth order=2 scale=1.0 ! ifft crop-width=32 "
      "! write filename=OUT/g-%05i.tif"),
     (f"{SINO} ! fft size=-1 ! filter filter=butterworth filter-order=2 response=ufo ! ifft crop-width=32 norm=ufo "
      "! write path=OUT/g-%05i.tif")),
    (f"{SINO} ! backproject axis-pos=16 angle-step=0.1308997 ! write filename=OUT/slice-%05i.tif",
     f"{SINO} ! backproject axis=15.5 center=15.5 angle-step=0.1308997 filter=none weight=ufo orientation=ufo ! write path=OUT/slice-%05i.tif"),
    ((f"{SINO} ! backproject axis-pos=-1 num-projections=0 offset=0 mode=texture roi-width=0 angle-offset=0.1 "
      "! write filename=OUT/slice-%05i.tif"),
     f"{SINO} ! backproject angle-offset=0.1 filter=none weight=ufo orientation=ufo ! write path=OUT/slice-%05i.tif"),
    ((f"{SINO} ! fft dimensions=1 ! filter ! ifft dimensions=1 crop-width=32 ! backproject axis-pos=15.5 "
      "roi-x=4 roi-y=4 roi-width=20 roi-height=20 ! write filename=OUT/slice-%05i.tif"),
     (f"{SINO} ! fft size=-1 ! filter response=ufo ! ifft crop-width=32 norm=ufo ! backproject axis=15 center=15 weight=ufo orientation=ufo "
      "roi-x=4 roi-y=4 roi-width=20 roi-height=20 ! write path=OUT/slice-%05i.tif")),
    ("dummy-data width=16 height=8 number=3 init=1.5 ! write filename=OUT/z-%05i.tif",
     "dummy-data width=16 height=8 number=3 value=1.5 ! write path=OUT/z-%05i.tif"),
    ("dummy-data width=16 height=8 depth=1 number=2 ! write filename=OUT/z-%05i.tif",
     "dummy-data width=16 height=8 number=2 ! write path=OUT/z-%05i.tif"),
    ("read path=proj/*.tif ! transpose-projections number=8 ! write filename=OUT/sino-%05i.tif",
     "read path=proj/*.tif ! transpose-projections number=8 ! write path=OUT/sino-%05i.tif"),
    ("read path=proj/*.tif ! retrieve-phase method=tie energy=20 distance=0.1 pixel-size=1e-6 ! write filename=OUT/q-%05i.tif",
     "read path=proj/*.tif ! retrieve-phase energy=20keV distance=0.1m pixel-size=1um ! write path=OUT/q-%05i.tif"),
    ("read path=proj/*.tif ! write filename=OUT/stack.tif tiff-bigtiff=true",
     "read path=proj/*.tif ! write path=OUT/stack.tif tiff-format=bigtiff"),
    ("read path=proj/*.tif ! write filename=OUT/p-%05i.tif bits=16 minimum=0 maximum=4 rescale=true append=false",
     "read path=proj/*.tif ! write path=OUT/p-%05i.tif bits=16 minimum=0 maximum=4"),
]


def _node(name: str, plugin: str, **properties: Any) -> dict[str, Any]:
    return {"plugin": plugin, "name": name, "properties": properties}


def _edge(src: str, dst: str, index: int = 0) -> dict[str, Any]:
    return {"from": {"name": src}, "to": {"name": dst, "input": index}}


#: (a UFO JSON graph as ufo-launch --dump writes it, the same pipeline in ufo's spelling)
GRAPHS = [
    ({"nodes": [_node("read", "read", path="proj/*.tif", number=6), _node("bin", "bin", size=2),
                _node("write", "write", filename="OUT/b-%05i.tif", **{"counter-start": 5})],
      "edges": [_edge("read", "bin"), _edge("bin", "write")]},
     "read path=proj/*.tif number=6 ! bin size=2 mode=sum ! write path=OUT/b-%05i.tif start=5"),
    ({"nodes": [_node("proj", "read", path="proj/*.tif"), _node("dark", "read", path="darks/*.tif"),
                _node("flat", "read", path="flats/*.tif"),
                _node("ffc", "flat-field-correct", **{"absorption-correct": True, "fix-nan-and-inf": True}),
                _node("out", "write", filename="OUT/c-%04i.tif")],
      "edges": [_edge("proj", "ffc", 0), _edge("dark", "ffc", 1), _edge("flat", "ffc", 2), _edge("ffc", "out")]},
     f"{FFC} absorption=true dark-reduction=each flat-reduction=each ! write path=OUT/c-%04i.tif"),
    ({"nodes": [_node("read", "read", path="sino/*.tif"), _node("fft", "fft", dimensions=1),
                _node("filter", "filter", filter="ramp"), _node("ifft", "ifft", dimensions=1, **{"crop-width": 32}),
                _node("bp", "backproject", **{"axis-pos": 16.0, "angle-step": 0.1308997}),
                _node("write", "write", filename="OUT/slice-%05i.tif")],
      "edges": [_edge("read", "fft"), _edge("fft", "filter"), _edge("filter", "ifft"), _edge("ifft", "bp"),
                _edge("bp", "write")]},
     (f"{SINO} ! fft size=-1 ! filter response=ufo ! ifft crop-width=32 norm=ufo ! backproject axis=15.5 center=15.5 "
      "angle-step=0.1308997 filter=none weight=ufo orientation=ufo ! write path=OUT/slice-%05i.tif")),
]


def make_data(root: Path) -> Path:
    """A UFO user's data folder: projections, darks, flats, sinograms and a raw file (small frames)."""
    import tifffile

    rng = np.random.default_rng(7)
    for folder, count, level in (("proj", 8, 900.0), ("darks", 3, 100.0), ("flats", 3, 2000.0)):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            frame = level + rng.uniform(0, level / 10, (16, 32))
            tifffile.imwrite(root / folder / f"{folder}-{i:04d}.tif", frame.astype(np.float32))
    (root / "sino").mkdir(exist_ok=True)
    for i in range(3):
        tifffile.imwrite(root / "sino" / f"sino-{i:04d}.tif", rng.uniform(0, 1, (24, 32)).astype(np.float32))
    (root / "raw").mkdir(exist_ok=True)
    rng.integers(0, 4000, (4, 16, 32)).astype(np.uint16).tofile(root / "raw" / "frames.raw")
    return root
