"""Holding an experiment between frames: pause/resume by hand, and suspenders that trip and clear.

Kept apart from experiment.py so the run loop reads as a loop. An experiment owns one `Hold`;
its run asks it before every frame whether to wait (`paused`, `check()`), and after every
frame whether the frame is good (`tripped()`: a suspender read bad when the frame arrived, or
the background poll saw it bad while the frame was taken - a short beam loss between two
checks still spoils that frame).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from .errors import ControlError
from .suspenders import Suspender


class AbortedError(ControlError):
    """The experiment was aborted (abort(), or 'abort' after Ctrl-C): devices stopped, files closed."""


class Hold:
    """Pause flag, suspenders and the trip latched since the current frame began."""

    def __init__(self, suspenders: Iterable[Suspender] = ()):
        self.suspenders: list[Suspender] = list(suspenders)
        self._go: asyncio.Event | None = None
        self._paused = False
        self._latched: tuple[Suspender, str] | None = None
        self._failure: BaseException | None = None
        self._monitor: asyncio.Task[None] | None = None

    # -- pause by hand -------------------------------------------------------------------
    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        self._paused = True
        if self._go is not None:
            self._go.clear()

    def resume(self) -> None:
        self._paused = False
        if self._go is not None:
            self._go.set()

    async def wait_resumed(self) -> None:
        if self._go is None:
            self._go = asyncio.Event()
        if not self._paused:
            self._go.set()
        await self._go.wait()

    # -- suspenders ----------------------------------------------------------------------
    async def start(self) -> None:
        """A run begins: arm every suspender and poll them in the background."""
        self._latched, self._failure = None, None
        self._go = None  # made again on this run's event loop (asyncio.run gives each script its own)
        for suspender in self.suspenders:
            await suspender.arm()
        if self.suspenders:
            self._monitor = asyncio.ensure_future(self._poll())

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            await asyncio.gather(self._monitor, return_exceptions=True)
            self._monitor = None

    async def _poll(self) -> None:
        interval = min(s.poll for s in self.suspenders)
        while True:
            try:
                found = await self._read_all()
            except Exception as exc:  # noqa: BLE001 - raised by the run at its next frame
                self._failure = exc
                return
            if found is not None and self._latched is None:
                self._latched = found
            await asyncio.sleep(interval)

    async def _read_all(self) -> tuple[Suspender, str] | None:
        found = None
        for suspender in self.suspenders:  # read all: each one's hysteresis follows its value
            reason = await suspender.check()
            if reason is not None and found is None:
                found = (suspender, reason)
        return found

    def mark(self) -> None:
        """A frame begins: forget trips seen before it (they were dealt with)."""
        self._latched = None

    async def tripped(self, read: bool = True) -> tuple[Suspender, str] | None:
        """The suspender (and why) that spoils the frame taken since mark(), or None; `read`: read
        every suspender now too (else only what the background poll saw)."""
        if self._failure is not None:
            raise self._failure
        now = await self._read_all() if self.suspenders and read else None
        return self._latched or now

    async def wait_good(self, tripped: Suspender) -> None:
        """Until every suspender reads good and stays so for the longest delay of those that tripped."""
        delay = tripped.delay
        interval = min(s.poll for s in self.suspenders)
        while True:
            found = await self._read_all()
            if found is not None:
                delay = max(delay, found[0].delay)
                await asyncio.sleep(interval)
                continue
            waited = 0.0
            while waited < delay and (found := await self._read_all()) is None:
                step = min(interval, delay - waited)
                await asyncio.sleep(step)
                waited += step
            if found is None and await self._read_all() is None:
                self._latched = None
                return
