"""What ufo's classic ImageJ TIFF stacks carry for ImageJ 1.x: the header's metadata (display
range, calibration, spacing, the record as JSON), a float32 stack's display range from a sample
of its slices, and the repair of a stack stopped by a full disk (ufo.storage.writers writes them)."""

from __future__ import annotations

import json
import os
import struct
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


def per_centimetre(metadata: dict[str, Any]) -> float | None:
    """Pixels per centimetre of the writer's `pixel_size` (metres), for TIFF's resolution tags, or None.
    Why: a TIFF sequence (`ufo reco`'s default output) and a BigTIFF said their pixel size in ufo's
    JSON only, which ImageJ, Fiji's Image Sequence import and tifffile's resolution do not read."""
    pixel = metadata.get("pixel_size")
    return 0.01 / float(pixel) if isinstance(pixel, (int, float)) and pixel > 0 else None


def tiff_resolution(metadata: dict[str, Any]) -> dict[str, Any]:
    """tifffile's write arguments for the pixel size (`per_centimetre`); none without one."""
    per_cm = per_centimetre(metadata)
    return {"resolution": (per_cm, per_cm), "resolutionunit": "CENTIMETER"} if per_cm else {}


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


def no_appending(path: str) -> str:
    """Why frames cannot be appended to the ImageJ stack at `path` (tifffile refuses it only once the
    graph runs: "cannot append to file containing metadata"), and what to write instead."""
    return (f"'{path}' is an ImageJ TIFF stack, whose header holds its frame count: frames cannot be appended to "
            "it; write a new file, or write stacks that grow with tiff-format=bigtiff")


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
        self._entry = int(tag.offset) if tag is not None else 0  # the IFD entry: code, type, count, offset
        self._order = getattr(getattr(writer, "tiff", None), "byteorder", "<")
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
            # the entry's count: tifffile reserves room past its first text and counts only that text,
            # so readers of a killed stack read the first 54 bytes ('...hyperstack=true\nmode=')
            os.pwrite(self._fd, struct.pack(self._order + "I", len(text) + 1), self._entry + 4)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class FrameNumbers:
    """The camera frame numbers of an ImageJ stack's pages, said in its header where they leave gaps.

    Why: a classic ImageJ stack keeps no metadata per page, so a grab that dropped 106 of 166
    frames read back as 60 consecutive frames (a tomography series at wrong angles, no sign of it);
    HDF5 records the drops and a TIFF sequence each frame's number. Here, once a gap appears, the
    header's description carries `frames_dropped=N` and `frame_numbers=0-8,14,19,...` (ranges of
    the pages' frame numbers, in page order; ImageJ keeps them as the description's keys,
    tifffile's `imagej_metadata` reads them), kept up as pages come while they fit the ROOM the
    header keeps for them (`LiveCount` writes them), and at close whatever their length."""

    LIMIT = 1 << 20  # characters of ranges at most: past it the list ends with '...'
    ROOM = 1 << 16  # bytes of the header's description reserved for them (past it: written at close)

    def __init__(self) -> None:
        self._done: list[str] = []  # the ranges before the last, as text
        self._length = 0  # their characters, commas included
        self._last: list[int] | None = None  # [first, last] of the latest consecutive frame numbers
        self.dropped = 0
        self.gaps = False

    def see(self, meta: dict[str, Any]) -> bool:
        """Take a page's frame number (none: nothing to say); True where the header says them."""
        number = meta.get("frame_number")
        if not isinstance(number, (int, np.integer)):
            return False
        number, last = int(number), self._last
        if last is not None and number == last[1] + 1:
            last[1] = number
        else:
            if last is not None:
                self.dropped += max(0, number - last[1] - 1)
                self.gaps = True
                text = f"{last[0]}-{last[1]}" if last[1] > last[0] else f"{last[0]}"
                self._done.append(text)
                self._length += len(text) + 1
            self._last = [number, number]
        return self.gaps

    def apply(self, metadata: dict[str, Any], final: bool = False) -> None:
        """Put the keys in tifffile's header `metadata` (taken out while they pass the ROOM, unless `final`)."""
        if not self.gaps:
            return
        if not final and self._length > self.ROOM:
            metadata.pop("frame_numbers", None)  # written at close: every page's header would format them
            metadata.pop("frames_dropped", None)
            return
        metadata.update(frames_dropped=self.dropped, frame_numbers=self.text())

    def text(self) -> str:
        """The frame numbers seen as ranges ('0-8,14,19-30'; '' for none), gaps or not."""
        if self._last is None:
            return ""
        first, end = self._last
        text = ",".join([*self._done, f"{first}-{end}" if end > first else f"{first}"])
        return text if len(text) <= self.LIMIT else text[:self.LIMIT].rsplit(",", 1)[0] + ",..."


def frame_numbers_of(description: str, pages: int) -> list[int] | None:
    """The frame numbers of the `pages` pages an ImageJ header's `frame_numbers` says (FrameNumbers),
    or None: none said, or a list that does not fit the pages (damaged, or not ours: one of
    '0-3,10-300000000' would have been expanded whole; a list shorter than the pages numbered
    the rest 0) or does not rise (they would read as drops)."""
    for line in description.splitlines():
        if line.startswith("frame_numbers="):
            numbers: list[int] = []
            try:
                for part in line[len("frame_numbers="):].split(","):
                    if part == "...":  # a list cut at FrameNumbers.LIMIT: its pages cannot all be numbered
                        return None
                    first, _, last = part.partition("-")
                    if int(last or first) - int(first) >= pages - len(numbers):
                        return None
                    numbers.extend(range(int(first), int(last or first) + 1))
            except ValueError:
                return None
            rising = all(b > a for a, b in zip(numbers, numbers[1:]))
            return numbers if len(numbers) == pages and rising else None
    return None


def listed_frame_numbers(path: str, pages: int) -> list[int] | None:
    """The frame numbers the ImageJ stack at `path` of `pages` pages lists in its header, or None."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            return frame_numbers_of(tif.pages[0].description or "", pages) if tif.is_imagej else None
    except Exception:  # noqa: BLE001 - no header to read: frames without numbers, as before
        return None
