"""What the `ghibli-anim` commands share: the program name, warnings, and the argument groups defined once
(argparse `parents=`) with the functions that turn them into engine settings."""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

T = TypeVar("T")

from .. import defaults, registry
from ..errors import InputError, every_problem
from ..models.edges import EdgeControl
from ..models.lora import LoraSpec
from ..models.pipelines import ModelSettings
from ..plan.llm import PlannerSettings
from ..presets import DEFAULT_PRESET, PRESETS

PROG = "ghibli-anim"


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def preset_values(field: str) -> str:
    """`quality 25, balanced 16, fast 10`: what each preset sets `field` to, for help texts."""
    return ", ".join(f"{p.name} {getattr(p, field)}" for p in PRESETS.values() if getattr(p, field) is not None) + \
        ("; the others the default" if any(getattr(p, field) is None for p in PRESETS.values()) else "")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors for a bad value (its usage stays for --help and for an unknown flag): a value that
    starts with '-' (a negative number, a schedule such as -3:(1)) gets the --flag=VALUE hint."""

    def error(self, message: str):  # type: ignore[override]
        if message.startswith(("unrecognized arguments", "the following arguments are required")):
            super().error(message)
        hint = ""
        flag = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if flag:
            name = flag.group(1)
            hint = f"; a value that starts with '-' needs {name}=VALUE (e.g. {name}=-3:(1))"
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def _parent() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(add_help=False)


# --- planning ---------------------------------------------------------------------------------------------------

def planner_flags(*, main: bool) -> argparse.ArgumentParser:
    """The planner flags, from the settings table: the main command and `batch` (where the chat model is --plan-model,
    and a plan file may be given) and `plan` (where --model also names the chat model)."""
    p = _parent()
    S = registry.SETTINGS
    g = p.add_argument_group("planning (LLM backends; keys only from the environment)")
    registry.add_flag(g, S["backend"])
    registry.add_flag(g, S["model"], dest="plan_model", metavar="MODEL",
                      help="chat model id or folder (defaults: " + ", ".join(f"{k} {v}" for k, v in defaults.PLAN_MODELS.items()) + ")",
                      **({} if main else {"option_strings": ("--model",)}))
    registry.add_flag(g, S["base_url"], metavar="URL")
    registry.add_flag(g, S["provider"], metavar="NAME")
    registry.add_flag(g, S["temperature"])
    registry.add_flag(g, S["timeout"], dest="plan_timeout")
    registry.add_flag(g, S["fallback"], dest="plan_fallback", default=False)
    if main:
        g.add_argument("--plan-file", help="use this plan (JSON from `plan --json -o`, or one prompt per line) instead of planning")
    return p


def planner_settings(args: argparse.Namespace, seed: int | None) -> PlannerSettings:
    return PlannerSettings(
        backend=args.backend, model=args.plan_model, base_url=args.base_url, provider=args.provider,
        temperature=args.temperature, timeout=args.plan_timeout, fallback=args.plan_fallback, seed=seed,
        allow_pickle=getattr(args, "allow_pickle", False),
    )


# --- every problem at once ------------------------------------------------------------------------------------------

#: Inputs the engine names otherwise than the flag that sets them.
FLAG_OF = {"width": "size", "height": "size"}
#: Inputs whose problem decides what the others mean (no plan, no prompt, no clip): the checks stop at them.
NOT_INDEPENDENT = ("plan-file", "prompt", "frames", "clip", "idea")


def every_bad_flag(build: Callable[[argparse.Namespace], T], args: argparse.Namespace, parser: argparse.ArgumentParser) -> T:
    """`build(args)`, with every independent bad flag reported at once (one line each, exit 2): after each problem its
    flag is set back to its default and the checks run again."""
    def leave_out(values: argparse.Namespace, input_name: str) -> argparse.Namespace | None:
        dest = FLAG_OF.get(input_name, input_name.replace("-", "_"))
        if input_name in NOT_INDEPENDENT or not hasattr(values, dest) or getattr(values, dest) == parser.get_default(dest):
            return None  # not a flag, or already its default: the problem is not this flag's alone
        return argparse.Namespace(**{**vars(values), dest: parser.get_default(dest)})

    return every_problem(build, args, leave_out)


# --- models -----------------------------------------------------------------------------------------------------

def model_flags(*, lora: bool = True) -> argparse.ArgumentParser:
    """The model flags (the main command; `batch` without --lora, which it takes as a row default), from the settings
    table; a model flag left out means the table's default model."""
    p = _parent()
    g = p.add_argument_group("models")
    S = registry.SETTINGS
    for name in ("base", "controlnet", "depth_model"):
        registry.add_flag(g, S[name], dest=name if name != "base" else "model", default=None, metavar="MODEL",
                          help=f"{S[name].help} (default {S[name].default})")
    if lora:
        g.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]",
                       help="style LoRA (diffusers or kohya .safetensors); repeat for several")
    g.add_argument("--control", action="append", default=[], metavar="KIND[:SCALE][@MODEL]",
                   help="an edge ControlNet beside depth, fed the frame's edges: canny, softedge, lineart or lineart_anime "
                        f"(scale default {defaults.EDGE_SCALE}; model default: ControlNet v1.1's of that kind); repeat for several")
    registry.add_flag(g, S["annotators"], default=None, metavar="HUB_ID|FOLDER")
    g.add_argument("--speed-lora", metavar="FILE|HUB_ID[:WEIGHT]",
                   help="a few-step LoRA beside the style LoRAs (LCM-LoRA latent-consistency/lcm-lora-sdv1-5, TCD h1t/TCD-SD15, "
                        "Hyper-SD ByteDance/Hyper-SD/Hyper-SD15-4steps-lora.safetensors, or a file), for the lcm/tcd "
                        f"schedulers; --preset turbo uses {defaults.PRESET_MODELS['turbo']['speed_lora']} unless one is "
                        "named, or none (--tiny: the tiny one)")
    registry.add_flag(g, S["base_config"], dest="model_config", metavar="FOLDER")
    registry.add_flag(g, S["controlnet_config"], metavar="FOLDER")
    registry.add_flag(g, S["allow_pickle"], default=False)
    g.add_argument("--tiny", action="store_true", help="use tiny random-weight models (offline demo/tests; built on first use)")
    g.add_argument("--tiny-dir", help="where --tiny keeps its models (default $GHIBLI_TINY_DIR or ~/.cache/ghibli-anim)")
    for name in ("device", "dtype", "compile"):
        registry.add_flag(g, S[name])
    registry.add_flag(g, S["channels_last"], action=argparse.BooleanOptionalAction)
    registry.add_flag(g, S["vae_tiling"], default=False)
    registry.add_flag(g, S["vae_slicing"], default=False)
    registry.add_flag(g, S["tiny_vae"], metavar="TAESD",
                      help=S["tiny_vae"].help + " (madebyollin/taesd, its folder, or ComfyUI's "
                                                 "models/vae_approx/taesd_decoder.safetensors; --preset turbo uses "
                                                 f"{defaults.PRESET_MODELS['turbo']['tiny_vae']} unless one is named, or none)")
    return p


def _named(value: str | None) -> bool:
    """A model flag that names a model (not left out, not `none`)."""
    return bool(value) and value.strip().lower() != "none"


def check_tiny_alone(args: argparse.Namespace) -> None:
    """--tiny brings its own models: refuse it together with --model, --controlnet or --depth-model."""
    clash = [f"--{n.replace('_', '-')}" for n in ("model", "controlnet", "depth_model", "annotators", "speed_lora")
             if _named(getattr(args, n, None))]
    clash += [f"--control {c}" for c in getattr(args, "control", ()) if "@" in c]
    if clash:
        raise InputError("tiny", f"cannot be combined with {', '.join(clash)}", "drop --tiny to use your own models")


def tiny_models(args: argparse.Namespace):
    """The tiny model set --tiny asks for (built on first use), after refusing it beside explicit models."""
    from ..tiny import ensure_tiny

    check_tiny_alone(args)
    return ensure_tiny(Path(args.tiny_dir) if args.tiny_dir else None)


def preset_models(args: argparse.Namespace, preset: str | None) -> dict[str, Any]:
    """The models `preset` paints with (defaults.PRESET_MODELS: turbo's speed LoRA and TAESD) that the flags leave to
    it: a flag that names a model, or `none`, wins. With --tiny, the tiny set's counterparts."""
    wanted = {k: v for k, v in (PRESETS[preset].models if preset in PRESETS else {}).items() if getattr(args, k, None) is None}
    if args.tiny and wanted:
        tiny = tiny_models(args)
        wanted = {k: str(tiny.speed_lora if k == "speed_lora" else tiny.tiny_vae_dir) for k in wanted}
    return {k: LoraSpec.parse(v) if k == "speed_lora" else v for k, v in wanted.items()}


def model_settings(args: argparse.Namespace, loras: tuple[LoraSpec, ...] = (), *,
                   preset: str | None | bool = True) -> ModelSettings:
    """The parsed model flags as ModelSettings: the tiny set with --tiny, else the given models or the defaults; with
    the models the preset (`--preset`, or the one named; False: none) paints with where no flag names them."""
    preset = getattr(args, "preset", None) if preset is True else (preset or None)
    chosen = preset_models(args, preset)
    tiny_vae = args.tiny_vae if _named(args.tiny_vae) else chosen.get("tiny_vae")
    speed = LoraSpec.parse(args.speed_lora) if _named(getattr(args, "speed_lora", None)) else chosen.get("speed_lora")
    common = dict(loras=loras, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle, compile=args.compile,
                  channels_last=args.channels_last, vae_tiling=args.vae_tiling, vae_slicing=args.vae_slicing,
                  tiny_vae=tiny_vae)
    edges = tuple(EdgeControl.parse(c) for c in getattr(args, "control", ()))
    if args.tiny:
        return tiny_models(args).model_settings(edges=edges, speed_lora=speed, **common)
    return ModelSettings(base=args.model or defaults.BASE_MODEL, controlnet=args.controlnet or defaults.CONTROLNET,
                         edges=edges, annotators=args.annotators or defaults.ANNOTATORS, speed_lora=speed,
                         depth_model=args.depth_model or defaults.DEPTH_MODEL, base_config=args.model_config,
                         controlnet_config=args.controlnet_config, **common)


# --- painting and motion -----------------------------------------------------------------------------------------

def painting_flags() -> argparse.ArgumentParser:
    """How frames are painted; --preset sets several of them, and a flag given explicitly wins. Every flag here is made
    from the settings table (registry.py): its type, range, default and help are defined once."""
    p = _parent()
    a = p.add_argument_group("painting (--preset sets steps, strength, scheduler, controlnet-scale, cadence, interpolate and "
                             "the step reuse below; a flag given explicitly wins)")
    a.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                   help="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()) + f" (default {DEFAULT_PRESET})")
    a.add_argument("--init-image", help="start from this image (img2img under its depth map) instead of txt2img")
    w, h = defaults.size()
    tw, th = defaults.size(tiny=True)
    a.add_argument("--size", default=None, help=f"WIDTHxHEIGHT, multiples of 8 (default {w}x{h}; {tw}x{th} with --tiny)")
    groups = {
        "reuse": p.add_argument_group("speed: work reused across denoising steps (--preset sets these too; 1 = off)"),
        "schedules": p.add_argument_group(
            "per-frame schedules and long chains (a number, or keyframes like '0:(0.5), 12:(0.35)' with expressions in t "
            "and max_f; before each img2img step: colour coherence, then contrast, sharpen, noise)"),
    }
    for s in registry.of("painting"):
        if s.cli_flag is None or s.owner != "painting":
            continue
        group = groups["reuse"] if s.name in ("cache_interval", "controlnet_end", "cfg_end") else \
            groups["schedules"] if s.kind in ("schedule", "amount") or s.name.startswith("sharpen_") else a
        registry.add_flag(group, s, preset_values=preset_values(s.name) if s.preset else None,
                          **({"metavar": "AMOUNT|auto|SCHEDULE"} if s.name == "sharpen" else {}))
    return p


#: The painting settings the command line sets (the rest: --size, --frames, and the preset).
PAINT_FLAGS = tuple(s.name for s in registry.of("painting") if s.cli_flag is not None and s.owner == "painting")


def painting_values(args: argparse.Namespace) -> dict:
    """The painting flags as AnimationSettings values (None where not given: the preset's or the default is used);
    schedules and amounts read as numbers where they are numbers."""
    from ..per_frame import number_or_schedule

    return {name: number_or_schedule(getattr(args, name)) if registry.SETTINGS[name].kind in ("schedule", "amount")
            else getattr(args, name) for name in PAINT_FLAGS}


def motion_flags(*, generate: bool) -> argparse.ArgumentParser:
    """Interpolation flags: the main command (preset-driven, loop on) and `blend` (plain frames: nothing added unless
    asked, loop off unless --loop, an after-the-fact colour match)."""
    p = _parent()
    g = p.add_argument_group("motion")
    m = registry.SETTINGS
    if generate:
        registry.add_flag(g, m["interpolate"], preset_values=preset_values("interpolate"))
        registry.add_flag(g, m["cadence"], preset_values=preset_values("cadence"))
    else:
        registry.add_flag(g, m["interpolate"], default=0, help="in-between frames after each frame (default 0)")
    registry.add_flag(g, m["blend"])
    registry.add_flag(g, m["flow"])
    if generate:
        g.add_argument("--no-loop", dest="loop", action="store_false", help="do not close the loop (the last frame does not flow into the first)")
    else:
        g.add_argument("--color-match", type=float, nargs="?", const=1.0, default=0.0, metavar="S",
                       help="match every frame's colours to the first, strength 0..1 (1 if given alone; default off)")
        g.add_argument("--color-mode", default=m["color_mode"].default, choices=list(m["color_mode"].choices),
                       help=registry.help_text(m["color_mode"]))
        g.add_argument("--loop", action="store_true", help="close the loop: in-betweens from the last frame back to the first")
    return p


# --- sound ----------------------------------------------------------------------------------------------------------

def sound_flags() -> argparse.ArgumentParser:
    """A soundtrack from a file (the main command, move, blend, video)."""
    from ..sound import FIT_MODES

    p = _parent()
    g = p.add_argument_group("sound (MP4 and WebM carry it; GIF/WebP/PNG with --audio-sidecar)")
    g.add_argument("--audio", metavar="FILE", help="a soundtrack: any file with sound (WAV, FLAC, MP3, OGG/Opus, M4A, a video's sound)")
    g.add_argument("--audio-fit", default="loop", choices=FIT_MODES,
                   help="loop: repeated or cut with an equal-power crossfade at the loop point (default); trim; stretch "
                        "within 10 %% to keep the beat")
    g.add_argument("--audio-start", type=float, default=0.0, metavar="SEC", help="start this far into the file (default 0)")
    g.add_argument("--audio-gain", type=float, default=0.0, metavar="DB", help="louder or softer, in dB (default 0)")
    g.add_argument("--audio-sidecar", action="store_true",
                   help="for GIF/WebP/PNG: write the sound beside the file as NAME.m4a, the same length")
    return p


def sound_settings(args: argparse.Namespace):
    """The sound flags as SoundSettings (None without --audio); the sound flags without --audio are refused."""
    from ..sound import SoundSettings

    if not args.audio:
        if getattr(args, "music", None) is not None:  # gain and sidecar apply to --music's track
            return None
        given = [f for f, v in (("--audio-start", args.audio_start), ("--audio-gain", args.audio_gain)) if v] + \
                (["--audio-sidecar"] if args.audio_sidecar else [])
        if given:
            raise InputError("audio", f"{given[0]} was given without a sound", "add --audio FILE")
        return None
    return SoundSettings(args.audio, args.audio_fit, args.audio_start, args.audio_gain, args.audio_sidecar)


def music_flags() -> argparse.ArgumentParser:
    """Music written from the idea (the main command)."""
    p = _parent()
    g = p.add_argument_group("music (a text-to-music model writes a track for the animation, looped without a click; "
                             f"the default {defaults.MUSIC_MODEL}'s weights are licensed CC-BY-NC 4.0, non-commercial)")
    g.add_argument("--music", nargs="?", const="", default=None, metavar="PROMPT",
                   help="write music for the animation: from PROMPT, or without one from the plan's music prompt (put the "
                        "idea before --music, or write --music=PROMPT); --audio-gain and --audio-sidecar apply to it")
    g.add_argument("--music-model", default=None, metavar="MODEL",
                   help=f"a MusicGen model: hub id or folder (default {defaults.MUSIC_MODEL}; --tiny: the tiny one)")
    g.add_argument("--music-seed", type=int, default=None, help="the music's seed (default the animation's)")
    g.add_argument("--music-guidance", type=float, default=defaults.MUSIC_GUIDANCE,
                   help=f"how closely the music follows its prompt (default {defaults.MUSIC_GUIDANCE:g})")
    return p


def music_settings(args: argparse.Namespace):
    """The music flags as MusicSettings (None without --music; its other flags alone are refused)."""
    from ..music import MusicSettings

    if args.music is None:
        given = [f for f, v in (("--music-model", args.music_model), ("--music-seed", args.music_seed is not None),
                                ("--music-guidance", args.music_guidance != defaults.MUSIC_GUIDANCE)) if v]
        if given:
            raise InputError("music", f"{given[0]} was given without --music", "add --music (or --music=PROMPT)")
        return None
    if args.audio:
        raise InputError("music", "and --audio were both given", "give one soundtrack: a file (--audio) or music (--music)")
    model = args.music_model or (str(tiny_models(args).music_dir) if args.tiny else defaults.MUSIC_MODEL)
    return MusicSettings(prompt=args.music or None, model=model, seed=args.music_seed, guidance=args.music_guidance,
                         gain_db=args.audio_gain, sidecar=args.audio_sidecar, device=args.device, allow_pickle=args.allow_pickle)


# --- camera ---------------------------------------------------------------------------------------------------------

def camera_flags() -> argparse.ArgumentParser:
    """The camera: a named move and/or per-axis increment schedules, the lens and the depth range."""
    from ..camera import MOVES
    from ..camera.path import DEFAULT_FAR, DEFAULT_FOV, DEFAULT_NEAR

    p = _parent()
    g = p.add_argument_group(
        "camera (3D moves through the scene's depth; schedules are a number per frame or keyframes like "
        "'0:(0), 12:(0.05)' with expressions in t and max_f; a value starting with '-' needs --flag=VALUE)")
    g.add_argument("--camera", metavar="MOVE[:STRENGTH]",
                   help=f"a named move for the whole animation, over the plan's own moves: {', '.join(MOVES)} (strength 0..4, "
                        "default 1); `static` holds the camera still (default: each planned beat's move)")
    for axis, meaning in (("translation-x", "camera right, scene units per frame (content slides left)"),
                          ("translation-y", "camera up (content slides down)"),
                          ("translation-z", "camera forward (content grows)"),
                          ("rotation-x", "tilt up, degrees per frame (content slides down)"),
                          ("rotation-y", "pan right, degrees per frame (content slides left)"),
                          ("rotation-z", "roll clockwise, degrees per frame (content turns counter-clockwise)")):
        g.add_argument(f"--{axis}", metavar="SCHEDULE", help=meaning + "; replaces the move on this axis")
    g.add_argument("--fov", type=float, default=DEFAULT_FOV, help=f"horizontal field of view in degrees (default {DEFAULT_FOV:g})")
    g.add_argument("--near", type=float, default=DEFAULT_NEAR, help=f"scene depth of the nearest point (default {DEFAULT_NEAR:g})")
    g.add_argument("--far", type=float, default=DEFAULT_FAR, help=f"scene depth of the farthest point (default {DEFAULT_FAR:g})")
    return p


def camera_values(args: argparse.Namespace) -> dict:
    """The camera flags given, by CameraSettings field ({} when none differs from its default). `move` is None when
    no --camera was given: the plan's moves then direct the camera, with this lens."""
    from ..camera import AXES
    from ..camera.path import DEFAULT_FAR, DEFAULT_FOV, DEFAULT_NEAR

    axes = {axis: getattr(args, axis) for axis in AXES if getattr(args, axis) is not None}
    lens = {"fov": args.fov, "near": args.near, "far": args.far}
    if args.camera is None and not axes and lens == {"fov": DEFAULT_FOV, "near": DEFAULT_NEAR, "far": DEFAULT_FAR}:
        return {}
    return {"move": args.camera, **axes, **lens}


def camera_settings(args: argparse.Namespace, *, audio_features=None):
    """The camera flags as CameraSettings: None when no flag was given: the plan directs then. With a soundtrack's
    `audio_features`, its schedules may follow the sound."""
    from ..camera import CameraSettings

    values = camera_values(args)
    return CameraSettings(**values, audio_features=audio_features) if values else None


def metrics_flag(group: Any, what: str = "") -> None:
    """`--metrics` (print the full quality table) and `--metrics full` (also measure the frames themselves, not a copy
    scaled to defaults.METRICS_SIDE)."""
    group.add_argument("--metrics", nargs="?", const="table", choices=("table", "full"), default=None, metavar="full",
                       help=f"print the full quality table{what}; `--metrics full` also measures the frames at their own "
                            f"size (default: on a copy of long side {defaults.METRICS_SIDE} px, which is much faster)")


def print_metrics(metrics: dict, full: bool | str | None) -> None:
    from ..metrics import summary_line, table

    print("quality:\n" + table(metrics) if full else f"quality: {summary_line(metrics)}")
