"""The options of a reconstruction (`RecoOptions`): what `ufo reco`, its config files and the GUI set."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.errors import UsageError


@dataclass
class RecoOptions:
    """Everything `ufo reco` takes; names match its options (dashes become underscores)."""

    projections: str | None = None
    sinograms: str | None = None
    darks: str | None = None
    flats: str | None = None
    flats2: str | None = None
    output: str = "slices/slice-%05i.tif"
    axis: float | str | None = None  # a number, 'auto' or None (width / 2)
    axis_method: str = "sinogram"
    angle: float | None = None  # step in radians; default pi / number of projections
    offset: float = 0.0
    number: int | None = None
    filter: str = "ramp"
    filter_cutoff: float = 1.0
    region: str | None = None  # rows 'from:to:step'
    roi: tuple[int, int, int, int] | None = None
    absorption: bool | None = None  # default: on with flats, off without
    remove_outliers: float | None = None  # threshold in sigma
    remove_stripes: int | None = None  # window size
    energy: float | None = None  # keV
    distance: float | None = None  # m
    pixel_size: float | None = None  # m
    delta_beta: float = 100.0
    output_bits: int | None = None
    output_min: float | None = None
    output_max: float | None = None
    overwrite: bool = False
    pass_height: int | None = None
    slices_per_pass: int = 16  # sinograms back-projected together
    replicas: int = field(default_factory=lambda: os.cpu_count() or 1)
    memory_fraction: float = 0.5
    gpus: str | None = None  # 'all', 'cpu' or '0,1'; None: UFO_DEVICES, else every GPU

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = "options") -> RecoOptions:
        names = {f.name for f in fields(cls)}
        clean = {}
        for key, value in values.items():
            name = key.replace("-", "_")
            if name not in names:
                from ..core.errors import suggest

                raise UsageError(f"{source}: unknown option '{key}'.{suggest(name, names)}")
            clean[name] = value
        return cls(**clean)

    @property
    def phase(self) -> bool:
        return self.energy is not None or self.distance is not None or self.pixel_size is not None
