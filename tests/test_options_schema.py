"""One declaration of the reconstruction options (ufo/reco/options.py) drives the command line, the
GUI form and its checks, config files and the docs: an option added to the declaration appears in
all of them, and a bad value is refused by each with the same reason."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from ufo import reco
from ufo.cli.reco import make_command
from ufo.core.errors import UsageError
from ufo.gui import engine
from ufo.reco import config, schema
from ufo.reco.options import RecoOptions, markdown
from ufo.reco.schema import OptionError, option

DOCS = Path(__file__).resolve().parents[1] / "docs" / "reco-options.md"
MADE: list[RecoOptions] = []


@dataclass
class Extended(RecoOptions):
    """The declaration with one option more, as a later version might add it."""

    binning: int = option(int, 1, range=(1, 8), doc="Bin the projections by this factor", group="input")

    def __post_init__(self) -> None:
        super().__post_init__()
        MADE.append(self)  # what the command built, to see the value arrive


@pytest.fixture()
def scan(tmp_path):
    tifffile.imwrite(tmp_path / "p.tif", np.random.default_rng(0).random((8, 4, 16), np.float32) + 1)
    return tmp_path


def cli_reason(args, cls=RecoOptions, cwd=None):
    """The reason the command gives for refusing `args` (exit 2)."""
    result = CliRunner().invoke(make_command(cls), args)
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    return text.split("Invalid value for ", 1)[1].split(": ", 1)[1] if "Invalid value for" in text else text


def test_an_option_added_to_the_declaration_appears_in_cli_gui_and_config(scan):
    command = make_command(Extended)
    help_text = CliRunner().invoke(command, ["--help"]).output
    assert "--binning" in help_text and "Bin the projections" in help_text and "[in [1, 8]]" in " ".join(help_text.split())
    MADE.clear()
    result = CliRunner().invoke(command, ["--projections", str(scan / "p.tif"), "--binning", "3", "-o", str(scan / "o.tif"),
                                           "--dry-run"])
    assert result.exit_code == 0, result.output
    assert MADE[-1].binning == 3 and MADE[-1].projections == str(scan / "p.tif")
    assert cli_reason(["--binning", "9"], Extended) == "must be in [1, 8], got 9"

    field = {f["name"]: f for f in engine.schema_fields(Extended)}["binning"]
    assert field["range"] == [1, 8] and field["group"] == "input" and field["default"] == 1 and field["kind"] == "integer"
    assert "binning" not in {f["name"] for f in engine.schema_fields()}  # the extension stays in the copy
    assert engine.options({"binning": "4"}, Extended)[0].binning == 4
    assert engine.validate({"binning": "9"}, Extended) == {"binning": "binning: must be in [1, 8], got 9"}

    (scan / "c.toml").write_text(f'[reco]\nprojections = "{scan / "p.tif"}"\nbinning = 5\n')
    values, _ = config.load(scan / "c.toml", Extended)
    assert values["binning"] == 5
    MADE.clear()
    result = CliRunner().invoke(command, ["--config", str(scan / "c.toml"), "-o", str(scan / "o.tif"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert MADE[-1].binning == 5
    (scan / "bad.toml").write_text("binning = 9\n")
    with pytest.raises(UsageError, match=r"binning: must be in \[1, 8\], got 9"):
        config.load(scan / "bad.toml", Extended)
    assert "binning" in markdown(Extended) and "binning" not in markdown()


BAD = [("energy", "20mm", "20 millimeter cannot be converted to keV"),
       ("energy", "0", "must be > 0 keV, got 0.0"),
       ("angle", "nan", "'nan' is not a finite number (in rad)"),
       ("offset", "inf", "'inf' is not a finite number (in rad)"),
       ("axis", "left", "'left' is not a number"),
       ("filter_cutoff", "2", "must be in [0.001, 1.0], got 2.0"),
       ("filter", "sinc", "must be one of ramp, shepp-logan, cosine, hamming, hann, parzen, butterworth, none, got 'sinc'"),
       ("output_bits", "12", "must be one of 8, 16, 32, got 12"),
       ("remove_stripes", "2", "must be >= 3, got 2"),
       ("number", "1.5", "must be an integer, got 1.5"),
       ("roi", "1,2,3", "takes 4 values, got 3: '1,2,3'"),
       ("replicas", "0", "must be in [1, 1024], got 0")]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from fastapi.testclient import TestClient

    from ufo.gui.app import create_app

    root = tmp_path_factory.mktemp("gui")
    tifffile.imwrite(root / "p.tif", np.random.default_rng(0).random((8, 4, 16), np.float32) + 1)
    app = create_app(str(root), token="t", hosts=None)
    with TestClient(app, headers={"Authorization": "token t"}) as c:
        yield c, root


@pytest.mark.parametrize("name,value,reason", BAD)
def test_bad_values_are_refused_alike_by_cli_gui_config_and_python(client, scan, name, value, reason):
    declared = schema.options_of(RecoOptions)[name]
    assert cli_reason(["--projections", str(scan / "p.tif"), declared.flag, value, "--dry-run"]) == reason
    gui, root = client
    response = gui.post("/api/validate", json={"projections": "p.tif", name: value})
    assert response.status_code == 200 and response.json()["errors"] == {name: f"{name}: {reason}"}
    (scan / "c.toml").write_text(f"[reco]\n{declared.cli_name} = {json.dumps(value)}\n")
    with pytest.raises(UsageError) as caught:
        config.load(scan / "c.toml")
    assert str(caught.value) == f"config '{scan / 'c.toml'}': {declared.cli_name}: {reason}"
    with pytest.raises(OptionError) as raised:
        RecoOptions(**{name: value})
    assert raised.value.option == name and raised.value.reason == reason and isinstance(raised.value, UsageError)


@pytest.mark.parametrize("name,value,expected", [("energy", "20keV", 20.0), ("energy", "20000 eV", 20.0),
                                                 ("distance", "5cm", 0.05), ("angle", "0.25deg", np.pi / 720),
                                                 ("axis", "auto", "auto"), ("axis", "7.5", 7.5)])
def test_units_are_accepted_alike_by_cli_gui_config_and_python(client, scan, name, value, expected):
    assert getattr(RecoOptions(**{name: value}), name) == pytest.approx(expected) if expected != "auto" else True
    assert getattr(engine.options({name: value})[0], name) == getattr(RecoOptions(**{name: value}), name)
    (scan / "c.toml").write_text(f'{name.replace("_", "-")} = "{value}"\n')
    assert config.load(scan / "c.toml")[0][name] == getattr(RecoOptions(**{name: value}), name)
    phase = {"energy": "20keV", "distance": "5cm", "pixel_size": "1um"}  # phase retrieval takes all three
    form = {"projections": "p.tif", **phase, name: value}
    gui, _ = client
    assert gui.post("/api/validate", json=form).json()["errors"] == {}
    MADE.clear()
    args = [arg for key, text in form.items() for arg in (schema.options_of(RecoOptions)[key].flag, text)]
    args[1] = str(scan / "p.tif")
    result = CliRunner().invoke(make_command(Extended), [*args, "-o", str(scan / "o.tif"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert getattr(MADE[-1], name) == getattr(RecoOptions(**{name: value}), name)


def test_python_api_validates_on_construction_and_keeps_its_dataclass_behaviour():
    from dataclasses import fields, replace

    o = RecoOptions(projections="p.tif", energy="20 keV", pixel_size="1.4um", roi=[0, 0, 8, 8])
    assert o.energy == 20.0 and o.pixel_size == pytest.approx(1.4e-6) and o.roi == (0, 0, 8, 8)
    assert replace(o, axis=3).axis == 3.0 and [f.name for f in fields(o)] == list(schema.options_of(RecoOptions))
    with pytest.raises(UsageError, match="remove_outliers: 'nan' is not a finite number"):
        RecoOptions(remove_outliers=float("nan"))
    with pytest.raises(UsageError, match="overwrite: expected true or false"):
        RecoOptions(overwrite="yes")
    with pytest.raises(UsageError, match="Did you mean 'axis'"):
        RecoOptions.from_mapping({"axxis": 3})
    assert RecoOptions.from_mapping({"threads": 3, "pixel-size": 1e-6}).replicas == 3


def test_config_files_round_trip_and_refuse_unknown_keys_with_a_suggestion(scan):
    o = RecoOptions(projections=str(scan / "p.tif"), axis=7.5, energy=20.0, distance=0.05, pixel_size=1e-6,
                    roi=(0, 0, 8, 8), absorption=False, filter="hann", replicas=3)
    config.write(o, scan / "reco.toml")
    text = (scan / "reco.toml").read_text()
    assert text.startswith("[reco]\n") and "pixel-size = 1e-06" in text and "output" not in text
    assert config.options(scan / "reco.toml") == o
    (scan / "top.json").write_text(json.dumps({"projections": "p.tif", "threads": 2, "filter-cutoff": 0.5}))
    assert config.options(scan / "top.json").filter_cutoff == 0.5 and config.options(scan / "top.json").replicas == 2
    (scan / "typo.toml").write_text("[reco]\naxsi = 3\n")
    with pytest.raises(UsageError, match="unknown key 'axsi'. Did you mean 'axis'"):
        config.load(scan / "typo.toml")
    result = CliRunner().invoke(make_command(), ["--config", str(scan / "typo.toml"), "--dry-run"])
    assert result.exit_code == 2 and "Did you mean 'axis'" in " ".join(result.output.split())
    result = CliRunner().invoke(make_command(), ["--config", str(scan / "reco.toml"), "--axis", "9", "-o", str(scan / "o.tif"),
                                                  "--dry-run"])
    assert result.exit_code == 0 and "axis: 9.0" in result.output, result.output  # the command line wins


def test_result_metadata_comes_from_the_declaration():
    meta = RecoOptions(projections="p.tif", energy="20 keV").metadata(changed_only=True)
    assert meta == {"values": {"projections": "p.tif", "energy": 20.0}, "units": {"energy": "keV"}}
    full = RecoOptions().metadata()
    assert set(full["values"]) == set(schema.options_of(RecoOptions)) and full["units"]["angle"] == "rad"
    json.dumps(full)  # JSON-able as it is


def test_the_docs_table_is_generated_and_current():
    assert DOCS.read_text() == markdown(), "run: python -c 'from ufo.reco.options import markdown; " \
        "open(\"docs/reco-options.md\", \"w\").write(markdown())'"
    for name, declared in schema.options_of(RecoOptions).items():
        assert f"`{declared.flag}`" in DOCS.read_text()


def test_the_gui_form_is_the_declaration_plus_its_own_fields():
    names = [f["name"] for f in engine.schema_fields()]
    assert set(names) == set(schema.options_of(RecoOptions)) | set(schema.options_of(engine.GuiOptions))
    energy = {f["name"]: f for f in engine.schema_fields()}["energy"]
    assert energy["unit"] == "keV" and energy["group"] == "phase" and energy["positive"] is True


def test_the_axis_preview_is_a_public_function_of_a_plan(tmp_path):
    from ufo.tomo.phantom import Phantom

    n, angles, axis = 48, 120, 24 + 2.5
    phantom = Phantom(n, height=4)
    frames = [0.02 * phantom.projection(a, axis=axis) for a in np.arange(angles) * np.pi / angles]
    tifffile.imwrite(tmp_path / "p.tif", np.stack(frames).astype(np.float32), photometric="minisblack")
    plan = reco.plan(RecoOptions(projections=str(tmp_path / "p.tif")), outputs=False)
    view = reco.axis_preview(plan, candidates=5, limit=16)
    assert abs(view.best - axis) < 0.5 and view.factor == 3 and view.p0.shape == (1, 16)
    sharpest = min(view.candidates, key=lambda c: c.score)  # the best scanned axis is always among them
    assert len(view.candidates) == 5 and abs(sharpest.axis - axis) < 1 and sharpest.slice.shape == (n, n)


def test_numbers_in_exponent_notation_are_numbers_not_units():
    """'--pixel-size 1e-6' was refused ('1e-06 dimensionless cannot be converted to m'): the 'e'
    of the exponent was taken for a unit. A plain number is in the option's unit; '6.5e-6m' has one."""
    from ufo.reco.options import RecoOptions
    from ufo.reco.schema import options_of

    fields = options_of(RecoOptions)
    pixel = fields["pixel_size"]
    assert pixel.convert("1e-6") == pytest.approx(1e-6) and pixel.convert("6.5E-6") == pytest.approx(6.5e-6)
    assert pixel.convert("6.5e-6m") == pytest.approx(6.5e-6) and pixel.convert("1.2um") == pytest.approx(1.2e-6)
    assert fields["energy"].convert("2e1") == pytest.approx(20.0)
    with pytest.raises(Exception, match="keV"):
        fields["energy"].convert("2e1mm")
