"""Values a script passes to stages by mistake, found by a probe of the control layer
(2026-12-06): pint reads "10" and 10 % as dimensionless numbers and converts those to degrees as
radians, so a rotation stage sent "10" went to 572.96 deg, exit 0; 10**400 came out as a bare
OverflowError; x.set(True) moved to 1 mm; a velocity of 1e-300 mm/s made a move that never
ended; stop() returned while the halted move still held the motor, so the move asked next (as
bluesky's pause and resume do) was refused with a BusyError."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ufo.control import LinearMotor, RotationMotor, Tomography, q
from ufo.control.errors import LimitError, UnitError
from ufo.control.motors import SimulatedMotor
from ufo.core import UsageError


def run(coroutine):
    return asyncio.run(coroutine)


@pytest.mark.parametrize("value", ["10", "10 percent", "abc", "10 mm"])
def test_an_angle_without_an_angle_unit_is_refused_and_the_stage_stays(value):
    async def go():
        rot = await RotationMotor("rot").connect()
        with pytest.raises(UnitError, match="rot: position"):
            await rot.set_position(value)
        return await rot.get_position()

    assert run(go()).to(q.deg).magnitude == 0


def test_angles_in_any_angle_unit_still_move_the_stage():
    async def go():
        rot = await RotationMotor("rot").connect()
        got = [await rot.set_position(v) for v in ("0.5 rad", 0.25 * q.turn, np.float32(3) * q.deg, "30 arcmin")]
        return [float(g.to(q.deg).magnitude) for g in got]

    np.testing.assert_allclose(run(go()), [np.degrees(0.5), 90, 3, 0.5], rtol=1e-6)


@pytest.mark.parametrize("value", [10**400 * q.mm, [1, 2] * q.mm, (1 + 2j) * q.mm])
def test_a_position_that_is_no_real_number_is_refused_by_name(value):
    async def go():
        x = await LinearMotor("x").connect()
        with pytest.raises((UnitError, LimitError), match="x: position"):
            await x.set_position(value)
        with pytest.raises(UnitError, match="x: set"):
            await x.set(True)

    run(go())


def test_a_scan_range_without_an_angle_unit_or_too_large_is_refused():
    for value in (q.Quantity(3.14), 10**400 * q.deg, 180 * q.mm):
        with pytest.raises(UsageError, match="angular_range"):
            Tomography(object(), angular_range=value)


def test_a_move_that_would_take_longer_than_a_week_is_refused():
    stage = SimulatedMotor(velocity=1e-300)
    with pytest.raises(LimitError, match="would take .* raise the velocity"):
        stage.move_to(50.0)


def test_a_move_asked_right_after_stop_is_taken():
    async def go():
        x = await LinearMotor("x").connect()
        await x.set_velocity(5 * q("mm/s"))
        first = asyncio.ensure_future(x.set_position(10 * q.mm))
        await asyncio.sleep(0.2)
        await x.stop()
        again = await x.set_position(0 * q.mm)
        return await first, again

    halted, again = run(go())
    assert 0 < halted.to(q.mm).magnitude < 10 and again.to(q.mm).magnitude == pytest.approx(0, abs=1e-3)


def test_the_ctrl_c_question_keeps_its_key_letters_under_a_progress_bar(monkeypatch, capsys):
    """Under the scan's rich progress bar (which takes sys.stdout over), the prompt printed
    "scan_0000: paused after Ctrl-C. esume or bort?": rich read [r] and [a] as markup."""
    import io

    from rich.console import Console
    from rich.progress import Progress

    from ufo.control import interrupts

    class Named:
        current = "scan_0000"

    shown = io.StringIO()
    monkeypatch.setattr("sys.stdin", io.StringIO("r\n"))
    with Progress(console=Console(file=shown, force_terminal=True, width=80), redirect_stdout=True):
        assert interrupts._ask(Named()) == "r"
    import re

    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.getvalue())  # the terminal's colours
    assert "[r]esume or [a]bort?" in text, text
