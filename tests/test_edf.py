"""EDF files (ESRF Data Format) read by ufo.storage.edf: files written by fabio (the ESRF's own
library, the reference here), headers written by hand for what fabio rarely writes (big-endian
pixels, Dim_3 planes, frames compressed inside the file), files cut short by a killed writer,
and files that only claim to be EDF. Each read is compared with the array written."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest
from click.testing import CliRunner

from ufo.cli.main import cli
from ufo.core.errors import InputError
from ufo.storage.readers import open_source

fabio_edf = pytest.importorskip("fabio.edfimage")
RNG = np.random.default_rng(7)


def frames(count: int, shape=(6, 9), dtype=np.uint16) -> list[np.ndarray]:
    return [(RNG.random(shape) * 60000).astype(dtype) for _ in range(count)]


def write_fabio(path, stack: list[np.ndarray]) -> str:
    image = fabio_edf.EdfImage(data=stack[0], header={"Title": "ufo test"})
    for frame in stack[1:]:
        image.append_frame(data=frame)
    image.write(str(path))
    return str(path)


def edf_block(data: np.ndarray, kind: str, order: str = "LowByteFirst", extra: str = "", packed: bytes | None = None,
              planes: int = 1) -> bytes:
    """One header (padded to 512 bytes, as ESRF writers do) and its bytes."""
    body = packed if packed is not None else data.tobytes()
    lines = (f"HeaderID = EH:000001:000000:000000 ;\nByteOrder = {order} ;\nDataType = {kind} ;\n"
             f"Dim_1 = {data.shape[-1]} ;\nDim_2 = {data.shape[-2]} ;\n" + (f"Dim_3 = {planes} ;\n" if planes > 1 else "")
             + f"Size = {len(body)} ;\n{extra}")
    head = "{\n" + lines
    head += " " * (512 - (len(head) + 2) % 512) + "}\n"
    return head.encode() + body


def read_all(path: str) -> list[np.ndarray]:
    source = open_source(path)
    try:
        return [source.read(i, slice(None), None) for i in range(source.count)]
    finally:
        source.close()


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int16, np.int32, np.uint32, np.float32, np.float64])
def test_fabio_files_of_every_type_read_as_written(tmp_path, dtype):
    stack = frames(3, dtype=dtype)
    path = write_fabio(tmp_path / "scan.edf", stack)
    source = open_source(path)
    assert (source.count, source.shape, source.dtype) == (3, (6, 9), np.dtype(dtype))
    for i, frame in enumerate(stack):
        np.testing.assert_array_equal(source.read(i, slice(None), None), frame)
    out = np.zeros((3, 9), np.float32)  # a band of rows into a caller's buffer of another type
    source.read(2, slice(2, 5), out)
    np.testing.assert_array_equal(out, stack[2][2:5].astype(np.float32))
    np.testing.assert_array_equal(source.read(1, slice(0, 6, 2), None), stack[1][::2])
    source.close()


def test_a_folder_of_single_frame_files_and_a_compressed_file(tmp_path):
    stack = frames(12)
    folder = tmp_path / "proj"
    folder.mkdir()
    for i, frame in enumerate(stack):  # natural order: p_2 before p_10
        write_fabio(folder / f"p_{i}.edf", [frame])
    got = read_all(str(folder))
    assert len(got) == 12 and all(np.array_equal(a, b) for a, b in zip(got, stack))
    assert [np.array_equal(a, b) for a, b in zip(read_all(str(folder / "p_*.edf")), stack)] == [True] * 12
    write_fabio(tmp_path / "whole.edf.gz", stack[:2])
    with gzip.open(tmp_path / "whole.edf.gz") as f:
        assert f.read(1) == b"{"  # really compressed whole
    got = read_all(str(tmp_path / "whole.edf.gz"))
    assert len(got) == 2 and np.array_equal(got[1], stack[1])


def test_hand_written_big_endian_planes_and_compressed_frames_agree_with_fabio(tmp_path):
    a, b = frames(2, shape=(5, 8), dtype=np.float32)
    planes = np.stack(frames(3, shape=(5, 8), dtype=np.int32))
    path = tmp_path / "mixed.edf"
    path.write_bytes(edf_block(a.astype(">f4"), "FloatValue", "HighByteFirst")
                     + edf_block(b, "FloatValue", extra="Compression = gzip ;\n", packed=gzip.compress(b.tobytes()))
                     + edf_block(planes.astype(np.float32), "FloatValue", planes=3))
    got = read_all(str(path))
    want = [a, b, *planes.astype(np.float32)]
    assert len(got) == 5 and all(np.array_equal(g, w) for g, w in zip(got, want))
    assert got[0].dtype == np.float32 and got[0].dtype.isnative
    ref = fabio_edf.EdfImage()
    ref.read(str(path))
    np.testing.assert_array_equal(ref.getframe(0).data, got[0])  # fabio reads the same file the same way
    np.testing.assert_array_equal(ref.getframe(1).data, got[1])
    # a band of rows of a big-endian frame (byte-swapped after a positioned read)
    np.testing.assert_array_equal(open_source(str(path)).read(0, slice(1, 3), None), a[1:3])


def test_a_file_cut_short_reads_to_its_last_complete_frame(tmp_path):
    stack = frames(4, shape=(64, 64))
    path = write_fabio(tmp_path / "killed.edf", stack)
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size - 100)  # the writer killed inside the last frame
    source = open_source(path)
    assert source.count == 3 and any("truncated" in w and "3 complete" in w for w in source.warnings)
    np.testing.assert_array_equal(source.read(2, slice(None), None), stack[2])
    # a folder whose last file a killed writer left with half a header
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, frame in enumerate(stack):
        write_fabio(folder / f"f_{i:03d}.edf", [frame])
    (folder / "f_004.edf").write_bytes(b"{\nHeaderID = EH:000001 ;\nDim_1 = 64 ;\n")
    source = open_source(str(folder))
    assert source.count == 4 and any("f_004.edf" in w and "no complete frame" in w for w in source.warnings)
    np.testing.assert_array_equal(source.read(3, slice(None), None), stack[3])


def test_what_is_not_edf_is_refused_by_name(tmp_path):
    (tmp_path / "notes.edf").write_bytes(b"just some text, not an image\n" * 40)
    with pytest.raises(InputError, match="notes.edf' is not an EDF file"):
        open_source(str(tmp_path / "notes.edf"))
    (tmp_path / "odd.edf").write_bytes(edf_block(np.zeros((2, 2), np.uint16), "Complex64"))
    with pytest.raises(InputError, match="DataType 'Complex64' is not supported"):
        open_source(str(tmp_path / "odd.edf"))
    (tmp_path / "packed.edf").write_bytes(edf_block(np.zeros((2, 2), np.uint16), "UnsignedShort",
                                                    extra="Compression = RLE ;\n", packed=b"xx"))
    with pytest.raises(InputError, match="Compression 'RLE' is not supported"):
        open_source(str(tmp_path / "packed.edf"))
    write_fabio(tmp_path / "a.edf", frames(1))
    (tmp_path / "b.tif").write_bytes(b"II*\0")
    with pytest.raises(InputError, match="matches EDF files and others.*b.tif"):
        open_source(str(tmp_path))
    stack = frames(2) + frames(1, shape=(7, 9))
    folder = tmp_path / "shapes"
    folder.mkdir()
    for i, frame in enumerate(stack):
        write_fabio(folder / f"p_{i}.edf", [frame])
    source = open_source(str(folder))
    with pytest.raises(InputError, match=r"p_2.edf' is a \(7, 9\) uint16 frame, the first \(6, 9\)"):
        source.read(2, slice(None), None)


def test_ufo_run_reads_edf_into_a_tiff(tmp_path):
    stack = frames(5, shape=(16, 24), dtype=np.float32)
    path = write_fabio(tmp_path / "in.edf", stack)
    out = tmp_path / "out.tif"
    result = CliRunner().invoke(cli, ["run", f"read path={path} ! write filename={out}"])
    assert result.exit_code == 0, result.output
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(out), np.stack(stack))


def test_hostile_headers_give_one_clear_error_or_frames(tmp_path):
    """Random headers and cut-off bytes: an InputError naming the file, or frames; never another
    exception (a traceback at 3 a.m.)."""
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    keys = st.sampled_from(["Dim_1", "Dim_2", "Dim_3", "Size", "DataType", "ByteOrder", "Compression", "EDF_BinarySize"])
    values = st.one_of(st.integers(-5, 2**40).map(str), st.sampled_from(["UnsignedShort", "FloatValue", "gzip", "z",
                                                                        "HighByteFirst", "x", "", "1e3", "nan"]))
    path = tmp_path / "fuzz.edf"

    @hypothesis.settings(max_examples=300, deadline=None)
    @hypothesis.given(st.lists(st.tuples(keys, values), max_size=8), st.binary(max_size=300), st.booleans())
    def check(pairs, body, close):
        header = "{\n" + "".join(f"{k} = {v} ;\n" for k, v in pairs) + ("}\n" if close else "")
        path.write_bytes(header.encode() + body)
        try:
            source = open_source(str(path))
        except InputError as exc:
            assert "fuzz.edf" in str(exc)
            return
        try:
            for i in range(source.count):
                try:
                    frame = source.read(i, slice(None), None)
                except InputError:
                    continue
                assert frame.shape == source.shape
        finally:
            source.close()

    check()
