"""The work after painting, run behind the painting: an in-order background worker with a bounded queue.

    with Behind(enabled=True) as behind:
        for frame in animate(...):
            behind.submit(inbetweens_and_metrics, frame)   # runs while the next keyframe paints
    # leaving the block waits for the queue to drain and raises the first error the worker met

One worker thread takes the submitted calls in order, so their results (the output frames handed on, the metrics
measured on arrival) are exactly the serial run's: the same calls, the same order, the same inputs (bit-identical,
tested). The painting loop never waits for it unless `depth` calls are already queued. A call that raises stops the
worker: the error is raised in the painting thread at its next `submit` (or when the block ends), and what was still
queued is dropped. When the painting thread itself raises (an error, a cancel), the queue is dropped, the call in
progress is left to finish, and the painting thread's exception goes on unchanged.

Disabled (`enabled=False`), `submit` runs the call at once in the calling thread: the serial order, for comparison
and for machines where overlapping does not pay (see `overlap_pays`).
"""
from __future__ import annotations

import queue
import threading
from types import TracebackType
from typing import Any, Callable

import torch

from .device import work_device
from .parallel import usable_cores
from .timing import in_context

#: calls queued before the painting loop waits: two keyframe pairs' work, so one slow pair never stalls painting
DEPTH = 2
_STOP = object()


def overlap_pays(device: Any) -> bool:
    """Whether the work after painting should run behind it on this painting device: on an accelerator, where the
    painting leaves the CPU idle, yes; on the CPU, only with cores to spare beyond the painting's own threads."""
    return work_device(device) is not None or usable_cores() > torch.get_num_threads()


class Behind:
    """An in-order worker for calls that may run behind the caller (see the module docstring)."""

    def __init__(self, enabled: bool = True, depth: int = DEPTH) -> None:
        self.enabled = enabled
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._error: BaseException | None = None
        self._dropping = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "Behind":
        if self.enabled:
            # a measured run's stages count in the worker too
            self._thread = threading.Thread(target=in_context(self._work), name="ghibli-behind", daemon=True)
            self._thread.start()
        return self

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn(*args)` after every call submitted before it (at once when disabled). Raises the worker's error."""
        self._raise()
        if self._thread is None:
            fn(*args)
            return
        while True:  # wait for room, but wake up if the worker stopped on an error meanwhile
            try:
                self._queue.put((fn, args), timeout=0.1)
                return
            except queue.Full:
                self._raise()

    def drain(self) -> None:
        """Wait until every submitted call has run; raise the first error one of them raised."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None
        self._raise()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if kind is None:
            self.drain()
            return
        self._dropping.set()  # the caller failed or was cancelled: what is queued is not wanted
        if self._thread is not None:
            self._clear()
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._dropping.set()
            raise error

    def _clear(self) -> None:
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                return

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._dropping.is_set() or self._error is not None:
                continue  # after an error or a cancel: drop the rest, keep taking items so no submit blocks
            fn, args = item
            try:
                fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the painting thread, raised there
                self._error = exc
