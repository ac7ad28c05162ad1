"""Ctrl-C during an experiment in an interactive session: pause it and ask whether to resume or abort.

A script (`ufo session start NAME --non-interactive`) keeps the plain behaviour: Ctrl-C
cancels the run, the devices stop, the files close and the command exits 130. At an IPython
prompt (`ufo session start NAME`) a Ctrl-C would otherwise tear the scan apart mid-frame; there
the session sets `ASK` and a run installs, for its duration, a SIGINT handler that pauses it
after the current frame and asks on the terminal: resume (r) or abort (a). End of input aborts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Protocol

from .errors import ControlError

ASK: ContextVar[bool] = ContextVar("ufo_ask_on_interrupt", default=False)
PROMPT = "\n{name}: paused after Ctrl-C. [r]esume or [a]bort? "
NOT_PAUSED = "\n{why}\n{name}: [r]un on or [a]bort? "


class Holdable(Protocol):
    """What the handler needs of an experiment (ufo.control.experiment.Experiment)."""

    current: str | None

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def abort(self, reason: str = "aborted") -> None: ...


def _ask(experiment: Holdable, prompt: str = PROMPT, why: str = "") -> str:
    """Read the answer on the terminal (in a thread: the scan's loop stays free)."""
    while True:
        sys.stdout.write(_shown(prompt.format(name=experiment.current, why=why)))
        sys.stdout.flush()
        line = sys.stdin.readline()
        if not line:
            return "a"
        answer = line.strip().lower()[:1]
        if answer in ("r", "a"):
            return answer
        sys.stdout.write("answer r (resume) or a (abort)\n")


def _shown(text: str) -> str:
    """`text` as written to sys.stdout: escaped where a rich progress bar holds it (its FileProxy
    prints through rich markup, which ate '[r]' and '[a]': "esume or bort?")."""
    if type(sys.stdout).__module__.startswith("rich."):
        from rich.markup import escape

        return escape(text)
    return text


@contextlib.contextmanager
def ask_on_interrupt(experiment: Holdable) -> Iterator[None]:
    """While the block runs (a run of `experiment`): Ctrl-C pauses and asks, when ASK is set and
    this is the main thread; otherwise nothing changes."""
    if not ASK.get() or threading.current_thread() is not threading.main_thread():
        yield
        return
    loop = asyncio.get_running_loop()
    asking: list[asyncio.Future[str]] = []

    def decide(answer: asyncio.Future[str]) -> None:
        asking.clear()
        if answer.cancelled() or answer.exception() is not None or answer.result() == "a":
            experiment.abort("aborted after Ctrl-C")
        else:
            experiment.resume()

    def interrupted() -> None:
        if asking:
            sys.stdout.write("\n(answer the question: r or a)\n")
            return
        try:
            experiment.pause()
            question: tuple[Any, ...] = ()
        except ControlError as err:  # refused (a continuous scan turning): the run goes on, asked anyway
            question = (NOT_PAUSED, str(err))
        answer = asyncio.ensure_future(asyncio.to_thread(_ask, experiment, *question))
        answer.add_done_callback(decide)
        asking.append(answer)

    def handler(signum: int, frame: Any) -> None:
        loop.call_soon_threadsafe(interrupted)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def cancel_on_terminate() -> Iterator[list[int]]:
    """While the block runs (a run, in the main thread of a plain script): SIGTERM cancels the
    task running it, as Ctrl-C does through asyncio.run, so that the run stops its devices and
    closes its files; the list yielded then holds the signal. Python's own SIGTERM kills the
    process with the NXtomo still open for write (h5py then refuses it). A handler someone else
    installed (the `ufo` command's) is left alone; the previous handler is restored after. A
    second SIGTERM while the run still cleans up ends the process at once, as the first would have."""
    task = asyncio.current_task()
    if task is None or threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield []
        return
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def handler(signum: int, frame: Any) -> None:
        if got:  # the cleanup hangs: die as SIGTERM would have
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        got.append(signum)
        loop.call_soon_threadsafe(task.cancel)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield got
    finally:
        signal.signal(signal.SIGTERM, previous)
