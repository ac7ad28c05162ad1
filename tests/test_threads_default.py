"""`--threads` defaults to the cores the process may run on (its affinity), not the machine's core count."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ufo.core.resources import available_cores

PRINT_DEFAULTS = ("import dataclasses, ufo.reco.options as o, ufo.tasks.filtering as f, types; "
                  "d = {x.name: x.default for x in dataclasses.fields(o.RecoOptions)}; "
                  "print(d['replicas'], f._workers(types.SimpleNamespace(replicas=1)))")


def _defaults(*prefix: str) -> list[int]:
    done = subprocess.run([*prefix, sys.executable, "-c", PRINT_DEFAULTS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [int(v) for v in done.stdout.split()]


def test_available_cores_is_the_affinity():
    assert available_cores() == len(os.sched_getaffinity(0))


@pytest.mark.skipif(shutil.which("taskset") is None, reason="taskset (util-linux) is not installed")
def test_pinned_to_one_core_the_defaults_are_one_thread():
    """ufo reco --threads and the FFT/back-projection threads of the tasks (ufo run) follow taskset."""
    assert _defaults("taskset", "-c", "0") == [1, 1]
    assert _defaults() == [len(os.sched_getaffinity(0))] * 2
