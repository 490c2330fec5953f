"""Independent per-pair work (optical flow, in-betweens, camera moves, metrics) spread over the CPU's cores.

After painting, an animation is a list of frame pairs whose work does not depend on each other: OpenCV's flow,
remap and inpaint and NumPy's array arithmetic release the GIL, so threads run them side by side. On a GPU machine
this work is most of what is left once the models are fast (measured: DIS flow, in-betweens and metrics took half of
a 32-frame balanced run at 512² on an H200); on the CPU it is a small part next to the UNet.

Results come back in input order and each item is computed exactly as it would be alone, so the output is the same
with one worker or many (tested bit-identical).
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

from .timing import in_context

T = TypeVar("T")
R = TypeVar("R")

#: a cap, so a many-core host does not start dozens of threads for the 30-odd pairs of an animation
MAX_WORKERS = 8

_inside = threading.local()


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cpu_workers() -> int:
    """Threads for per-pair work: as many as PyTorch may use on the CPU (`OMP_NUM_THREADS`, `torch.set_num_threads`;
    so a Ray actor given one CPU keeps to one), at most the cores this process may run on and `MAX_WORKERS`."""
    import torch

    return max(1, min(MAX_WORKERS, usable_cores(), torch.get_num_threads()))


def map_in_order(fn: Callable[[T], R], items: Iterable[T], workers: int | None = None) -> list[R]:
    """`[fn(x) for x in items]`, spread over `workers` threads (default `cpu_workers()`).

    Work started from inside a worker runs in that worker (no pool inside a pool). If items raise, the earliest such
    item's exception is raised here, once the other items have finished.
    """
    todo = list(items)
    count = min(workers or cpu_workers(), len(todo))
    if count <= 1 or getattr(_inside, "worker", False):
        return [fn(x) for x in todo]

    fn = in_context(fn)  # a measured run's stages count in its workers too

    def run(x: T) -> R:
        _inside.worker = True
        try:
            return fn(x)
        finally:
            _inside.worker = False

    with ThreadPoolExecutor(count, thread_name_prefix="ghibli-cpu") as pool:
        return list(pool.map(run, todo))
