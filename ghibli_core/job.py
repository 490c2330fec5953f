"""One animation from idea to file: the single path the CLI, the batch workers, the benchmark and the library take.

    job = AnimationJob(idea="a serene forest at dawn", painting=get_preset("fast").animation(frames=8, seed=7),
                       motion=get_preset("fast").motion(), models=ensure_tiny().model_settings(), output="forest.gif")
    plan = job.make_plan()                     # before any model loads: an LLM fault falls back with a warning
    result = run_job(job, load_pipelines(job.models.resolve()), plan=plan)   # paint, blend, measure, write

Everything is checked when the job is built (sizes, ranges, output folder, init image, plan length), so a bad
input fails before the first weight is read. `render_job` paints and says what the file's metadata is (here and only
here); the finishing step (finish.py) measures and writes, for the CLI as for ComfyUI's saver.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from PIL import Image

from . import __version__
from .animate import AnimationSettings, CancelCheck, Frame, ProgressCallback
from .blend import MotionSettings
from .blend.flow import FlowCache
from .camera.path import CameraSettings, directed_camera
from .errors import InputError
from .export import check_fps, check_frames_dir, check_output_path
from .finish import CameraCheck, Finisher, Outputs
from .models.pipelines import GhibliPipelines, ModelSettings
from .readers import open_picture
from .plan import Plan, PlannerSettings, clean_idea, make_planner
from .presets import DEFAULT_PRESET, default_motion
from .render import Animation, render_animation
from .schedule import default_fps
from .music import MusicSettings
from .timing import stage
from .plan.music import plan_music
from .sound import SOUND_FORMATS, Sound, SoundSettings

GENERATOR = f"ghibli-anim {__version__}"


def open_init_image(path: str | Path, input_name: str = "init-image") -> Image.Image:
    """Open an image fully now, so a bad file fails before any model loads (errors name `input_name`); as it is shown
    (`readers.open_picture`: upright by its EXIF orientation, 8-bit RGB, HEIC too)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError(input_name, f"no file at {file.resolve()}", "check the path")
    return open_picture(file, input_name, "give a PNG, JPEG, WebP or HEIC file")


@dataclass(frozen=True)
class AnimationJob:
    """One animation: what to paint (an idea to plan, or the plan itself), how, with which models, and where it goes.

    `painting` gets a concrete seed on construction (a random one if unset), and the planner is seeded with it
    unless it has its own. The plan's camera moves (each beat's) move a 3D camera through the painted scene; a
    `camera` that names a move or schedules (even `static`) overrides them, one with `move=None` only sets the lens
    (see `camera_for`). `fps` defaults to the painted frames' pace with the in-betweens added. `output` None
    renders without writing (the frames are in the result). `extra_metadata` is merged into the file's metadata
    (the batch puts its job id and fingerprint there).
    """

    painting: AnimationSettings = field(default_factory=AnimationSettings)
    motion: MotionSettings = field(default_factory=default_motion)
    camera: CameraSettings | None = None
    idea: str | None = None
    plan: Plan | None = None
    planner: PlannerSettings = field(default_factory=PlannerSettings)
    models: ModelSettings | None = None
    preset: str = DEFAULT_PRESET
    output: str | Path | None = None
    fps: float | None = None
    init_image: str | Path | Image.Image | None = None
    frames_dir: str | Path | None = None
    metrics_file: bool = True
    #: quality figures measured on the frames themselves (default: on a copy of long side defaults.METRICS_SIDE)
    full_metrics: bool = False
    dither: bool = False
    generator: str = GENERATOR
    extra_metadata: Mapping[str, Any] = field(default_factory=dict)
    #: a soundtrack from a file, fitted to the animation's exact length (MP4 / WebM; beside another format on request)
    sound: SoundSettings | None = None
    #: music written for the animation from the idea (its own prompt, or the plan's music prompt), looped to its length
    music: MusicSettings | None = None
    _init: Image.Image | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.plan is None and self.idea is None:
            raise InputError("prompt", "is empty", 'give an idea, e.g. "a serene forest at dawn", or a plan')
        if self.idea is not None:
            self._set("idea", clean_idea(self.idea))
        if self.plan is not None and len(self.plan) != self.painting.frames:
            raise InputError("frames", f"{self.painting.frames} but the plan holds {len(self.plan)} frames",
                             "drop the frame count (the plan's is used) or edit the plan")
        self._set("painting", self.painting.with_seed())
        if self.camera is not None:
            self.camera.path(self.painting.frames)  # every schedule evaluated for every frame now, before any work
        if self.planner.seed is None:
            self._set("planner", self.planner.replace(seed=self.painting.seed))
        self._set("fps", check_fps(self.fps if self.fps is not None else default_fps(self.motion.interpolate)))
        if self.output is not None:
            self._set("output", check_output_path(self.output))
        if self.frames_dir is not None:
            self._set("frames_dir", check_frames_dir(self.frames_dir))
        if self.sound is not None and self.music is not None:
            raise InputError("music", "and --audio were both given", "give one soundtrack: a file (--audio) or music (--music)")
        if self.sound is not None:
            check_sound_output(self.sound, self.output)
        if self.music is not None:
            self.music.source()  # the model is a text-to-music model (config only), before any work
            check_carries_sound(self.output, self.music.sidecar, "music")
        if isinstance(self.init_image, (str, Path)):
            self._set("_init", open_init_image(self.init_image))
        elif self.init_image is not None:
            self._set("_init", self.init_image.convert("RGB"))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def replace(self, **changes: Any) -> "AnimationJob":
        return dataclasses.replace(self, **changes)

    @property
    def frames(self) -> int:
        return self.painting.frames

    def camera_for(self, plan: Plan) -> CameraSettings | None:
        """The camera the job paints with: its own when that names a move or schedules; else the plan's beats (with
        the job's lens and depth range); None when nothing moves the camera."""
        return directed_camera(self.camera, plan.moves())

    def make_plan(self) -> Plan:
        """The job's own plan, or one planned for its idea (the planner is checked first: a missing key fails here)."""
        if self.plan is not None:
            if self.idea:
                return dataclasses.replace(self.plan, idea=self.idea)
            return self.plan
        with stage("plan"):  # (a measured run's `plan` stage)
            return make_planner(self.planner).plan(self.idea, self.frames)

    @property
    def seconds(self) -> float:
        """How long the animation plays once (its output frames at its rate)."""
        return self.motion.output_count(self.frames) / self.fps

    def outputs(self, sound: Sound | None = None) -> Outputs:
        """Where the finishing step writes this job (with its soundtrack: `soundtrack()`)."""
        sidecar = bool((self.sound and self.sound.sidecar) or (self.music and self.music.sidecar))
        return Outputs(fps=self.fps, output=self.output, frames_dir=self.frames_dir, dither=self.dither,
                       metrics_file=self.metrics_file, sound=sound, sound_sidecar=sidecar, full_metrics=self.full_metrics)

    def soundtrack(self, plan: Plan) -> tuple[Sound | None, dict[str, Any] | None]:
        """The job's sound, fitted to its exact length, and what metadata says of it: the file's (read, fitted), or the
        music written for `plan` (the job's music prompt, else the plan's)."""
        if self.sound is not None:
            sound = self.sound.load(self.seconds)
            return sound, self.sound.summary(sound)
        if self.music is not None:
            prompt = self.music.prompt or plan_music(plan)
            sound = self.music.compose(prompt, self.seconds, seed=self.painting.seed)
            return sound, self.music.summary(sound, prompt, self.music.seed_for(self.painting.seed))
        return None, None

    def metadata(self, plan: Plan, animation: Animation, pipes: GhibliPipelines) -> dict[str, Any]:
        """What the file carries: enough to reproduce the run (plan, seed, every setting, models); the finishing step
        adds the quality figures."""
        init = self.init_image
        return {
            "generator": self.generator, **self.extra_metadata,
            "prompt": plan.idea, "plan": plan.frames, "plan_backend": plan.backend, "plan_model": plan.model,
            "plan_warnings": plan.warnings, "plan_settings": None if self.plan is not None else self.planner.to_dict(),
            "seed": self.painting.seed, "preset": self.preset, "settings": self.painting.to_dict(), "motion": self.motion.to_dict(),
            "plan_camera": [str(m) for m in plan.moves()],
            "schedule": animation.schedule(), "camera": animation.camera_metadata(), "fps": self.fps, "models": pipes.model_names(),
            "init_image": Path(init).name if isinstance(init, (str, Path)) else ("image" if init is not None else None),
        }


def check_sound_output(sound: SoundSettings, output: Path | None) -> None:
    """Before any work: the sound file is readable and long enough to start where asked, and the output can carry
    sound (MP4, WebM) or the sound goes beside it (`sidecar`)."""
    sound.check()
    check_carries_sound(output, sound.sidecar)


def check_carries_sound(output: Path | None, sidecar: bool, input_name: str = "audio") -> None:
    """The output can carry sound (MP4, WebM), or the sound goes beside it (`sidecar`)."""
    if output is not None and Path(output).suffix.lower() not in SOUND_FORMATS and not sidecar:
        kind = Path(output).suffix.lower()[1:].upper()
        raise InputError(input_name, f"a {kind} file cannot carry sound",
                         "write .mp4 or .webm, or add --audio-sidecar to write the sound beside it as NAME.m4a")


def pipelines_for(models: ModelSettings | None, pipes: GhibliPipelines | None, progress: bool) -> GhibliPipelines:
    """The pipelines a job paints with: the ones given, else loaded from its model settings."""
    if pipes is not None:
        return pipes
    if models is None:
        raise InputError("models", "none given", "pass loaded pipelines or ModelSettings")
    from .models.pipelines import load_pipelines

    with stage("load"):
        return load_pipelines(models.resolve(), progress=progress)


@dataclass
class Rendered:
    """A job's frames painted, before the finishing step: the plan used, the animation, and the file's metadata (all
    but the quality figures, which the finishing step measures)."""

    job: AnimationJob
    plan: Plan
    animation: Animation
    metadata: dict[str, Any]
    seconds: float

    @property
    def flow(self) -> str:
        """The flow method the run's frames are measured with."""
        return self.job.motion.flow

    def camera_check(self) -> CameraCheck | None:
        """What camera fidelity compares, when the animation has a camera."""
        camera = self.animation.camera
        return CameraCheck(self.animation.camera_pairs(), camera.fov) if camera is not None else None

    @property
    def duration(self) -> float:
        """How long the animation plays once (its output frames at the job's rate)."""
        return self.job.seconds

    @property
    def music_prompt(self) -> str:
        """The plan's music prompt (the rules' for its idea on plans made without one)."""
        return plan_music(self.plan)


@dataclass
class JobResult:
    """A finished job: its frames (in `animation`), the plan used, the quality figures, the metadata written, timings."""

    job: AnimationJob
    plan: Plan
    animation: Animation
    metrics: dict[str, Any]
    metadata: dict[str, Any]
    paint_seconds: float
    finish_seconds: float

    @property
    def output_frames(self) -> list[Image.Image]:
        return self.animation.output_frames


def render_job(
    job: AnimationJob,
    pipes: GhibliPipelines | None = None,
    *,
    plan: Plan | None = None,
    on_progress: ProgressCallback | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    on_output: Callable[[list], None] | None = None,
    should_cancel: CancelCheck | None = None,
    progress: bool = True,
    flows: FlowCache | None = None,
    overlap: bool | None = None,
) -> Rendered:
    """Plan (unless `plan` is given) and paint `job`; `pipes` are loaded models (loaded from `job.models` when None).
    `on_output` receives the output frames as they are made (the finishing step measures them on arrival), behind the
    painting where that pays (`overlap`: see `render_animation`)."""
    plan = plan if plan is not None else job.make_plan()
    pipes = pipelines_for(job.models, pipes, progress)
    started = time.perf_counter()
    animation = render_animation(pipes, plan.frames, job.painting, job.motion, init_image=job._init, on_progress=on_progress,
                                 on_frame=on_frame, on_output=on_output, should_cancel=should_cancel, progress=progress,
                                 camera=job.camera_for(plan), flows=flows, overlap=overlap)
    return Rendered(job, plan, animation, job.metadata(plan, animation, pipes), time.perf_counter() - started)


def run_job(
    job: AnimationJob,
    pipes: GhibliPipelines | None = None,
    *,
    plan: Plan | None = None,
    on_progress: ProgressCallback | None = None,
    on_frame: Callable[[Frame], None] | None = None,
    should_cancel: CancelCheck | None = None,
    progress: bool = True,
    overlap: bool | None = None,
) -> JobResult:
    """Plan (unless `plan` is given), paint, blend, measure and write `job`.

    `pipes` are loaded models (loaded from `job.models` when None); `overlap` as in `render_animation`. Writes the animation with its metadata, its
    NAME.metrics.json (`job.metrics_file`) and the PNG frames (`job.frames_dir`), each atomically.
    """
    plan = plan if plan is not None else job.make_plan()
    sound, sound_summary = job.soundtrack(plan)  # read or written before painting: a bad sound fails early
    finisher = Finisher(job.outputs(sound), flow=job.motion.flow)
    rendered = render_job(job, pipes, plan=plan, on_progress=on_progress, on_frame=on_frame, on_output=finisher.add,
                          should_cancel=should_cancel, progress=progress, flows=finisher.flows, overlap=overlap)
    closing = time.perf_counter()
    metadata = {**rendered.metadata, "sound": sound_summary, "music_prompt": rendered.plan.music or None}
    done = finisher.close(metadata, camera=rendered.camera_check())
    return JobResult(job, rendered.plan, rendered.animation, done.metrics, done.metadata, rendered.seconds,
                     time.perf_counter() - closing)
