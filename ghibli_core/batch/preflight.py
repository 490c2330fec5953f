"""Checks that need the models' names but no weights: every base and LoRA of the batch, before any render."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from .jobs import Job, JobsFileError
from .worker import BatchContext


def preflight(jobs: list[Job], ctx: BatchContext, source: str) -> None:
    """Resolve each distinct model set once (files, headers, LoRA bases); list every failing row, as `load_jobs` does."""
    out_dir = Path(ctx.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError("out-dir", f"{out_dir} is a file", "give a folder for the outputs")
    checked: dict[object, str | None] = {}
    problems = []
    for job in jobs:
        settings = ctx.model_settings(job)
        if settings not in checked:
            try:
                settings.resolve()
                checked[settings] = None
            except InputError as exc:
                checked[settings] = str(exc)
        if checked[settings]:
            problems.append(f"line {job.line}: {checked[settings]}")
    if problems:
        raise JobsFileError(source, problems)
