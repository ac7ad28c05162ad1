"""Ring artefact removal in sinograms."""

from __future__ import annotations

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..tomo.rings import remove_stripes_sorting


class RemoveStripes(Task):
    """Remove stripes from sinograms (rings in slices) with Vo's sorting-based method."""

    devices = ("cpu", "gpu")

    name = "remove-stripes"
    size = Property(int, 21, range=(3, 1001), doc="median window across detector columns, odd (an even size is rounded up; larger: wider stripes)")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"task 'remove-stripes' works on sinograms (angles x width), got shape {spec.shape}")
        return spec.with_(dtype=np.float32)

    def process(self, sino: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        return remove_stripes_sorting(sino, self.size, out=out)
