"""One definition of every painting, motion and camera setting: name, kind, default, range or choices, unit, help.

    registry.SETTINGS["strength"]          Setting(name="strength", owner="painting", kind="float", lo=0.0, hi=1.0, ...)
    registry.check("strength", 1.5)        InputError("strength: 1.5 is out of range; use a value in (0.0, 1.0]")

Every surface is made from or checked against this table: the settings dataclasses validate through `check`; the
command line's flags (`add_flags`) and the jobs file's fields (`JOBS_FIELDS`, `coerce`) are generated from it; the
ComfyUI widgets take their defaults, ranges and tooltips from it; docs/settings.md is written from it
(`scripts/write_settings_doc.py`), and a test fails when any surface lacks a setting or disagrees on a default or
range. Defaults themselves live in defaults.py (the presets' values among them); this table reads them from there.
"""
from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

from . import defaults
from .errors import InputError, check_choice, check_range

SEED_POLICIES = ("fixed", "incrementing", "iter")  # iter: Deforum's name for incrementing
MAX_SEED = 2**32 - 1
#: Scheduler names users know from ComfyUI/A1111, mapped to diffusers classes ("default": the model's own).
SCHEDULERS = {
    "default": None,
    "dpm++": "DPMSolverMultistepScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "ddim": "DDIMScheduler",
    "unipc": "UniPCMultistepScheduler",
    "pndm": "PNDMScheduler",
    # few-step samplers, for a speed LoRA (LCM-LoRA, TCD, Hyper-SD) and the turbo preset
    "lcm": "LCMScheduler",
    "tcd": "TCDScheduler",
}
COLOR_MODES = ("meanstd", "histogram")
BLEND_METHODS = ("flow", "crossfade")
FLOW_METHODS = ("dis", "farneback")
DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPE_NAMES = ("auto", "fp16", "bf16", "fp32")
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune")
PLAN_BACKENDS = ("offline", "hf", "openai", "transformers")
AXES = ("translation_x", "translation_y", "translation_z", "rotation_x", "rotation_y", "rotation_z")
MAX_INTERPOLATE = 16
MAX_CADENCE = 16
#: Settings the presets set: their default is the default preset's, and the command line leaves them unset (None) so
#: that the chosen preset fills them.
PRESET_SET = ("steps", "strength", "scheduler", "controlnet_scale", "cadence", "interpolate", "cache_interval",
              "controlnet_end", "cfg_end", "guidance")


@dataclass(frozen=True)
class Setting:
    """One setting. `kind`: int, float, bool, text, choice, schedule (keyframes; empty = the plain value) or
    amount (a number or a schedule; `sharpen` also takes `auto`). `lo_open`: the low end is excluded. `flag`: the
    command line's name (None: not a flag of the main command); `widget`: the ComfyUI widget's name where it differs;
    `aliases`: older names still read from jobs files."""

    name: str
    owner: str  # painting (AnimationSettings), motion (MotionSettings), camera (CameraSettings), models
    #            (ModelSettings), planner (PlannerSettings)
    kind: str
    help: str
    default: Any = None
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple[str, ...] = ()
    unit: str = ""
    flag: str | None = ""
    widget: str | None = ""
    aliases: tuple[str, ...] = ()
    jobs: bool = True
    #: what an unknown choice is called in the message ("unknown policy 'x'")
    what: str = "value"
    #: other settings dataclasses that hold this setting too (colour mode: the chain's and the blend's matching)
    shared_with: tuple[str, ...] = ()

    @property
    def preset(self) -> bool:
        return self.name in PRESET_SET

    @property
    def label(self) -> str:
        """The name errors use (the flag's words): `controlnet-scale`."""
        return self.name.replace("_", "-")

    @property
    def cli_flag(self) -> str | None:
        return None if self.flag is None else "--" + (self.flag or self.label)

    @property
    def widget_name(self) -> str | None:
        return None if self.widget is None else (self.widget or self.name)

    def range_text(self) -> str:
        if self.choices:
            return ", ".join(self.choices)
        if self.lo is None:
            return ""
        lo, hi = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
        return f"{lo}{_num(self.lo)}, {_num(self.hi)}{hi}"

    def check(self, value: Any) -> None:
        """Refuse `value` (one line naming the setting and the fix); None passes (unset)."""
        if value is None:
            return
        if self.kind in ("int", "float"):
            check_range(self.label, value, self.lo, self.hi, integer=self.kind == "int", lo_open=self.lo_open)
            if self.hi_open and value >= self.hi:
                raise InputError(self.label, f"{value} is out of range", f"use a value in {self.range_text()}")
        elif self.kind == "choice":
            check_choice(self.label, value, self.choices, self.what)
        elif self.kind == "bool" and not isinstance(value, bool):
            raise InputError(self.label, f"{value!r} is not true or false", "pass a boolean")
        elif self.kind == "text" and not isinstance(value, str):
            raise InputError(self.label, "must be text", "pass a string (may be empty)")


def _num(x: float | None) -> str:
    return "" if x is None else (f"{x:g}" if not float(x).is_integer() or abs(x) < 1e6 else f"{x:.0f}")


P, M, C, MO, PL = "painting", "motion", "camera", "models", "planner"
_pv = defaults.preset_value
_LIST = [
    # painting: AnimationSettings
    Setting("frames", P, "int", "planned beats (one prompt and camera move each; in-betweens and cadence fill add output frames)",
            defaults.FRAMES, 1, 1000, flag=None, widget=None, unit="beats"),
    Setting("steps", P, "int", "denoising steps of frame 1; img2img frames run int(steps x strength) of them", _pv("steps"), 1, 200),
    Setting("strength", P, "float", "how far each frame departs from the previous one (diffusers: 1.0 ignores it)",
            _pv("strength"), 0.0, 1.0, lo_open=True),
    Setting("guidance", P, "float", "classifier-free guidance (CFG) scale", defaults.GUIDANCE, 0.0, 30.0),
    Setting("controlnet_scale", P, "float", "how strongly the depth ControlNet holds the scene's shapes", _pv("controlnet_scale"), 0.0, 2.0),
    Setting("negative_prompt", P, "text", "what no frame should show", defaults.NEGATIVE_PROMPT),
    Setting("width", P, "int", "frame width, a multiple of 8 (SD1.5 is trained at 512)", defaults.SIZE, 64, 2048, unit="px", flag=None),
    Setting("height", P, "int", "frame height, a multiple of 8", defaults.SIZE, 64, 2048, unit="px", flag=None),
    Setting("seed", P, "int", "noise seed (none: a random one, recorded in the file; the planner is seeded with it)", None,
            0, MAX_SEED, shared_with=(PL,)),
    Setting("seed_policy", P, "choice", "fixed: every frame uses the seed (steadiest); incrementing: frame k uses seed + k",
            defaults.SEED_POLICY, choices=SEED_POLICIES, what="policy"),
    Setting("scheduler", P, "choice", "sampler (default: the model's own)", _pv("scheduler"), choices=tuple(SCHEDULERS),
            what="scheduler"),
    Setting("color_coherence", P, "float", "each painted frame's LAB colours pulled toward frame 1 before it seeds the next, "
            "so colour drift does not compound (0 = off)", defaults.COLOR_MATCH, 0.0, 1.0, widget="color_match",
            aliases=("color_match",)),
    Setting("color_mode", P, "choice", "colour matching in LAB: meanstd (mean/std transfer) or histogram", defaults.COLOR_MODE,
            choices=COLOR_MODES, what="mode", shared_with=(M,)),
    Setting("reveal_boost", P, "float", "with a camera: the share of an img2img frame's steps that areas the camera reveals "
            "get on their own, so they are painted fresh (0 = off)", defaults.REVEAL_BOOST, 0.0, 0.9),
    Setting("prompt_travel", P, "bool", "beats flow into each other: each painted frame is conditioned on a slerp path "
            "through the planned prompts around it (off: a time-weighted blend)", False),
    Setting("strength_schedule", P, "schedule", "strength per frame, e.g. 0:(0.5), 12:(0.35) (empty: strength)"),
    Setting("guidance_schedule", P, "schedule", "CFG scale per frame (empty: guidance)"),
    Setting("controlnet_scale_schedule", P, "schedule", "depth ControlNet weight per frame (empty: controlnet_scale)"),
    Setting("seed_schedule", P, "schedule", "seed per frame, rounded (replaces seed_policy where given)"),
    Setting("contrast", P, "amount", "before each img2img step: luminance contrast factor (1 = unchanged; colour coherence "
            "already holds frame 1's contrast)", defaults.CONTRAST, 0.0, 3.0, lo_open=True),
    Setting("sharpen", P, "amount", "before each img2img step: unsharp mask amount, or auto (holds frame 1's sharpness, "
            "measured each step; 0 = off; Deforum uses 0.1)", defaults.SHARPEN, 0.0, 5.0),
    Setting("noise", P, "amount", "before each img2img step: Perlin-shaped grain, std on the 0..1 scale (0 = off)",
            defaults.NOISE, 0.0, 1.0),
    Setting("sharpen_kernel", P, "int", "unsharp mask kernel size (odd)", defaults.SHARPEN_KERNEL, 1, 31, unit="px"),
    Setting("sharpen_sigma", P, "float", "unsharp mask blur sigma", defaults.SHARPEN_SIGMA, 0.1, 10.0, unit="px"),
    Setting("cache_interval", P, "int", "speed: the UNet's deep blocks every n-th step, their features reused in between "
            "(1 = off)", _pv("cache_interval"), 1, 10),
    Setting("controlnet_end", P, "float", "speed: the ControlNet for this first fraction of the steps, then not called "
            "(1 = every step)", _pv("controlnet_end"), 0.0, 1.0, lo_open=True),
    Setting("cfg_end", P, "float", "speed: classifier-free guidance for this first fraction of the steps, then one "
            "conditional batch (1 = every step)", _pv("cfg_end"), 0.0, 1.0, lo_open=True),
    # motion: MotionSettings
    Setting("cadence", M, "int", "paint every n-th frame and fill the rest by optical flow (the frame count is kept)",
            _pv("cadence"), 1, MAX_CADENCE),
    Setting("interpolate", M, "int", "in-between frames after each frame (and on the loop seam)", _pv("interpolate"), 0,
            MAX_INTERPOLATE, unit="frames"),
    Setting("blend", M, "choice", "in-betweens by optical-flow warping with occlusion handling, or a pixel crossfade",
            "flow", choices=BLEND_METHODS),
    Setting("flow", M, "choice", "OpenCV optical flow: dis (better on painted footage) or farneback", "dis",
            choices=FLOW_METHODS),
    Setting("loop", M, "bool", "close the loop: the last frame flows into the first", True, flag="no-loop"),
    Setting("color_match", M, "float", "after painting: every frame's colours pulled toward frame 1 (0 = off; the "
            "`blend` command and the Frame Blender)", 0.0, 0.0, 1.0, flag=None, jobs=False),
    # camera: CameraSettings
    Setting("camera", C, "text", "a named move for the whole animation, over the plan's own moves, e.g. push-in:0.5 "
            "(static holds the camera still)", None, widget=None),
    *[Setting(axis, C, "schedule", meaning + " per frame; replaces the move on this axis", unit=unit) for axis, meaning, unit in (
        ("translation_x", "camera right (content slides left)", "scene units"), ("translation_y", "camera up", "scene units"),
        ("translation_z", "camera forward (content grows)", "scene units"), ("rotation_x", "tilt up", "degrees"),
        ("rotation_y", "pan right", "degrees"), ("rotation_z", "roll clockwise", "degrees"))],
    Setting("fov", C, "float", "horizontal field of view", defaults.CAMERA_FOV, 1.0, 179.0, lo_open=True, hi_open=True, unit="degrees"),
    Setting("near", C, "float", "scene depth of the nearest point", defaults.CAMERA_NEAR, 0.0, 1e6, lo_open=True, unit="scene units"),
    Setting("far", C, "float", "scene depth of the farthest point", defaults.CAMERA_FAR, 0.0, 1e6, lo_open=True, unit="scene units"),
]
_LIST += [
    # models: ModelSettings (the ComfyUI loader lists files instead of taking paths: its widgets are its own)
    Setting("base", MO, "text", "SD1.5 base: hub id, diffusers folder or .safetensors checkpoint", defaults.BASE_MODEL,
            flag="model", widget="ckpt_name", jobs=False),
    Setting("controlnet", MO, "text", "depth ControlNet: hub id, folder or .safetensors file", defaults.CONTROLNET,
            widget="controlnet_name", jobs=False),
    Setting("depth_model", MO, "text", "transformers depth model: hub id or folder", defaults.DEPTH_MODEL, jobs=False),
    Setting("annotators", MO, "text", "where the soft-edge/lineart detectors' weights come from (--control): hub id or a "
            "folder of lllyasviel/Annotators' files", defaults.ANNOTATORS, jobs=False),
    Setting("device", MO, "choice", "where the models run: auto = cuda > mps > cpu (in ComfyUI: its own device)", "auto",
            choices=DEVICES, jobs=False, what="device", shared_with=(PL,)),
    Setting("dtype", MO, "choice", "precision: auto = fp16 on a GPU; on the CPU bf16 where it has bf16 hardware (AMX, "
            "AVX512-BF16), else fp32 (in ComfyUI: the precision ComfyUI picks)", "auto", choices=DTYPE_NAMES, jobs=False,
            what="dtype"),
    Setting("allow_pickle", MO, "bool", "allow .ckpt/.pt/.bin weights, for every model (pickle can run code: only for "
            "files you trust)", False, widget=None, jobs=False, shared_with=(PL,)),
    Setting("base_config", MO, "text", "diffusers config folder for a single-file base that is not standard SD1.5", None,
            flag="model-config", widget=None, jobs=False),
    Setting("controlnet_config", MO, "text", "config folder for a single-file ControlNet that is not standard SD1.5", None,
            widget=None, jobs=False),
    Setting("channels_last", MO, "bool", "NHWC memory layout for every model (default: all on CUDA; on the CPU the VAE, "
            "and the UNet and ControlNet in bf16, where each measured faster)", None, widget=None, jobs=False),
    Setting("compile", MO, "choice", "torch.compile the UNet and ControlNet (GPU; the first frame pays the compile time)",
            "off", choices=COMPILE_MODES, jobs=False, what="mode"),
    Setting("vae_tiling", MO, "bool", "decode in tiles: large sizes in less memory", False, jobs=False),
    Setting("vae_slicing", MO, "bool", "decode batched images one at a time (less peak memory)", False, widget=None,
            jobs=False),
    Setting("tiny_vae", MO, "text", "encode and decode with a tiny autoencoder (TAESD) instead of the model's VAE: fast "
            "drafts, softer detail", None, jobs=False),
    # planner: PlannerSettings
    Setting("backend", PL, "choice", "who writes the frame prompts: offline rules, hf (HF Inference, $HF_TOKEN), openai "
            "(any OpenAI-compatible server, $OPENAI_API_KEY), transformers (a local chat model)", "offline",
            choices=PLAN_BACKENDS, jobs=False, what="plan backend"),
    Setting("model", PL, "text", "chat model id or folder (empty: the backend's default)", None, flag="plan-model", jobs=False),
    Setting("base_url", PL, "text", "server URL for openai (e.g. Ollama http://127.0.0.1:11434/v1) or hf (your endpoint)",
            None, jobs=False),
    Setting("provider", PL, "text", "hf only: the Inference Provider (default auto)", None, widget=None, jobs=False),
    Setting("temperature", PL, "float", "sampling temperature", defaults.TEMPERATURE, 0.0, 2.0, jobs=False),
    Setting("timeout", PL, "float", "seconds per request before the offline plan is used", defaults.PLAN_TIMEOUT, 0.1, 3600.0,
            flag="plan-timeout", widget=None, jobs=False, unit="s"),
    Setting("max_retries", PL, "int", "retries of a failed request", 3, 0, 10, flag=None, widget=None, jobs=False),
    Setting("max_wait", PL, "float", "longest wait between retries", 30.0, 0.0, 3600.0, flag=None, widget=None, jobs=False,
            unit="s"),
    Setting("fallback", PL, "bool", "if the backend cannot run (no key, no package), plan offline with a warning instead "
            "of stopping", False, flag="plan-fallback", jobs=False),
]
SETTINGS: dict[str, Setting] = {s.name: s for s in _LIST}
#: Old names still read (jobs files, plans): old -> current.
ALIASES = {alias: s.name for s in _LIST for alias in s.aliases}


def of(owner: str) -> list[Setting]:
    """The settings a settings dataclass holds (its own, and those it shares)."""
    return [s for s in _LIST if s.owner == owner or owner in s.shared_with]


def check(name: str, value: Any) -> None:
    SETTINGS[name].check(value)


def check_all(obj: Any, owner: str, skip: Iterable[str] = ()) -> None:
    """Check every `owner` setting `obj` (a settings dataclass) holds, in the table's order."""
    skipped = set(skip)
    for s in of(owner):
        if s.name not in skipped and hasattr(obj, s.name) and s.kind not in ("schedule", "amount"):
            s.check(getattr(obj, s.name))


# --- the command line -------------------------------------------------------------------------------------------

def help_text(s: Setting, preset_values: str | None = None) -> str:
    """`--flag` help: the setting's help, its unit, range and default (a preset's values where a preset sets it)."""
    extra = []
    if s.unit:
        extra.append(s.unit)
    if s.kind in ("int", "float") and s.lo is not None:
        extra.append(s.range_text())
    if preset_values:
        extra.append(f"preset: {preset_values}")
    elif s.default is not None and s.kind not in ("text", "bool"):
        extra.append(f"default {s.default:g}" if isinstance(s.default, float) else f"default {s.default}")
    return s.help + (f" ({'; '.join(extra)})" if extra else "")


def add_flag(group: argparse._ArgumentGroup, s: Setting, *, preset_values: str | None = None, **overrides: Any) -> None:
    """Add setting `s` as its flag: typed, ranged in the help, choices listed; a preset-set flag defaults to None (the
    preset fills it); `overrides` go to argparse as they are."""
    kw: dict[str, Any] = {"dest": s.name, "help": help_text(s, preset_values)}
    if s.kind == "int":
        kw.update(type=int, metavar="N")
    elif s.kind == "float":
        kw.update(type=float, metavar="X")
    elif s.kind == "choice":
        kw.update(choices=list(s.choices))
    elif s.kind in ("schedule", "amount"):
        kw.update(metavar="SCHEDULE")
    if s.kind == "bool":
        kw.update(action="store_true", default=None)
    else:
        kw["default"] = None if (s.preset or s.kind in ("schedule", "amount")) else s.default
    extra_names = tuple(overrides.pop("option_strings", ()))  # other spellings a command also takes (`plan --model`)
    kw.update(overrides)
    names = [*extra_names, s.cli_flag] + [f"--{a.replace('_', '-')}" for a in s.aliases]
    group.add_argument(*names, **kw)


# --- jobs files ----------------------------------------------------------------------------------------------------

JOBS_FIELDS = tuple(s.name for s in _LIST if s.jobs)


def as_number(name: str, value: Any, from_csv: bool) -> float:
    """A jobs-file number (a CSV cell arrives as text)."""
    if from_csv and isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(name, f"{value!r} is not a number", f"write e.g. \"{name}\": 0.5")
    return float(value)


def coerce(name: str, value: Any, from_csv: bool) -> Any:
    """A jobs-file value of setting `name` as its kind (CSV cells arrive as text); a wrong kind is one clear line."""
    from .per_frame import number_or_schedule

    kind = SETTINGS[name].kind
    if kind == "int":
        if from_csv and isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(name, f"{value!r} is not an integer", f"write e.g. \"{name}\": 8")
    elif kind == "float":
        return as_number(name, value, from_csv)
    elif kind in ("text", "choice") and not isinstance(value, str):
        raise InputError(name, f"{value!r} is not text", f"write \"{name}\" as a string")
    elif kind in ("schedule", "amount"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InputError(name, f"{value!r} is not a schedule", f'write "{name}": 0.05 or "0:(0), 12:(0.1)"')
        return number_or_schedule(value) if SETTINGS[name].owner == P else value
    elif kind == "bool":
        return as_bool(name, value, from_csv)
    return value


def as_bool(name: str, value: Any, from_csv: bool) -> bool:
    """A jobs-file true/false (a CSV cell arrives as text)."""
    if from_csv and isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if not isinstance(value, bool):
        raise InputError(name, f"{value!r} is not true or false", f'write "{name}": true')
    return value


# --- the reference page ----------------------------------------------------------------------------------------------

def markdown_table() -> str:
    """docs/settings.md's tables: every setting, where it is set, its default, range and meaning."""
    out = []
    for owner, title in ((P, "Painting"), (M, "Motion"), (C, "Camera"), (MO, "Models"), (PL, "Planning")):
        out += [f"### {title}", "", "| setting | command line | ComfyUI widget | default | range / choices | meaning |",
                "|---|---|---|---|---|---|"]
        for s in of(owner):
            default = f"preset (else `{s.default}`)" if s.preset and s.name == "guidance" else "preset" if s.preset else \
                ("" if s.default is None else f"`{s.default}`")
            if s.kind == "text" and s.default:
                default = "see `--help`"
            cli = f"`{s.cli_flag}`" if s.cli_flag else ("`--size`" if s.name in ("width", "height") else
                                                         "`--frames`" if s.name == "frames" else
                                                         "(blend)" if s.owner == M else "(Python)")
            widget = f"`{s.widget_name}`" if s.widget_name else ""
            unit = f" {s.unit}" if s.unit else ""
            out.append(f"| `{s.name}` | {cli} | {widget} | {default} | {s.range_text()}{unit} | {s.help.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)
