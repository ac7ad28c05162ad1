"""`ufo reco --config` of nabu configuration files (ufo.reco.nabu_config).

The files are nabu's own: TEMPLATE is what `nabu-config --level required` (nabu 2026.1.2) writes,
with its comments, edited here key by key as a user would; the scan is an NXtomo written by the
`nxtomo` package from the exact projections of the analytic phantom (tests/test_geometry.py).
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

import ufo
from ufo.reco import config
from ufo.tomo.phantom import Phantom

from .test_geometry import ROW, assert_is_the_object, frames, regular_angles, truth, write_nxtomo

TEMPLATE = """[dataset]
# Dataset location, either a directory or a HDF5-Nexus file.
location = {location}


[preproc]
# How to perform flat-field normalization. The parameter value can be:
#  - 1 or True: enabled.
#  - 0 or False: disabled
#  - pca: perform a normalization via Principal Component Analysis decomposition PCA-flat-field normalization
flatfield = 1
# Whether to take logarithm after flat-field and phase retrieval.
take_logarithm = 1


[phase]
# Phase retrieval method. Available are: Paganin, CTF, None
method = none
# Single-distance phase retrieval related parameters
# ----------------------------
# delta/beta ratio for the Paganin/CTF method. Use 'auto' to estimate it from material_formula, material_density, \
and dataset energy.
delta_beta = 100.0


[reconstruction]
# Reconstruction method. Possible values: FBP, HBP, cone, MLEM, none. If value is 'none', no reconstruction will be \
done.
method = FBP
# Rotation axis position. It can be a number or the name of an estimation method (empty value means the middle of \
the detector).
#  - sliding-window : semi-automatically find the CoR with a sliding window. You have to specify on which side the \
CoR is (left, center, right). Please see the 'cor_options' parameter.
rotation_axis_position = sliding-window


[output]
# Directory where the output reconstruction is stored.
location = 
# What to do in the case where the output file exists.
# By default, the output data is never overwritten and the process is interrupted if the file already exists.
# Set this option to 1 if you want to overwrite the output files.
overwrite_results = 1


[postproc]


[resources]
# Computations distribution method. It can be:
#   - local:  run the computations on the local machine
#   - slurm: run the computations through SLURM
#   - preview: reconstruct the slices/volume as quickly as possible, possibly doing some binning.
method = local


[pipeline]


[about]
"""
AXIS = 64 + 5.0


def nabu_conf(path, location: str, **sections: dict[str, str]) -> str:
    """The template with `location`, each key of `sections` set (replaced where the template has it)."""
    text = TEMPLATE.format(location=location)
    for section, keys in sections.items():
        for key, value in keys.items():
            head = text.index(f"[{section}]")
            end = text.find("\n[", head + 1)
            end = len(text) if end < 0 else end
            body = text[head:end]
            line = re.compile(rf"^{key} =.*$", re.MULTILINE)
            body = line.sub(f"{key} = {value}", body) if line.search(body) else body.replace(
                f"[{section}]\n", f"[{section}]\n{key} = {value}\n", 1)
            text = text[:head] + body + text[end:]
    path.write_text(text)
    return str(path)


def ufo_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "ufo", *args], check=False, capture_output=True, text=True, cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def scan(tmp_path_factory):
    """A 180-degree NXtomo of the phantom (128 pixels, 4 rows, axis 5 px right of the centre)."""
    tmp = tmp_path_factory.mktemp("nabu")
    phantom = Phantom(128, height=4)
    angles = regular_angles(180)
    return write_nxtomo(str(tmp / "scan.nx"), frames(phantom, angles, AXIS), np.degrees(angles)), phantom


def test_dry_run_shows_the_mapped_axis_region_filter_and_output(scan, tmp_path):
    path = nabu_conf(tmp_path / "scan_nabu.conf", scan[0],
                     reconstruction={"rotation_axis_position": "69.0", "fbp_filter_type": "hann",
                                     "fbp_filter_cutoff": "0.8", "start_z": "1", "end_z": "2", "start_x": "4",
                                     "end_x": "123", "start_y": "8", "end_y": "99"},
                     output={"location": str(tmp_path / "rec"), "file_prefix": "vol", "file_format": "tiff"},
                     resources={"gpus": "2"})
    result = ufo_cli("reco", "--config", path, "--dry-run")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "axis: 69.0" in out and "filter hann (cutoff 0.8)" in out
    assert "slices: 2 (rows 1..2 step 1)" in out, out  # nabu's end_z is included
    assert f"-> {tmp_path / 'rec' / 'vol' / 'vol_%05i.tif'}" in out
    note = result.stderr
    assert "[reconstruction] rotation_axis_position = 69.0 -> --axis 69.0" in note
    assert "--region 1:3" in note and "--roi 4,8,120,92" in note
    assert "set but without ufo counterpart" in note and "[resources] gpus = 2" in note
    assert "[phase] delta_beta = 100.0 (no phase retrieval)" in note  # written by nabu-config, used by nothing


def test_a_run_with_the_config_equals_the_run_with_options_and_is_the_phantom(scan, tmp_path):
    location, phantom = scan
    path = nabu_conf(tmp_path / "any-name.txt", location,  # told by its content, not its suffix
                     reconstruction={"rotation_axis_position": str(AXIS), "start_z": str(ROW), "end_z": str(ROW)},
                     output={"location": str(tmp_path / "by_nabu"), "file_format": "tiff", "tiff_single_file": "1"})
    result = ufo_cli("reco", "--config", path, "-q")
    assert result.returncode == 0, result.stderr
    by_nabu = ufo.Reader(path=str(tmp_path / "by_nabu" / "scan_rec.tif"))().collect()
    by_options = tmp_path / "by_options.tif"
    result = ufo_cli("reco", "--projections", location, "--axis", str(AXIS), "--region", f"{ROW}:{ROW + 1}",
                     "--output", str(by_options), "-q")
    assert result.returncode == 0, result.stderr
    expected = ufo.Reader(path=str(by_options))().collect()
    assert by_nabu.shape == expected.shape == (1, 128, 128)
    np.testing.assert_array_equal(by_nabu, expected)
    assert_is_the_object(by_nabu[0], truth(phantom))


@pytest.mark.parametrize("section, key, value, why", [
    ("phase", "method", "CTF", "Paganin's method only"),
    ("preproc", "double_flatfield", "1", "no double flat-field"),
    ("phase", "unsharp_coeff", "0.5", "no unsharp mask"),
    ("reconstruction", "fbp_filter_type", "tukey", "ufo's filters are"),
    ("preproc", "sino_rings_correction", "munch", "Vo's sorting-based method only"),
    ("reconstruction", "method", "MLEM", "filtered back-projection"),
    ("output", "file_format", "jp2", "ufo writes hdf5"),
])
def test_a_key_ufo_cannot_honour_is_refused_by_name(scan, tmp_path, section, key, value, why):
    extra = {"phase": {key: value, "unsharp_sigma": "2"}} if key == "unsharp_coeff" else {section: {key: value}}
    result = ufo_cli("reco", "--config", nabu_conf(tmp_path / "x.conf", scan[0], **extra), "--dry-run")
    assert result.returncode == 2, result.stdout
    message = " ".join(result.stderr.split())
    assert f"[{section}] {key} = {value} cannot be honoured" in message and why in message, message
    assert "Traceback" not in result.stderr


def test_the_command_line_wins_over_the_config(scan, tmp_path):
    path = nabu_conf(tmp_path / "scan.conf", scan[0],
                     reconstruction={"rotation_axis_position": "60", "fbp_filter_type": "hann"})
    result = ufo_cli("reco", "--config", path, "--axis", "70.5", "--filter", "shepp-logan", "--output",
                     str(tmp_path / "o.tif"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "axis: 70.5" in result.stdout and "filter shepp-logan" in result.stdout
    assert f"-> {tmp_path / 'o.tif'}" in result.stdout


def test_a_garbage_file_is_refused_naming_the_formats_ufo_reads(tmp_path):
    bad = tmp_path / "scan.conf"
    bad.write_text("this is neither\n= TOML [nor INI\n")
    result = ufo_cli("reco", "--config", str(bad), "--dry-run")
    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert "TOML" in message and "JSON" in message and "nabu" in message, message
    assert "Invalid" in message or "Expected" in message  # the parser's own error


def test_phase_rings_halftomo_offset_and_middle_row_are_mapped(scan, tmp_path, capfd):
    path = nabu_conf(tmp_path / "p.conf", scan[0],
                     dataset={"overwrite_metadata": "energy = 19 kev; distance = 0.5 m; pixel_size = 1.6 um"},
                     preproc={"sino_rings_correction": "vo", "sino_rings_options": "snr=3.0; la_size=51; sm_size=11",
                              "ccd_filter_enabled": "1", "ccd_filter_threshold": "0.04"},
                     phase={"method": "Paganin", "delta_beta": "250"},
                     reconstruction={"enable_halftomo": "0", "angle_offset": "10", "start_z": "middle",
                                     "end_z": "-1"})
    values, _ = config.load(path)
    assert values["energy"] == pytest.approx(19.0) and values["distance"] == pytest.approx(0.5)
    assert values["pixel_size"] == pytest.approx(1.6e-6) and values["delta_beta"] == 250.0
    assert values["remove_stripes"] == 11 and values["half_acquisition"] is False
    assert values["offset"] == pytest.approx(np.radians(10.0))  # the scan starts at 0 degrees
    assert values["region"] == "2:" and "absorption" not in values  # Paganin takes -log itself
    note = capfd.readouterr().err
    assert "ccd_filter_enabled = 1" in note and "--remove-outliers SIGMA" in note  # not mapped: other units


def test_a_region_to_the_last_pixel_on_a_full_field_scan(scan, tmp_path):
    """`end_y = -1` (nabu: to the last pixel) with `enable_halftomo = auto` (nabu's default) on a
    full-field scan was refused as a half acquisition's, and without `end_x` in the file the refusal
    itself failed with a traceback (KeyError)."""
    path = nabu_conf(tmp_path / "roi.conf", scan[0],
                     reconstruction={"rotation_axis_position": "69.0", "start_y": "20", "end_y": "-1",
                                     "enable_halftomo": "auto"},
                     output={"location": str(tmp_path / "rec")})
    text = re.sub(r"^end_x =.*\n", "", open(path).read(), flags=re.MULTILINE)  # the key left out of the file
    open(path, "w").write(text)
    result = ufo_cli("reco", "--config", path, "--dry-run")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "--roi 0,20,128,108" in result.stderr, result.stderr


def test_a_toml_file_with_its_options_in_another_table_is_told_so(tmp_path):
    """`[reconstruction]` in a TOML file was read as a nabu file: "names no dataset: give [dataset]
    location", which pointed the wrong way (a probe)."""
    path = tmp_path / "c.toml"
    path.write_text('[reconstruction]\nprojections = "scan.h5:/data"\naxis = 1030.5\n')
    with pytest.raises(ufo.core.UsageError, match=r"has the table \[reconstruction\]; ufo reads its options from a "
                                                  r"\[reco\] table or from top-level keys"):
        config.read(path)
    path.write_text('[reco]\nprojections = "scan.h5:/data"\naxis = 1030.5\n')
    assert config.read(path) == {"projections": "scan.h5:/data", "axis": 1030.5}


@pytest.mark.parametrize("metadata, said", [
    ("energy = 20 m; distance = 0.1 m; pixel_size = 1.4 um", "'energy = 20 m': m is no unit of energy; use one of kev, ev"),
    ("energy = 20 kev; distance = 100 eV; pixel_size = 1.4 um", "'distance = 100 eV': ev is no unit of distance"),
    ("energy = 20 kev; distance = 0.1 m; pixel_size = 40 keV", "'pixel_size = 40 keV': kev is no unit of pixel size"),
])
def test_a_value_of_overwrite_metadata_in_a_unit_of_another_quantity_is_refused(scan, tmp_path, metadata, said):
    """`energy = 20 m; distance = 100 eV` ran as --energy 20 --distance 0.1 (a phase-retrieved volume,
    exit 0): one table of units served the three values alike."""
    path = nabu_conf(tmp_path / "u.conf", scan[0], dataset={"overwrite_metadata": metadata},
                     phase={"method": "Paganin", "delta_beta": "250"})
    result = ufo_cli("reco", "--config", str(path), "--dry-run")
    assert result.returncode == 2 and said in " ".join(result.stderr.split()), result.stderr
