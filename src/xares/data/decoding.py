"""Decoding and resampling in worker processes, in order, with a bounded look-ahead.

Decoding (libsndfile) and resampling (soxr) of compressed or 44.1 kHz audio is usually the slowest
part of the encode stage on a GPU machine. Worker processes decode chunks of samples while the main
process runs the encoder; at most `lookahead` samples are in flight, so memory stays flat whatever
the number of clips. One pool serves every split and task of a process, so it starts once.
"""

from __future__ import annotations

import atexit
import ctypes
import multiprocessing
import multiprocessing.util
import os
import signal
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import numpy as np

from xares.data.shards import RawSample, decode_many
from xares.errors import DataError


def default_decode_workers() -> int:
    return max(1, min(16, os.cpu_count() or 1))


_POOLS: dict[int, ProcessPoolExecutor] = {}


def shared_pool(workers: int) -> ProcessPoolExecutor:
    """One decoding pool per process and size, kept for every split and task of the run."""
    pool = _POOLS.get(workers)
    if pool is None or getattr(pool, "_broken", False):
        if not _POOLS:
            # A multiprocessing child (a task worker of --max-jobs) never runs atexit handlers, and
            # at exit it joins its children: without this finaliser it would wait on idle decoders.
            multiprocessing.util.Finalize(None, _shutdown_pools, exitpriority=100)
        pool = _POOLS[workers] = ProcessPoolExecutor(
            workers, mp_context=_context(), initializer=_die_with_parent
        )
    return pool


@atexit.register
def _shutdown_pools() -> None:
    for pool in _POOLS.values():
        pool.shutdown(wait=True, cancel_futures=True)
    _POOLS.clear()


def _die_with_parent() -> None:
    """Forked workers hold copies of every pipe of their parent, so they would never notice it was
    killed (SIGKILL runs no cleanup) and would linger forever; ask the kernel to end them with it."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def _context() -> multiprocessing.context.BaseContext:
    """fork where the platform has it, as torch's DataLoader does.

    A fork server or spawn would re-run the user's main script in every worker, which hangs a script
    that calls XaresTask(...).run() without an `if __name__ == "__main__":` guard. The forked
    workers only run libsndfile, soxr and numpy, never torch, so the threads torch holds in the
    parent do not matter to them.
    """
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def decode_in_order(
    samples: Iterable[RawSample],
    target_rate: int,
    *,
    workers: int,
    chunk_size: int = 8,
    lookahead: int = 1024,
    keep_errors: bool = False,
) -> Iterator[tuple[RawSample, np.ndarray | DataError]]:
    """Yield (sample, mono waveform at target_rate) in input order; errors surface at their sample.

    With keep_errors, a sample that cannot be decoded is yielded with its DataError instead.
    """
    if workers <= 1:
        for sample in samples:
            yield sample, decode_many([sample], target_rate, keep_errors)[0]
        return
    pool = shared_pool(workers)
    pending: deque[tuple[list[RawSample], Future]] = deque()
    in_flight = 0
    chunk: list[RawSample] = []

    def submit(batch: list[RawSample]) -> None:
        nonlocal in_flight
        pending.append((batch, pool.submit(decode_many, batch, target_rate, keep_errors)))
        in_flight += len(batch)

    def drain_one() -> Iterator[tuple[RawSample, np.ndarray]]:
        nonlocal in_flight
        batch, future = pending.popleft()
        in_flight -= len(batch)
        yield from zip(batch, future.result(), strict=True)

    try:
        for sample in samples:
            chunk.append(sample)
            if len(chunk) >= chunk_size:
                submit(chunk)
                chunk = []
            while in_flight >= lookahead:
                yield from drain_one()
        if chunk:
            submit(chunk)
        while pending:
            yield from drain_one()
    finally:
        for _, future in pending:  # an error or an abandoned generator: drop the look-ahead
            future.cancel()
