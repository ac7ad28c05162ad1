"""A single-page classic TIFF file in one write: the header and IFD built with `struct`, then the pixels.

Why: `tifffile.imwrite` of one frame opens the file, writes an 8-byte header, seeks, hands the
pixels to numpy's `tofile` through a duplicated descriptor, seeks back and writes the IFD: about
20 system calls and 1 ms of Python a file, as much as the pixels of a 512 x 512 slice cost and
12 % of a 2048 x 2048 uint16 frame. A TIFF sequence writes one such file per frame, so here the
bytes before the pixels (header, one IFD, the JSON description) are built in a few microseconds
and go out with the pixels in one `writev`, with no copy of the pixels. The file is what tifffile
writes for the same call (`imwrite(path, frame, description=..., metadata=None)`), little-endian,
one strip, minisblack: ImageJ, tifffile and libtiff open it. Frames this does not cover (not 2-D,
not a plain numeric dtype, big-endian, past classic TIFF's 4 GB) return None from `page_header`
and the caller keeps tifffile's way.
"""

from __future__ import annotations

import os
import struct
import sys

import numpy as np

# (tag, TIFF type) in ascending tag order, as TIFF requires; SHORT = 3, LONG = 4, ASCII = 2, RATIONAL = 5
_SHORT, _LONG, _ASCII, _RATIONAL = 3, 4, 2, 5
_CENTIMETER = 3  # ResolutionUnit
_SAMPLE_FORMAT = {"u": 1, "i": 2, "f": 3}
_ALIGN = 16  # the pixels start on a 16-byte boundary (any reader may map them)


def rational(value: float) -> tuple[int, int]:
    """`value` as a TIFF RATIONAL (two unsigned 32-bit integers), as tifffile makes one."""
    from fractions import Fraction

    fraction = Fraction(value).limit_denominator(2**16)
    return min(fraction.numerator, 2**32 - 1), max(1, min(fraction.denominator, 2**32 - 1))


def page_header(frame: np.ndarray, description: str, per_cm: float | None = None) -> bytes | None:
    """The bytes of a one-page classic TIFF that come before `frame`'s pixels, or None where this
    module does not cover the frame (the caller then writes it with tifffile). `per_cm`: pixels per
    centimetre (X and YResolution, ResolutionUnit cm), which ImageJ, Fiji's image sequences and
    tifffile take for the pixel size."""
    dtype = frame.dtype
    if (frame.ndim != 2 or dtype.kind not in _SAMPLE_FORMAT or dtype.itemsize > 8
            or dtype.byteorder == ">" or (dtype.byteorder == "=" and sys.byteorder != "little")):
        return None
    if not description.isascii():
        return None  # TIFF strings are 7-bit ASCII: tifffile says so (json.dumps never makes one)
    text = description.encode("ascii") + b"\0"
    pad = b"\0" * (len(text) % 2)  # the rationals after the text on a word boundary
    height, width = frame.shape
    entries = 11 + 3 * (per_cm is not None)
    ifd_end = 8 + 2 + entries * 12 + 4
    text_at = ifd_end
    resolution = struct.pack("<II", *rational(per_cm)) if per_cm is not None else b""
    rationals_at = text_at + len(text) + len(pad)
    data_at = -(-(rationals_at + 2 * len(resolution)) // _ALIGN) * _ALIGN
    if data_at + frame.nbytes >= 2**32:
        return None  # classic TIFF offsets are 32 bits: tifffile writes BigTIFF
    tags = [
        (256, _LONG, 1, width),
        (257, _LONG, 1, height),
        (258, _SHORT, 1, dtype.itemsize * 8),  # BitsPerSample
        (259, _SHORT, 1, 1),  # Compression: none
        (262, _SHORT, 1, 1),  # Photometric: minisblack
        (270, _ASCII, len(text), text_at),  # ImageDescription
        (273, _LONG, 1, data_at),  # StripOffsets: one strip
        (277, _SHORT, 1, 1),  # SamplesPerPixel
        (278, _LONG, 1, height),  # RowsPerStrip
        (279, _LONG, 1, frame.nbytes),  # StripByteCounts
        *([(282, _RATIONAL, 1, rationals_at), (283, _RATIONAL, 1, rationals_at + 8),
           (296, _SHORT, 1, _CENTIMETER)] if per_cm is not None else []),  # X, YResolution, ResolutionUnit
        (339, _SHORT, 1, _SAMPLE_FORMAT[dtype.kind]),  # SampleFormat
    ]
    assert len(tags) == entries
    out = bytearray(b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", entries))
    for tag, kind, count, value in tags:
        if kind == _ASCII and count <= 4:  # four bytes or fewer sit in the entry itself
            packed = text.ljust(4, b"\0")
        else:
            packed = struct.pack("<HH", value, 0) if kind == _SHORT else struct.pack("<I", value)
        out += struct.pack("<HHI", tag, kind, count) + packed
    out += struct.pack("<I", 0)  # no next IFD
    out += text + pad + resolution + resolution
    out += b"\0" * (data_at - len(out))
    return bytes(out)


def write_page(path: str, frame: np.ndarray, description: str, per_cm: float | None = None) -> bool:
    """Write `frame` as a one-page TIFF at `path` (created or truncated) in one writev; False (and
    nothing written) where `page_header` does not cover the frame."""
    header = page_header(frame, description, per_cm)
    if header is None:
        return False
    pixels = memoryview(np.ascontiguousarray(frame)).cast("B")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        done = os.writev(fd, [header, pixels])
        rest = pixels[max(done - len(header), 0):]
        if done < len(header):  # a short write inside the header (a signal, a full disk): finish it
            rest = memoryview(header[done:] + bytes(pixels))
        while rest:
            rest = rest[os.write(fd, rest):]
    finally:
        os.close(fd)
    return True
