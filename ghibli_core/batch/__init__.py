"""Batch rendering: a jobs file (JSONL/CSV) rendered locally or on a Ray cluster (`ghibli-anim batch`).

    jobs       load_jobs(path, defaults) -> [Job] (every bad row listed with its line, before any compute)
    worker     BatchContext, PipelineCache (models loaded once per base), render_row, verify_output
    local      run_local(jobs, ctx, resume=...) -> [JobResult]
    ray_pool   run_ray(jobs, ctx, address=..., workers=...) -> [JobResult]   (needs `pip install ray`)
    report     JobResult, table(results), write_summary(results, path)
"""
from __future__ import annotations

from .jobs import FIELDS, Job, JobsFileError, load_jobs
from .local import BatchInterrupted, run_local
from .preflight import preflight
from .report import JobResult, table, write_summary
from .worker import BatchContext, PipelineCache, render_row, verify_output

__all__ = ["FIELDS", "BatchContext", "BatchInterrupted", "Job", "JobResult", "JobsFileError", "PipelineCache", "load_jobs",
           "preflight", "render_row", "run_local", "table", "verify_output", "write_summary"]
