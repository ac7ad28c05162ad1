"""The options of a reconstruction (`RecoOptions`), declared once.

Each field is an `Option` (ufo.reco.schema): type, unit, range or choices, default, doc and
group. `ufo reco`'s flags, the GUI form and its checks, `--config` files, the metadata of a
result and docs/reco-options.md are generated from these fields, so a value is accepted or
refused with the same message everywhere; the Python API validates on construction too
(`RecoOptions(energy="20 keV")` works, `RecoOptions(angle=float("nan"))` is a UsageError).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.resources import available_cores
from ..tomo.filters import FILTERS
from . import schema
from .schema import option

#: sinograms a back-projection stack holds at most: the CPU kernel gains up to K = 64 (`slices_per_batch`);
#: on the CPU `planning.stack_size` takes fewer where replicas would wait or memory is short
SLICES_PER_PASS = 64
DELTA_BETA = 100.0  # phase retrieval's delta/beta where none is given

DOC_TITLE = "Reconstruction options (`ufo reco`, its config files, the GUI)"
DOC_INTRO = """Every reconstruction option of `ufo reco` as the command line names it (the command's own flags,
`--config`, `--cluster`, `--serve`, `--on-server`, `--dry-run`, `--profile`, `-q` and `--debug`, are in
`ufo reco --help`). A config file (`ufo reco --config
reco.toml`) takes the same names in a `[reco]` table or at the top level (dashes or
underscores); the GUI shows the same fields; the Python API takes them as keyword arguments of
`ufo.reco.RecoOptions` (underscores). Values with a unit take another unit too (`20keV`,
`5cm`, `0.25deg`) and are converted; a bare number is in the unit shown.

Generated from `ufo/reco/options.py` by `ufo.reco.options.markdown()`; do not edit by hand."""


@dataclass
class RecoOptions:
    """Everything `ufo reco` takes; names match its options (dashes become underscores)."""

    # input
    projections: str | None = option(str, doc="Projections: directory, glob, multi-page TIFF, HDF5 file.h5:/dataset, "
                                     "NXtomo .nx", group="input", path=True, label="Projections path")
    sinograms: str | None = option(str, doc="Sinograms instead of projections (one per slice)", group="input",
                                   path=True, label="Sinograms path (instead of projections)")
    darks: str | None = option(str, doc="Dark fields (averaged)", group="input", path=True, label="Dark-field")
    flats: str | None = option(str, doc="Flat fields before the scan (median)", group="input", path=True,
                               label="Flat-field")
    flats2: str | None = option(str, doc="Flat fields after the scan (interpolated with --flats by projection index)",
                                group="input", path=True, label="Flat-field after")
    absorption: bool | None = option(bool, doc="Take -log after flat-field correction (default: on when flats are "
                                     "given)", group="input", label="Use correction (flat-field, -log)")
    number: int | None = option(int, range=(2, None), doc="Use only the first N projections", group="input")
    slice: int | str | None = option(int, keywords=("middle",), range=(0, None), doc="Preview: reconstruct only "
                                     "this detector row ('middle' or a row number; replaces --region), write it to "
                                     "the output and print its path and min/max/mean", group="input",
                                     label="Preview slice (row or 'middle')")
    # geometry
    region: str | None = option(str, doc="Detector rows to reconstruct, from:to:step (to excluded)", group="geometry",
                                label="Sinograms region (from:to:step)")
    axis: float | str | None = option(float, keywords=("auto",), doc="Rotation axis in detector pixels, or 'auto' "
                                      "(default: width / 2)", group="geometry", label="Axis (pixel)")
    axis_method: str = option(str, "sinogram", choices=("sinogram", "scan"), doc="How --axis auto finds the axis",
                              group="geometry")
    angle: float | None = option(float, unit="rad", doc="Angle step; default pi / projections (or from the file)",
                                 group="geometry", label="Angle step")
    offset: float = option(float, 0.0, unit="rad", doc="Angle of the first projection", group="geometry",
                           label="Angle offset")
    angles_file: str | None = option(str, doc="File of every projection's angle in degrees (text, .npy, or "
                                     "file.h5:/dataset with units), for irregular scans; replaces --angle",
                                     group="geometry", path=True, label="Angles file")
    roi: tuple[int, int, int, int] | None = option(int, array=True, length=4, doc="Slice region x,y,width,height "
                                                   "(pixels)", group="geometry", label="Slice region")
    half_acquisition: bool | None = option(bool, doc="360-degree scan with the axis near one detector edge "
                                           "(extended field of view): join opposite projections into sinograms about "
                                           "twice as wide; slices grow to that width (default: as an NXtomo scan "
                                           "records it)", group="geometry", label="Half acquisition (360°)")
    # filter
    filter: str = option(str, "ramp", choices=FILTERS, doc="FBP filter", group="filter")
    filter_cutoff: float = option(float, 1.0, range=(0.001, 1.0), doc="Highest frequency kept, as a fraction of "
                                  "Nyquist", group="filter")
    method: str = option(str, "fbp", choices=("fbp", "dfi"), doc="fbp: filtered back-projection; dfi: direct "
                         "Fourier inversion (UFO's dfi-sinc; the same slices, faster on large slices)", group="filter",
                         label="Method")
    oversampling: float = option(float, 2.0, range=(1.5, 8.0), doc="DFI: size of the Fourier grid over the slice's "
                                 "(more: smaller gridding error, slower)", group="filter", label="Oversampling")
    # phase
    energy: float | None = option(float, unit="keV", positive=True, doc="Phase retrieval (Paganin): X-ray energy",
                                  group="phase")
    distance: float | None = option(float, unit="m", positive=True, doc="Phase retrieval: propagation distance",
                                    group="phase")
    pixel_size: float | None = option(float, unit="m", positive=True, doc="Phase retrieval: effective pixel size",
                                      group="phase")
    delta_beta: float | None = option(float, range=(1e-6, None), doc="Phase retrieval: delta/beta (default 100); "
                                      "phase retrieval is on with any of these four, the others taken from an "
                                      "NXtomo scan that records them", group="phase", label="delta / beta")
    # rings/outliers
    remove_outliers: float | None = option(float, range=(0.5, None), doc="Remove zingers deviating more than this "
                                           "many sigma", group="rings/outliers", label="Remove zingers (sigma)")
    remove_stripes: int | None = option(int, range=(3, None), doc="Remove rings: stripe filter window (e.g. 21)",
                                        group="rings/outliers", label="Remove rings (window)")
    # output
    output: str = option(str, "slices/slice-%05i.tif", short="-o", path=True, label="Output path",
                         doc="slice-%05i.tif (one TIFF per slice, numbered by detector row), slices.tif (one "
                         "stack: classic ImageJ TIFF when written in one pass and under 4 GB, else BigTIFF) or "
                         "slices.h5:/data, or slices.nx (NeXus: NXdata at /entry/data/data); the scale and how "
                         "it was made are stored with it", group="output")
    output_bits: int | None = option(int, choices=(8, 16, 32), doc="Store as 8/16-bit integers (one scale for the "
                                     "whole volume: --output-min/--output-max, else found from 8 slices spread over "
                                     "it before writing) or 32-bit floats", group="output")
    output_min: float | None = option(float, doc="Value stored as 0 for 8/16 bits", group="output")
    output_max: float | None = option(float, doc="Value stored as the largest integer for 8/16 bits", group="output")
    overwrite: bool = option(bool, False, doc="Replace existing output", group="output")
    # resources
    pass_height: int | None = option(int, range=(1, None), doc="Rows per pass (default: all rows when they fit in "
                                     "--memory-fraction of the free memory, else passes of which two fit; the next "
                                     "pass is read while one is back-projected)", group="resources")
    slices_per_pass: int = option(int, SLICES_PER_PASS, range=(1, 4096), doc="Sinograms back-projected together at most "
                                  "(on the CPU fewer when the threads would otherwise wait or memory is short)",
                                  group="resources")
    replicas: int = option(int, available_cores(), range=(1, 1024), cli="threads", aliases=("threads",),
                           default_text="cores available", doc="Threads for the heavy steps", group="resources",
                           label="Threads")
    memory_fraction: float = option(float, 0.5, range=(0.01, 1.0), doc="Share of the free memory the passes in flight may use",
                                    group="resources")
    gpu_path: str = option(str, "auto", choices=("auto", "resident", "sinograms"),
                           doc="How one GPU reconstructs projections: resident (every frame read once, corrected, "
                           "filtered and back-projected on the GPU into slices kept there), sinograms (the host "
                           "makes sinograms first: needed for phase, outliers, stripes, DFI, --flats2), auto: "
                           "resident where the steps allow it", group="resources", label="GPU path")
    gpus: str | None = option(str, doc="GPUs to use: 'all', 'cpu' or numbers like 0,1 (default: UFO_DEVICES, "
                              "else all)", group="resources", label="GPUs")

    def __post_init__(self) -> None:
        schema.check_all(self)  # ranges, choices, units, NaN: an OptionError (a UsageError) naming the option

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = "options") -> RecoOptions:
        """From a dict whose keys may use dashes or aliases (`threads`); unknown keys are refused."""
        return schema.from_mapping(cls, values, source)  # type: ignore[no-any-return]

    @property
    def phase(self) -> bool:
        return any(v is not None for v in (self.energy, self.distance, self.pixel_size, self.delta_beta))

    @property
    def ratio(self) -> float:
        """delta/beta of the phase retrieval: as given, else DELTA_BETA."""
        return DELTA_BETA if self.delta_beta is None else self.delta_beta

    def metadata(self, changed_only: bool = False) -> dict[str, Any]:
        """The options as JSON-able values and their units, for storing with a result."""
        return schema.metadata(self, changed_only)


def markdown(cls: type = RecoOptions) -> str:
    """docs/reco-options.md: the table of every option, generated from the declaration."""
    return schema.markdown(cls, DOC_TITLE, DOC_INTRO) + "\n"
