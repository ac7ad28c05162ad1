"""Which format a path means, decided once so readers, writers and messages agree."""

from __future__ import annotations

import enum
import os
import re
from dataclasses import dataclass
from decimal import Decimal

from ..core.errors import UsageError

TIFF_SUFFIXES = (".tif", ".tiff")
EDF_SUFFIXES = (".edf", ".edf.gz")  # read only (ufo.storage.edf)
HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf", ".nxs", ".nx", ".cxi")
NEXUS_SUFFIXES = (".nx", ".nxs")  # NeXus files: NXtomo for scans, NXdata for reconstructions
RAW_SUFFIXES = (".raw", ".bin")
ZARR_SUFFIXES = (".zarr",)
#: where the frames lie in a file or store of other tools (NXtomo, NeXus NXdata, DXchange), looked at first
FRAME_PLACES = ("entry/instrument/detector/data", "entry/data/data", "exchange/data")
#: suffix of the dataset beside an HDF5 volume counting its frames written whole (ufo.storage.hdf5_volume)
FRAMES_WRITTEN = "_frames_written"
#: attribute of a Zarr volume that a cluster writes: the [first, stop) frame ranges written whole, while it runs
RANGES_WRITTEN = "ranges_written"
_PATTERN = re.compile(r"%(0?\d+)?[id]|\{[^{}]*\}")


class FileKind(enum.Enum):
    TIFF_SEQUENCE = "tiff-sequence"
    BIGTIFF = "bigtiff"
    HDF5 = "hdf5"
    RAW = "raw"
    ZARR = "zarr"


@dataclass(frozen=True)
class OutputPath:
    kind: FileKind
    path: str  # the file, or the pattern for sequences
    dataset: str | None = None

    def frame_path(self, index: int) -> str:
        """The file of frame `index`: the number goes into the file's name only (a '{}' or '%04i' in a
        folder's name sent frames to another folder)."""
        folder, name = os.path.split(self.path)
        name = name % index if "%" in name else name.format(index)
        return os.path.join(folder, name) if folder else name


#: a number in a file name: digits, with dots between digit runs, and a minus where it is a sign
#: (at the start of the name or after a character that is neither a letter nor a digit)
_NUMBER = re.compile(r"(?:(?<![^\W_])-)?\d+(?:\.\d+)*")


def natural_key(text: str) -> tuple[list[str | Decimal], str]:
    """Sort key that orders the numbers in names as numbers, as the frames were taken.

    Names number frames by counters (img_0001.tif, scan-0001.tif, frame9.tif before frame10.tif)
    or by angle (proj_0.25.tif, proj_-45.0.tif), and sorting their digits as text, or a decimal's
    digits as a second integer, reads the frames out of order (0.5 before 0.25). The rule:

    - a run of digits is a number: img_09 and img_9 are 9, img_100 comes after both;
    - one dot between two digit runs makes a decimal: proj_0.25 is 0.25, frame1.2 is 1.2 (a
      counter split by a dot sorts right only when padded: frame1.02 before frame1.10); a
      dot before a letter is no decimal point (img_5.tif is 5);
    - several dots between digit runs (1.10.2) are counters each, compared in turn;
    - a minus is a sign at the start of the name or after a character that is neither a letter
      nor a digit (a_-2 is -2, proj_-0.5 is -0.5); after a letter or a digit it separates
      (scan-0001 is 1, 2024-05-01 is 2024, 5 and 1), as beamline counters are written;
    - the text between numbers compares without case (Proj_000.TIF beside proj_005.tif).

    Names equal by this rule (img_0.5 and img_0.50, a-2 and A-2) keep a fixed order, by the name
    itself (the second part of the key): never the order the folder listed them in."""
    parts: list[str | Decimal] = []
    at = 0
    for match in _NUMBER.finditer(text):
        parts.append(text[at:match.start()].lower())
        number = match.group()
        runs = number.split(".")
        if len(runs) == 2:
            parts.append(Decimal(number))
        else:  # a counter, or counters joined by dots (the text between them is the dot)
            for k, run in enumerate(runs):
                if k:
                    parts.append(".")
                parts.append(Decimal(run))
        at = match.end()
    parts.append(text[at:].lower())
    return parts, text


def split_dataset(path: str) -> tuple[str, str | None]:
    """'scan.h5:/entry/data' -> ('scan.h5', '/entry/data'); other paths pass unchanged."""
    lower = path.lower()
    for suffix in HDF5_SUFFIXES + ZARR_SUFFIXES:
        marker = suffix + ":"
        at = lower.find(marker)
        if at >= 0:
            dataset = path[at + len(marker):]
            return path[: at + len(suffix)], dataset or None
    return path, None


def check_dataset(file: str, dataset: str | None) -> str | None:
    """The dataset name normalised ('/entry/data'); '..' or '.' components are refused: a
    dataset path must name something inside its file or store, never climb out of it."""
    if dataset is None:
        return None
    parts = [p for p in dataset.replace("\\", "/").split("/") if p != ""]
    if any(p in ("..", ".") for p in parts):
        raise UsageError(f"dataset path '{dataset}' of '{file}' climbs out of it ('..' or '.'); "
                         f"name a dataset inside it, e.g. {file}:/data")
    if not parts:
        return None
    return "/" + "/".join(parts)


def is_hdf5(path: str) -> bool:
    return split_dataset(path)[0].lower().endswith(HDF5_SUFFIXES)


#: a printf field in a file's name (`%%` is a literal %)
_FIELD = re.compile(r"%%|%[-+ #0]*\d*(?:\.\d+)?[a-zA-Z]")


def _check_fields(path: str, name: str, sequence: bool) -> None:
    """Refuse a % field of an output's name that ufo does not fill: frames are numbered in a TIFF
    sequence's name by %i or %d (zero-padded to a width as %05i); `out-%s.tif` was written as one
    stack literally so named, and the other formats hold every frame in one file."""
    for field in _FIELD.findall(name):
        if field != "%%" and not (sequence and re.fullmatch(r"%(0?\d+)?[id]", field)):
            raise UsageError(f"output path '{path}': '{field}' is no frame-number field; one TIFF per frame is "
                             "numbered by %i, %d or a zero-padded width such as %05i (frame-%05i.tif), or {} / "
                             "{:05d}; the other formats (stack.tif, .h5, .nx, .zarr, .raw) hold every frame in one file")


def parse_output_path(path: str) -> OutputPath:
    """Decide the output format from the path, as `write path=...` documents."""
    file, dataset = split_dataset(path)
    dataset = check_dataset(file, dataset) if dataset is not None else None
    lower = file.lower()
    name = os.path.basename(file)
    _check_fields(path, name, lower.endswith(TIFF_SUFFIXES) and bool(_PATTERN.search(name)))
    if lower.endswith(HDF5_SUFFIXES):
        return OutputPath(FileKind.HDF5, file, dataset)
    if lower.rstrip("/").endswith(ZARR_SUFFIXES):
        return OutputPath(FileKind.ZARR, file, dataset)
    if lower.endswith(RAW_SUFFIXES):
        return OutputPath(FileKind.RAW, file)
    if lower.endswith(TIFF_SUFFIXES):
        if _PATTERN.search(os.path.basename(file)):
            try:
                OutputPath(FileKind.TIFF_SEQUENCE, file).frame_path(0)
            except (TypeError, ValueError, IndexError, KeyError) as exc:
                raise UsageError(f"output path '{path}': bad frame-number pattern ({exc}); use e.g. frame-%05i.tif") from exc
            return OutputPath(FileKind.TIFF_SEQUENCE, file)
        return OutputPath(FileKind.BIGTIFF, file)
    raise UsageError(
        f"output path '{path}': cannot tell the format from the name; use frame-%05i.tif (one TIFF per frame), "
        "stack.tif (one BigTIFF), scan.h5:/data (HDF5), scan.nx (NXtomo), stack.zarr (Zarr) or frames.raw (raw)"
    )
