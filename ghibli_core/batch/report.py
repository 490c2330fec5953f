"""What happened to each job, as a table for people and JSON for programs."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..files import atomic_path

STATUSES = ("done", "skipped", "failed", "cancelled")


@dataclass
class JobResult:
    id: str
    line: int
    output: str
    status: str  # one of STATUSES
    seconds: float = 0.0
    frames: int = 0
    painted: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    attempts: int = 0
    worker: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def from_reply(job: Any, reply: dict[str, Any], *, attempts: int, seconds: float) -> JobResult:
    """A job's result from what the renderer said (`render_row`'s figures plus status/worker/error)."""
    return JobResult(job.id, job.line, job.output, reply["status"], reply.get("seconds", seconds), reply.get("frames", 0),
                     reply.get("painted", 0), reply.get("metrics", {}), reply.get("error"), attempts, reply.get("worker"),
                     "; ".join(reply.get("warnings", [])) or reply.get("note"))


def counts(results: list[JobResult]) -> dict[str, int]:
    return {s: sum(r.status == s for r in results) for s in STATUSES}


def table(results: list[JobResult]) -> str:
    """A fixed-width summary, one row per job in file order, then the totals."""
    head = f"{'line':>4}  {'job':<28} {'status':<9} {'time':>7} {'frames':>6} {'warp err':>9} {'flicker':>8}  note"
    rows = [head, "-" * len(head)]
    for r in results:
        warp = f"{r.metrics['warp_error']:.5f}" if "warp_error" in r.metrics else ""
        flick = f"{r.metrics['flicker']:.4f}" if "flicker" in r.metrics else ""
        note = r.error or r.note or (f"attempt {r.attempts}" if r.attempts > 1 else "")
        rows.append(f"{r.line:>4}  {r.id[:28]:<28} {r.status:<9} {r.seconds:>6.1f}s {r.frames or '':>6} {warp:>9} {flick:>8}  {note[:90]}")
    c = counts(results)
    rows.append(", ".join(f"{n} {s}" for s, n in c.items() if n) + f" of {len(results)} jobs")
    return "\n".join(rows)


def write_summary(results: list[JobResult], path: Path, extra: dict[str, Any] | None = None) -> Path:
    body = {**(extra or {}), "counts": counts(results), "jobs": [r.to_dict() for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
