"""Ray mode: a pool of Ray actors, one per GPU (or per CPU worker slot), each loading the models once.

The driver keeps every actor busy with one job at a time. Outputs are written atomically into the output folder
when the actor can see it (a shared path: the driver leaves a marker file there and asks); otherwise the actor
renders to its own temp folder and returns the bytes, which the driver writes. An actor that dies mid-job is
restarted by Ray (`max_restarts`) and the call retried (`max_task_retries`); if it stays dead, the driver puts the
job back in the queue for another actor and starts a replacement. A killed writer leaves at most a temp file, which
the driver removes: never a half-written output. Ctrl-C cancels the calls, kills the actors and keeps what is done.
"""
from __future__ import annotations

import os
import socket
import tempfile
import time
import uuid
from collections import deque
from pathlib import Path
from typing import Any, Callable

from ..errors import InputError, check_choice
from ..files import atomic_path
from .jobs import Job
from .local import error_text, interrupted, skip_done
from .report import JobResult, from_reply
from .worker import BatchContext, PipelineCache, remove_stale_temps, render_row

#: Ray restarts a dead actor this many times, and retries the call that was running on it this many times.
MAX_RESTARTS = 2
MAX_TASK_RETRIES = 1
TRANSFERS = ("auto", "bytes")


class RenderActor:
    """Lives in a Ray worker process: the models stay loaded between jobs."""

    def __init__(self, ctx: BatchContext, threads: int) -> None:
        import torch

        torch.set_num_threads(max(1, threads))
        self.ctx, self.cache = ctx, PipelineCache()
        self.name = f"{socket.gethostname()}:{os.getpid()}"

    def hello(self, marker: str) -> tuple[str, bool]:
        """This actor's name, and whether it sees the driver's output folder (by its marker file)."""
        return self.name, Path(marker).is_file()

    def render(self, job: Job, shared: bool) -> dict[str, Any]:
        """Render one job; a job's own error comes back as a result, only a dying process raises."""
        try:
            if shared:
                target = Path(self.ctx.out_dir) / job.output
                info = render_row(job, self.ctx, self.cache, target)
                return {"status": "done", "worker": self.name, **info}
            with tempfile.TemporaryDirectory(prefix="ghibli-batch-") as tmp:
                target = Path(tmp) / Path(job.output).name
                info = render_row(job, self.ctx, self.cache, target)
                return {"status": "done", "worker": self.name, "data": target.read_bytes(), **info}
        except Exception as exc:
            return {"status": "failed", "worker": self.name, "error": error_text(exc)}


def _ray():
    try:
        import ray
    except ImportError:
        raise InputError("ray", "Ray is not installed", "pip install 'ghibli-anim[ray]' (or pip install ray), or drop --ray") from None
    return ray


def connect(address: str | None, init_options: dict[str, Any] | None = None) -> bool:
    """Join a cluster (`auto`, `ray://host:10001`, `host:6379`) or start a local one (None / "local").
    Returns whether this call started Ray (and so must shut it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    env = {k: v for k, v in os.environ.items() if k.startswith(("HF_", "GHIBLI_", "TRANSFORMERS_", "DIFFUSERS_"))}
    options: dict[str, Any] = {"runtime_env": {"env_vars": env}, "logging_level": "warning", "log_to_driver": False}
    options.update(init_options or {})
    if address in (None, "", "local"):
        ray.init(**options)
    else:
        try:
            ray.init(address=address, **options)
        except ConnectionError as exc:
            raise InputError("ray", f"no Ray cluster at {address} ({error_text(exc)})",
                             "start one with `ray start --head` (then --ray auto), or pass --ray alone for a local cluster") from exc
    return True


def pool_shape(workers: int | None) -> tuple[int, dict[str, float]]:
    """How many actors, and what each asks Ray for: one GPU each on a GPU cluster, else an equal share of CPUs."""
    ray = _ray()
    resources = ray.cluster_resources()
    gpus, cpus = int(resources.get("GPU", 0)), max(1, int(resources.get("CPU", 1)))
    if gpus:
        n = workers or gpus
        return n, {"num_gpus": 1, "num_cpus": 1}
    n = workers or cpus
    return n, {"num_cpus": max(1, cpus // n)}


def run_ray(jobs: list[Job], ctx: BatchContext, *, address: str | None = None, workers: int | None = None, retries: int = 2,
            resume: bool = False, progress: bool = True, transfer: str = "auto", init_options: dict[str, Any] | None = None,
            on_dispatch: Callable[[Job, Any], None] | None = None,
            on_result: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Render `jobs` on a Ray cluster; returns one result per job, in file order.

    `transfer`: "auto" writes into the output folder from actors that see it and returns bytes from the others;
    "bytes" always returns bytes (for clusters whose nodes see the folder under another path)."""
    from tqdm.auto import tqdm

    check_choice("transfer", transfer, TRANSFERS, "mode")

    ray = _ray()
    from ray.exceptions import ObjectLostError, RayActorError, WorkerCrashedError

    lost = (RayActorError, WorkerCrashedError, ObjectLostError)
    todo, results = skip_done(jobs, ctx, resume)
    out_dir = Path(ctx.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    marker = out_dir / f".ghibli-batch-{uuid.uuid4().hex}"
    marker.touch()
    started_ray = connect(address, init_options)
    n, resources = pool_shape(workers)
    n = max(1, min(n, len(todo))) if todo else 0
    actor_cls = ray.remote(max_restarts=MAX_RESTARTS, max_task_retries=MAX_TASK_RETRIES, **resources)(RenderActor)
    threads = int(resources.get("num_cpus", 1))

    def new_actor() -> tuple[Any, bool]:
        actor = actor_cls.remote(ctx, threads)
        _, sees_folder = ray.get(actor.hello.remote(str(marker)))
        return actor, sees_folder and transfer == "auto"

    queue = deque(ctx.in_model_order(todo))  # an actor switches model sets at most once per set, not per row
    attempts: dict[str, int] = {}
    inflight: dict[Any, tuple[Job, Any, bool, float]] = {}
    idle: list[tuple[Any, bool]] = []
    bar = tqdm(total=len(jobs), initial=len(results), unit="job", desc="batch (ray)", disable=not progress, dynamic_ncols=True)
    try:
        idle = [new_actor() for _ in range(n)]
        while queue or inflight:
            while queue and idle:
                job = queue.popleft()
                actor, shared = idle.pop()
                attempts[job.id] = attempts.get(job.id, 0) + 1
                inflight[actor.render.remote(job, shared)] = (job, actor, shared, time.perf_counter())
                if on_dispatch:
                    on_dispatch(job, actor)
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            for ref in ready:
                job, actor, shared, t0 = inflight.pop(ref)
                target = out_dir / job.output
                try:
                    reply = ray.get(ref)
                except lost as exc:  # the process died with the job: never lost, tried again elsewhere
                    remove_stale_temps(target)
                    ray.kill(actor, no_restart=True)
                    idle.append(new_actor())
                    if attempts[job.id] <= retries:
                        queue.appendleft(job)
                        continue
                    reply = {"status": "failed", "error": f"worker lost {attempts[job.id]} times ({error_text(exc)})"}
                else:
                    idle.append((actor, shared))
                if reply["status"] == "done" and reply.get("data") is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with atomic_path(target) as tmp:
                        tmp.write_bytes(reply["data"])
                remove_stale_temps(target)
                result = from_reply(job, reply, attempts=attempts[job.id], seconds=time.perf_counter() - t0)
                results[job.id] = result
                bar.update(1)
                if on_result:
                    on_result(result)
    except KeyboardInterrupt:
        for ref in inflight:
            try:
                ray.cancel(ref, force=False)
            except Exception:  # an actor call that cannot be cancelled is ended with its actor below
                pass
        raise interrupted(jobs, todo, results, out_dir, attempts) from None
    finally:
        bar.close()
        for ref, (job, actor, _, _) in inflight.items():
            ray.kill(actor, no_restart=True)
        for actor, _ in idle:
            ray.kill(actor, no_restart=True)
        for job in todo:
            remove_stale_temps(out_dir / job.output)
        marker.unlink(missing_ok=True)
        if started_ray:
            ray.shutdown()
    return [results[j.id] for j in jobs]
