"""The `ufo` command. It holds no logic the Python API lacks: it parses, runs and reports."""
