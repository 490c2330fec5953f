"""A jobs file: one animation per row, JSONL or CSV, every row checked before anything renders.

JSONL: one object per line. CSV: a header row with the same names; `loras` as ``a.safetensors:0.8;b.safetensors``,
`plan` as a JSON list or prompts separated by ``|``. Fields (only `prompt` or `plan` is required): the job's own

    id, prompt, plan, preset, size ("512x512"), loras (["FILE[:WEIGHT]", ...]), output (file name under the output
    folder; its extension picks the format), model (a base other than the batch's), fps, speed_lora (a few-step LoRA,
    "FILE|HUB_ID[:WEIGHT]", for the turbo preset; the batch's --speed-lora otherwise)

and every painting, motion and camera setting by its name in the settings table (registry.py; docs/settings.md lists
them with their ranges), e.g. frames, seed, width, height, steps, strength, color_coherence, cadence, camera,
translation_x, fov. Older names are still read (`color_match` is `color_coherence`).

Relative LoRA and plan-file paths are read from the jobs file's folder.
"""
from __future__ import annotations

import csv
import dataclasses
import difflib
import hashlib
import io
import json
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..animate import AnimationSettings, parse_size
from ..defaults import DEFAULT_PRESET, FRAMES as DEFAULT_FRAMES, size as default_size
from ..blend import MotionSettings
from ..camera.path import CameraSettings
from .. import registry
from ..errors import InputError, check_choice
from ..export import FORMATS, check_fps
from ..models.lora import LoraSpec
from ..models.speed_lora import hub_parts
from ..plan import Plan, check_frame_count, clean_idea, load_plan_file, parse_plan_text
from ..presets import PRESETS, get_preset
from ..schedule import default_fps

#: The job's own fields (the rest are settings, from the one table).
TEXT_FIELDS = ("id", "prompt", "preset", "size", "output", "model", "video")
#: A clip row's window (`video`: the clip to repaint; `fps` then resamples it)
CLIP_FIELDS = ("start", "duration", "every_nth", "max_frames")
#: A soundtrack (as --audio, --audio-fit, --audio-start, --audio-gain, --audio-sidecar)
SOUND_FIELDS = ("audio", "audio_fit", "audio_start", "audio_gain", "audio_sidecar")
FIELDS = ("plan", "loras", "speed_lora", "fps", *TEXT_FIELDS, *CLIP_FIELDS, *SOUND_FIELDS, *registry.JOBS_FIELDS)
CAMERA_FIELDS = tuple(s.name for s in registry.of("camera"))
#: painting values a row may set over its preset (frames, seed and the size are the job's), and motion values
PAINT_OVERRIDES = tuple(s.name for s in registry.of("painting") if s.jobs and s.owner == "painting"
                        and s.name not in ("frames", "seed", "width", "height"))
MOTION_OVERRIDES = tuple(s.name for s in registry.of("motion") if s.jobs and s.owner == "motion")


@dataclass(frozen=True)
class Job:
    """One checked row: everything needed to render it, with paths made absolute."""

    line: int
    id: str
    idea: str
    plan: tuple[str, ...] | None
    frames: int
    seed: int
    preset: str
    width: int
    height: int
    loras: tuple[LoraSpec, ...]
    output: str
    model: str | None
    fps: float
    paint: tuple[tuple[str, Any], ...]
    motion_overrides: tuple[tuple[str, Any], ...]
    camera: tuple[tuple[str, Any], ...] = ()
    #: the moves of the row's own plan (objects or a `camera` list), one per frame; () when it names none
    plan_camera: tuple[str, ...] = ()
    #: a clip row: the clip to repaint (absolute path) and its window (ClipSettings values); `idea` is then its prompt
    video: str | None = None
    clip: tuple[tuple[str, Any], ...] = ()
    #: a soundtrack: SoundSettings values (absolute path), and its features per planned frame (for audio schedules)
    sound: tuple[tuple[str, Any], ...] = ()
    audio_features: Any = field(default=None, compare=False, repr=False)
    #: the row's few-step LoRA (a local file made absolute, or a hub id), over the batch's --speed-lora
    speed_lora: LoraSpec | None = None

    def sound_settings(self):
        from ..sound import SoundSettings

        return SoundSettings(**dict(self.sound)) if self.sound else None

    def clip_settings(self):
        from ..video import ClipSettings

        return ClipSettings(**dict(self.clip))

    def video_painting(self) -> AnimationSettings:
        """A clip row's keyframe painting (its size is the clip's)."""
        return get_preset(self.preset).animation(frames=1, seed=self.seed, **dict(self.paint))

    def camera_settings(self) -> CameraSettings | None:
        """The row's camera (None: the plan directs it): `camera` is the named move, the axes its schedules; a row
        with only a lens or depth range (`fov`, `near`, `far`) lets the plan's moves direct that lens."""
        if not self.camera:
            return None
        values = dict(self.camera)
        return CameraSettings(move=values.pop("camera", None), audio_features=self.audio_features, **values)

    def animation(self) -> AnimationSettings:
        return get_preset(self.preset).animation(frames=self.frames, seed=self.seed, width=self.width, height=self.height,
                                                 audio_features=self.audio_features, **dict(self.paint))

    def motion(self) -> MotionSettings:
        return get_preset(self.preset).motion(**dict(self.motion_overrides))

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if k != "audio_features"}  # derived from `sound`
        data["loras"] = [{"path": s.path, "weight": s.weight} for s in self.loras]
        data["speed_lora"] = {"path": self.speed_lora.path, "weight": self.speed_lora.weight} if self.speed_lora else None
        data["paint"], data["motion_overrides"], data["camera"] = dict(self.paint), dict(self.motion_overrides), dict(self.camera)
        data["clip"], data["sound"] = dict(self.clip), dict(self.sound)
        if self.sound:
            from ..files import file_identity

            data["sound"]["path"] = list(file_identity(dict(self.sound)["path"]))  # a replaced sound file is another job
        if self.video:
            from ..files import file_identity

            data["video"] = list(file_identity(self.video))  # a clip replaced under the same name is another job
        return data

    def fingerprint(self, models: dict[str, Any]) -> str:
        """Changes whenever the picture would: the row's values (not its line or output name) and the models."""
        body = {k: v for k, v in self.to_dict().items() if k not in ("line", "output", "id")}
        return hashlib.sha256(json.dumps({"job": body, "models": models}, sort_keys=True, default=str).encode()).hexdigest()[:16]


class JobsFileError(InputError):
    """Every bad row of a jobs file, each with its line number."""

    def __init__(self, source: str, problems: list[str]) -> None:
        listed = "\n".join(f"  {p}" for p in problems[:50]) + (f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else "")
        super().__init__("jobs", f"{len(problems)} problem{'s' * (len(problems) != 1)} in {source}:\n{listed}\n",
                         "fix those rows; nothing was rendered")
        self.problems = problems


def _rows(path: Path) -> list[tuple[int, Any]]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(io.StringIO(text))
        return [(reader.line_num, {k.strip(): v for k, v in row.items() if k and v not in (None, "")}) for row in reader]
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            rows.append((n, json.loads(line)))
        except json.JSONDecodeError as exc:
            rows.append((n, InputError("row", f"not JSON ({exc.msg}, column {exc.colno})", 'write one {"prompt": ...} object per line')))
    return rows


def _coerce(field: str, value: Any, from_csv: bool) -> Any:
    if field in registry.SETTINGS:
        return registry.coerce(field, value, from_csv)
    if field == "audio_sidecar":
        return registry.as_bool(field, value, from_csv)
    if field in ("audio", "audio_fit") and not isinstance(value, str):
        raise InputError(field, f"{value!r} is not text", f"write \"{field}\" as a string")
    if field in ("fps", "start", "duration", "audio_start", "audio_gain"):
        return registry.as_number(field, value, from_csv)
    if field in ("every_nth", "max_frames"):
        if from_csv and isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(field, f"{value!r} is not an integer", f"write e.g. \"{field}\": 2")
    if field in TEXT_FIELDS and not isinstance(value, str):
        raise InputError(field, f"{value!r} is not text", f"write \"{field}\" as a string")
    return value


def _resolve(path: str, base_dir: Path) -> str:
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (base_dir / p).resolve())


def _loras(value: Any, base_dir: Path) -> tuple[LoraSpec, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(";") if v.strip()]
    if not isinstance(value, list):
        raise InputError("loras", f"{value!r} is not a list", 'write ["style.safetensors:0.8"] (CSV: a.safetensors:0.8;b.safetensors)')
    specs = []
    for item in value:
        if isinstance(item, dict) and isinstance(item.get("path"), str):
            spec = LoraSpec(item["path"], item.get("weight", 1.0))
        elif isinstance(item, str):
            spec = LoraSpec.parse(item)
        else:
            raise InputError("loras", f"{item!r} is not FILE[:WEIGHT] or {{\"path\", \"weight\"}}", 'write ["style.safetensors:0.8"]')
        path = Path(_resolve(spec.path, base_dir))
        if not path.is_file():
            raise InputError("loras", f"no file at {path}", "check the path (relative paths are read from the jobs file's folder)")
        specs.append(LoraSpec(str(path), spec.weight))
    return tuple(specs)


def _speed_lora(value: Any, base_dir: Path) -> LoraSpec:
    """A row's `speed_lora`: FILE or HUB_ID, with :WEIGHT; a file relative to the jobs file's folder, checked now (a hub
    id is found in the cache, or fetched, when the batch loads its models)."""
    if not isinstance(value, str):
        raise InputError("speed_lora", f"{value!r} is not text", 'write e.g. "speed_lora": "lcm-lora-sdv1-5.safetensors:1.0"')
    spec = LoraSpec.parse(value)
    local = Path(_resolve(spec.path, base_dir))
    if local.is_file():
        return LoraSpec(str(local), spec.weight)
    if hub_parts(spec.path) is None:
        raise InputError("speed_lora", f"no file at {local}", "check the path (relative paths are read from the jobs file's "
                         "folder), or give a hub id such as latent-consistency/lcm-lora-sdv1-5")
    return spec


def _plan(value: Any, base_dir: Path, idea: str | None, line: int) -> Plan:
    """A row's `plan`: a list (of prompts or {"prompt", "camera"} objects), `a|b|c` (CSV), or a plan file's path."""
    if isinstance(value, str) and not value.lstrip().startswith(("[", "{")):
        if "|" in value:
            value = value.split("|")
        else:
            return load_plan_file(_resolve(value, base_dir))
    text = value if isinstance(value, str) else json.dumps(value)
    return parse_plan_text(text, f"the plan of line {line}", input_name="plan", as_json=True, idea=idea)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "animation"


def _job(line: int, row: dict[str, Any], base_dir: Path, defaults: dict[str, Any], from_csv: bool) -> Job:
    if not isinstance(row, dict):
        raise InputError("row", f"is a {type(row).__name__}, not an object", 'write one {"prompt": ...} object per line')
    row = {registry.ALIASES.get(k, k): v for k, v in row.items()}  # older names still read
    unknown = [k for k in row if k not in FIELDS]
    if unknown:
        near = difflib.get_close_matches(unknown[0], FIELDS, n=1)
        raise InputError(unknown[0], "is not a job field", f"did you mean {near[0]!r}?" if near else f"use only {', '.join(sorted(FIELDS))}")
    values = {k: _coerce(k, v, from_csv) for k, v in row.items()}
    if "video" in values:
        return _clip_job(line, values, base_dir, defaults)
    stray = [k for k in CLIP_FIELDS if k in values]
    if stray:
        raise InputError(stray[0], "is for a clip row", 'add "video": "clip.mp4", or drop it')
    if "prompt" not in values and "plan" not in values:
        raise InputError("prompt", "is missing", 'give "prompt" (an idea to plan) or "plan" (the frame prompts)')
    idea = clean_idea(values["prompt"]) if "prompt" in values else None
    row_plan = _plan(values["plan"], base_dir, idea, line) if "plan" in values else None
    plan = tuple(row_plan.frames) if row_plan is not None else None
    frames = values.get("frames", len(plan) if plan else defaults.get("frames", DEFAULT_FRAMES))
    check_frame_count(frames)
    if plan and frames != len(plan):
        raise InputError("frames", f"{frames} but the plan holds {len(plan)} prompts", "drop frames (the plan's count is used) or fix the plan")
    preset = values.get("preset", defaults.get("preset", DEFAULT_PRESET))
    check_choice("preset", preset, PRESETS, "preset")
    width, height = defaults.get("size", default_size())
    if "size" in values:
        width, height = parse_size(values["size"])
    width, height = values.get("width", width), values.get("height", height)
    loras = _loras(values["loras"], base_dir) if "loras" in values else tuple(defaults.get("loras", ()))
    job_id = values.get("id") or f"{line:04d}-{_slug(idea or plan[0])}"
    output = values.get("output") or f"{job_id}{defaults.get('format', '.gif')}"
    out = Path(output)
    if out.is_absolute() or ".." in out.parts or not out.name:
        raise InputError("output", f"{output!r} leaves the output folder", "give a file name (or sub/name) inside the output folder")
    if out.suffix.lower() not in FORMATS:
        raise InputError("output", f"unknown format {out.suffix or '(none)'!r} in {output}", f"use one of {', '.join(FORMATS)}")
    paint = tuple((k, values[k]) for k in PAINT_OVERRIDES if k in values)
    motion = tuple((k, values[k]) for k in MOTION_OVERRIDES if k in values)
    seed = values.get("seed", defaults.get("seed", 0))
    model = values.get("model")
    if model and (base_dir / Path(model).expanduser()).exists():  # a local file or folder; anything else is a hub id
        model = _resolve(model, base_dir)
    camera = {**defaults.get("camera", {}), **{k: values[k] for k in CAMERA_FIELDS if k in values}}
    job = Job(line, job_id, idea or plan[0], plan, frames, seed, preset, width, height, loras, out.as_posix(), model, 0.0, paint, motion,
              tuple(sorted(camera.items())), tuple(row_plan.camera) if row_plan is not None else (),
              speed_lora=_speed_lora(values["speed_lora"], base_dir) if "speed_lora" in values else None)
    sound = _sound(values, base_dir, out)
    if sound is not None:  # the soundtrack checked now, and its features given to the schedules that follow it
        from ..audio_features import AudioFeatures

        motion_settings = job.motion()
        rate = check_fps(values["fps"]) if "fps" in values else default_fps(motion_settings.interpolate)
        track = sound.load(motion_settings.output_count(frames) / rate)
        job = replace(job, sound=tuple(sorted(dataclasses.asdict(sound).items())),
                      audio_features=AudioFeatures.of(track, rate / (motion_settings.interpolate + 1), frames))
    job.animation()  # every value checked by the same dataclasses the render uses
    settings = job.camera_settings()
    if settings is not None:
        settings.path(frames)  # every schedule evaluated for every frame
    motion_settings = job.motion()
    fps = check_fps(values["fps"]) if "fps" in values else default_fps(motion_settings.interpolate)
    return replace(job, fps=fps)


def _sound(values: dict[str, Any], base_dir: Path, out: Path):
    """A row's soundtrack (None without `audio`), checked: the file, its start, and that the output can carry it."""
    from ..job import check_sound_output
    from ..sound import SoundSettings

    if "audio" not in values:
        stray = [k for k in SOUND_FIELDS if k in values]
        if stray:
            raise InputError(stray[0], "was given without a sound", 'add "audio": "song.mp3"')
        return None
    sound = SoundSettings(_resolve(values["audio"], base_dir), values.get("audio_fit", "loop"), values.get("audio_start", 0.0),
                          values.get("audio_gain", 0.0), values.get("audio_sidecar", False))
    check_sound_output(sound, out)
    return sound


def _clip_job(line: int, values: dict[str, Any], base_dir: Path, defaults: dict[str, Any]) -> Job:
    """A row with `video`: the clip repainted; checked whole now (the clip probed, the window, the painting values)."""
    from ..video import ClipSettings, probe

    for name in ("plan", "frames", *CAMERA_FIELDS, *MOTION_OVERRIDES):
        if name in values:
            raise InputError(name, "does not apply to a clip row", "a clip's frames, motion and camera come from the clip")
    if not values.get("prompt", "").strip():
        raise InputError("prompt", "is missing", 'say what the clip becomes, e.g. "prompt": "a quiet street at dusk"')
    preset = values.get("preset", defaults.get("preset", DEFAULT_PRESET))
    check_choice("preset", preset, PRESETS, "preset")
    width, height = parse_size(values["size"]) if "size" in values else (None, None)
    width, height = values.get("width", width), values.get("height", height)
    clip = {k: values[k] for k in CLIP_FIELDS if k in values}
    clip.update({k: v for k, v in (("fps", values.get("fps")), ("width", width), ("height", height)) if v is not None})
    video = _resolve(values["video"], base_dir)
    info = probe(video, ClipSettings(**clip))  # a bad clip or window fails here, before anything renders
    job_id = values.get("id") or f"{line:04d}-{_slug(Path(video).stem)}"
    output = values.get("output") or f"{job_id}{defaults.get('format', '.mp4')}"
    out = Path(output)
    if out.is_absolute() or ".." in out.parts or not out.name or out.suffix.lower() not in FORMATS:
        raise InputError("output", f"{output!r} is not a file name inside the output folder with one of {', '.join(FORMATS)}",
                         "give e.g. walk-ghibli.mp4")
    loras = _loras(values["loras"], base_dir) if "loras" in values else tuple(defaults.get("loras", ()))
    model = values.get("model")
    if model and (base_dir / Path(model).expanduser()).exists():
        model = _resolve(model, base_dir)
    paint = tuple((k, values[k]) for k in PAINT_OVERRIDES if k in values)
    job = Job(line, job_id, clean_idea(values["prompt"]), None, info.frames, values.get("seed", defaults.get("seed", 0)),
              preset, info.size[0], info.size[1], loras, out.as_posix(), model, info.fps, paint, (), video=video,
              clip=tuple(sorted(clip.items())),
              speed_lora=_speed_lora(values["speed_lora"], base_dir) if "speed_lora" in values else None)
    job.video_painting()  # every painting value checked by the dataclass the render uses
    return job


def load_jobs(path: str | Path, defaults: dict[str, Any] | None = None) -> list[Job]:
    """Every row of a jobs file as a `Job`; a `JobsFileError` lists every bad row (with its line) at once."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("jobs", f"no file at {file.resolve()}", "give a .jsonl or .csv jobs file")
    if file.suffix.lower() not in (".jsonl", ".csv", ".json"):
        raise InputError("jobs", f"{file.name} is not .jsonl or .csv", "write one job per line (JSONL) or a CSV with a header row")
    defaults = defaults or {}
    jobs, problems = [], []
    for line, row in _rows(file):
        try:
            if isinstance(row, InputError):
                raise row
            jobs.append(_job(line, row, file.resolve().parent, defaults, file.suffix.lower() == ".csv"))
        except InputError as exc:
            problems.append(f"line {line}: {exc}")
    seen: dict[str, int] = {}
    for job in jobs:
        for key in (f"output {job.output}", f"id {job.id}"):
            if key in seen:
                problems.append(f"line {job.line}: {key.split(' ')[0]}: {key.split(' ', 1)[1]!r} is also line {seen[key]}'s; give each job its own")
            seen.setdefault(key, job.line)
    if not jobs and not problems:
        problems.append("no jobs (the file is empty)")
    if problems:
        raise JobsFileError(file.name, problems)
    return jobs
