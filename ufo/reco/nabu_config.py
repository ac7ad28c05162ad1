"""nabu configuration files (the INI files `nabu-config` writes) read as `ufo reco --config` files.

A file is taken for nabu's by its content: INI sections that are all nabu's ([dataset],
[preproc], [phase], [reconstruction], [output], ...), whatever its suffix. Each key set is
mapped to a ufo option, or agrees with what ufo does anyway (`double_flatfield = 0`), or has
no effect on the slices (`gpus`, `chunk_size`: said in a note with its value), or changes the
slices in a way ufo cannot follow (CTF, double flat-field, unsharp mask, binning, ...): a
UsageError naming the key and why. Keys and defaults are nabu 2026.1's
(nabu/pipeline/fullfield/nabu_config.py); docs/nabu.md has the table.
"""

from __future__ import annotations

import configparser
import math
import os
import re
from typing import Any

from ..core.errors import UsageError

SECTIONS = ("dataset", "preproc", "phase", "reconstruction", "output", "postproc", "resources", "pipeline", "about")
RENAMED = {"flatfield_enabled": "flatfield", "double_flatfield_enabled": "double_flatfield", "marge": "margin"}
TRUE, FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
FILTERS = {"ramlak": "ramp", "ram-lak": "ramp", "shepp-logan": "shepp-logan", "cosine": "cosine",
           "hamming": "hamming", "hann": "hann", "none": "none"}
#: keys that change the slices when they differ from these values, and why ufo cannot follow
REFUSED = {
    "binning": ("1", "ufo reads frames unbinned (bin the scan first, e.g. `ufo run read ! bin ! write`)"),
    "binning_z": ("1", "ufo reads frames unbinned"),
    "projections_subsampling": ("1", "ufo reads every projection (--number keeps only the first N)"),
    "exclude_projections": ("", "ufo cannot leave projections out by index or angle"),
    "flat_distortion_correction_enabled": ("0", "ufo has no flat distortion correction"),
    "detector_distortion_correction": ("", "ufo has no detector distortion correction"),
    "double_flatfield": ("0", "ufo has no double flat-field (its ring removal is --remove-stripes, Vo's sorting)"),
    "target_dark_mean": ("", "ufo subtracts the dark as measured"),
    "sino_normalization": ("", "ufo has no sinogram normalization"),
    "tilt_correction": ("", "ufo does not rotate projections against a detector tilt"),
    "axis_correction_file": ("", "ufo takes one rotation axis for all angles"),
    "translation_movements_file": ("", "ufo does not correct sample movements"),
    "clip_outer_circle": ("0", "ufo does not mask the voxels outside the field of view"),
    "centered_axis": ("1", "ufo's slices are centred on the rotation axis (nabu's centered_axis = 1)"),
    "flip_lr": ("0", "ufo does not flip frames"),
    "flip_ud": ("0", "ufo does not flip frames"),
}
WHY = {"normalize_srcurrent": "ufo does not normalise by the machine current",
       "log_min_clip": "ufo's -log does not clip at these bounds", "log_max_clip": "ufo's -log does not clip at these bounds",
       "flip_lr": "ufo does not flip frames by the scan's metadata",
       "flip_ud": "ufo does not flip frames by the scan's metadata",
       "float_clip_values": "give --output-min/--output-max with --output-bits",
       "overwrite_metadata": "used by phase retrieval only, which is off here"}
OUTPUTS = {"hdf5": "{0}.nx", "h5": "{0}.nx", "nexus": "{0}.nx", "nx": "{0}.nx", "tiff": "{0}/{1}_%05i.tif",
           "tif": "{0}/{1}_%05i.tif", "ome-zarr": "{0}.zarr"}
UNITS = {"kev": 1.0, "ev": 1e-3, "m": 1.0, "cm": 1e-2, "mm": 1e-3, "um": 1e-6, "µm": 1e-6, "micron": 1e-6,
         "microns": 1e-6, "nm": 1e-9}
ENERGIES = ("kev", "ev")


class Table(dict):  # type: ignore[type-arg]
    """ufo option values by name, with the notes that say what was taken and what was not."""

    notes: list[str]


def _parse(path: str | os.PathLike[str]) -> configparser.ConfigParser | None:
    parser = configparser.ConfigParser(inline_comment_prefixes=("#",), interpolation=None)  # as nabu parses
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_string(f.read(1 << 20))
    except (OSError, UnicodeDecodeError, configparser.Error):
        return None
    return parser


def is_nabu(path: str | os.PathLike[str]) -> bool:
    """Whether the file is a nabu configuration: INI whose sections are all nabu's, [dataset] or
    [reconstruction] among them (a TOML `[reco]` table is none)."""
    parser = _parse(path)
    sections = set(parser.sections()) if parser is not None else set()
    if "dataset" not in sections and _is_toml(path):  # a TOML file whose table is named [reconstruction]:
        return False  # said as such by ufo.reco.config, not as a nabu file without its [dataset]
    return bool(sections & {"dataset", "reconstruction"}) and sections <= {*SECTIONS, "other"}


def _is_toml(path: str | os.PathLike[str]) -> bool:
    import tomllib

    try:
        with open(path, "rb") as f:
            tomllib.load(f)
    except (OSError, ValueError):
        return False
    return True


class _Reader:
    def __init__(self, path: str, parser: configparser.ConfigParser):
        self.path = path
        self.conf = {s: {RENAMED.get(k, k): v.strip() for k, v in parser[s].items()} for s in parser.sections()}
        self.values: dict[str, Any] = {}
        self.taken: list[str] = []
        self.agree: list[str] = []
        self.ignored: list[str] = []
        self.seen: set[tuple[str, str]] = set()
        self._scan: tuple[int, int, float | None] | None = None

    def get(self, section: str, key: str, default: str = "") -> str:
        self.seen.add((section, key))
        return self.conf.get(section, {}).get(key, "") or default

    def given(self, section: str, key: str) -> bool:
        return bool(self.conf.get(section, {}).get(key, ""))

    def name(self, section: str, key: str) -> str:
        value = self.conf.get(section, {}).get(key, "(nabu's default)")
        return f"[{section}] {key} = {value}"

    def take(self, section: str, key: str, option: str, value: Any, shown: Any = None) -> None:
        self.values[option] = value
        flag = f"--{option.replace('_', '-')}"
        if isinstance(value, bool):
            flag = flag if value else f"--no-{flag[2:]}" if option != "overwrite" else "(no --overwrite)"
        if self.given(section, key):
            self.taken.append(f"{self.name(section, key)} -> {flag}" + ("" if isinstance(value, bool) else
                                                                          f" {shown or value}"))

    def refuse(self, section: str, key: str, why: str) -> UsageError:
        return UsageError(f"nabu config '{self.path}': {self.name(section, key)} cannot be honoured: {why}")

    def scan(self) -> tuple[int, int, float | None]:
        """(width, height, first angle in radians or None) of the dataset's projections."""
        if self._scan is None:
            from ..storage.readers import open_source

            location = self.values["projections"]
            try:
                source = open_source(location, image_key=0)
            except Exception as err:  # any reader's error, said with what needed the scan
                raise UsageError(f"nabu config '{self.path}': cannot read the dataset '{location}' ({err})") from err
            angles = [a for a in getattr(source, "angles", []) if a is not None]
            self._scan = (source.shape[-1], source.shape[-2], float(angles[0]) if angles else None)
            source.close()
        return self._scan


def read(path: str | os.PathLike[str]) -> Table:
    """The ufo option values of a nabu configuration file; `.notes` says what was taken, what agrees
    with ufo and what was set without counterpart. UsageError for a key ufo cannot honour."""
    parser = _parse(path)
    if parser is None:
        raise UsageError(f"cannot read nabu config '{path}'")
    r = _Reader(str(path), parser)
    _dataset(r)
    _preproc(r)
    _phase(r)
    _reconstruction(r)
    _output(r)
    for section, keys in r.conf.items():
        for key, value in keys.items():
            if (section, key) in r.seen or not value:
                continue
            v = value.lower()
            norm = "1" if v in TRUE or v == "1:0" else "0" if v in FALSE else "" if v == "none" else v
            if key in REFUSED and norm == REFUSED[key][0]:
                r.agree.append(r.name(section, key))
            elif key in REFUSED and not (norm == "auto" and key in WHY):
                raise r.refuse(section, key, REFUSED[key][1])
            else:
                r.ignored.append(r.name(section, key) + (f" ({WHY[key]})" if key in WHY else ""))
    table = Table(r.values)
    table.notes = [f"nabu config '{path}', taken as ufo's options:" + "".join(f"\n  {t}" for t in r.taken)
                   + ("\n as ufo does anyway:" + "".join(f"\n  {t}" for t in r.agree) if r.agree else "")
                   + ("\n set but without ufo counterpart (ignored):" + "".join(f"\n  {t}" for t in r.ignored)
                      if r.ignored else "")]
    return table


def _dataset(r: _Reader) -> None:
    location = r.get("dataset", "location")
    if not location or location == "in-memory":
        raise UsageError(f"nabu config '{r.path}' names no dataset: give [dataset] location (an NXtomo file or an "
                         "EDF scan folder)")
    entry = r.get("dataset", "hdf5_entry")
    if any(c in entry for c in ",*?"):
        raise r.refuse("dataset", "hdf5_entry", "ufo reconstructs one entry a run: name one")
    r.take("dataset", "location", "projections", f"{location}:/{entry.strip('/')}" if entry else location)
    if entry:
        r.taken.append(f"{r.name('dataset', 'hdf5_entry')} -> --projections {r.values['projections']}")
    metadata = r.conf.get("dataset", {}).get("overwrite_metadata", "")  # else listed: no phase retrieval
    if metadata and r.get("phase", "method", "none").lower() in ("paganin", "tie"):
        r.seen.add(("dataset", "overwrite_metadata"))
        for item in filter(None, (p.strip() for p in metadata.split(";"))):
            match = re.fullmatch(r"(\w+)\s*=\s*([-+\d.eE]+)\s*(\S*)", item)
            unit = match.group(3).lower() if match else ""
            if not match or match.group(1) not in ("energy", "distance", "pixel_size") or unit not in UNITS:
                raise r.refuse("dataset", "overwrite_metadata", f"'{item}': ufo takes energy, distance and pixel_size "
                               f"with units ({', '.join(UNITS)})")
            if (match.group(1) == "energy") != (unit in ENERGIES):  # 'distance = 100 eV' was taken as 0.1 m
                fits = ", ".join(u for u in UNITS if (u in ENERGIES) == (match.group(1) == "energy"))
                raise r.refuse("dataset", "overwrite_metadata", f"'{item}': {unit} is no unit of "
                               f"{match.group(1).replace('_', ' ')}; use one of {fits}")
            value = float(match.group(2)) * UNITS[unit]
            r.values[match.group(1)] = value
        r.taken.append(f"{r.name('dataset', 'overwrite_metadata')} -> " + ", ".join(
            f"--{k.replace('_', '-')} {r.values[k]:g}" for k in ("energy", "distance", "pixel_size") if k in r.values))


def _flag(r: _Reader, section: str, key: str, default: str) -> bool | str:
    value = r.get(section, key, default).lower()
    return True if value in TRUE else False if value in FALSE else value


def _preproc(r: _Reader) -> None:
    flat = _flag(r, "preproc", "flatfield", "1")
    log = _flag(r, "preproc", "take_logarithm", "1")
    if flat in ("forced", "force-load", "force-compute"):
        flat = True
    if flat is not True:
        raise r.refuse("preproc", "flatfield", "ufo corrects an NXtomo scan by the darks and flats it holds "
                       "(PCA flat-fields and no correction have no counterpart)")
    paganin = r.get("phase", "method", "none").lower() in ("paganin", "tie")
    if paganin and log is not True:
        raise r.refuse("preproc", "take_logarithm", "ufo's phase retrieval takes -log of its filtered frames itself")
    if not paganin:
        r.take("preproc", "take_logarithm", "absorption", log is True)
    elif r.given("preproc", "take_logarithm"):
        r.agree.append(r.name("preproc", "take_logarithm") + " (ufo's phase retrieval takes -log itself)")
    if r.given("preproc", "flatfield"):
        r.agree.append(r.name("preproc", "flatfield"))
    if _flag(r, "preproc", "ccd_filter_enabled", "0") is True:
        r.ignored.append(f"{r.name('preproc', 'ccd_filter_enabled')}, ccd_filter_threshold = "
                         f"{r.get('preproc', 'ccd_filter_threshold', '0.04')} (nabu replaces a pixel by its 3x3 median "
                         "where it exceeds it by this absolute value; ufo's --remove-outliers SIGMA counts standard "
                         "deviations: give it on the command line)")
    rings = r.get("preproc", "sino_rings_correction").lower()
    options = dict(re.findall(r"(\w+)\s*=\s*([^;]+)", r.get("preproc", "sino_rings_options") if rings == "vo" else ""))
    if rings == "vo":
        size = int(float(options.get("sm_size", "21")))
        r.take("preproc", "sino_rings_correction", "remove_stripes", size, f"{size} (Vo's sorting-based removal, "
               "sm_size; the large-stripe steps of Vo's all-stripe method, la_size and snr, have no counterpart)")
    elif rings not in ("", "none"):
        raise r.refuse("preproc", "sino_rings_correction", "ufo removes rings by Vo's sorting-based method only "
                       "(sino_rings_correction = vo, or --remove-stripes)")


def _phase(r: _Reader) -> None:
    method = r.get("phase", "method", "none").lower()
    if method == "ctf":
        raise r.refuse("phase", "method", "ufo retrieves the phase by Paganin's method only")
    coeff, sigma = (float(r.get("phase", k, "0")) for k in ("unsharp_coeff", "unsharp_sigma"))
    if coeff > 0 and sigma > 0 and r.get("phase", "unsharp_method", "gaussian").lower() not in ("none", ""):
        raise r.refuse("phase", "unsharp_coeff", f"(unsharp_sigma = {sigma:g}) ufo has no unsharp mask")
    r.agree += [r.name("phase", k) for k in ("unsharp_coeff", "unsharp_sigma") if r.given("phase", k)]
    if method in ("paganin", "tie"):
        ratio = r.get("phase", "delta_beta", "100")
        if ratio.lower() == "auto":
            raise r.refuse("phase", "delta_beta", "ufo does not estimate delta/beta from a material; give a number")
        r.take("phase", "delta_beta", "delta_beta", float(ratio), f"{float(ratio):g} (Paganin; energy, distance and "
               "pixel size from the scan where the config does not state them)")
        r.taken.append(r.name("phase", "method") + " -> phase retrieval (Paganin)")
        if r.get("phase", "padding_type", "edge").lower() not in ("edge", "edges"):
            r.ignored.append(r.name("phase", "padding_type") + " (ufo pads the frames by their edge values)")
    elif method in ("", "none"):
        if r.given("phase", "method"):
            r.agree.append(r.name("phase", "method"))
        for key in ("delta_beta", "padding_type"):  # nabu-config writes delta_beta even without phase retrieval
            if r.get("phase", key):
                r.ignored.append(r.name("phase", key) + " (no phase retrieval)")
    else:
        raise r.refuse("phase", "method", "unknown phase retrieval method")


def _reconstruction(r: _Reader) -> None:
    s = "reconstruction"
    if r.get(s, "method", "FBP").lower() != "fbp":
        raise r.refuse(s, "method", "ufo reconstructs by filtered back-projection (FBP) only (its --method dfi aside)")
    r.take(s, "method", "method", "fbp")
    if r.given(s, "angles_file"):
        r.take(s, "angles_file", "angles_file", r.get(s, "angles_file"))
    axis = r.conf.get(s, {}).get("rotation_axis_position", "sliding-window")  # nabu's default when left out
    r.seen.add((s, "rotation_axis_position"))
    try:
        r.take(s, "rotation_axis_position", "axis", float(axis))
    except ValueError:
        if axis:
            r.values["axis"] = "auto"
            r.taken.append(f"[{s}] rotation_axis_position = {axis} -> --axis auto (ufo's own search, axis method "
                           f"'sinogram', instead of nabu's '{axis}')")
        else:  # nabu: the middle of the detector, (width - 1) / 2; ufo's default is width / 2
            r.values["axis"] = (r.scan()[0] - 1) / 2
            r.taken.append(f"[{s}] rotation_axis_position = (empty) -> --axis {r.values['axis']:g} (the detector's "
                           "middle, (width - 1) / 2, as nabu takes it)")
    halftomo = _flag(r, s, "enable_halftomo", "auto")
    if halftomo in (True, False):
        r.take(s, "enable_halftomo", "half_acquisition", halftomo)
    elif r.given(s, "enable_halftomo"):
        r.agree.append(r.name(s, "enable_halftomo") + " (ufo too takes it from the scan's field_of_view)")
    offset = float(r.get(s, "angle_offset", "0"))
    if offset:  # nabu adds it to every angle; ufo's --offset is the angle of the first projection
        first = r.scan()[2] or 0.0
        if r.given(s, "angles_file"):
            import numpy as np

            first = math.radians(float(np.loadtxt(r.values["angles_file"], ndmin=1)[0]))
        r.take(s, "angle_offset", "offset", first + math.radians(offset) or 1e-12,  # 0 would mean 'the scan's own'
               f"{first + math.radians(offset):.6g} rad (the first projection's angle + {offset:g} degrees)")
    name = r.get(s, "fbp_filter_type", "ramlak").lower()
    if name not in FILTERS:
        raise r.refuse(s, "fbp_filter_type", f"ufo's filters are {', '.join(sorted(FILTERS))} (ramlak: ufo's ramp)")
    r.take(s, "fbp_filter_type", "filter", FILTERS[name])
    if r.given(s, "fbp_filter_cutoff"):
        r.take(s, "fbp_filter_cutoff", "filter_cutoff", float(r.get(s, "fbp_filter_cutoff")))
    padding = r.get(s, "padding_type", "edges").lower()
    if r.given(s, "padding_type"):
        (r.agree.append(r.name(s, "padding_type")) if padding in ("zeros", "zero", "constant") else
         r.ignored.append(r.name(s, "padding_type") + " (ufo pads the rows with zeros before filtering)"))
    _region(r, s, halftomo)


def _index(r: _Reader, s: str, key: str, default: str) -> int:
    value = r.get(s, key, default).lower()
    if value in ("first", "middle", "last"):
        height = r.scan()[1]
        return {"first": 0, "middle": height // 2, "last": height - 1}[value]
    return int(value)


def _region(r: _Reader, s: str, halftomo: bool | str) -> None:
    """start_z/end_z (rows, end included, -1: the last) as --region; start_x .. end_y as --roi."""
    z0, z1 = _index(r, s, "start_z", "0"), _index(r, s, "end_z", "-1")
    if (z0, z1) != (0, -1):
        r.values["region"] = f"{z0}:{z1 + 1 if z1 >= 0 else ''}"
        r.taken.append(f"[{s}] start_z = {r.get(s, 'start_z', '0')}, end_z = {r.get(s, 'end_z', '-1')} -> --region "
                       f"{r.values['region']} (nabu's end row is included, ufo's excluded)")
    x0, x1, y0, y1 = (int(r.get(s, k, d)) for k, d in (("start_x", "0"), ("end_x", "-1"), ("start_y", "0"),
                                                        ("end_y", "-1")))
    if (x0, x1, y0, y1) == (0, -1, 0, -1):
        return
    if -1 in (x1, y1):
        if halftomo is True or halftomo == "auto" and _recorded_half(r):
            raise r.refuse(s, "end_x" if x1 == -1 else "end_y", "a half acquisition's slice width depends on the "
                           "axis: give end_x and end_y")
        width = r.scan()[0]
        x1, y1 = (width - 1 if v == -1 else v for v in (x1, y1))
    r.values["roi"] = [x0, y0, x1 - x0 + 1, y1 - y0 + 1]
    r.taken.append(f"[{s}] start_x .. end_y = {x0}:{x1}, {y0}:{y1} -> --roi {','.join(map(str, r.values['roi']))}")


def _recorded_half(r: _Reader) -> bool:
    """Whether the dataset records a half acquisition (`enable_halftomo = auto` follows it, as nabu)."""
    from ..storage.nexus import nxtomo_record

    return str(nxtomo_record(str(r.values.get("projections", ""))).get("field_of_view", "")).lower() == "half"


def _output(r: _Reader) -> None:
    s = "output"
    fmt = r.get(s, "file_format", "hdf5").lower()
    single = _flag(r, s, "tiff_single_file", "0") is True
    if fmt not in OUTPUTS:
        raise r.refuse(s, "file_format", "ufo writes hdf5 (as NeXus .nx), tiff and ome-zarr (as .zarr), not EDF, "
                       "JPEG 2000, vol or npy")
    dataset = r.get("dataset", "location").rstrip("/")
    location = r.get(s, "location") or os.path.dirname(dataset) or "."
    prefix = r.get(s, "file_prefix") or os.path.basename(dataset).split(".")[0] + "_rec"
    pattern = "{0}.tif" if single and fmt in ("tiff", "tif") else OUTPUTS[fmt]
    output = pattern.format(os.path.join(location, prefix), prefix)
    r.values["output"] = output
    given = [k for k in ("location", "file_prefix", "file_format", "tiff_single_file") if r.given(s, k)]
    r.taken.append((", ".join(f"[{s}] {k} = {r.conf[s][k]}" for k in given) or f"[{s}] (nabu's defaults)")
                   + f" -> --output {output}"
                   + (" (NXdata at /entry/data/data)" if output.endswith(".nx") else ""))
    if r.given(s, "overwrite_results"):
        r.take(s, "overwrite_results", "overwrite", _flag(r, s, "overwrite_results", "0") is True)


def say(note: str) -> None:
    """A note on stderr, as `ufo reco` prints a plan's warnings."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, soft_wrap=True).print(f"[yellow]note:[/] {escape(note)}")
