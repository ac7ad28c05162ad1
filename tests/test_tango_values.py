"""Values the Tango devices and the simulated stage refuse: a time or tag that is no finite number."""

from __future__ import annotations

import time

import pytest


def test_json_tags_refuse_nan_and_infinity():
    """Python's json reads NaN: `grab '{"angle": NaN}'` stored and sent a frame at angle NaN."""
    from ufo.tango.base import parse_json

    assert parse_json('{"angle": 1.5}', "tags") == {"angle": 1.5}
    for text in ('{"angle": NaN}', '{"angle": -Infinity}', '{"angle": 1e999}', '{"a": [-1e400]}'):
        with pytest.raises(ValueError, match="tags must hold finite numbers"):
            parse_json(text, "tags")


def test_a_simulated_motor_has_no_position_at_a_time_that_is_no_number():
    from ufo.control.motors import SimulatedMotor

    stage = SimulatedMotor("deg", position=30.0)
    assert stage.position_at(time.monotonic()) == 30.0
    with pytest.raises(ValueError, match="not a finite number"):
        stage.position_at(float("nan"))  # was 30.0: the first motion's target
