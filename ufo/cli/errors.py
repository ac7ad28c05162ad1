"""How the command reports failures: one clear line, exit 2 for usage and 1 for run-time errors,
and 130 for Ctrl-C (SIGINT) after the command's graphs, devices and servers have stopped."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import click

from ..core.errors import TaskError, UfoError, UsageError
from .exit_status import INTERRUPTED, TERMINATED, exit_terminated  # the statuses of a command ended by Ctrl-C (130), SIGTERM (143)

if TYPE_CHECKING:
    from rich.console import Console


class FiniteFloatRange(click.FloatRange):
    """click's FloatRange, which lets NaN through (every comparison with it is false) and, without
    a maximum, infinity: both refused here as a usage error naming the option."""

    def _describe_range(self) -> str:
        return "finite" if self.min is None and self.max is None else super()._describe_range()  # not 'x<=None'

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


@functools.cache
def _err_console() -> Console:
    """The console for error lines, made on first use: rich costs ~40 ms to import, which
    `ufo --help` and a run that succeeds quietly need not pay."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def __getattr__(name: str) -> Any:
    """`err_console` stays importable by name (PEP 562) although it is made only when asked for."""
    if name == "err_console":
        return _err_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def exit_code(exc: BaseException) -> int:
    cause = exc.cause if isinstance(exc, TaskError) else exc
    return 2 if isinstance(cause, UsageError) else 1


def report(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    from rich.markup import escape

    console = _err_console()
    try:
        console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
        if not debug:
            console.print("[dim](run with --debug for the full traceback)[/]")
    except (OSError, SystemExit):  # stderr's reader gone (`2>&1 | head -1`; rich's own exit(1) for it): the exit
        # code still tells (it became 1)
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())
    return exit_code(exc)


def _closed_pipe(exc: BrokenPipeError, debug: bool) -> int:
    """`ufo ... | head`: where stdout's reader has gone, the command ends quietly with 141 (as a
    tool killed by SIGPIPE), its output pointed at /dev/null so the interpreter's last flush says
    nothing either; a broken pipe elsewhere (a peer process) is a failure like any other."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        closed = any(events & select.POLLERR for _, events in poller.poll(0))  # the reading end is gone
    except (OSError, ValueError, AttributeError):  # no file descriptor (captured output), no poll
        closed = False
    if not closed:
        return report(exc, debug)
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 141


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ufo errors and unexpected exceptions into a message and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = bool(kwargs.get("debug")) or bool(click.get_current_context().find_root().params.get("debug"))
        try:
            return func(*args, **kwargs)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except UfoError as exc:
            sys.exit(report(exc, debug))
        except BrokenPipeError as exc:
            sys.exit(_closed_pipe(exc, debug))
        except (OSError, ValueError) as exc:
            sys.exit(report(exc, debug))
        except Exception as exc:  # noqa: BLE001 - anything else is one line too (a self-linked HDF5 file's
            named = RuntimeError(f"{type(exc).__name__}: {exc}")  # RuntimeError came as a traceback)
            named.__cause__ = exc
            sys.exit(report(named, debug))

    return wrapper


# -- Ctrl-C ---------------------------------------------------------------------------------

class _Interrupts:
    count = 0  # SIGINTs (and SIGTERMs) received while the command runs
    terminated = False  # one of them was SIGTERM: the command ends with 143, not 130


def _on_sigterm(signum: int, frame: Any) -> None:
    """SIGTERM (a batch system's or systemd's stop, `kill PID`) as Ctrl-C: the command stops its work
    and closes its files, then exits 143 (128 + SIGTERM). Before, it died at once as under SIGKILL."""
    _Interrupts.terminated = True
    _on_sigint(signum, frame)


def _on_sigint(signum: int, frame: Any) -> None:
    """First Ctrl-C: KeyboardInterrupt, so the command stops its work and closes its files.
    A second one while that happens is ignored (it would cut a file off mid-close) and says so;
    a third ends the process at once."""
    if _Interrupts.count == 0 and _in_finalizer(frame):
        # an exception raised in a finalizer (a weakref callback, __del__) is printed and lost: the
        # Ctrl-C went unheard (CI: a camera grab ran on 30 s after SIGINT). The same signal again,
        # right after the finalizer returns, lands in the command's own code.
        threading.Timer(0.02, os.kill, (os.getpid(), signum)).start()
        return
    _Interrupts.count += 1
    if _Interrupts.count == 1:
        raise KeyboardInterrupt
    if _Interrupts.count == 2:
        try:
            os.write(2, b"\nufo: stopping, closing the files; Ctrl-C once more quits at once "
                        b"(files may be left incomplete)\n")
        except OSError:
            pass
        return
    os._exit(TERMINATED if _Interrupts.terminated else INTERRUPTED)


def _in_finalizer(frame: Any) -> bool:
    """Whether the signal interrupted a garbage collector's callback, where a raised exception is
    swallowed: weakref's callbacks or a `__del__` (within the innermost three frames), or the import
    machinery's own code: raised in its module lock's weakref callback, which holds the import lock,
    the exception was printed as a traceback, the SIGTERM lost, and the next import of any thread
    (a writer's `import tifffile`) hung for good (`ufo run` stopped 0.3 s after its start)."""
    for _ in range(3):
        if frame is None:
            return False
        code = frame.f_code
        if code.co_name == "__del__" or code.co_filename.endswith(("weakref.py", "_weakrefset.py")) or \
                code.co_filename.startswith("<frozen importlib") or code.co_name.endswith("_uninterrupted"):
            return True  # (*_uninterrupted: a few statements that must not be cut apart, a writer's count)
        frame = frame.f_back
    return False


def install_interrupt_handler() -> None:
    """Count Ctrl-C and SIGTERM (main thread only); see `_on_sigint`, `_on_sigterm`."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, exit_terminated):  # (the command's start: ufo.cli.launch)
        signal.signal(signal.SIGTERM, _on_sigterm)


def mark_terminated() -> None:
    """The command was stopped by SIGTERM that a library took first (Tango's servers): exit 143."""
    _Interrupts.terminated = True


def terminated() -> bool:
    """Whether the command was stopped by SIGTERM (its status is then TERMINATED)."""
    return _Interrupts.terminated


def reset_interrupts() -> None:
    """A command starts with no Ctrl-C counted (commands run in-process one after another in tests)."""
    _Interrupts.count = 0
    _Interrupts.terminated = False


def interrupted() -> bool:
    """Whether Ctrl-C was pressed during this command (also when the command swallowed it)."""
    return _Interrupts.count > 0


@contextlib.contextmanager
def default_sigint() -> Iterator[None]:
    """Python's own SIGINT handler for a while: `asyncio.run` installs its task-cancelling handler
    only over it (so Ctrl-C cancels the main task instead of raising inside the event loop)."""
    swap = signal.getsignal(signal.SIGINT) is _on_sigint and threading.current_thread() is threading.main_thread()
    if swap:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    except KeyboardInterrupt:
        _Interrupts.count += 1
        raise
    finally:
        if swap:
            signal.signal(signal.SIGINT, _on_sigint)


def stop_after_interrupt() -> None:
    """What every command does on Ctrl-C before it exits 130: cancel the graphs still running in
    this process and wait for their sinks to close the outputs (devices and servers are closed
    by the commands' own `finally` blocks, which have run by now)."""
    from ..core.handle import stop_all

    _Interrupts.count = max(_Interrupts.count, 1)  # a second Ctrl-C must not cut the closing short
    stop_all()
