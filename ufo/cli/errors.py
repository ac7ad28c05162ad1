"""How the command reports failures: one clear line, exit 2 for usage and 1 for run-time errors."""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from ..core.errors import TaskError, UfoError, UsageError

err_console = Console(stderr=True, highlight=False)


def exit_code(exc: BaseException) -> int:
    cause = exc.cause if isinstance(exc, TaskError) else exc
    return 2 if isinstance(cause, UsageError) else 1


def report(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc)
    err_console.print(f"[bold red]error:[/] {escape(str(exc))}", soft_wrap=True)
    if not debug:
        err_console.print("[dim](run with --debug for the full traceback)[/]")
    return exit_code(exc)


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
        except (OSError, ValueError) as exc:
            sys.exit(report(exc, debug))

    return wrapper
