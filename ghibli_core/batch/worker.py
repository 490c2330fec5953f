"""Rendering one job, the same way in the local loop and in a Ray actor: models loaded once and kept."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from ..job import GENERATOR, AnimationJob, run_job
from ..models.pipelines import GhibliPipelines, HeldPipelines, ModelSettings
from ..plan import Plan, PlannerSettings
from .jobs import Job

#: metrics kept per job in the file's metadata and the batch summary
SUMMARY_METRICS = ("warp_error", "flicker", "loop_seam", "color_drift")


@dataclass(frozen=True)
class BatchContext:
    """What every job of a batch shares: the models (before per-job overrides), the planner, the output folder."""

    models: ModelSettings
    planner: PlannerSettings
    out_dir: str
    #: per preset, the models its rows paint with where the batch names none (turbo: its speed LoRA and TAESD)
    preset_models: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def model_settings(self, job: Job) -> ModelSettings:
        """The batch's models with the row's base, LoRAs and speed LoRA, and its preset's models where none is named."""
        own = self.preset_models.get(job.preset, {})
        return self.models.replace(base=job.model or self.models.base, loras=job.loras,
                                   speed_lora=job.speed_lora or self.models.speed_lora or own.get("speed_lora"),
                                   tiny_vae=self.models.tiny_vae or own.get("tiny_vae"))

    def model_names(self, job: Job) -> dict[str, Any]:
        m = self.model_settings(job)
        speed = {"speed_lora": [m.speed_lora.path, m.speed_lora.weight]} if m.speed_lora is not None else {}
        tiny_vae = {"tiny_vae": m.tiny_vae} if m.tiny_vae else {}
        return {"base": m.base, "controlnet": m.controlnet, "depth": m.depth_model, "dtype": m.dtype, **speed, **tiny_vae}

    def fingerprint(self, job: Job) -> str:
        return job.fingerprint(self.model_names(job))

    def in_model_order(self, jobs: list[Job]) -> list[Job]:
        """`jobs` with those sharing a model set (base, and a preset's own models such as turbo's; LoRAs switch as
        adapters) next to each other, in file order within a set: a worker then loads each set once, not per row."""
        return sorted(jobs, key=lambda job: repr(self.model_settings(job).replace(loras=())))


class PipelineCache:
    """A worker's models, asked of the engine's one holder: the last base used stays held; a job with another base
    releases it first (one set in memory; the shared depth estimator stays). LoRAs switch as adapters on the shared
    weights, without a reload."""

    def __init__(self) -> None:
        self.held: HeldPipelines | None = None
        self.loads = 0
        self.failed: dict[ModelSettings, Exception] = {}

    def get(self, settings: ModelSettings) -> GhibliPipelines:
        key = settings.replace(loras=())
        if key in self.failed:  # a base that failed to load fails its other jobs at once, with the same error
            raise self.failed[key]
        handle = HeldPipelines.of(key.resolve())
        if self.held is not None and self.held.key != handle.key:
            self.held.release()
            self.held = None
        try:
            if self.held is None:
                handle.get()
                self.held, self.loads = handle, self.loads + 1
        except Exception as exc:
            self.failed[key] = exc
            raise
        return self.held.get().with_loras(settings.loras)


def animation_job(job: Job, ctx: BatchContext, target: Path) -> AnimationJob:
    """A jobs-file row as the engine's AnimationJob, writing to `target` with the row's identity in the metadata."""
    plan = Plan(idea=job.idea, frames=list(job.plan), backend="jobs-file", camera=list(job.plan_camera)) if job.plan else None
    return AnimationJob(
        painting=job.animation(), motion=job.motion(), camera=job.camera_settings(), idea=job.idea, plan=plan, planner=ctx.planner.replace(seed=job.seed),
        models=ctx.model_settings(job), preset=job.preset, output=target, fps=job.fps, metrics_file=False,
        generator=f"{GENERATOR} batch", extra_metadata={"job": job.id, "job_line": job.line, "job_fingerprint": ctx.fingerprint(job)},
        sound=job.sound_settings(),
    )


def render_row(job: Job, ctx: BatchContext, cache: PipelineCache, target: Path) -> dict[str, Any]:
    """Plan, paint, blend and write one job to `target` (atomically); returns its figures."""
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    if job.video:
        return _render_clip(job, ctx, cache, target, started)
    work = animation_job(job, ctx, target)
    plan = work.make_plan()
    result = run_job(work, cache.get(work.models), plan=plan, progress=False)
    summary = {k: result.metrics[k] for k in SUMMARY_METRICS if k in result.metrics}
    return {"frames": len(result.output_frames), "painted": len(result.animation.painted), "seconds": time.perf_counter() - started,
            "metrics": summary, "warnings": plan.warnings}


def _render_clip(job: Job, ctx: BatchContext, cache: PipelineCache, target: Path, started: float) -> dict[str, Any]:
    """A clip row: the clip repainted through the video job type (the same finishing step)."""
    from ..video.job import VideoJob, run_video_job

    models = ctx.model_settings(job)
    work = VideoJob(clip=job.video, prompt=job.idea, clip_settings=job.clip_settings(), painting=job.video_painting(),
                    models=models, preset=job.preset, output=target, metrics_file=False, generator=f"{GENERATOR} batch",
                    extra_metadata={"job": job.id, "job_line": job.line, "job_fingerprint": ctx.fingerprint(job)})
    result = run_video_job(work, cache.get(models), progress=False)
    summary = {k: result.metrics[k] for k in (*SUMMARY_METRICS, "temporal_warp_error") if k in result.metrics}
    return {"frames": result.metrics["frames"], "painted": len(result.log.keyframes), "seconds": time.perf_counter() - started,
            "metrics": summary, "warnings": []}


def decode_all(path: Path) -> int:
    """Decode every frame (a truncated file fails here) and return how many the file stores."""
    from ..readers import VIDEO_EXTS
    from ..streams import main_stream

    if path.suffix.lower() in VIDEO_EXTS:
        import av

        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(main_stream(container, "video")))
    from PIL import Image

    with Image.open(path) as im:
        n = getattr(im, "n_frames", 1)
        for i in range(n):
            im.seek(i)
            im.load()
    return n


def verify_output(path: Path, fingerprint: str) -> str | None:
    """None when `path` is a complete render of this very job; else why not (for --resume)."""
    from ..export import read_metadata

    if not path.is_file():
        return "missing"
    try:
        meta = read_metadata(path)
        stored = decode_all(path)
    except Exception as exc:  # a truncated or foreign file: render it again
        return f"unreadable ({type(exc).__name__})"
    if not meta or meta.get("job_fingerprint") != fingerprint:
        return "made by another job or settings"
    expected = (meta.get("schedule") or {}).get("output_frames") or (meta.get("source") or {}).get("frames") or 0
    from ..readers import VIDEO_EXTS

    if path.suffix.lower() in VIDEO_EXTS:  # a video keeps every frame; its header is up front, so a cut file reads
        return None if stored == expected else f"holds {stored} frames, expected {expected}"
    # GIF, WebP and APNG writers store a run of identical frames once (with a longer duration): never more than planned
    if not 0 < stored <= expected:
        return f"holds {stored} frames, expected up to {expected}"
    return None


def remove_stale_temps(target: Path) -> None:
    """Temporary files a killed writer left beside `target` (`atomic_path` names them .STEM.*.tmpSUFFIX)."""
    if target.parent.is_dir():
        for stale in target.parent.glob(f".{target.stem}.*.tmp{target.suffix}"):
            stale.unlink(missing_ok=True)
