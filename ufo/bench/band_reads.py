"""The measurements of benchmarks/band_reads.py: reading a scan in bands of rows (pass order) from a cold disk, writing through the page cache, both at once.

Why: `ufo reco` in passes reads, for each pass, a band of rows of every frame (a read every
frame-size bytes) while the pass before is written. This measures, on a file shaped like a
1024^3 uint16 scan (1064 frames of 1024^2, 2.23 GB, contiguous): the whole file in 64 MiB reads;
the first pass's bands alone, with the page cache's growth (does read-ahead bring other bands?);
bands of 1/P of each frame, pass after pass, one thread, with and without asking for a whole
pass first (POSIX_FADV_WILLNEED, as `prefetch.start_ranges` does), with 8 and 16 threads, and
as `DirectFrames.read_bands` copies them from a memory map; 4.29 GB written with 4 MiB pwrite
calls from 1-8 threads (into a new file, a sparse one sized first, one whose blocks were
reserved first), with 64 MiB calls, copied into a memory map of a file sized first from 1-8
threads, through h5py's direct chunk writes (SWMR, a flush a frame) and into a preallocated HDF5 dataset with pwrite; and band reads beside the writes.
Each read from a dropped page cache (root).
"""

from __future__ import annotations

import mmap
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

H = W = 1024
N = 1064
FRAME = H * W * 2


def _scan(d: str) -> str:
    return f"{d}/scan.raw"

def drop():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")

def make(d):
    block = (np.arange(64 * FRAME // 2) % 65521).astype(np.uint16).tobytes()
    with open(_scan(d), "wb") as f:
        left = N * FRAME
        while left:
            left -= f.write(block[:min(left, len(block))])
    os.sync()

def t(label, fn, *a):
    drop()
    t0 = time.perf_counter()
    r = fn(*a)
    dt = time.perf_counter() - t0
    print(f"{label}: {dt:.3f} s" + (f"  {r}" if r else ""), flush=True)
    return dt

def seq(d):
    fd = os.open(_scan(d), os.O_RDONLY)
    buf = bytearray(64 << 20)
    while os.readv(fd, [buf]) > 0:
        pass
    os.close(fd)

def bands_single(d, P, advise):
    fd = os.open(_scan(d), os.O_RDONLY)
    rows = H // P
    n = rows * W * 2
    out = np.empty((rows, W), np.uint16)
    marks = []
    t0 = time.perf_counter()
    for p in range(P):
        if advise:
            for i in range(N):
                os.posix_fadvise(fd, i * FRAME + p * n, n, os.POSIX_FADV_WILLNEED)
        for i in range(N):
            os.preadv(fd, [out], i * FRAME + p * n)
        marks.append(round(time.perf_counter() - t0, 2))
    os.close(fd)
    return marks

def bands_threads(d, P, T, advise=False):
    fd = os.open(_scan(d), os.O_RDONLY)
    rows = H // P
    n = rows * W * 2
    outs = [np.empty((rows, W), np.uint16) for _ in range(T)]
    marks = []
    t0 = time.perf_counter()
    def part(p, k):
        for i in range(k, N, T):
            os.preadv(fd, [outs[k]], i * FRAME + p * n)
    with ThreadPoolExecutor(T) as ex:
        for p in range(P):
            if advise:
                for i in range(N):
                    os.posix_fadvise(fd, i * FRAME + p * n, n, os.POSIX_FADV_WILLNEED)
            list(ex.map(lambda k: part(p, k), range(T)))
            marks.append(round(time.perf_counter() - t0, 2))
    os.close(fd)
    return marks

def bands_mmap(d, P, block=32, ahead=96):
    fd = os.open(_scan(d), os.O_RDONLY)
    m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    rows = H // P
    n = rows * W * 2
    out = np.empty((block, rows, W), np.uint16)
    marks = []
    t0 = time.perf_counter()
    pg = mmap.PAGESIZE
    for p in range(P):
        asked = 0
        for i in range(0, N, block):
            hi = min(N, i + block + ahead)
            for j in range(max(asked, i), hi):
                at = j * FRAME + p * n
                m.madvise(mmap.MADV_WILLNEED, at - at % pg, n + at % pg)
            asked = hi
            k = min(block, N - i)
            src = np.lib.stride_tricks.as_strided(np.frombuffer(m, np.uint16, rows * W, i * FRAME + p * n),
                                                  (k, rows, W), (FRAME, W * 2, 2))
            np.copyto(out[:k], src)
        marks.append(round(time.perf_counter() - t0, 2))
    del src
    m.close(); os.close(fd)
    return marks

def writes(d, T, nbytes=1024 * H * W * 4, piece=H * W * 4, path=None, layout=None):
    """Seconds to write `nbytes` in `piece`s at their offsets from T threads into a new file:
    growing as written (layout None), sized first ("sized": a sparse file, as HDF5 lays out a
    volume) or with its blocks reserved first ("reserved": ufo.storage.preallocate)."""
    path = path or f"{d}/out.raw"
    if os.path.exists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    if layout == "sized":
        os.ftruncate(fd, nbytes)
    elif layout == "reserved":
        from ..storage.preallocate import reserve

        os.ftruncate(fd, nbytes)
        if not reserve(fd, 0, nbytes):
            os.close(fd)
            return "not reserved (file system)"
    data = np.ones(piece // 4, np.float32)
    count = nbytes // piece
    def part(k):
        for i in range(k, count, T):
            os.pwrite(fd, data, i * piece)
    t0 = time.perf_counter()
    if T == 1:
        part(0)
    else:
        with ThreadPoolExecutor(T) as ex:
            list(ex.map(part, range(T)))
    dt = time.perf_counter() - t0
    os.close(fd)
    os.unlink(path)
    return round(dt, 2)

def mapped_writes(d, T, nbytes=1024 * H * W * 4, piece=H * W * 4, reserved=False, populate=False):
    """4.29 GB copied into a memory map of a file sized first (`reserved`: its blocks reserved too,
    ufo.storage.preallocate), from `T` threads (NumPy copies without the GIL), each piece's pages
    made first with MADV_POPULATE_WRITE where `populate` (Linux 5.14+): the page cache filled by
    page faults, which unlike write() calls into one file do not queue on the file's lock; a way
    past one writer's pace if it is faster here."""
    path = f"{d}/mapped.raw"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, nbytes)
    if reserved:
        from ..storage.preallocate import reserve

        reserve(fd, 0, nbytes)
    m = mmap.mmap(fd, nbytes)
    advice = getattr(mmap, "MADV_POPULATE_WRITE", 23)
    target = np.frombuffer(m, np.float32)
    data = np.ones(piece // 4, np.float32)
    count = nbytes // piece

    def part(k):
        for i in range(k, count, T):
            if populate:
                m.madvise(advice, i * piece, piece)
            target[i * (piece // 4): (i + 1) * (piece // 4)] = data

    t0 = time.perf_counter()
    with ThreadPoolExecutor(T) as ex:
        list(ex.map(part, range(T)))
    dt = time.perf_counter() - t0
    ok = bool(target[-1] == 1)
    target = np.empty(0, np.float32)  # the map's last view gone: it can close
    m.close()
    os.close(fd)
    os.unlink(path)
    return f"{dt:.2f} ok={ok}"


def direct_writes(d, T, piece=32 << 20, nbytes=1024 * H * W * 4, fsync=False):
    """4.29 GB written from `T` threads into a file sized first: with O_DIRECT (past the page
    cache: the disk's own pace, from page-aligned memory), or (`fsync`) through the page cache
    and then flushed to the disk; is there a write faster than one stream into the page cache?"""
    path = f"{d}/direct.raw"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.ftruncate(fd, nbytes)
    os.close(fd)
    fd = os.open(path, os.O_WRONLY | (0 if fsync else os.O_DIRECT))
    source = mmap.mmap(-1, piece)  # page-aligned, as O_DIRECT needs
    source.write(b"\1" * piece)
    count = nbytes // piece

    def part(k):
        for i in range(k, count, T):
            os.pwrite(fd, source, i * piece)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(T) as ex:
        list(ex.map(part, range(T)))
    t1 = time.perf_counter()
    if fsync:
        os.fsync(fd)
    dt, flushed = t1 - t0, time.perf_counter() - t1
    os.close(fd)
    os.unlink(path)
    return f"{dt:.2f} s" + (f" + fsync {flushed:.2f} s" if fsync else "")


def sample_rows(d, T, rows=8):
    """`rows` rows spread over the height of every frame, one positioned read each from `T`
    threads (each taking every T-th read, in file order): the 8/16-bit scale's sample as
    ufo.reco.resident_sample reads it; returns the bytes that came into the page cache."""
    before = _cached()
    fd = os.open(_scan(d), os.O_RDONLY)
    chosen = range(H // rows // 2, H, H // rows)
    reads = [i * FRAME + r * W * 2 for i in range(N) for r in chosen]
    outs = [np.empty(W, np.uint16) for _ in range(T)]

    def part(k):
        for at in reads[k::T]:
            os.preadv(fd, [outs[k]], at)

    with ThreadPoolExecutor(T) as ex:
        list(ex.map(part, range(T)))
    os.close(fd)
    return f"page cache +{(_cached() - before) / 1e6:.0f} MB ({len(reads)} reads of {W * 2} bytes)"


def both(d, P, T, WT, layout=None):
    res = {}
    def r():
        t0 = time.perf_counter(); res["marks"] = bands_threads(d, P, T, advise=True); res["read"] = round(time.perf_counter() - t0, 2)
    def w():
        res["write"] = writes(d, WT, layout=layout)
    a, b = threading.Thread(target=r), threading.Thread(target=w)
    a.start(); b.start(); a.join(); b.join()
    return res

def h5_direct(d):
    import h5py
    path = f"{d}/o.h5"
    if os.path.exists(path): os.unlink(path)
    data = np.ones((H, W), np.float32)
    t0 = time.perf_counter()
    with h5py.File(path, "w", libver="latest", locking=False) as f:
        d = f.create_dataset("data", shape=(0, H, W), maxshape=(None, H, W), chunks=(1, H, W), dtype=np.float32)
        f.swmr_mode = True
        for i in range(1024):
            d.resize(i + 1, axis=0)
            d.id.write_direct_chunk((i, 0, 0), memoryview(data).cast("B"))
            d.flush()
    dt = time.perf_counter() - t0
    os.unlink(path)
    return round(dt, 2)

def h5_pre(d, T):
    import h5py
    path = f"{d}/o.h5"
    if os.path.exists(path): os.unlink(path)
    data = np.ones((H, W), np.float32)
    t0 = time.perf_counter()
    with h5py.File(path, "w", libver="latest", locking=False) as f:
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        dcpl.set_fill_time(h5py.h5d.FILL_TIME_NEVER)
        sid = h5py.h5s.create_simple((1024, H, W))
        dsid = h5py.h5d.create(f.id, b"data", h5py.h5t.NATIVE_FLOAT, sid, dcpl=dcpl)
        base = dsid.get_offset()
    t1 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY)
    def part(k):
        for i in range(k, 1024, T):
            os.pwrite(fd, data, base + i * H * W * 4)
    with ThreadPoolExecutor(T) as ex:
        list(ex.map(part, range(T)))
    os.close(fd)
    dt = time.perf_counter() - t0
    with h5py.File(path, "r") as f:
        ok = bool((f["data"][1023] == 1).all())
    os.unlink(path)
    return f"{dt:.2f} (create {t1 - t0:.3f}) ok={ok}"


def _cached() -> int:
    """The page cache's size (bytes), from /proc/meminfo."""
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Cached:"))


def first_pass(d, P, random, mapped):
    """The first pass's bands alone (1/P of each frame), asked for at once and read (`mapped`: copied
    from a memory map, as read_bands), with read-ahead off (`random`: FADV/MADV_RANDOM) or on; the
    bytes that came into the page cache say whether read-ahead brought the other bands too."""
    before = _cached()
    fd = os.open(_scan(d), os.O_RDONLY)
    n = H // P * W * 2
    if random:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    for i in range(N):
        os.posix_fadvise(fd, i * FRAME, n, os.POSIX_FADV_WILLNEED)
    out = np.empty(n, np.uint8)
    if mapped:
        m = mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
        if random:
            m.madvise(mmap.MADV_RANDOM)
        for i in range(N):
            out[:] = np.frombuffer(m, np.uint8, n, i * FRAME)
        m.close()
    else:
        for i in range(N):
            os.preadv(fd, [out], i * FRAME)
    os.close(fd)
    return f"page cache +{(_cached() - before) / 1e9:.2f} GB (the pass: {N * n / 1e9:.2f} GB)"


def run(directory: str) -> None:
    """Every measurement above on a scan-shaped file in `directory`, printed as it goes."""
    d = directory
    os.makedirs(d, exist_ok=True)
    make(d)
    print("file", os.path.getsize(_scan(d)) / 1e9, "GB")
    for _ in range(2):
        t("sequential 64 MiB", seq, d)
    for random in (False, True):
        for mapped in (False, True):
            t(f"first pass of 4 alone, {'memory map' if mapped else 'preadv'}, read-ahead "
              f"{'off' if random else 'on'}", first_pass, d, 4, random, mapped)
    for P in (4, 8, 16):
        t(f"bands P={P} one thread", bands_single, d, P, False)
        t(f"bands P={P} one thread + fadvise pass", bands_single, d, P, True)
        t(f"bands P={P} 8 threads", bands_threads, d, P, 8)
        t(f"bands P={P} 16 threads", bands_threads, d, P, 16)
        t(f"bands P={P} 16 threads + fadvise", bands_threads, d, P, 16, True)
        t(f"bands P={P} mmap blocks (read_bands)", bands_mmap, d, P)
    for T in (1, 2, 4, 8):
        print(f"write 4.29 GB page cache, 4 MiB pwrite, {T} threads: {writes(d, T)} s", flush=True)
    for _ in range(2):  # into a sparse file (ufo's HDF5 volume before 2026-12-04) and into reserved blocks (since)
        for layout in ("sized", "reserved"):
            for T in (1, 2):
                drop()
                print(f"write 4.29 GB page cache, 4 MiB pwrite, {T} threads, file {layout} first: "
                      f"{writes(d, T, layout=layout)} s", flush=True)
    print("write 64 MiB pieces 1 thread:", writes(d, 1, piece=64 << 20))
    for T in (1, 4):
        print(f"write 4.29 GB into a memory map of a file sized first, {T} threads:", mapped_writes(d, T), flush=True)
    for T, piece in ((1, 4 << 20), (1, 32 << 20), (4, 4 << 20), (8, 8 << 20)):
        print(f"write 4.29 GB with O_DIRECT, {piece >> 20} MiB calls, {T} threads:", direct_writes(d, T, piece), flush=True)
    print("write 4.29 GB through the page cache, 4 MiB calls, then fsync:", direct_writes(d, 1, 4 << 20, fsync=True))
    for T in (1, 8, 32):
        t(f"the scale's sample: 8 rows of every frame, one read each, {T} threads", sample_rows, d, T)
    print("h5py direct chunk + resize + flush (SWMR) 1024 slices:", h5_direct(d))
    for T in (1, 4):
        print(f"h5 preallocated contiguous + pwrite {T} threads:", h5_pre(d, T))
    for P, T, WT in ((8, 16, 1), (8, 16, 4), (4, 16, 4)):
        t(f"read bands P={P} T={T} + write WT={WT} at once", both, d, P, T, WT)
    for layout in ("sized", "reserved", "sized", "reserved"):
        t(f"read bands P=4 T=16 + write WT=1 into a file {layout} first, at once", both, d, 4, 16, 1, layout)
    os.remove(_scan(d))
