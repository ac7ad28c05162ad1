"""Exit statuses the command and its server's client share, in a module that imports nothing:
the `--on-server` client (ufo.cli.reco_client) runs before click and ufo.cli.errors are imported."""

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command ended by Ctrl-C
TERMINATED = 143  # 128 + SIGTERM: a command stopped by `kill`, a batch system or systemd, its files closed
