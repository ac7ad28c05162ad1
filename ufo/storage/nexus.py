"""Where the writers' `metadata` goes in HDF5 files: NXtomo and DXchange places, and attributes.

The layers above (an experiment, `ufo reco`) hand the writer one plain dict; this module puts
each known key where the community's readers look for it (the `nxtomo` package, tomoscan, nabu
and its validator for NXtomo; dxchange/tomopy for DXchange) and keeps the whole dict as
attributes of the data, so nothing given is lost. Known keys (SI units unless said):
`pixel_size` (effective, after binning; or `x_pixel_size`/`y_pixel_size`), `distance`
(sample-detector), `energy` (keV), `field_of_view` ('Full' or 'Half'), `sample` (name),
`rotation_direction` ('counterclockwise' or 'clockwise'), `start_time`, `end_time` (ISO 8601),
`binning`, `camera`, `run_id`, `run_uuid`, `proposal`, `operator`, `x_rotation_axis_pixel_position`
(an offset-axis scan's axis, pixels from the detector's centre). Per frame (the frames' own
metadata, written by the NXtomo writer): `x_translation`, `y_translation`, `z_translation` (m).
Reconstructions (`nxdata_metadata`): an NXdata with NeXus's scaling fields for 8/16 bits, and at
/entry/data/data also nabu's layout, which tomoscan's HDF5Volume reads (voxel size, axis).
docs/conventions.md ("Output metadata") lists what goes where.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

NEXUS_VERSION = "4.5.0"  # the NeXus definitions the NXtomo layout follows
# per-frame sample stage positions a frame's metadata may carry (m): /entry/sample/<name>, one value a frame
SAMPLE_POSITIONS = ("x_translation", "y_translation", "z_translation")
NXTOMO_VERSION = 2.1  # the NXtomo layout version the `nxtomo` package writes and reads these paths under


def now() -> str:
    """The local time in ISO 8601 with its UTC offset, as NeXus wants times."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _attribute(value: Any) -> Any:
    """HDF5 takes scalars, strings and flat arrays as attributes; anything else is kept as JSON text."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          for v in value):
        return np.asarray(value)
    return json.dumps(value, default=str)


def scaled(metadata: dict[str, Any]) -> bool:
    """Whether `metadata` says the frames are 8/16-bit integers standing for values (its scale)."""
    return metadata.get("bits") in (8, 16) and metadata.get("scale_step") is not None \
        and metadata.get("scale_min") is not None


def store_attributes(target: Any, metadata: dict[str, Any]) -> None:
    """Every key of `metadata` as an attribute of `target` (dicts and lists of text as JSON text);
    `scale_min` + stored * `scale_step` maps stored integers back to values. In a NeXus NXdata the
    unit of 8/16-bit data goes to `scale_units` (`_nexus_units`); elsewhere `units` stays ufo's
    record of the scale's unit (docs/conventions.md)."""
    integers = scaled(metadata) and _in_nxdata(target)
    for key, value in metadata.items():
        if value is not None:
            target.attrs["scale_units" if integers and key == "units" else key] = _attribute(value)


def _in_nxdata(target: Any) -> bool:
    """Whether `target` is a field of a NeXus NXdata (its group made one already)."""
    kind = getattr(getattr(target, "parent", None), "attrs", {}).get("NX_class")
    return (kind.decode() if isinstance(kind, bytes) else kind) == "NXdata"


def _nexus_units(dset: Any, metadata: dict[str, Any]) -> None:
    """NeXus readers (silx, NeXpy) take a field's `units` for its stored numbers: raw 0..65535 were
    shown as '1/pixel'. The unit of 8/16-bit data in an NXdata is the scale's: `scale_units`, and on
    the scaling factor (`scaling_fields`). Moved where attributes came first (a cluster's volume)."""
    if scaled(metadata) and "units" in dset.attrs:
        dset.attrs["scale_units"] = dset.attrs["units"]
        del dset.attrs["units"]


COUNT_TIME = "/entry/instrument/detector/count_time"


def _dataset(f: Any, name: str, value: Any, units: str | None = None) -> None:
    if value is None or name in f:
        return
    dset = f.create_dataset(name, data=value)
    if units:
        dset.attrs["units"] = units


def _pixel_sizes(metadata: dict[str, Any]) -> tuple[float | None, float | None]:
    pixel = metadata.get("pixel_size")
    return metadata.get("x_pixel_size", pixel), metadata.get("y_pixel_size", pixel)


def nxtomo_metadata(f: Any, metadata: dict[str, Any]) -> None:
    """The NXtomo fields nabu-validator and the `nxtomo` package read (before SWMR starts)."""
    f.attrs.setdefault("NeXus_version", NEXUS_VERSION)
    f.attrs.setdefault("creator", "ufo")
    entry = f["/entry"]
    entry.attrs.setdefault("version", NXTOMO_VERSION)
    entry.attrs.setdefault("default", "data")
    x, y = _pixel_sizes(metadata)
    detector = "/entry/instrument/detector"
    _dataset(f, f"{detector}/x_pixel_size", x, "m")
    _dataset(f, f"{detector}/y_pixel_size", y, "m")
    _dataset(f, f"{detector}/distance", metadata.get("distance"), "m")
    fov = metadata.get("field_of_view")
    if fov is not None:
        _dataset(f, f"{detector}/field_of_view", str(fov).capitalize())
        _dataset(f, f"{detector}/half_acquisition", str(fov).lower() == "half")
    # where the rotation axis projects, in pixels from the detector's centre (an offset-axis scan's offset)
    _dataset(f, f"{detector}/x_rotation_axis_pixel_position", metadata.get("x_rotation_axis_pixel_position"), "pixel")
    energy = metadata.get("energy")
    if energy is not None:
        beam = f.require_group("/entry/instrument/beam")
        beam.attrs.setdefault("NX_class", "NXbeam")
        _dataset(f, "/entry/instrument/beam/incident_energy", float(energy), "keV")
    for key in ("binning", "camera"):
        _dataset(f, f"{detector}/{key}", metadata.get(key))
    _dataset(f, COUNT_TIME, metadata.get("exposure_time"), "s")  # NXdetector's exposure (a frame each: Hdf5Writer)
    direction = metadata.get("rotation_direction")
    if direction is not None:
        f["/entry/sample/rotation_angle"].attrs["rotation_direction"] = str(direction)
    source = f.require_group("/entry/instrument/source")
    source.attrs.setdefault("NX_class", "NXsource")
    _dataset(f, "/entry/instrument/source/probe", "x-ray")
    if "beamline" in metadata:
        _dataset(f, "/entry/instrument/source/name", str(metadata["beamline"]))
    _run_identity(f, metadata)
    scaling_fields(f.require_group("/entry/data"), "data", metadata)  # 8/16 bits: NeXus readers get values


def nxtomo_record(path: str, problems: list[str] | None = None) -> dict[str, Any]:
    """What an NXtomo scan records of its instrument and sample, as `nxtomo_metadata` takes it: a
    pipeline from one NXtomo file to another (a copy, a correction) kept only keys and angles, the
    pixel size, distance, energy and sample name were lost. {} where `path` is no such file. A half
    acquisition is `field_of_view` "Half" (what nxtomo wrote before 3.1) or `half_acquisition` true.
    A value whose units are not known is left out and said in `problems` (one such value used to
    drop every other: an energy in 'kev' lost the distance and pixel size too)."""
    import h5py

    from .formats import split_dataset
    from .hdf5_cut import open_reading

    file, _ = split_dataset(path)
    places = {"x_pixel_size": ("instrument/detector/x_pixel_size", "m"), "y_pixel_size": (
        "instrument/detector/y_pixel_size", "m"), "distance": ("instrument/detector/distance", "m"),
        "energy": ("instrument/beam/incident_energy", "keV"), "field_of_view": ("instrument/detector/field_of_view", None),
        "sample": ("sample/name", None), "start_time": ("start_time", None), "camera": ("instrument/detector/camera", None),
        "exposure_time": ("instrument/detector/count_time", "s")}
    record: dict[str, Any] = {}
    try:
        with open_reading(file) as f:
            entry = next((k for k in f if isinstance(f[k], h5py.Group) and "instrument" in f[k]), None)
            for key, (place, unit) in places.items() if entry else ():
                node = f.get(f"{entry}/{place}")
                if not isinstance(node, h5py.Dataset) or node.size != 1 and (key != "exposure_time" or node.ndim != 1
                                                                               or not node.size):
                    continue  # count_time: one a frame (NXdetector's), the first taken
                value = node[0] if node.ndim == 1 else node[()].flat[0] if hasattr(node[()], "flat") else node[()]
                if unit is None:
                    record[key] = value.decode() if isinstance(value, bytes) else str(value)
                    continue
                given = node.attrs.get("units", unit)
                given = (given.decode() if isinstance(given, bytes) else str(given)) or unit
                try:
                    record[key] = in_unit(float(value), given, unit)
                except Exception:  # noqa: BLE001 - this value is left out, said; the others are kept
                    if problems is not None:
                        shown = f"{float(value):g}" if isinstance(value, (int, float, np.number)) else repr(value)
                        problems.append(f"'{file}' records {entry}/{place} as {shown} in units '{given}', which ufo "
                                        f"does not know as a unit of {KINDS[unit]}: left out")
            half = f.get(f"{entry}/instrument/detector/half_acquisition") if entry else None
            if isinstance(half, h5py.Dataset) and half.size == 1 and bool(half[()]):  # nxtomo >= 3.1's field
                record["field_of_view"] = "Half"
    except Exception:  # noqa: BLE001 - not an NXtomo file ufo can read: nothing to carry over
        return {}
    return record


#: units as other tools write them that pint does not know as written (it is case-sensitive)
UNIT_SPELLINGS = {"kev": "keV", "ev": "eV", "kilo electron volt": "keV", "kiloelectronvolt": "keV",
                  "microns": "um", "mum": "um"}
#: what each unit of `nxtomo_record` measures, for its messages
KINDS = {"keV": "energy", "m": "length", "s": "time"}


def in_unit(value: float, given: str, unit: str) -> float:
    """`value` in units `given` (as a file writes them: 'mm', 'keV', also 'kev', 'KeV', 'microns')
    converted to `unit`; ValueError where `given` is no unit of that kind."""
    from ..core.units import registry

    spelled = UNIT_SPELLINGS.get(given.strip().lower(), given.strip())
    quantity = registry().Quantity(value, spelled).to(unit)
    return float(quantity.magnitude)


def _text(metadata: dict[str, Any], key: str) -> str | None:
    return None if metadata.get(key) is None else str(metadata[key])


def _run_identity(f: Any, metadata: dict[str, Any]) -> None:
    """Run id, proposal and operator (ufo.control.runinfo) at NXentry's places: `title` (the
    run id people read), `entry_identifier` (its uuid), `experiment_identifier` (the proposal),
    an NXuser `user` with the operator's name and role."""
    _dataset(f, "/entry/title", _text(metadata, "run_id"))
    _dataset(f, "/entry/entry_identifier", _text(metadata, "run_uuid"))
    _dataset(f, "/entry/experiment_identifier", _text(metadata, "proposal"))
    operator = _text(metadata, "operator")
    if operator is not None:
        user = f.require_group("/entry/user")
        user.attrs.setdefault("NX_class", "NXuser")
        _dataset(f, "/entry/user/name", operator)
        _dataset(f, "/entry/user/role", "operator")


def dxchange_metadata(f: Any, metadata: dict[str, Any]) -> None:
    """The same metadata at DXchange's places (/measurement/instrument/..., /measurement/sample)."""
    f.attrs.setdefault("implements", "exchange:measurement")
    x, y = _pixel_sizes(metadata)
    detector = "/measurement/instrument/detector"
    _dataset(f, f"{detector}/pixel_size_x", x, "m")
    _dataset(f, f"{detector}/pixel_size_y", y, "m")
    _dataset(f, f"{detector}/distance", metadata.get("distance"), "m")
    _dataset(f, f"{detector}/binning_x", metadata.get("binning"))
    energy = metadata.get("energy")
    if energy is not None:
        _dataset(f, "/measurement/instrument/monochromator/energy", float(energy), "keV")
    _dataset(f, "/measurement/sample/name", metadata.get("sample"))
    _dataset(f, "/measurement/sample/experiment/proposal", _text(metadata, "proposal"))
    _dataset(f, "/measurement/sample/experimenter/name", _text(metadata, "operator"))
    _dataset(f, "/process/acquisition/start_date", metadata.get("start_time") or now())
    _dataset(f, "/measurement/instrument/sample_motor_stack/setup/rotation_direction",
             metadata.get("rotation_direction"))


#: where a reconstruction goes in a NeXus file (the NXtomoproc application definition's place)
NXTOMOPROC_DATA = "/entry/data/data"
#: nabu's place for the same slices (its NXProcessWriter: `<entry>/<process>/results/data` beside
#: `<process>/configuration`), where tomoscan's HDF5Volume reads a volume (tomwer, nabu's volume tools)
NABU_PROCESS = "/entry/reconstruction"


def _record(value: Any) -> Any:
    """A part of the record as given, or as read back from a file's attributes (JSON text)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def scaling_fields(group: Any, signal: str, metadata: dict[str, Any]) -> None:
    """NeXus's own words for 8/16-bit data in an NXdata: `<signal>_scaling_factor` and
    `<signal>_offset`, with value = (stored + offset) * scaling_factor (NXdata.nxdl.xml), so a NeXus
    reader gets values back without knowing ufo's `scale_min` + stored * `scale_step`: scaling_factor =
    scale_step, offset = scale_min / scale_step. The values' unit goes on the scaling factor, the one
    field it describes (the integers have none)."""
    if not scaled(metadata):
        return
    step = float(metadata["scale_step"])
    _dataset(group, f"{signal}_scaling_factor", step, str(metadata.get("units") or "") or None)
    _dataset(group, f"{signal}_offset", float(metadata["scale_min"]) / step)


def nxdata_metadata(f: Any, dataset: str, metadata: dict[str, Any]) -> None:
    """The groups above `dataset` made a NeXus NXdata in an NXentry that NeXus's default-plot
    attributes lead to (file `default` -> NXentry `default` -> NXdata `signal`), so that silx,
    NeXpy, nabu's readers and ufo's own find the data in the file, with NXdata's scaling fields for
    8/16 bits; at NXTOMOPROC_DATA also nabu's layout of a reconstruction (`_reconstruction`). The
    entry does not claim NXtomoproc: its slices are stored z, y, x (h5py's, ImageJ's and nabu's
    order), where NXtomoproc asks x, y, z with axis arrays. Nothing is made for a dataset outside
    two groups (`/data`: no NXentry and NXdata can hold it); attributes already there stay."""
    parts = dataset.strip("/").split("/")
    if len(parts) < 3:
        return
    f.attrs.setdefault("NeXus_version", NEXUS_VERSION)
    f.attrs.setdefault("creator", "ufo")
    f.attrs.setdefault("default", parts[0])
    entry = f[parts[0]]
    entry.attrs.setdefault("NX_class", "NXentry")
    entry.attrs.setdefault("default", "/".join(parts[1:-1]))
    for depth in range(2, len(parts) - 1):  # groups between the entry and the data
        f["/".join(parts[:depth])].attrs.setdefault("NX_class", "NXcollection")
    data = f["/".join(parts[:-1])]
    data.attrs.setdefault("NX_class", "NXdata")
    data.attrs.setdefault("signal", parts[-1])
    scaling_fields(data, parts[-1], metadata)
    _nexus_units(f["/".join(parts)], metadata)
    if "/" + "/".join(parts) != NXTOMOPROC_DATA:
        return
    _reconstruction(f, metadata)
    sample = f.require_group("/entry/sample")
    sample.attrs.setdefault("NX_class", "NXsample")
    _dataset(f, "/entry/sample/name", str(metadata.get("sample") or "sample"))
    _run_identity(f, metadata)


def _reconstruction(f: Any, metadata: dict[str, Any]) -> None:
    """The NXprocess `reconstruction` as NXtomoproc and nabu's NXProcessWriter lay it out: program,
    version, date, the projections read (`parameters/raw_file`), an NXdata `results` whose `data`
    is a hard link to NXTOMOPROC_DATA (one dataset, two names: tomoscan's HDF5Volume(file,
    'entry/reconstruction') and tomoscan's guess_volumes read it, silx and ufo keep finding
    /entry/data/data), and `configuration` (`_configuration`)."""
    process = f.require_group(NABU_PROCESS)
    process.attrs.setdefault("NX_class", "NXprocess")
    process.attrs.setdefault("default", "results")
    _dataset(f, f"{NABU_PROCESS}/program", str(metadata.get("program") or "ufo"))
    _dataset(f, f"{NABU_PROCESS}/version", _text(metadata, "version"))
    _dataset(f, f"{NABU_PROCESS}/date", str(metadata.get("date") or now()))
    _dataset(f, f"{NABU_PROCESS}/sequence_index", np.int32(0))
    given = _record(metadata.get("input"))
    if isinstance(given, dict) and given.get("projections"):
        parameters = f.require_group(f"{NABU_PROCESS}/parameters")
        parameters.attrs.setdefault("NX_class", "NXparameters")
        _dataset(f, f"{NABU_PROCESS}/parameters/raw_file", str(given["projections"]))
    results = f.require_group(f"{NABU_PROCESS}/results")
    results.attrs.setdefault("NX_class", "NXdata")
    results.attrs.setdefault("signal", "data")
    if "data" not in results:
        results["data"] = f[NXTOMOPROC_DATA]  # a hard link, not a copy
    results["data"].attrs.setdefault("interpretation", "image")  # a stack of images, as nabu marks it
    scaling_fields(results, "data", metadata)
    if "configuration" not in process:
        _configuration(process.create_group("configuration"), metadata)


def _configuration(group: Any, metadata: dict[str, Any]) -> None:
    """nabu's `configuration` of a reconstruction, which tomoscan's volumes read as their metadata:
    `processing_options/reconstruction` with `voxel_size_cm` (z, y, x; VolumeBase.voxel_size: the
    pixel size, z times the step between rows), `rotation_axis_position` (pixels), `start_z`/`end_z`
    (the first and last detector row) and `method`; ufo's options as `ufo_config` (where nabu has
    `nabu_config`), each with its unit."""
    group.attrs["NX_class"] = "NXcollection"
    reconstruction = group.create_group("processing_options/reconstruction")
    for made in (group["processing_options"], reconstruction):
        made.attrs["NX_class"] = "NXcollection"
    rows = _record(metadata.get("rows"))
    rows = rows if isinstance(rows, dict) else {}
    pixel = metadata.get("pixel_size")
    if isinstance(pixel, (int, float)) and not isinstance(pixel, bool) and pixel > 0:
        cm = float(pixel) * 100
        step = int(rows.get("step") or metadata.get("row_step") or 1)
        _dataset(reconstruction, "voxel_size_cm", np.array([cm * step, cm, cm]), "cm")
    axis = metadata.get("axis")
    if isinstance(axis, (int, float)) and not isinstance(axis, bool):
        _dataset(reconstruction, "rotation_axis_position", float(axis), "pixel")
    for name, key in (("start_z", "first"), ("end_z", "last")):
        if isinstance(rows.get(key), int):
            _dataset(reconstruction, name, rows[key])
    configuration = _record(metadata.get("configuration"))
    if not isinstance(configuration, dict) or not isinstance(configuration.get("values"), dict):
        return
    values, units = configuration["values"], configuration.get("units") or {}
    if values.get("method") is not None:
        _dataset(reconstruction, "method", str(values["method"]).upper())
    options = group.create_group("ufo_config")
    options.attrs["NX_class"] = "NXcollection"
    for key, value in values.items():
        if value is not None:
            _dataset(options, key, _attribute(value), units.get(key))


def scan_pixel_size(path: str | None) -> float | None:
    """The effective pixel size (m) an NXtomo scan records (its sample's, else its detector's), the
    slices' voxel size: without it every stack showed pixels in ImageJ, though the scan knew it."""
    import os

    from .formats import HDF5_SUFFIXES, split_dataset
    from .hdf5_cut import open_reading

    file, data = split_dataset(path or "")
    if not file.lower().endswith(HDF5_SUFFIXES) or not os.path.isfile(file):
        return None
    try:
        import h5py

        with open_reading(file) as f:
            entry = (data or "").strip("/").split("/")[0] or next(
                (k for k in f if str(f[k].attrs.get("NX_class", "")).strip("b'") == "NXentry"), "")
            for place in ("sample/x_pixel_size", "instrument/detector/x_pixel_size"):
                node = f.get(f"{entry}/{place}") if entry else None
                if isinstance(node, h5py.Dataset) and node.size:
                    unit = node.attrs.get("units", "m")
                    unit = unit.decode() if isinstance(unit, bytes) else str(unit)
                    size = in_unit(float(node[()].flat[0]), unit or "m", "m")
                    return size if 1e-10 < size < 1e-2 else None
    except Exception:  # noqa: BLE001 - no size found: the slices are in pixels, as before
        return None
    return None
