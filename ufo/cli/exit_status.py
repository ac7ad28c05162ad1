"""Exit statuses the command and its server's client share, in a module that imports nothing:
the `--on-server` client (ufo.cli.reco_client) runs before click and ufo.cli.errors are imported."""

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command ended by Ctrl-C
TERMINATED = 143  # 128 + SIGTERM: a command stopped by `kill`, a batch system or systemd, its files closed


def exit_terminated(signum: int, frame: object) -> None:
    """SIGTERM before the command's own handler is installed (the interpreter's start, the imports):
    nothing is open yet, so the process ends at once with 143, as it ends later with its files
    closed. It died of the signal (status -15: a batch script's $? 271), 1 run in 4 under load."""
    import os

    os._exit(TERMINATED)
