"""A clip repainted in the Ghibli style, from the clip to the file: the video job type beside `job.AnimationJob`,
finished by the same finishing step (finish.py).

    job = VideoJob(clip="walk.mp4", prompt="a quiet street", painting=get_preset("balanced").animation(seed=7),
                   models=ensure_tiny().model_settings(), output="walk-ghibli.mp4")      # the clip is probed here
    result = run_video_job(job)

Everything is checked when the job is built (the clip probed, the window, sizes, the output), so bad input fails before
any model loads.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .. import __version__, defaults
from ..animate import AnimationSettings
from ..blend.flow import FlowCache
from ..errors import InputError
from ..export import check_frames_dir, check_output_path
from ..files import file_identity
from ..finish import Finisher, Outputs
from ..job import GENERATOR, pipelines_for
from ..models.pipelines import GhibliPipelines, ModelSettings
from ..overlap import Behind, overlap_pays
from ..painter import CancelCheck, ProgressCallback
from ..presets import DEFAULT_PRESET
from ..sound import Sound, SoundSettings
from .clip import ClipInfo, ClipSettings, InMemoryClip, probe
from .score import ClipScore
from .repaint import Keyframe, KeyframeSettings, RepaintLog, repaint
from .work import WorkFolder


#: Beats planned from an idea: one prompt per scene, in turn (a clip with more scenes starts over).
SCENE_BEATS = 8


def styled(prompt: str) -> str:
    """The user's prompt with the style words every frame carries (unless it names the style itself)."""
    text = " ".join(prompt.split())
    return text if defaults.STYLE_TAG.lower() in text.lower() else f"{text}, {defaults.STYLE_SUFFIX}"


@dataclass(frozen=True)
class VideoJob:
    """One clip to repaint. `prompt` says what the scene becomes; without it `idea` is planned into one prompt per scene
    (the planner's beats, the next at every scene cut). `painting` holds the keyframes' values (its size is the clip's output size)."""

    clip: str | Path | InMemoryClip
    prompt: str | None = None
    idea: str | None = None
    clip_settings: ClipSettings = field(default_factory=ClipSettings)
    painting: AnimationSettings = field(default_factory=AnimationSettings)
    keys: KeyframeSettings = field(default_factory=KeyframeSettings)
    models: ModelSettings | None = None
    preset: str = DEFAULT_PRESET
    output: str | Path | None = None
    frames_dir: str | Path | None = None
    metrics_file: bool = True
    #: quality figures measured on the frames themselves (default: on a copy of long side defaults.METRICS_SIDE)
    full_metrics: bool = False
    loop: bool = False
    #: where painted keyframes are saved as they finish (default: beside the output, NAME.work), so a rerun resumes;
    #: removed after success unless `keep_work`
    work_dir: str | Path | None = None
    keep_work: bool = False
    #: a soundtrack from a file instead of the clip's own sound (fitted to the output's exact length)
    soundtrack: SoundSettings | None = None
    generator: str = f"{GENERATOR} video"
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    _info: ClipInfo | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (self.prompt and self.prompt.strip()) and not (self.idea and self.idea.strip()):
            raise InputError("prompt", "is empty", 'say what the clip becomes, e.g. --prompt "a quiet street at dusk"')
        if self.output is not None:
            self._set("output", check_output_path(self.output))
        if self.frames_dir is not None:
            self._set("frames_dir", check_frames_dir(self.frames_dir))
        self._set("painting", self.painting.with_seed())
        self._set("_info", probe(self.clip, self.clip_settings))  # the clip checked now, before any model loads
        if self.work_dir is None and (self.output is not None or self.frames_dir is not None) and self.info.memory is None:
            where = Path(self.output if self.output is not None else self.frames_dir)
            self._set("work_dir", where.with_name(where.stem + ".work"))
        if self.soundtrack is not None:
            from ..job import check_sound_output

            check_sound_output(self.soundtrack, self.output)
        if self.work_dir is not None:
            self._set("work_dir", Path(self.work_dir).expanduser())
            WorkFolder(self.work_dir, "").check()  # never a folder this tool did not make

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    @property
    def info(self) -> ClipInfo:
        assert self._info is not None
        return self._info

    def replace(self, **changes: Any) -> "VideoJob":
        return dataclasses.replace(self, **changes)

    def make_prompts(self) -> list[str]:
        """The prompt, or the idea planned into `SCENE_BEATS` beats (one per scene, in turn; the planner keeps the style)."""
        if self.prompt and self.prompt.strip():
            return [styled(self.prompt)]
        from ..plan import make_plan

        return list(make_plan(self.idea, SCENE_BEATS).frames)

    @property
    def _to_caller(self) -> bool:
        """Nothing is written: the frames and the clip's sound go back to the caller (a host such as ComfyUI, a library
        user), whether the clip is a file or frames in memory."""
        return self.output is None and (self.frames_dir is None or self.info.memory is not None)

    @property
    def _output_carries_sound(self) -> bool:
        from ..sound import SOUND_FORMATS

        return self.output is not None and Path(self.output).suffix.lower() in SOUND_FORMATS

    def sound(self) -> "Sound | None":
        """The clip's own sound over the frames' window (to the sample, starting with the first frame), when the output
        can carry it or the caller takes it back; None when the clip has none or the output cannot (`sound_dropped`)."""
        from ..sound import read_sound

        if self.soundtrack is not None:  # the user's soundtrack replaces the clip's own sound
            return self.soundtrack.load(self.info.frames / self.info.fps)
        if self.info.audio is None:
            return None
        start, seconds = self.info.times[0], self.info.frames / self.info.fps
        if isinstance(self.clip, InMemoryClip):  # a host's sound: its window, to the sample (the host may write it)
            return self.clip.sound.window(start, seconds)
        if not (self._output_carries_sound or self._to_caller):
            return None
        return read_sound(self.info.path, start=start, duration=seconds, input_name="clip", origin=self.info.origin)

    @property
    def sound_dropped(self) -> bool:
        """The clip has sound that this job's output cannot carry (GIF, WebP, PNG, or frames only)."""
        if self.soundtrack is not None or self._to_caller:
            return False  # the sound goes back to the caller; a soundtrack was checked against the output
        return self.info.audio is not None and not self._output_carries_sound

    def fingerprint(self, pipes: GhibliPipelines, prompt: list[str]) -> str:
        """Changes whenever a keyframe would: the clip file, its window, the prompt, every setting, the models."""
        body = {"clip": list(file_identity(self.info.path)), "window": dataclasses.asdict(self.clip_settings),
                "prompt": prompt, "painting": self.painting.to_dict(), "keys": self.keys.to_dict(),
                "models": repr(pipes.resolved), "loras": [(s.path, s.weight) for s in pipes.loras], "version": __version__}
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()[:20]

    def outputs(self, sound: "Sound | None" = None) -> Outputs:
        from ..sound import SOUND_FORMATS

        carries = self.output is not None and Path(self.output).suffix.lower() in SOUND_FORMATS
        sidecar = bool(self.soundtrack and self.soundtrack.sidecar)
        return Outputs(fps=self.info.fps, output=self.output, frames_dir=self.frames_dir, metrics_file=self.metrics_file,
                       sound=sound if carries or sidecar else None, sound_sidecar=sidecar, full_metrics=self.full_metrics)


@dataclass
class VideoResult:
    job: VideoJob
    prompt: str
    log: RepaintLog
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    seconds: float
    output_frames: list
    sound: "Sound | None" = None
    #: the flow method the figures were measured with (the saver measures its frames the same way)
    flow: str = "dis"

    def camera_check(self) -> None:
        """A clip has no camera path to check (the saver asks every run)."""
        return None

    @property
    def duration(self) -> float:
        """How long the clip plays (its frames at its rate)."""
        return len(self.output_frames) / self.job.info.fps

    @property
    def music_prompt(self) -> str:
        """What music for this clip is written from when no prompt is given: the rules' prompt for its idea or prompt."""
        from ..plan.music import music_prompt

        return music_prompt(self.job.idea or self.prompt)


def run_video_job(job: VideoJob, pipes: GhibliPipelines | None = None, *, on_progress: ProgressCallback | None = None,
                  on_keyframe: Callable[[Keyframe], None] | None = None, should_cancel: CancelCheck | None = None,
                  progress: bool = True) -> VideoResult:
    """Repaint `job.clip` and write it with its metadata and figures (through the one finishing step)."""
    prompt = job.make_prompts()
    pipes = pipelines_for(job.models, pipes, progress)
    info = job.info
    started = time.perf_counter()
    sound = job.sound()  # read before painting: a damaged sound track fails or warns now, not after the work
    finisher = Finisher(job.outputs(sound), flows=FlowCache())
    log = RepaintLog()
    work = WorkFolder(job.work_dir, job.fingerprint(pipes, prompt)) if job.work_dir is not None else None
    if work is not None:
        work.open()
    score = ClipScore(flows=finisher.flows)  # temporal consistency with the source's motion, structure fidelity

    def measure(pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
        for src, out in pairs:
            score.add(src, out)
        finisher.add([out for _, out in pairs])

    # each run's figures are measured behind the painting of the next keyframe, in order (overlap.py)
    with Behind(overlap_pays(pipes.device)) as behind:
        for pairs in repaint(pipes, info, prompt, job.painting, job.keys, flows=finisher.flows, log=log, on_progress=on_progress,
                             on_keyframe=on_keyframe, should_cancel=should_cancel, work=work):
            behind.submit(measure, pairs)
    clip_figures = {**score.result(), "keyframes": len(log.keyframes), "resumed_keyframes": work.resumed if work else 0,
                    "unet_steps_per_frame": round(log.steps / max(info.frames, 1), 3)}
    metadata = {
        "generator": job.generator, **job.extra_metadata, "prompt": prompt[0], "prompts": prompt, "scenes": log.scenes,
        "idea": job.idea, "source": info.summary(),
        "seed": job.painting.seed, "preset": job.preset, "settings": job.painting.replace(width=info.size[0], height=info.size[1]).to_dict(),
        "keyframe_settings": job.keys.to_dict(), "keyframes": log.keyframes, "cuts": log.cuts, "carried": log.carried,
        "fps": info.fps, "models": pipes.model_names(), "loop": job.loop,
        "sound": (job.soundtrack.summary(sound) if job.soundtrack is not None else sound.summary()) if sound is not None else
                 ("dropped: the format cannot carry it" if job.sound_dropped else None),
    }
    done = finisher.close(metadata, extra_metrics=clip_figures, seam=job.loop)
    if work is not None and not job.keep_work:
        work.remove()
    return VideoResult(job, prompt[0], log, done.metrics, done.metadata, time.perf_counter() - started, done.frames, sound)
