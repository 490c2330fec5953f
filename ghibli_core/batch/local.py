"""Local mode: one process renders every job in turn, models loaded once per base."""
from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Callable

from .jobs import Job
from .report import JobResult, from_reply
from .worker import BatchContext, PipelineCache, remove_stale_temps, render_row, verify_output


def error_text(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


def skip_done(jobs: list[Job], ctx: BatchContext, resume: bool) -> tuple[list[Job], dict[str, JobResult]]:
    """With `resume`, the jobs whose output exists and verifies become `skipped` results; the rest remain to do."""
    if not resume:
        return list(jobs), {}
    todo, done = [], {}
    for job in jobs:
        reason = verify_output(Path(ctx.out_dir) / job.output, ctx.fingerprint(job))
        if reason is None:
            done[job.id] = JobResult(job.id, job.line, job.output, "skipped", note="output exists and verifies")
        else:
            todo.append(job)
    return todo, done


def run_local(jobs: list[Job], ctx: BatchContext, *, resume: bool = False, progress: bool = True,
              on_result: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Render `jobs` here; a failing job is recorded and the others go on. Ctrl-C stops after cleaning up: the
    jobs not finished are `cancelled`, and no output is ever half-written."""
    from tqdm.auto import tqdm

    todo, results = skip_done(jobs, ctx, resume)
    cache = PipelineCache()
    order = ctx.in_model_order(todo)  # each model set loads once (results keep the file's order)
    bar = tqdm(total=len(jobs), initial=len(results), unit="job", desc="batch", disable=not progress, dynamic_ncols=True)
    try:
        for job in order:
            target = Path(ctx.out_dir) / job.output
            started = time.perf_counter()
            bar.set_postfix_str(job.id[:30])
            try:
                reply = {"status": "done", "worker": "local", **render_row(job, ctx, cache, target)}
            except Exception as exc:  # one job's failure never stops the batch
                reply = {"status": "failed", "worker": "local", "error": error_text(exc), "note": traceback.format_exc(limit=3)[-500:]}
            finally:
                remove_stale_temps(target)
            result = from_reply(job, reply, attempts=1, seconds=time.perf_counter() - started)
            results[job.id] = result
            bar.update(1)
            if on_result:
                on_result(result)
    except KeyboardInterrupt:
        raise interrupted(jobs, todo, results, Path(ctx.out_dir)) from None
    finally:
        bar.close()
    return [results[j.id] for j in jobs]


def interrupted(jobs: list[Job], todo: list[Job], results: dict[str, JobResult], out_dir: Path,
                attempts: dict[str, int] | None = None) -> "BatchInterrupted":
    """After Ctrl-C: unfinished jobs become `cancelled` (their writers' temp files removed), in file order."""
    for job in todo:
        results.setdefault(job.id, JobResult(job.id, job.line, job.output, "cancelled", attempts=(attempts or {}).get(job.id, 0)))
        remove_stale_temps(out_dir / job.output)
    return BatchInterrupted([results[j.id] for j in jobs])


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C during a batch; carries the results so far (unfinished jobs `cancelled`)."""

    def __init__(self, results: list[JobResult]) -> None:
        super().__init__("interrupted")
        self.results = results
