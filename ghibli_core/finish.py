"""The one finishing step of every job type: frames in -> quality figures, metadata, atomic files out.

    finisher = Finisher(Outputs(output=Path("forest.webp"), fps=16))
    for batch in frames_as_they_come:
        finisher.add(batch)                    # measured as they arrive
    done = finisher.close(metadata)            # the seam, the file with its metadata, NAME.metrics.json, PNG frames

An animation from an idea (job.py), frames blended from anywhere (`ghibli-anim blend`), a camera move over a still
(`ghibli-anim move`) and ComfyUI's Animation Saver all finish here, so every file carries the same kind of metadata (the
job type's own fields, plus `metrics`) and is written the same way: whole or not at all. `finish()` is the one-shot form.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from . import defaults
from .blend.flow import FlowCache
from .export import Comfy, metrics_path, save_animation, write_json, write_png_frames
from .metrics import MetricsStream, camera_fidelity, stored_metrics
from .timing import current as current_times, stage
from .sound import SOUND_FORMATS, Sound, write_sidecar


@dataclass(frozen=True)
class Outputs:
    """Where and how a job's frames are written. `output` None writes no animation (frames only, or nothing: a
    benchmark's run). `comfy` holds ComfyUI's entries (the API prompt, the canvas workflow) to embed where its front
    end reads them; `embed` False writes no metadata at all (ComfyUI's --disable-metadata)."""

    fps: float
    output: Path | None = None
    frames_dir: Path | None = None
    dither: bool = False
    metrics_file: bool = True
    workflow_sidecar: bool = False
    comfy: Comfy = None
    embed: bool = True
    #: sound written beside the frames (MP4 / WebM), fitted to their exact duration; for another format, with
    #: `sound_sidecar`, beside the file as NAME.m4a
    sound: "Sound | None" = None
    sound_sidecar: bool = False
    #: the quality figures measured on the frames themselves, not on a copy of long side `defaults.METRICS_SIDE`
    full_metrics: bool = False


@dataclass(frozen=True)
class CameraCheck:
    """What camera fidelity compares: (frame a, frame b, a's scene depth, the camera step a -> b) per painted pair,
    and the lens."""

    pairs: Sequence[tuple[Any, Any, np.ndarray, np.ndarray]]
    fov: float


@dataclass
class Finished:
    """What the finishing step measured and wrote."""

    frames: list[Image.Image]
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    paths: list[Path] = field(default_factory=list)


class Finisher:
    """Collects the output frames as they come (measuring each on arrival), then writes them with their metadata."""

    def __init__(self, outputs: Outputs, *, flow: str = "dis", flows: FlowCache | None = None) -> None:
        self.outputs, self.flow = outputs, flow
        self.flows = flows if flows is not None else FlowCache()
        self.metrics = MetricsStream(flow, self.flows, None if outputs.full_metrics else defaults.METRICS_SIDE)
        self.frames: list[Image.Image] = []

    def add(self, frames: Sequence[Image.Image | np.ndarray]) -> None:
        images = [f if isinstance(f, Image.Image) else Image.fromarray(f) for f in frames]
        with stage("metrics"):
            self.metrics.add(frames)
        self.frames += images

    def close(self, metadata: Mapping[str, Any], *, camera: CameraCheck | None = None,
              extra_metrics: Mapping[str, Any] | None = None, seam: bool = True) -> Finished:
        """The loop seam (unless the job does not loop: `seam` False) and camera fidelity measured, the job type's own
        figures (`extra_metrics`) added, `metadata` completed with them, every file written."""
        with stage("metrics"):
            metrics = self.metrics.result()
            if not seam:
                metrics.pop("loop_seam")
            metrics.update(extra_metrics or {})
            if camera is not None:
                metrics.update(camera_fidelity(camera.pairs, camera.fov, self.flow, self.flows, self.metrics.side) or {})
        full = {**metadata, "metrics": stored_metrics(metrics)}
        return Finished(self.frames, metrics, full, write_outputs(self.frames, full, metrics, self.outputs))


def finish(frames: Sequence[Image.Image | np.ndarray], metadata: Mapping[str, Any], outputs: Outputs, *, flow: str = "dis",
           camera: CameraCheck | None = None, flows: FlowCache | None = None,
           extra_metrics: Mapping[str, Any] | None = None) -> Finished:
    """All frames at once through the finishing step."""
    finisher = Finisher(outputs, flow=flow, flows=flows)
    finisher.add(frames)
    return finisher.close(metadata, camera=camera, extra_metrics=extra_metrics)


def write_outputs(images: list[Image.Image], metadata: dict[str, Any], metrics: Mapping[str, Any], outputs: Outputs) -> list[Path]:
    """The animation, its NAME.metrics.json (`metrics_file`), and the PNG frames (`frames_dir`), each atomically."""
    o = outputs
    embedded = metadata if o.embed else None
    paths: list[Path] = []
    if o.output is not None:
        options: dict[str, Any] = {}
        if Path(o.output).suffix.lower() == ".gif":
            options = {"dither": o.dither, **({"workflow_sidecar": True} if o.workflow_sidecar else {})}
        carries = Path(o.output).suffix.lower() in SOUND_FORMATS
        if o.sound is not None and carries:
            options["sound"] = o.sound
        with stage("write"):
            paths.append(save_animation(images, o.output, fps=o.fps, metadata=embedded, comfy=o.comfy if o.embed else None,
                                        **options))
        if o.sound is not None and not carries and o.sound_sidecar:
            paths.append(write_sidecar(o.sound, o.output))
        if o.metrics_file:  # with the run's seconds per stage when it was measured (timing.py)
            times = current_times()
            timings = {"timings": times.to_dict()} if times is not None else {}
            paths.append(write_json({"output": Path(o.output).name, **metrics, **timings}, metrics_path(o.output)))
    if o.frames_dir is not None:
        with stage("write"):
            paths += write_png_frames(images, o.frames_dir, metadata=embedded)
    return paths
