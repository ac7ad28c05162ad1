"""`ufo reco` of scans written by other tools: external links, hdf5plugin filters, NXtomo files
named as darks/flats or by their dataset, DXchange theta in radians, darks saved as RGB.

Each scan holds raw frames (dark + non-uniform flat x transmission) of scikit-image's
Shepp-Logan phantom; each reconstruction is compared with scikit-image's own `radon`/`iradon`
of the same phantom (an independent reference, same geometry: docs/conventions.md).
"""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest

from tests.fading_scan import fading_scan
from ufo import reco
from ufo.core import UsageError

skimage_transform = pytest.importorskip("skimage.transform")
W, ROWS, N = 96, 3, 90
DARK, FLAT = 100.0, 1000.0


@pytest.fixture(scope="module")
def scan():
    """(projections angles x rows x width, darks, flats, degrees, reference slices rows x W x W)."""
    degrees = np.arange(N) * 180.0 / N
    made = fading_scan(W, ROWS, degrees, fade=1.0)
    ref = np.stack([skimage_transform.iradon(made.line[:, r].T, theta=degrees, filter_name="ramp", circle=True,
                                             output_size=W) for r in range(ROWS)])
    return made.projections, np.full((2, ROWS, W), DARK), np.stack([made.before] * 2), degrees, ref


def reconstruct(tmp_path, **options) -> np.ndarray:
    out = tmp_path / "slices.h5"
    reco.run(reco.plan(reco.RecoOptions(output=f"{out}:/data", axis=W / 2, gpus="cpu", overwrite=True, **options)))
    with h5py.File(out, "r") as f:
        return f["/data"][()]


def assert_matches(slices: np.ndarray, ref: np.ndarray) -> None:
    assert slices.shape == ref.shape
    inside = np.hypot(*(np.mgrid[:W, :W] - W / 2)) < W / 2 - 5
    for got, want in zip(slices, ref):
        error = np.sqrt(np.mean((got - want)[inside] ** 2)) / np.sqrt(np.mean(want[inside] ** 2))
        assert error < 0.02, error  # measured 0.0005-0.006 (uint16 rounding)


def test_external_link_to_uncompressed_frames(tmp_path, scan):
    """Frames reached through an external link lie in the other file: positioned reads of the
    linked file's offsets in the master file gave garbage (rel. error 8)."""
    projections, darks, flats, _, ref = scan
    with h5py.File(tmp_path / "data.h5", "w") as f:
        f["padding"] = np.arange(50_000, dtype=np.uint16)
        f.create_dataset("frames", data=projections.astype(np.uint16), chunks=(1, ROWS, W))
    with h5py.File(tmp_path / "master.h5", "w") as f:
        f["padding"] = np.arange(200_000, dtype=np.uint16)[::-1]
        f["projections"] = h5py.ExternalLink("data.h5", "/frames")
        f["darks"], f["flats"] = darks.astype(np.uint16), flats.astype(np.uint16)
    master = tmp_path / "master.h5"
    assert_matches(reconstruct(tmp_path, projections=f"{master}:/projections", darks=f"{master}:/darks",
                               flats=f"{master}:/flats"), ref)


def write_nxtomo(path, scan, link: bool = False) -> str:
    """darks, flats, half the projections, an invalid frame (image_key 3), the rest, flats after, as
    the nxtomo package writes; `link`: its frames moved to another file behind an external link."""
    nxtomo = pytest.importorskip("nxtomo")
    import pint
    from nxtomo.nxobject.nxdetector import ImageKey as K

    projections, darks, flats, degrees, _ = scan
    half = N // 2
    data = [*darks, *flats, *projections[:half], projections[0] * 0 + 60_000, *projections[half:], *flats]
    keys = [K.DARK_FIELD] * 2 + [K.FLAT_FIELD] * 2 + [K.PROJECTION] * half + [K.INVALID] + \
        [K.PROJECTION] * (N - half) + [K.FLAT_FIELD] * 2
    angles = [0] * 4 + list(degrees[:half]) + [45] + list(degrees[half:]) + [180] * 2
    nx = nxtomo.NXtomo()
    nx.instrument.detector.data = np.asarray(data).astype(np.uint16)
    nx.instrument.detector.image_key_control = keys
    nx.sample.rotation_angle = np.asarray(angles, float) * pint.get_application_registry().degree
    nx.save(str(path), "entry0000", overwrite=True)
    if link:
        with h5py.File(path, "a") as f:
            frames = f["entry0000/instrument/detector/data"][()]
            del f["entry0000/instrument/detector/data"]
            with h5py.File(str(path) + ".data.h5", "w") as g:
                g.create_dataset("scan/frames", data=frames, chunks=(1, ROWS, W))
            f["entry0000/instrument/detector/data"] = h5py.ExternalLink(path.name + ".data.h5", "/scan/frames")
    return str(path)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("how", ["darks-and-flats-named", "dataset-named", "data-linked"])
def test_nxtomo_image_keys_hold(tmp_path, scan, how):
    """The NXtomo given as --darks/--flats gave all its frames as darks and as flats; named by its
    frames' dataset, its darks, flats and invalid frame were projections; with its frames behind an
    external link, the reader raised KeyError (a traceback)."""
    path = write_nxtomo(tmp_path / "scan.nx", scan, link=how == "data-linked")
    if how == "darks-and-flats-named":
        options = dict(projections=path, darks=path, flats=path)
    elif how == "dataset-named":
        options = dict(projections=f"{path}:/entry0000/instrument/detector/data")
    else:
        options = dict(projections=path)
    assert_matches(reconstruct(tmp_path, **options), scan[-1])


def test_dxchange_theta_in_radians_without_units(tmp_path, scan):
    """tomopy's users write theta in radians without units: it was read as degrees (a 3-degree scan)."""
    projections, darks, flats, degrees, ref = scan
    path = tmp_path / "tomopy.h5"
    with h5py.File(path, "w") as f:
        f["/exchange/data"], f["/exchange/data_dark"] = projections.astype(np.uint16), darks.astype(np.uint16)
        f["/exchange/data_white"], f["/exchange/theta"] = flats.astype(np.uint16), np.radians(degrees)
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert any("read as radians" in w for w in plan.warnings)
    assert_matches(reconstruct(tmp_path, projections=str(path)), ref)


def test_blosc_and_bitshuffle_compressed_frames(tmp_path, scan):
    """Filters of hdf5plugin (Dectris writes Bitshuffle-LZ4) were unknown to the reader: 'can't open directory'."""
    hdf5plugin = pytest.importorskip("hdf5plugin")
    projections, darks, flats, _, ref = scan
    for name, compression in (("blosc", hdf5plugin.Blosc(cname="lz4")), ("bslz4", hdf5plugin.Bitshuffle())):
        path = tmp_path / f"{name}.h5"
        with h5py.File(path, "w") as f:
            f.create_dataset("p", data=projections.astype(np.uint16), chunks=(1, ROWS, W), **compression)
            f["d"], f["f"] = darks.astype(np.uint16), flats.astype(np.uint16)
        out = tmp_path / f"{name}-slices.h5"  # in a process of its own: this one has hdf5plugin loaded
        done = subprocess.run([sys.executable, "-m", "ufo", "reco", "--gpus", "cpu", "--projections", f"{path}:/p",
                               "--darks", f"{path}:/d", "--flats", f"{path}:/f", "--axis", str(W / 2),
                               "--output", f"{out}:/data"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-500:]
        with h5py.File(out, "r") as f:
            assert_matches(f["/data"][()], ref)


def test_darks_of_another_shape_are_refused_before_work(tmp_path, scan):
    """tifffile saves 3 darks as one planar RGB image: it was read as one frame of 3 rows and failed
    inside the graph with 'height exceeds the 3 rows'."""
    tifffile = pytest.importorskip("tifffile")
    projections, darks, flats, _, _ = scan
    tifffile.imwrite(tmp_path / "p.tif", projections.astype(np.uint16))
    tifffile.imwrite(tmp_path / "d.tif", np.concatenate([darks, darks[:1]]).astype(np.uint16))  # 3: RGB
    tifffile.imwrite(tmp_path / "f.tif", flats.astype(np.uint16))
    with pytest.raises(UsageError, match=r"--darks .*d\.tif' holds frames of 3 x 3 x 96 pixels.*RGB"):
        reco.plan(reco.RecoOptions(projections=str(tmp_path / "p.tif"), darks=str(tmp_path / "d.tif"),
                                   flats=str(tmp_path / "f.tif"), output=str(tmp_path / "s.h5:/data")))


@pytest.mark.parametrize("compression", ["lzw", "zstd", "packbits"])
def test_compressed_tiff_folders_as_other_tools_save_them(tmp_path, scan, compression):
    """LZW (Pillow, MATLAB, most image programs) and zstd TIFFs need imagecodecs, which the reader
    lacked: 'truncated or corrupt?'. One 16-bit page per projection, as a camera's software saves them."""
    tifffile = pytest.importorskip("tifffile")
    projections, darks, flats, _, ref = scan
    folder = tmp_path / "proj"
    folder.mkdir()
    for i, frame in enumerate(projections.astype(np.uint16)):
        tifffile.imwrite(folder / f"p_{i:04d}.tif", frame, compression=compression)
    tifffile.imwrite(tmp_path / "d.tif", darks.astype(np.uint16), compression=compression, photometric="minisblack")
    tifffile.imwrite(tmp_path / "f.tif", flats.astype(np.uint16), compression=compression, photometric="minisblack")
    assert tifffile.TiffFile(folder / "p_0000.tif").pages[0].compression.name == compression.upper()
    assert_matches(reconstruct(tmp_path, projections=str(folder), darks=str(tmp_path / "d.tif"),
                               flats=str(tmp_path / "f.tif")), ref)


def test_an_esrf_edf_scan_folder(tmp_path, scan):
    """An ESRF scan as ID19's acquisition saved them for PyHST2 and nabu: one EDF file per
    projection (written by fabio, the ESRF's library), the dark as `darkend0000.edf` and the flat
    as `refHST0000.edf`, float32."""
    edf = pytest.importorskip("fabio.edfimage")
    projections, darks, flats, _, ref = scan
    folder = tmp_path / "scan"
    folder.mkdir()
    for i, frame in enumerate(projections.astype(np.uint16)):
        edf.EdfImage(data=frame, header={"SRCUR": "200.0"}).write(str(folder / f"scan_{i:04d}.edf"))
    edf.EdfImage(data=darks.mean(0).astype(np.float32)).write(str(tmp_path / "darkend0000.edf"))
    edf.EdfImage(data=flats.mean(0).astype(np.float32)).write(str(tmp_path / "refHST0000.edf"))
    assert_matches(reconstruct(tmp_path, projections=str(folder / "scan_*.edf"),
                               darks=str(tmp_path / "darkend0000.edf"), flats=str(tmp_path / "refHST0000.edf")), ref)


def write_esrf_folder(folder, scan, scan_range=180, extra=3):
    """An ESRF EDF scan folder as fasttomo wrote them: NAME.info, NAMENNNN.edf (the scan, then
    `extra` alignment projections), darkend0000.edf, refHST0000.edf and refHST<N>.edf (flats
    before and after), and a reconstructed slice beside them."""
    edf = pytest.importorskip("fabio.edfimage")
    projections, darks, flats, _, _ = scan
    folder.mkdir()
    name = folder.name
    (folder / f"{name}.info").write_text(f"Prefix=         {name}\nScanRange=      {scan_range}\nTOMO_N=         {N}\n"
                                         f"REF_ON=         {N}\nDim_1=          {W}\nDim_2=          {ROWS}\n"
                                         "PixelSize=      6.5\nDistance=      500\nEnergy=        30\n")
    for i, frame in enumerate(projections.astype(np.uint16)):
        edf.EdfImage(data=frame).write(str(folder / f"{name}{i:04d}.edf"))
    for i in range(N, N + extra):  # alignment projections: not of the scan's angles
        edf.EdfImage(data=np.full((ROWS, W), 60000, np.uint16)).write(str(folder / f"{name}{i:04d}.edf"))
    edf.EdfImage(data=darks.mean(0).astype(np.float32)).write(str(folder / "darkend0000.edf"))
    for i in (0, N):
        edf.EdfImage(data=flats.mean(0).astype(np.float32)).write(str(folder / f"refHST{i:04d}.edf"))
    edf.EdfImage(data=np.zeros((W, W), np.float32)).write(str(folder / f"{name}slice_0000.edf"))
    return folder


def test_an_esrf_scan_folder_gives_its_projections_references_and_angles(tmp_path, scan):
    """The folder alone, as nabu takes it: TOMO_N projections (not the alignment ones after
    them), darkend0000 and the two refHST flats, the angle step from ScanRange."""
    folder = write_esrf_folder(tmp_path / "crayon_", scan)
    plan = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert plan.projections == N and plan.options.flats2 and plan.options.darks.endswith("darkend0000.edf")
    assert plan.options.angle == pytest.approx(np.pi / N)
    assert any("3 alignment projection(s)" in w for w in plan.warnings)
    assert "ESRF scan" in plan.describe() and "refHST0090.edf" in plan.describe()
    assert_matches(reconstruct(tmp_path, projections=str(folder)), scan[4])
    from ufo.storage import open_source

    everything = open_source(str(folder))  # `read path=FOLDER`: every EDF file, and a warning saying so
    assert everything.count == N + 3 + 1 + 2 + 1 and any("ESRF scan folder" in w for w in everything.warnings)
    everything.close()


def test_an_esrf_360_degree_folder_and_a_broken_one(tmp_path, scan):
    folder = write_esrf_folder(tmp_path / "full_", scan, scan_range=360, extra=0)
    plan = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert plan.options.angle == pytest.approx(2 * np.pi / (N - 1))  # nabu: 0 to 360 degrees with the end
    for i in range(60, N):  # the scan stopped after 60 projections
        (folder / f"full_{i:04d}.edf").unlink()
    with pytest.raises(UsageError, match="holds 60 of the 90 projections.*--number 60"):
        reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "t.h5:/data")))
    plan = reco.plan(reco.RecoOptions(projections=str(folder), number=60, output=str(tmp_path / "t.h5:/data")))
    assert plan.projections == 60 and plan.options.angle == pytest.approx(2 * np.pi / (N - 1))
    (folder / "full_0042.edf").unlink()
    with pytest.raises(UsageError, match="full_'.*numbered 42 are missing"):
        reco.plan(reco.RecoOptions(projections=str(folder), number=60, output=str(tmp_path / "t.h5:/data")))
    (folder / "full_.info").write_text("ScanRange= 360\n")
    with pytest.raises(UsageError, match="TOMO_N .* is missing"):
        reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "t.h5:/data")))


def test_nxtomo_flats_before_and_after_a_drifting_beam_are_interpolated(tmp_path, scan):
    """The beam grew 30 % brighter over the scan: flats before and after, each projection lit by
    the flat of its time. Combined into one median (before), the line integrals were off by up to
    ln(1.15) = 0.14 and the slices failed; the two runs interpolated by each projection's place
    in the file, as nabu does, match (tests/test_flat_runs.py: more runs)."""
    projections, darks, flats, degrees, ref = scan
    line = -np.log((projections - DARK) / (flats[0] - DARK))  # the scan's line integrals
    before, after = flats[0], DARK + 1.3 * (flats[0] - DARK)
    w = (np.arange(N) + 4 - 2.5) / (N + 4.5 - 2.5)  # each projection's time between the runs' centres (frames)
    lit = [DARK + ((1 - w[i]) * (before - DARK) + w[i] * (after - DARK)) * np.exp(-line[i]) for i in range(N)]
    data = np.asarray([*darks, before, before, *lit, after, after]).astype(np.uint16)
    keys = [2, 2, 1, 1] + [0] * N + [1, 1]
    path = tmp_path / "drift.nx"
    with h5py.File(path, "w") as f:
        entry = f.create_group("entry")
        entry.attrs["NX_class"] = "NXentry"
        entry["definition"] = "NXtomo"
        detector = entry.create_group("instrument/detector")
        detector["data"] = data
        detector["image_key"] = np.asarray(keys, np.int32)
        entry["sample/rotation_angle"] = np.asarray([0.0] * 4 + list(degrees) + [180.0] * 2)
        entry["sample/rotation_angle"].attrs["units"] = "degree"
    from ufo.storage import open_source

    last = open_source(str(path), image_key=1, image_key_run=-1)
    assert last.count == 2 and np.array_equal(last.read(1, slice(None), None), after.astype(np.uint16))
    with pytest.raises(UsageError, match="holds 2 run.*not a run 2"):
        open_source(str(path), image_key=1, image_key_run=2)
    plan = reco.plan(reco.RecoOptions(projections=str(path), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    assert not plan.key_runs and "2 runs in the file" in plan.describe() and plan.options.flats2 is None
    assert_matches(reconstruct(tmp_path, projections=str(path)), ref)


@pytest.mark.parametrize("scan_range", [180, 360])
def test_an_esrf_folder_is_read_as_tomoscan_reads_it(tmp_path, scan, scan_range):
    """tomoscan (the ESRF's scan library, which nabu reads EDF scans with) as the reference: the
    same projection files, the same alignment frames left out, the same angles and flats."""
    edfscan = pytest.importorskip("tomoscan.esrf.scan.edfscan")
    folder = write_esrf_folder(tmp_path / "ref_", scan, scan_range=scan_range)
    theirs = edfscan.EDFTomoScan(str(folder))
    plan = reco.plan(reco.RecoOptions(projections=str(folder), output=str(tmp_path / "s.h5:/data"), axis=W / 2))
    from ufo.storage import open_source

    ours = open_source(plan.options.projections)
    files = [ours.label(i) for i in range(plan.projections)]
    ours.close()
    assert files == [theirs.projections[i].file_path() for i in sorted(theirs.projections)]
    assert sorted(theirs.alignment_projections) == list(range(N, N + 3))
    angles = np.degrees(plan.options.offset + plan.options.angle * np.arange(plan.projections))
    np.testing.assert_allclose(angles, theirs.rotation_angle(), atol=1e-4)
    first, last = min(theirs.flats), max(theirs.flats)
    assert (plan.options.flats, plan.options.flats2) == (theirs.flats[first].file_path(), theirs.flats[last].file_path())
