"""The benchmarks compare like with like: same cores, a real storage ceiling, no no-op peers,
and the GPU file-to-file script runs (or says it skipped) everywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ufo.bench import gpu_files, reco_fair, storage

ROOT = Path(__file__).resolve().parent.parent


def test_per_core_and_whole_machine_use_the_cores_they_claim():
    """Pinned, a tool gets one core: its CPU time cannot exceed its wall time even with 2
    replicas; the single-threaded peer fills the machine with one process per core."""
    run = reco_fair.compare(64, 48, 32, 1, cores=2, tools=(0, 2))
    ours, skimage = run.timings[reco_fair.TOOLS[0].name], run.timings[reco_fair.TOOLS[2].name]
    assert ours["per core"].cpu_seconds <= ours["per core"].seconds * 1.02 + 0.02
    # whole machine: a stack of --slices-per-pass sinograms for each of the 2 replicas
    assert ours["per core"].slices == max(32, reco_fair.SLICES_PER_PASS)
    assert ours["whole machine"].slices == 2 * reco_fair.SLICES_PER_PASS
    assert skimage["per core"].slices == 1 and skimage["whole machine"].slices == 2  # 2 processes x 1 slice
    # same data, same accuracy: both within 10 % of each other and far below the phantom's contrast (1.0)
    for figures in (ours["per core"], skimage["per core"]):
        assert figures.dtype == "float32" and figures.rmse < 0.12
    assert abs(ours["per core"].rmse - skimage["per core"].rmse) < 0.1 * skimage["per core"].rmse


def test_a_tool_that_fails_in_its_process_is_named():
    sinos = np.zeros((2, 8), np.float32)  # not a stack of sinograms: the worker process raises
    with pytest.raises(RuntimeError, match="ASTRA CPU FBP"):
        reco_fair.timed(3, sinos, 1, 1, 1, None)


def test_raw_ceiling_writes_the_same_bytes_past_the_page_cache(tmp_path):
    frames = [np.full((64, 64), i, np.uint16) for i in range(8)]  # 8 KiB frames: O_DIRECT-aligned
    path = str(tmp_path / "ceiling.bin")
    seconds, how = storage.raw_ceiling(path, frames, 16)
    assert seconds > 0 and how.startswith("O_DIRECT")  # tmp_path is on ext4 here, which takes O_DIRECT
    written = np.fromfile(path, np.uint16).reshape(16, 64, 64)
    assert [int(f[0, 0]) for f in written] == list(range(8)) * 2 and (written[3] == 3).all()


def test_storage_runs_are_interleaved_medians_not_a_best_pair(tmp_path):
    frames = [np.full((64, 64), i, np.uint16) for i in range(8)]
    ours, raws, how = storage.interleaved(str(tmp_path), str(tmp_path / "data.h5:/data"), frames, 16, 5)
    assert len(ours) == len(raws) == 5 and how
    assert not (tmp_path / "reference.bin").exists()


def test_the_camera_benchmark_has_no_peer_that_does_nothing():
    from ufo.bench import camera

    rows = camera.measure(0.2)
    assert [m.peer for m in rows] == ["bare pyzmq PUSH/PULL"] and rows[0].ufo > 0 and rows[0].peer_value > 0


@pytest.mark.skipif(gpu_files.have_gpu(), reason="with a GPU the script runs the full benchmark")
def test_gpu_file_script_says_it_skipped_without_a_gpu():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "reco_files_gpu.py")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "no GPU: skipped" in done.stdout


def test_file_to_file_measures_against_its_floor_on_the_cpu(tmp_path):
    """The GPU script's code path, run with ufo on the CPU at a tiny size: every figure is there,
    ufo's slice matches the phantom, and missing GPU peers say why instead of failing the run."""
    run = gpu_files.measure(str(tmp_path), 64, 16, 64, repeat=1, astra_slices=2, device="cpu",
                            cold=False)  # leave the shared machine's page cache alone
    assert run.read > 0 and run.write > 0 and run.floor == max(run.read, run.write)
    direct = {"axis given", "--axis auto", "axis given, --output-bits 16"}
    assert set(run.reco) == direct | {"axis given, --gpu-path sinograms"} | {f"{n}, --on-server" for n in direct}
    assert run.scan_bytes == os.path.getsize(tmp_path / "scan.nx") and run.output_bytes == 16 * 64 * 64 * 4
    name, slices, seconds, rmse = run.host[0]
    assert name.startswith("ufo") and slices == 16 and seconds > 0
    assert float(rmse) < 0.15 * gpu_files.ATTENUATION  # the phantom's soft-tissue contrast is 0.2 x ATTENUATION
    assert all(r[3].startswith("failed") or float(r[3]) >= 0 for r in run.host[1:])
    assert not os.path.exists(tmp_path / "slices.h5")


TIMED = """
import numpy as np
from ufo.bench import reco_fair
reco_fair.timed(0, np.random.default_rng(0).random((256, 360, 512), np.float32), 256, 1, 1, None)
"""


def test_a_benchmark_stopped_with_ctrl_c_ends_with_its_timing_processes():
    """SIGINT (or SIGTERM turned into one) to the ufo process alone while a timing process ran: the
    command never ended (its exit joined a child blocked writing its result into a pipe nobody read)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-c", TIMED], stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        time.sleep(0.1)
    time.sleep(3.0)  # the timing process imports and starts reconstructing
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 and "KeyboardInterrupt" in proc.stderr.read()
