"""TIFF frames: the pages of one or more files; uncompressed pages read straight from the file.

Why: tifffile parses a page's tags on every access (about 0.4 ms a page), so a 720-page stack
of small frames spent more time in tag parsing than in reading pixels; UFO's libtiff reader
does not. The page chain is parsed once anyway (counting complete pages, `TiffFrames._pages`);
there each page whose pixels lie in one uncompressed piece, in the file's byte order and
without predictor or bit tricks, records where they are. Anything else (compressed, tiled,
planar, odd bit depths) keeps tifffile's reader.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
from collections.abc import Iterator
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from ..core.errors import InputError
from .tiff_ifd import Page, scan


class PlainPage(NamedTuple):
    """Where an uncompressed page's pixels lie (`offset`) and what they are (`shape`, `dtype`, in
    the machine's byte order; `swapped`: the file holds them in the other one, swapped once read).
    (A named tuple: one is made per page of every file a graph opens.)"""

    offset: int
    shape: tuple[int, int]
    dtype: np.dtype
    swapped: bool = False

    @property
    def row_bytes(self) -> int:
        return self.shape[1] * self.dtype.itemsize


def plain_page(page: Any, byteorder: str, swap: bool = False) -> PlainPage | None:
    """The location of `page`'s pixels when one plain read gives them exactly, else None; with
    `swap`, also of pixels in the other byte order (read, then swapped)."""
    try:
        dtype, shape = np.dtype(page.dtype), tuple(page.shape)
        if (len(shape) != 2 or page.compression != 1 or page.predictor != 1 or page.is_tiled
                or page.fillorder != 1 or page.samplesperpixel != 1 or page.bitspersample != dtype.itemsize * 8
                or not page.is_contiguous or dtype.kind not in "uif"):
            return None
        swapped = dtype.itemsize > 1 and byteorder != ("<" if np.little_endian else ">")
        if swapped and not swap:
            return None  # pixels in the other byte order: tifffile swaps them
        if sum(int(n) for n in page.databytecounts) < shape[0] * shape[1] * dtype.itemsize:
            return None
        return PlainPage(int(page.dataoffsets[0]), (int(shape[0]), int(shape[1])), dtype.newbyteorder("="), swapped)
    except (AttributeError, TypeError, ValueError):
        return None


def read_plain(handle: BinaryIO, where: PlainPage, rows: slice, out: np.ndarray | None) -> np.ndarray:
    """Rows `rows` (step 1) of a plain page, into `out` when it has their shape and dtype."""
    height, width = where.shape
    dtype = where.dtype
    start, stop, _ = rows.indices(height)
    count = max(stop - start, 0)
    target = out if (out is not None and out.dtype == dtype and out.shape == (count, width)
                     and out.flags.c_contiguous) else np.empty((count, width), dtype)
    at = where.offset + start * where.row_bytes
    view = memoryview(target).cast("B")
    got = _read_at(handle, view, at)
    if got != len(view):
        raise EOFError(f"{got} of {len(view)} bytes at offset {where.offset}")
    if where.swapped:
        target.byteswap(inplace=True)
    if out is not None and target is not out:
        np.copyto(out, target, casting="unsafe")
        return out
    return target


def _read_at(handle: BinaryIO, view: memoryview, at: int) -> int:
    """Read into `view` from offset `at`; the bytes read (fewer only at the end of the file).
    One positioned read (`os.preadv`) where the handle is a file: a seek and a read are two system
    calls, each of which lets another thread take the interpreter, and small frames pay per call."""
    try:
        fd = handle.fileno()
    except (AttributeError, OSError, ValueError):
        fd = -1
    if fd < 0 or not hasattr(os, "preadv"):
        handle.seek(at)
        return handle.readinto(view) or 0
    got = 0
    while got < len(view):
        n = os.preadv(fd, [view[got:]], at + got)
        if n <= 0:
            break
        got += n
    return got


def _plain_of(pages: list[Page]) -> list[PlainPage | None]:
    """Where each scanned page's pixels lie, None for pages tifffile must read."""
    return [None if p.plain_offset is None or p.dtype is None else PlainPage(p.plain_offset, p.shape, p.dtype)
            for p in pages]


def _rows(rows: slice, height: int) -> slice:
    return slice(*rows.indices(height))


class TiffFrames:
    """Pages of one or more TIFF files, in natural file order, then page order."""

    def __init__(self, files: list[str]):
        self.files = files
        self.warnings: list[str] = []
        self.short_of = 0  # frames a stack records that could not be read (cut short): `ufo reco` keeps the step
        self._plain: dict[str, list[PlainPage | None]] = {}  # per file and page: read without tifffile
        self._handle: tuple[str, Any] | None = None
        self._scanned: tuple[str, list[PlainPage | None]] | None = None  # the file of a sequence read last
        pages = self._pages(files[0])
        plain = self._plain.get(files[0])
        if plain and plain[0] is not None:  # what tifffile would say of a plain page, read from its IFD
            self.shape, self.dtype = plain[0].shape, plain[0].dtype
        else:
            with self._open(files[0]) as first:
                page = first.pages[0]
                self.shape = tuple(page.shape)
                self.dtype = np.dtype(page.dtype)
        # A sequence of single-page files is the common case; count pages file by file only
        # when the first file holds several (stacks split over files).
        counts = [pages] + ([1] * (len(files) - 1) if pages == 1 else [self._pages(f) for f in files[1:]])
        self.locations = [(f, p) for f, n in zip(files, counts) for p in range(n)]
        self.count = len(self.locations)
        self._open_file: tuple[str, Any] | None = None

    def _open(self, file: str) -> Any:
        """The file opened by tifffile (imported here: plain pages never need it)."""
        import tifffile

        try:
            return tifffile.TiffFile(file)
        except Exception as exc:
            raise InputError(f"cannot read TIFF file '{file}': {exc}") from exc

    def _pages(self, file: str) -> int:
        """Number of complete pages; a broken page chain (a file cut short) is reported."""
        count = self._scan(file)
        if count is None:
            count = self._pages_by_tifffile(file)
        return self._unclosed_imagej(file) if count == 1 else count

    def _unclosed_imagej(self, file: str) -> int:
        """The frames of a one-page classic ImageJ stack. tifffile writes a stack's pixels one after
        the other behind its first page, and its other pages' IFDs and 'images=N' only at close:
        a stack whose writer was killed, or stopped by a full disk, shows one page and
        'images=1'; its complete frames are counted from the file's size and reported. (ImageJ
        itself writes stacks over 4 GB as one IFD with 'images=N'; those read N frames, also in its
        default big-endian byte order, their pixels swapped once read.)"""
        plain = self._plain.get(file)
        if not plain or len(plain) != 1:
            return 1
        first, description = plain[0], None
        if first is None:
            first, description = self._swapped_page(file)
            if first is None:
                return 1
        nbytes = first.shape[0] * first.row_bytes
        try:
            fits = (os.path.getsize(file) - first.offset) // nbytes
        except OSError:
            return 1
        if fits < 2:
            return 1
        if description is None:
            try:
                with self._open(file) as tif:
                    description = tif.pages[0].description or ""
            except Exception:  # noqa: BLE001 - not a file this recognises: its one page, as before
                return 1
        shaped = _shaped_frames(description)
        if shaped is not None:  # tifffile's own stacks: the other IFDs follow all the pixels
            if shaped <= 1:
                return 1
            self.warnings[:] = [w for w in self.warnings if not w.startswith(f"'{file}' is truncated")]
            count = min(shaped, fits)
            self.short_of += shaped - count
            self.warnings.append(f"'{file}' is a stack of {shaped} frames its writer did not finish (killed, the disk "
                                 f"full, or the file truncated); reading its {count} complete frame(s)")
        elif description.startswith("ImageJ="):
            images = 1
            for line in description.splitlines():
                if line.startswith("images="):
                    images = int(line[7:]) if line[7:].isdigit() else 1
            count = min(images, fits) if images > 1 else fits
            self.short_of += max(0, images - count)
            if images <= 1 or images > fits:
                self.warnings.append(f"'{file}' is an ImageJ stack its writer did not close (killed, or the disk "
                                     f"was full); reading its {count} complete frame(s)")
        else:
            return 1
        plain[0] = first
        plain.extend(first._replace(offset=first.offset + k * nbytes) for k in range(1, count))
        return count

    def _swapped_page(self, file: str) -> tuple[PlainPage | None, str | None]:
        """The one page of a file in the other byte order than the machine's (the IFD scan leaves
        those to tifffile) with the page's description, where its pixels lie in one uncompressed
        piece: an ImageJ stack in ImageJ's default big-endian order may hold all its frames behind
        that page. (None, None) for any other file: read by tifffile, as one page."""
        try:
            with open(file, "rb") as handle:
                if handle.read(2) != (b"MM" if np.little_endian else b"II"):
                    return None, None
            with self._open(file) as tif:
                page = tif.pages[0]
                return plain_page(page, tif.byteorder, swap=True), page.description or ""
        except Exception:  # noqa: BLE001 - not a file this recognises: its one page, as before
            return None, None

    def _scan(self, file: str) -> int | None:
        """The page count from the IFDs read with `struct` (tiff_ifd), where that understands the file."""
        try:
            size = os.path.getsize(file)
            with open(file, "rb") as handle:
                result = scan(handle, size)
        except (OSError, struct.error, ValueError):
            return None
        if result is None or not result[0]:
            return None  # not a TIFF it reads, or no complete page: tifffile's way and its message
        pages, complete = result
        self._plain[file] = _plain_of(pages)
        if not complete:
            self.warnings.append(f"'{file}' is truncated or damaged; reading its {len(pages)} complete page(s)")
        return len(pages)

    def _plain_pages(self, file: str) -> list[PlainPage | None]:
        """Where `file`'s plain pages lie, read from its IFDs when it is first read (tifffile would
        parse the file's tags for each frame; ~0.25 ms a page). Empty where that reading fails:
        tifffile then reads it and reports what is wrong."""
        self.close()
        try:
            handle = open(file, "rb")  # noqa: SIM115 - kept for reading its pixels, closed in close()
        except OSError:
            return []
        self._handle = (file, handle)
        try:
            result = scan(handle, os.fstat(handle.fileno()).st_size)
        except (OSError, struct.error, ValueError):
            return []
        return [] if result is None else _plain_of(result[0])

    def _pages_by_tifffile(self, file: str) -> int:
        with tifffile_complaints() as complaints:
            with self._open(file) as tif:
                size = os.path.getsize(file)
                count = 0
                plain = self._plain.setdefault(file, [])
                for page in tif.pages:
                    ends = [o + n for o, n in zip(page.dataoffsets, page.databytecounts)]  # type: ignore[union-attr]
                    if not ends or not page.shape:
                        complaints.append("a page without image data (a write cut short)")
                        break
                    if max(ends) > size:
                        complaints.append("page data beyond the end of the file")
                        break
                    plain.append(plain_page(page, tif.byteorder))
                    count += 1
        if count == 0:
            raise InputError(f"TIFF file '{file}' holds no complete image (truncated or corrupt)")
        if complaints:
            self.warnings.append(f"'{file}' is truncated or damaged; reading its {count} complete page(s)")
        return count

    def meta(self, index: int) -> dict[str, Any]:
        """A camera frame's number where an ImageJ stack's header lists them (storage.imagej.FrameNumbers)."""
        if not hasattr(self, "_numbers"):
            from .imagej import listed_frame_numbers

            single = len(self.files) == 1 and self.count > 1
            self._numbers = listed_frame_numbers(self.files[0], self.count) if single else None
        return {"frame_number": self._numbers[index]} if self._numbers and index < len(self._numbers) else {}

    def label(self, index: int) -> str:
        file, page = self.locations[index]
        return file if page == 0 and len(self.files) > 1 else f"{file}[{page}]"

    def read(self, index: int, rows: slice, out: np.ndarray | None) -> np.ndarray:
        file, page = self.locations[index]
        pages = self._plain.get(file)
        if pages is None:  # one of a sequence of single-page files, not scanned when counted
            if self._scanned is None or self._scanned[0] != file:
                self._scanned = (file, self._plain_pages(file))  # only the latest: 100 000 files stay small
            pages = self._scanned[1]
        where = pages[page] if page < len(pages) else None
        if where is not None and where.shape == self.shape and _rows(rows, self.shape[0]).step == 1:
            self._check_type(index, where.dtype)
            return self._read_plain(file, where, rows, out)
        with tifffile_complaints() as complaints:  # said in the error, not printed beside it
            return self._read_by_tifffile(index, file, page, rows, out, complaints)

    def _read_by_tifffile(self, index: int, file: str, page: int, rows: slice, out: np.ndarray | None,
                          complaints: list[str]) -> np.ndarray:
        if self._open_file is None or self._open_file[0] != file:
            self.close()
            self._open_file = (file, self._open(file))
        tif = self._open_file[1]
        try:
            p = tif.pages[page]
            if tuple(p.shape) != self.shape:
                raise InputError(
                    f"'{self.label(index)}' has shape {tuple(p.shape)}, the first frame {self.shape}: "
                    "all frames of one stream must have one shape"
                )
            self._check_type(index, np.dtype(p.dtype))
            full = rows == slice(None) or _rows(rows, self.shape[0]) == slice(0, self.shape[0], 1)
            if full and out is not None and out.dtype == self.dtype and out.shape == self.shape:
                return p.asarray(out=out)  # type: ignore[no-any-return]
            data = p.asarray()[rows]
        except InputError:
            raise
        except IndexError as err:
            why = f": {complaints[0]}" if complaints else ""
            raise InputError(f"TIFF file '{file}' has fewer pages than expected (page {page} missing{why})") from err
        except Exception as exc:
            if "imagecodecs" in str(exc):  # a compression (LZW, JPEG, ...) tifffile decodes only with it
                raise InputError(f"cannot read '{self.label(index)}': its compression needs the imagecodecs "
                                 f"package: pip install imagecodecs ({exc})") from exc
            raise InputError(f"cannot read '{self.label(index)}' (truncated or corrupt?): {exc}") from exc
        if out is None:
            return data  # type: ignore[no-any-return]
        np.copyto(out, data, casting="unsafe")
        return out

    def _check_type(self, index: int, dtype: np.dtype) -> None:
        """A frame whose pixels are of another type than the first frame's is refused, saying so:
        casting it (tifffile's "cannot cast float32 to uint16", called truncated or corrupt) or
        passing it on would give the stream frames of two types."""
        if (dtype.kind, dtype.itemsize) == (self.dtype.kind, self.dtype.itemsize):
            return
        first = "file" if len(self.files) > 1 else "frame"
        raise InputError(f"'{self.label(index)}' holds {dtype.newbyteorder('=').name} frames, the first {first} "
                         f"'{self.label(0)}' {self.dtype.newbyteorder('=').name}: all frames of one stream must "
                         "have one type (convert the odd file, or read the files apart)")

    def _read_plain(self, file: str, where: PlainPage, rows: slice, out: np.ndarray | None) -> np.ndarray:
        if self._handle is None or self._handle[0] != file:
            self.close()
            try:
                self._handle = (file, open(file, "rb"))  # noqa: SIM115 - kept open across frames, closed in close()
            except OSError as exc:
                raise InputError(f"cannot read TIFF file '{file}': {exc}") from exc
        try:
            return read_plain(self._handle[1], where, rows, out)
        except (OSError, EOFError) as exc:
            raise InputError(f"cannot read '{file}' (truncated since it was opened?): {exc}") from exc

    def close(self) -> None:
        if self._open_file is not None:
            self._open_file[1].close()
            self._open_file = None
        if self._handle is not None:
            self._handle[1].close()
            self._handle = None


def _shaped_frames(description: str) -> int | None:
    """Frames of a stack tifffile wrote with its shape in the first page's description
    ('{"shape": [180, 2160, 2560]}'): the product of the axes before the last two; None for
    another description (an RGB or planar last axis is left to the pages)."""
    import json

    if not description.startswith("{") or '"shape"' not in description:
        return None
    try:
        shape = json.loads(description).get("shape")
    except (ValueError, AttributeError):
        return None
    if not isinstance(shape, list) or len(shape) < 3 or not all(isinstance(n, int) and n > 0 for n in shape):
        return None
    if shape[-1] in (3, 4) and len(shape) > 3:
        return None
    return int(np.prod(shape[:-2]))


@contextlib.contextmanager
def tifffile_complaints() -> Iterator[list[str]]:
    """tifffile's log messages while inside, kept in the list instead of printed: a damaged file's
    "invalid offset to first page" came out raw beside ufo's own one-line error."""
    complaints: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: complaints.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("tifffile")
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False
    try:
        yield complaints
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
