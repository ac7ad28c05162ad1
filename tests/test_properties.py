"""Property declarations: every task validates types, ranges, choices and units."""

from __future__ import annotations

import pytest

import ufo
from ufo.core import Property, PropertyError, registry
from ufo.core.units import registry as units

PYTHON_ONLY = {"memory-in", "memory-out"}


@pytest.mark.parametrize("name", [n for n in registry.names() if n not in PYTHON_ONLY])
def test_every_property_rejects_wrong_values(name):
    cls = registry.get(name)
    for key, prop in cls.properties().items():
        bad = {bool: "maybe", int: "1.5x", float: "abc", str: None}[prop.type]
        if bad is not None:
            with pytest.raises(PropertyError) as info:
                cls(**{key: bad})
            message = str(info.value)
            assert f"'{name}'" in message and f"'{prop.cli_name}'" in message
        if prop.choices is not None:
            with pytest.raises(PropertyError, match="one of"):
                cls(**{key: "no-such-choice" if prop.type is str else 12345})
        if prop.range is not None and prop.range[0] is not None:
            low = prop.range[0] - (1 if prop.type is int else 0.5)
            entry = cls.ufo_names.get(prop.cli_name)
            if low == 0 and entry is not None and entry.convert is not None and entry.convert(low) == {}:
                continue  # UFO's 0 for 'whole frame' / 'automatic' is our default (docs/ufo-compat.md)
            with pytest.raises(PropertyError, match=">=|in \\["):
                cls(**{key: low})


@pytest.mark.parametrize("name", [n for n in registry.names() if n not in PYTHON_ONLY])
def test_every_task_documents_itself(name):
    cls = registry.get(name)
    assert cls.__doc__ and cls.__doc__.strip()
    for prop in cls.properties().values():
        assert prop.doc, f"{name}.{prop.cli_name} has no doc"
        if not prop.required and prop.default is not None:
            assert prop.convert(prop.default) == prop.default


def test_unknown_property_lists_valid_ones_and_suggests():
    with pytest.raises(PropertyError) as info:
        ufo.Crop(widht=3)
    text = str(info.value)
    assert "'widht'" in text and "Did you mean 'width'" in text and "from-center" in text


def test_units_convert_and_wrong_dimension_is_refused():
    rotate = ufo.Rotate(angle="90deg")
    assert rotate.angle == pytest.approx(1.5707963, rel=1e-6)
    rotate.angle = 45 * units().degree
    assert rotate.angle == pytest.approx(0.785398, rel=1e-5)
    with pytest.raises(PropertyError, match="rad"):
        ufo.Rotate(angle="3 mm")


def test_parsing_from_text():
    p = Property(int, 1, doc="d", range=(0, 10))
    assert p.convert("0x0a") == 10
    with pytest.raises(PropertyError):
        p.convert("11")
    b = Property(bool, False, doc="d")
    assert b.convert("yes") is True and b.convert("off") is False
    arr = Property(int, [1, 2], doc="d", array=True)
    assert arr.convert("3,4, 5") == [3, 4, 5]
    two = Property(float, [0, 0], doc="d", array=True, length=2)
    with pytest.raises(PropertyError, match="2 values"):
        two.convert("1,2,3")


def test_required_property_is_reported_at_build_time():
    with pytest.raises(PropertyError, match="'path' is required"):
        ufo.Writer()(ufo.DummyData(number=1)()).run()


def test_camel_case_names_and_aliases():
    assert ufo.Reader is ufo.Read and ufo.Writer is ufo.Write
    assert ufo.DummyData.name == "dummy-data"
    assert ufo.task("flip", direction="vertical").direction == "vertical"
    with pytest.raises(AttributeError):
        ufo.NoSuchTask
