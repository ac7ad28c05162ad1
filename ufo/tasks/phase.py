"""Phase retrieval of propagation-based phase-contrast projections."""

from __future__ import annotations

import numpy as np

from ..core import Property, Spec, Task
from ..core.errors import GraphError
from ..core.ufocompat import declare, missing, only, same
from ..tomo.phase import retrieve_phase
from .filtering import _workers


class RetrievePhase(Task):
    """Paganin (TIE) single-distance phase retrieval of flat-corrected transmission frames."""

    devices = ("cpu", "gpu")

    name = "retrieve-phase"
    method = Property(str, "tie", choices=("tie",), doc="retrieval method (tie: Paganin's homogeneous-object TIE)")
    energy = Property(float, range=(0.1, 1000), unit="keV", doc="X-ray energy")
    distance = Property(float, range=(0, 1000), unit="m", doc="propagation distance, sample to detector")
    pixel_size = Property(float, range=(1e-9, 1e-2), unit="m", doc="effective pixel size (e.g. 1.2um)")
    delta_beta = Property(float, 100.0, range=(1e-6, 1e9), doc="delta / beta of the material (regularisation)")
    ufo_names = declare({
        "method": only({"tie": {}}, "ufo retrieves phase by TIE (Paganin) only"),
        "energy": same("energy"), "distance": same("distance"), "pixel-size": same("pixel-size"),
        "regularization-rate": missing("give delta-beta= (UFO's regularization-rate is log10 of delta/beta)"),
        "distance-x": missing("one distance only: distance="), "distance-y": missing("one distance only: distance="),
        "thresholding-rate": missing("only for UFO's ctf/qp methods"),
        "frequency-cutoff": missing("ufo's Paganin filter has no frequency cutoff (UFO's tie, ctf and qp set the "
                                    "frequencies past it to zero)"),
        "output-filter": missing("ufo outputs the retrieved image (output=absorption|transmission)"),
    })
    output = Property(str, "absorption", choices=("absorption", "transmission"),
                      doc="absorption: -ln of the filtered frame (for FBP); transmission: the filtered frame")

    def output_spec(self, spec: Spec) -> Spec:  # type: ignore[override]
        if spec.shape is None or len(spec.shape) != 2:
            raise GraphError(f"task 'retrieve-phase' works on 2-D projections, got shape {spec.shape}")
        return spec.with_(dtype=np.float32)

    def process(self, frame: np.ndarray, out: np.ndarray | None) -> np.ndarray:  # type: ignore[override]
        return retrieve_phase(frame, self.pixel_size, self.distance, self.energy, self.delta_beta, self.output,
                              _workers(self.ctx), out=out)
