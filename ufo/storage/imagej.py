"""What ufo's classic ImageJ TIFF stacks carry for ImageJ 1.x: the header's metadata (display
range, calibration, spacing, the record as JSON), a float32 stack's display range from a sample
of its slices, and the repair of a stack stopped by a full disk (ufo.storage.writers writes them)."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .convert import find_scale


def imagej_metadata(metadata: dict[str, Any]) -> tuple[dict[str, Any], tuple[float, float] | None]:
    """ImageJ's view of the writer's metadata: display range, calibration (stored integer ->
    value: c0 + c1 * stored), spacing, and the whole metadata as JSON in `Info`."""
    ij: dict[str, Any] = {"Info": json.dumps(metadata, default=str)}
    resolution = None
    if "scale_min" in metadata and "bits" in metadata:
        ij.update(min=0.0, max=float((1 << int(metadata["bits"])) - 1), cf=0, c0=float(metadata["scale_min"]),
                  c1=float(metadata["scale_step"]))
        if metadata.get("units"):
            ij["vunit"] = str(metadata["units"])
    pixel = metadata.get("pixel_size")
    if isinstance(pixel, (int, float)) and pixel > 0:
        microns = float(pixel) * 1e6
        ij.update(unit="micron", spacing=microns * int(metadata.get("row_step", 1) or 1))
        resolution = (1 / microns, 1 / microns)
    return ij, resolution


class DisplayRange:
    """The display range of a float32 ImageJ stack, from a sample of its slices. ImageJ opens a
    stack at the `min`/`max` of its header, else at the range of slice 1: a reconstruction's first
    slice is often air, whose range is a fifth of the sample's, and a third of the middle slice was
    saturated on opening. The range is the 0.05..99.95 percentiles of the sample (as the 8/16-bit
    scale, `find_scale`, not widened): a few outlying voxels (the rim of the reconstruction
    circle) do not grey out the rest, as the stack's min and max would. The sample is up to ROWS
    rows of up to FRAMES slices spread over the stack: when more come, every other one held is
    dropped and only every second from then on is taken (16 MiB at most, whatever the count)."""

    FRAMES = 256
    ROWS = 16
    VALUES = 16384  # of one slice at most

    def __init__(self) -> None:
        self._samples: list[np.ndarray] = []
        self._every = 1
        self._seen = 0

    def see(self, frame: np.ndarray) -> None:
        """Take a sample of `frame` (a copy: the caller's buffer is used again) where it is its turn."""
        if self._seen % self._every == 0:
            rows = frame[:: max(1, frame.shape[0] // self.ROWS)].reshape(-1)
            self._samples.append(np.array(rows[:: max(1, rows.size // self.VALUES)], np.float32))
            if len(self._samples) > self.FRAMES:
                self._samples, self._every = self._samples[::2], self._every * 2
        self._seen += 1

    def range(self) -> tuple[float, float] | None:
        """(min, max) to display, None without finite values or with a single value."""
        if not self._samples or not any(np.isfinite(s).any() for s in self._samples):
            return None
        lo, hi = find_scale(self._samples, widen=0.0)
        return (lo, hi) if hi > lo else None


def imagej_count(path: str, written: int) -> None:
    """A full disk stopped an ImageJ stack, whose pages after the first are written at close and
    whose header says one image until then: ImageJ and tifffile showed one page. The count of whole
    frames goes into the header's description (ImageJ reads them from it), in its own bytes."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            tag = tif.pages[0].tags["ImageDescription"]
            at, size, text = tag.valueoffset, tag.count, str(tag.value)
        lines = [line for line in text.split("\n") if not line.startswith(("images=", "slices=", "frames="))]
        lines[1:1] = [f"images={written}", f"slices={written}"]
        fixed = "\n".join(lines).encode()
        if len(fixed) >= size:  # a plain stack of slices needs no hyperstack flag
            fixed = "\n".join(line for line in lines if line != "hyperstack=true").encode()
        if len(fixed) < size:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, fixed.ljust(size, b"\0"), at)
            finally:
                os.close(fd)
    except Exception:  # noqa: BLE001 - the pages stay as they are; ufo's reader finds them anyway
        pass


def is_imagej(path: str) -> bool:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return bool(tif.is_imagej)
    except Exception:  # noqa: BLE001 - not a TIFF ufo can read: the append says what is wrong
        return False


class LiveCount:
    """The frame count in an open ImageJ stack's header, kept up with its pages as they are written.

    Why: tifffile writes an ImageJ stack's one header with `images=1` and the count only at close,
    so a stack whose writer was killed (SIGKILL, a crash, power) held 40 whole slices that
    tifffile and ImageJ showed as one (a probe); only ufo's reader walked them. Here, after each
    page is flushed, the header's description (tifffile's own text for the pages so far) is
    written over its reserved bytes, padded as tifffile pads it: never longer, never before the
    page's bytes, so a killed stack claims no page it lacks. tifffile's close writes the final one."""

    def __init__(self, writer: Any, path: str):
        tag = getattr(writer, "_descriptiontag", None)
        self._writer = writer
        self._at, self._size = (int(tag.valueoffset), int(tag.count)) if tag is not None else (0, 0)
        self._fd = os.open(path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)) if tag is not None else None

    def update(self) -> None:
        import tifffile

        if self._fd is None:
            return
        try:
            text = tifffile.imagej_description(self._writer._datashape, **self._writer._metadata).encode()
        except (TypeError, ValueError):  # metadata this tifffile does not describe: the count waits for close
            return
        if len(text) < self._size:
            os.pwrite(self._fd, text.ljust(self._size, b"\0"), self._at)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
