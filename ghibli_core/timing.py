"""Where a run's time goes: seconds per stage, measured where the work happens.

    times = StageTimes(device)
    with measuring(times):
        result = run_job(job, pipes)          # every stage the run passes through adds to `times`
    times.to_dict()   # {"plan": 0.01, "text": 0.2, "unet": 3.1, "vae": 0.9, "depth": 0.4, "flow": 0.3, ...}

Each stage's time is its own: a stage inside another (the VAE inside the pipeline call, optical flow inside the
in-betweens) is taken out of the outer one. Work done on several threads at once (the in-betweens and metrics on frame
pairs side by side) adds up per thread, so the stages can sum to more than the wall time. On a GPU the device is
synchronised only when a device stage ends (the models' stages), so the CPU stages cost nothing extra; outside
`measuring` every `stage` is a no-op.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from typing import Any, Callable, Iterator

#: The stages, in the order a run passes them (the breakdown is printed in this order).
STAGES = ("load", "plan", "text", "unet", "vae", "depth", "camera", "flow", "inbetweens", "coherence", "metrics", "write")
#: Stages whose work runs on the painting device: a GPU is synchronised at their end, so their time is theirs.
DEVICE_STAGES = ("text", "unet", "vae", "depth")
#: The engine's own work around the models (what overlapping and the device path take off the painting's way).
ENGINE_STAGES = ("camera", "flow", "inbetweens", "coherence", "metrics", "write")

_CURRENT: contextvars.ContextVar["StageTimes | None"] = contextvars.ContextVar("ghibli_stage_times", default=None)


class StageTimes:
    """Seconds per stage for one run (thread-safe); `to_dict()` for metrics files and run lines."""

    def __init__(self, device: Any = None) -> None:
        self.seconds: dict[str, float] = {}
        self.sync: Callable[[], None] | None = None
        if getattr(device, "type", None) == "cuda":
            import torch

            self.sync = lambda: torch.cuda.synchronize(device)
        self._lock = threading.Lock()
        self._stacks = threading.local()  # per thread: [stage name, start, time of the stages inside it]

    def _stack(self) -> list:
        if not hasattr(self._stacks, "items"):
            self._stacks.items = []
        return self._stacks.items

    def enter(self, name: str) -> None:
        if self.sync is not None and name in DEVICE_STAGES:
            self.sync()  # what was queued before belongs to the stage before
        self._stack().append([name, time.perf_counter(), 0.0])

    def exit(self, name: str) -> None:
        stack = self._stack()
        if not stack or stack[-1][0] != name:
            return  # an unmatched exit (a hook whose forward raised): nothing to count
        if self.sync is not None and name in DEVICE_STAGES:
            self.sync()
        _, started, inside = stack.pop()
        elapsed = time.perf_counter() - started
        if stack:
            stack[-1][2] += elapsed
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed - inside

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.enter(name)
        try:
            yield
        finally:
            self.exit(name)

    def add(self, name: str, seconds: float) -> None:
        """Time measured elsewhere (a model load timed by the caller)."""
        with self._lock:
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def to_dict(self) -> dict[str, float]:
        """Seconds per stage, in the stages' order (stages never entered left out)."""
        with self._lock:
            known = {k: round(self.seconds[k], 4) for k in STAGES if k in self.seconds}
            return {**known, **{k: round(v, 4) for k, v in self.seconds.items() if k not in known}}

    def line(self) -> str:
        """`unet 3.10s, vae 0.90s, ...` from the largest down."""
        items = sorted(self.to_dict().items(), key=lambda kv: -kv[1])
        return ", ".join(f"{k} {v:.2f}s" for k, v in items)


def current() -> StageTimes | None:
    return _CURRENT.get()


@contextlib.contextmanager
def measuring(times: StageTimes) -> Iterator[StageTimes]:
    """Every `stage` entered in this thread (and the worker threads it starts through `in_context`) adds to `times`."""
    token = _CURRENT.set(times)
    try:
        yield times
    finally:
        _CURRENT.reset(token)


def stage(name: str) -> contextlib.AbstractContextManager:
    """The current run's stage `name` (a no-op when nothing is measuring)."""
    times = _CURRENT.get()
    return times.stage(name) if times is not None else contextlib.nullcontext()


def in_context(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` bound to the calling thread's measuring (for work handed to other threads)."""
    times = _CURRENT.get()
    if times is None:
        return fn

    def run(*args: Any, **kwargs: Any) -> Any:
        with measuring(times):
            return fn(*args, **kwargs)

    return run


def time_module(module: Any, name: str) -> None:
    """Count `module`'s forward calls as stage `name` (hooks on the shared module, acting only inside `measuring`)."""
    if getattr(module, "_ghibli_timed", None) == name:
        return

    def before(*_: Any) -> None:
        times = _CURRENT.get()
        if times is not None:
            times.enter(name)

    def after(*_: Any) -> None:
        times = _CURRENT.get()
        if times is not None:
            times.exit(name)

    module.register_forward_pre_hook(before)
    module.register_forward_hook(after)
    module._ghibli_timed = name
