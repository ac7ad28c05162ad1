"""How many sinograms `ufo reco` stacks for one back-projection call (ufo.reco.planning.stack_size):
as many as the CPU kernel profits from (--slices-per-pass, 64), but never so many that replicas wait
for work or the stacks outgrow memory; a GPU takes --slices-per-pass as given, up to a pass's slices."""

from __future__ import annotations

import pytest

from ufo.reco.options import SLICES_PER_PASS, RecoOptions
from ufo.reco.planning import Plan, stack_size

PER_SLICE = 4 * (3 * 512 * 512 + 2 * 512 * 512)  # bytes slices_per_batch counts for one 512^3 sinogram


def _plan(replicas: int, per_pass: int = SLICES_PER_PASS) -> Plan:
    options = RecoOptions(projections="scan.h5", replicas=replicas, slices_per_pass=per_pass)
    return Plan(options, 512, 512, 512, list(range(512)), [], None, 0)


@pytest.mark.parametrize("replicas, slices, expected", [
    (1, 512, 64),  # one core: the kernel's best stack
    (4, 1000, 64),
    (4, 100, 25),  # 4 replicas share 100 slices: 25 each, not 64 + 36 and two idle
    (16, 20, 2),
    (2, 1, 1),
])
def test_on_the_cpu_every_replica_gets_work(replicas, slices, expected):
    assert stack_size(_plan(replicas), slices, on_gpu=False, memory=1 << 40) == expected


def test_memory_short_gives_smaller_stacks_and_the_option_caps_them():
    # 1/8 of each replica's share holds 40 sinograms: the largest multiple of 32 below
    assert stack_size(_plan(2), 512, on_gpu=False, memory=2 * 8 * 40 * PER_SLICE) == 32
    assert stack_size(_plan(2), 512, on_gpu=False, memory=2 * 8 * 5 * PER_SLICE) == 5
    assert stack_size(_plan(1, per_pass=16), 512, on_gpu=False, memory=1 << 40) == 16


def test_a_gpu_takes_the_option_as_given_up_to_a_pass():
    assert stack_size(_plan(16), 200, on_gpu=True, memory=1) == SLICES_PER_PASS
    assert stack_size(_plan(16), 20, on_gpu=True, memory=1) == 20  # a stack never waits for the next pass
