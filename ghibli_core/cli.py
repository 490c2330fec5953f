"""`ghibli-anim`: one sentence to a looping Ghibli-style animation.

    ghibli-anim "a serene forest at dawn" --frames 8 -o forest.gif
    ghibli-anim make-tiny DIR
    ghibli-anim plan "a serene forest at dawn" --frames 8 [--json]
    ghibli-anim train-lora --data my_images/ --out style.safetensors
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Sequence

from . import __version__, defaults
from .animate import SCHEDULERS, SEED_POLICIES, AnimationSettings, parse_size
from .presets import DEFAULT_PRESET, PRESETS, get_preset
from .render import default_fps
from .device import DEVICES, DTYPES, peak_memory_mb
from .errors import Cancelled, GhibliError, InputError
from .export import FORMATS, check_fps, check_frames_dir, check_output_path
from .blend import BLEND_METHODS, COLOR_MODES, FLOW_METHODS, MotionSettings
from .models.speed import COMPILE_MODES
from .plan.llm import BACKEND_NAMES, PlannerSettings

PROG = "ghibli-anim"
SUBCOMMANDS = ("plan", "blend", "make-tiny", "comfy", "train-lora", "batch")

EXAMPLES = f"""
examples:
  {PROG} "a serene forest at dawn, sunlight through swaying trees" --frames 8 -o forest.gif
  {PROG} "a cat bus in the rain" --model ~/ComfyUI/models/checkpoints/v1-5-pruned-emaonly.safetensors \\
      --lora ~/ComfyUI/models/loras/ghibli_style.safetensors:0.8 --seed 42 -o catbus.gif
  {PROG} --tiny "a ghibli forest" --frames 4 -o x.gif        # offline, tiny random models (no download)
  {PROG} "a windy hill" --preset fast --frames 16 -o hill.gif   # 32-frame loop, every 4th frame painted
  {PROG} "a windy hill" --frames 8 --interpolate 3 --metrics -o hill.webp   # flow in-betweens, quality table
  {PROG} blend frames/ --interpolate 3 --loop -o smooth.mp4    # smooth frames made anywhere
  {PROG} plan "a ghibli forest" --frames 6 --json -o plan.json   # edit it, then:
  {PROG} --plan-file plan.json -o forest.gif
  {PROG} comfy --server http://127.0.0.1:8188 "a cat bus in the rain" --frames 6 -o catbus.gif   # on a running ComfyUI
  {PROG} "a cat bus" --backend openai --base-url http://127.0.0.1:11434/v1 --plan-model llama3.2 -o catbus.gif  # Ollama
  {PROG} batch jobs.jsonl --out-dir renders/ [--ray]    # many animations, models loaded once (see batch --help)
  {PROG} train-lora --data my_ghibli_set/ --out ghibli_style.safetensors   # your own style LoRA (see train-lora --help)
  {PROG} make-tiny ./tiny-models

models (hub id, local diffusers folder, or single .safetensors file):
  --model        default {defaults.BASE_MODEL}
  --controlnet   default {defaults.CONTROLNET}
  --depth-model  default {defaults.DEPTH_MODEL}
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG, description="Turn one sentence into a hand-painted, Studio-Ghibli-style looping animation.",
        epilog=EXAMPLES + f"\nother commands: {', '.join(SUBCOMMANDS)} (see `{PROG} COMMAND --help`)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("prompt", nargs="?", help="the idea, e.g. 'a serene forest at dawn' (optional with --plan-file)")
    p.add_argument("-o", "--output", required=True, help=f"output file ({', '.join(FORMATS)})")
    p.add_argument("--frames", type=int, default=None, help="number of frames (default 8, or the plan file's count)")
    _add_plan_args(p, main=True)
    g = p.add_argument_group("models")
    g.add_argument("--model", help=f"SD1.5 base: hub id, diffusers folder or .safetensors (default {defaults.BASE_MODEL})")
    g.add_argument("--controlnet", help=f"depth ControlNet: hub id, folder or file (default {defaults.CONTROLNET})")
    g.add_argument("--depth-model", help=f"transformers depth model: hub id or folder (default {defaults.DEPTH_MODEL})")
    g.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]", help="style LoRA (diffusers or kohya .safetensors); repeat for several")
    g.add_argument("--model-config", help="diffusers config folder for a single-file --model that is not standard SD1.5")
    g.add_argument("--controlnet-config", help="config folder for a single-file --controlnet that is not standard SD1.5")
    g.add_argument("--allow-pickle", action="store_true", help="allow .ckpt/.pt/.bin files (pickle can run code: only for files you trust)")
    g.add_argument("--tiny", action="store_true", help="use tiny random-weight models (offline demo/tests; built on first use)")
    g.add_argument("--tiny-dir", help="where --tiny keeps its models (default $GHIBLI_TINY_DIR or ~/.cache/ghibli-anim)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="auto = cuda > mps > cpu")
    g.add_argument("--dtype", default="auto", choices=list(DTYPES), help="auto = fp16 on GPU, fp32 on CPU")
    g.add_argument("--compile", default="off", choices=COMPILE_MODES,
                   help="torch.compile the UNet and ControlNet (GPU; the first frame pays the compile time; default off)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout (default: on for CUDA, off on the CPU where it is slower)")
    g.add_argument("--vae-tiling", action="store_true", help="decode in tiles: large sizes in less memory")
    g.add_argument("--vae-slicing", action="store_true", help="decode batched images one at a time (less peak memory)")
    a = p.add_argument_group("painting (--preset sets steps, strength, scheduler, controlnet-scale, cadence and interpolate; "
                             "a flag given explicitly wins)")
    d = AnimationSettings()
    a.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS),
                   help="; ".join(f"{p.name}: {p.description}" for p in PRESETS.values()) + f" (default {DEFAULT_PRESET})")
    a.add_argument("--init-image", help="start from this image (img2img under its depth map) instead of txt2img")
    a.add_argument("--steps", type=int, help="denoising steps (preset: " + _preset_values("steps") + "; img2img frames run steps x strength)")
    a.add_argument("--strength", type=float, help="how far each frame departs from the previous, 0..1 (preset: " + _preset_values("strength") + ")")
    a.add_argument("--guidance", type=float, default=d.guidance, help=f"classifier-free guidance scale (default {d.guidance})")
    a.add_argument("--controlnet-scale", type=float, help="depth ControlNet weight (preset: " + _preset_values("controlnet_scale") + ")")
    a.add_argument("--negative-prompt", default=d.negative_prompt, help="what to steer away from")
    a.add_argument("--size", default=None, help="WIDTHxHEIGHT, multiples of 8 (default 512x512; 64x64 with --tiny)")
    a.add_argument("--seed", type=int, default=None, help="random seed (default: random, printed and stored in the file)")
    a.add_argument("--seed-policy", default=d.seed_policy, choices=SEED_POLICIES, help="fixed: same seed every frame; incrementing: seed + frame index")
    a.add_argument("--scheduler", choices=list(SCHEDULERS), help="sampler (preset: " + _preset_values("scheduler") + ")")
    _add_motion_args(p, generate=True)
    o = p.add_argument_group("output")
    o.add_argument("--fps", type=float, default=None, help="frames per second (default 8 x (interpolate + 1), at most 50)")
    o.add_argument("--metrics", action="store_true", help="print the full quality table (a one-line summary is always printed)")
    o.add_argument("--dither", action="store_true", help="GIF only: Floyd-Steinberg dithering against the shared palette")
    o.add_argument("--frames-dir", help="also write every frame as a numbered PNG into this folder")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def _preset_values(field: str) -> str:
    return ", ".join(f"{p.name} {getattr(p, field)}" for p in PRESETS.values())


def _add_motion_args(p: argparse.ArgumentParser, *, generate: bool) -> None:
    """Interpolation flags, shared by the main command and `blend`."""
    d = MotionSettings()
    g = p.add_argument_group("motion")
    if generate:
        g.add_argument("--interpolate", type=int, metavar="K", help="in-between frames after each frame (preset: " + _preset_values("interpolate") + ")")
    else:
        g.add_argument("--interpolate", type=int, default=0, metavar="K", help="in-between frames after each frame (default 0)")
    g.add_argument("--blend", default=d.blend, choices=BLEND_METHODS,
                   help="in-betweens by optical-flow warping with occlusion handling (default) or a pixel crossfade")
    g.add_argument("--flow", default=d.flow, choices=FLOW_METHODS, help="OpenCV flow: dis (default, better on painted footage) or farneback")
    g.add_argument("--color-mode", default=d.color_mode, choices=COLOR_MODES, help="colour matching in LAB by mean/std (default) or histogram")
    if generate:
        a = AnimationSettings()
        g.add_argument("--cadence", type=int, metavar="C",
                       help="paint every C-th frame, fill the rest by --blend (the frame count is kept; preset: " + _preset_values("cadence") + ")")
        g.add_argument("--color-match", type=float, default=a.color_match, metavar="S",
                       help=f"pull each frame's colours toward frame 1 before it seeds the next, 0..1 (default {a.color_match}; 0 = off)")
        g.add_argument("--no-loop", dest="loop", action="store_false", help="do not close the loop (the last frame does not flow into the first)")
    else:
        g.add_argument("--color-match", type=float, nargs="?", const=1.0, default=0.0, metavar="S",
                       help="match every frame's colours to the first, strength 0..1 (1 if given alone; default off)")
        g.add_argument("--loop", action="store_true", help="close the loop: in-betweens from the last frame back to the first")


def _add_plan_args(p: argparse.ArgumentParser, *, main: bool) -> None:
    """The planner flags, shared by the main command and `plan` (where --model also names the chat model)."""
    g = p.add_argument_group("planning (LLM backends; keys only from the environment)")
    g.add_argument("--backend", default="offline", choices=BACKEND_NAMES,
                   help="who writes the frame prompts: offline rules (default), hf (HF Inference, $HF_TOKEN), "
                        "openai (any OpenAI-compatible server, $OPENAI_API_KEY), transformers (a local chat model)")
    names = ["--plan-model"] if main else ["--model", "--plan-model"]
    g.add_argument(*names, dest="plan_model", metavar="MODEL",
                   help="chat model id or folder (defaults: " + ", ".join(f"{k} {v}" for k, v in defaults.PLAN_MODELS.items()) + ")")
    g.add_argument("--base-url", help="server URL for openai (e.g. Ollama http://127.0.0.1:11434/v1) or hf (your endpoint)")
    g.add_argument("--provider", help="hf only: Inference Provider (default auto)")
    g.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7)")
    g.add_argument("--plan-timeout", type=float, default=60.0, help="seconds per request before the offline plan is used (default 60)")
    g.add_argument("--plan-fallback", action="store_true",
                   help="if the backend cannot run (no key, no package), plan offline with a warning instead of stopping")
    if main:
        g.add_argument("--plan-file", help="use this plan (JSON from `plan --json -o`, or one prompt per line) instead of planning")


def planner_settings(args: argparse.Namespace, seed: int | None) -> PlannerSettings:
    return PlannerSettings(
        backend=args.backend, model=args.plan_model, base_url=args.base_url, provider=args.provider,
        temperature=args.temperature, timeout=args.plan_timeout, fallback=args.plan_fallback, seed=seed,
    )


def _plan_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} plan", description="Print the frame prompts planned for an idea.",
        epilog=f"example:\n  {PROG} plan \"a ghibli forest with flickering sunlight\" --frames 7 --json -o plan.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("idea")
    p.add_argument("--frames", type=int, default=8, help="number of frames (default 8)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed, where the backend honours one")
    p.add_argument("--json", action="store_true", help="print a JSON object with a `frames` list")
    p.add_argument("-o", "--output", help="also write the plan as JSON here (for --plan-file)")
    _add_plan_args(p, main=False)
    return p


def check_tiny_alone(args: argparse.Namespace) -> None:
    """--tiny brings its own models: refuse it together with --model, --controlnet or --depth-model."""
    clash = [f"--{n.replace('_', '-')}" for n in ("model", "controlnet", "depth_model") if getattr(args, n)]
    if clash:
        raise InputError("tiny", f"cannot be combined with {', '.join(clash)}", "drop --tiny to use your own models")


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


def _tiny_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"{PROG} make-tiny", description="Write tiny random-weight SD1.5-shaped models in every real format.")
    p.add_argument("dir", help="folder to write (replaced if it exists)")
    p.add_argument("--seed", type=int, default=0)
    return p


def check_init_image(path: str):
    """Open the init image fully now, so a bad file fails before any model loads."""
    from PIL import Image, UnidentifiedImageError

    file = Path(path).expanduser()
    if not file.is_file():
        raise InputError("init-image", f"no file at {file.resolve()}", "check the path")
    try:
        with Image.open(file) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError("init-image", f"{file.name} is not a readable image ({exc.__class__.__name__})", "give a PNG, JPEG or WebP file") from exc


def run_generate(args: argparse.Namespace) -> int:
    from .models.lora import LoraSpec
    from .models.pipelines import ModelSettings
    from .plan import load_plan_file, make_planner

    # 1. Every cheap check first: nothing loads until all inputs are known good.
    file_plan = load_plan_file(args.plan_file) if args.plan_file else None
    if file_plan is None and (not args.prompt or not args.prompt.strip()):
        raise InputError("prompt", "is empty", 'give an idea, e.g. "a serene forest at dawn", or --plan-file')
    if file_plan is not None:
        if args.frames is not None and args.frames != len(file_plan):
            raise InputError("frames", f"--frames {args.frames} but the plan file holds {len(file_plan)} frames",
                             "drop --frames (the plan's count is used) or edit the plan")
        args.frames = len(file_plan)
    elif args.frames is None:
        args.frames = 8
    width, height = parse_size(args.size) if args.size else ((64, 64) if args.tiny else (512, 512))
    preset = get_preset(args.preset)
    settings = preset.animation(
        frames=args.frames, steps=args.steps, strength=args.strength, guidance=args.guidance,
        controlnet_scale=args.controlnet_scale, negative_prompt=args.negative_prompt, width=width, height=height,
        seed=args.seed, seed_policy=args.seed_policy, scheduler=args.scheduler, color_match=args.color_match,
        color_mode=args.color_mode,
    ).with_seed()
    motion = preset.motion(interpolate=args.interpolate, blend=args.blend, flow=args.flow, cadence=args.cadence, loop=args.loop)
    fps = check_fps(args.fps if args.fps is not None else default_fps(motion.interpolate))
    output = check_output_path(args.output)
    frames_dir = check_frames_dir(args.frames_dir) if args.frames_dir else None
    init_image = check_init_image(args.init_image) if args.init_image else None
    loras = tuple(LoraSpec.parse(x) for x in args.lora)
    plan_settings = planner_settings(args, settings.seed)
    speed = dict(compile=args.compile, channels_last=args.channels_last, vae_tiling=args.vae_tiling, vae_slicing=args.vae_slicing)
    if args.tiny:
        check_tiny_alone(args)
        from .tiny import ensure_tiny

        tiny = ensure_tiny(Path(args.tiny_dir) if args.tiny_dir else None)
        model_settings = tiny.model_settings(loras=loras, device=args.device, dtype=args.dtype, allow_pickle=args.allow_pickle, **speed)
        if plan_settings.backend == "transformers" and not plan_settings.model:
            plan_settings = plan_settings.replace(model=str(tiny.chat_dir))
    else:
        model_settings = ModelSettings(
            base=args.model or defaults.BASE_MODEL, controlnet=args.controlnet or defaults.CONTROLNET,
            depth_model=args.depth_model or defaults.DEPTH_MODEL, loras=loras, device=args.device, dtype=args.dtype,
            allow_pickle=args.allow_pickle, base_config=args.model_config, controlnet_config=args.controlnet_config, **speed,
        )
    resolved = model_settings.resolve()
    planner = None if file_plan else make_planner(plan_settings)  # a missing key fails here, before any model loads

    # 2. Plan (a failing LLM falls back to the offline plan with a warning), then paint.
    if file_plan is not None:
        plan = file_plan
        if args.prompt and args.prompt.strip():
            plan.idea = " ".join(args.prompt.split())
    else:
        plan = planner.plan(args.prompt, settings.frames)
    for message in plan.warnings:
        warn(f"plan: {message}")

    from .metrics import compute_metrics
    from .models.pipelines import load_pipelines
    from .render import denoising_steps, render_animation

    started = time.perf_counter()
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    log(f"{PROG}: {settings.frames} frames at {width}x{height}, seed {settings.seed}, preset {preset.name} "
        f"({denoising_steps(settings, motion, init_image=init_image is not None)} denoising steps for "
        f"{motion.output_count(settings.frames)} output frames), on {resolved.device}")
    pipes = load_pipelines(resolved, progress=not args.quiet)
    loaded = time.perf_counter()
    animation = render_animation(pipes, plan.frames, settings, motion, init_image=init_image, progress=not args.quiet)
    frames = animation.frames
    painted = time.perf_counter()
    metrics = compute_metrics(frames, motion.flow)
    metadata = {
        "generator": f"{PROG} {__version__}", "prompt": plan.idea, "plan": plan.frames, "plan_backend": plan.backend,
        "plan_model": plan.model, "plan_warnings": plan.warnings,
        "plan_settings": None if file_plan else plan_settings.to_dict(),
        "seed": settings.seed, "preset": preset.name, "settings": settings.to_dict(), "motion": motion.to_dict(), "schedule": animation.schedule(),
        "fps": fps, "models": pipes.model_names(), "init_image": Path(args.init_image).name if args.init_image else None,
    }
    _write_outputs(frames, output, frames_dir, fps=fps, metadata=metadata, metrics=metrics, dither=args.dither)
    done = time.perf_counter()
    print(f"wrote {output} ({len(frames)} frames from {len(animation.painted)} painted, {width}x{height}, {fps:g} fps, "
          f"seed {settings.seed}; load {loaded - started:.1f}s, paint {painted - loaded:.1f}s, finish {done - painted:.1f}s, "
          f"peak memory {peak_memory_mb(resolved.device):.0f} MB)")
    _print_metrics(metrics, args.metrics)
    return 0


def _write_outputs(images: list, output: Path | None, frames_dir: Path | None, *, fps: float, metadata: dict,
                   metrics: dict, dither: bool) -> None:
    """The animation (metrics in its metadata), its NAME.metrics.json, and the PNG frames if asked."""
    from .export import metrics_path, save_animation, write_json, write_png_frames

    metadata = {**metadata, "metrics": {k: v for k, v in metrics.items() if k != "color_drift_per_frame"}}
    if output:
        options = {"dither": True} if dither and output.suffix.lower() == ".gif" else {}
        save_animation(images, output, fps=fps, metadata=metadata, **options)
        write_json({"output": output.name, **metrics}, metrics_path(output))
    if frames_dir:
        write_png_frames(images, frames_dir, metadata=metadata)


def _print_metrics(metrics: dict, full: bool) -> None:
    from .metrics import summary_line, table

    print("quality:\n" + table(metrics) if full else f"quality: {summary_line(metrics)}")


def run_plan(argv: Sequence[str]) -> int:
    from .plan import check_frame_count, check_plan_output, clean_idea, make_planner, save_plan_file

    args = _plan_parser().parse_args(argv)
    clean_idea(args.idea)
    check_frame_count(args.frames)
    if args.output:
        check_plan_output(args.output)
    plan = make_planner(planner_settings(args, args.seed)).plan(args.idea, args.frames)
    for message in plan.warnings:
        warn(message)
    if args.output:
        save_plan_file(plan, args.output)
    if args.json:
        body = {"idea": plan.idea, "backend": plan.backend, "model": plan.model, "frames": plan.frames, "warnings": plan.warnings}
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        for i, frame in enumerate(plan.frames, start=1):
            print(f"{i:3d}. {frame}")
    return 0


def _blend_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} blend", description="Smooth frames made anywhere: optical-flow in-betweens, colour match, loop closure.",
        epilog=f"examples:\n  {PROG} blend frames/ --interpolate 3 --frames-out smooth/\n"
               f"  {PROG} blend input.gif --interpolate 2 --loop --color-match 0.5 -o smooth.webp --metrics",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", help="a folder of frames (natural order: frame_2 before frame_10), an animated GIF/WebP, or a video")
    p.add_argument("-o", "--output", help=f"animation to write ({', '.join(FORMATS)})")
    p.add_argument("--frames-out", help="also (or only) write the result as numbered PNGs into this folder")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's x (interpolate + 1), at most 50)")
    p.add_argument("--metrics", action="store_true", help="print the full quality table of input and output")
    p.add_argument("--dither", action="store_true", help="GIF only: Floyd-Steinberg dithering against the shared palette")
    _add_motion_args(p, generate=False)
    return p


def run_blend(argv: Sequence[str]) -> int:
    from PIL import Image

    from .blend import blend_frames
    from .metrics import compute_metrics, table
    from .readers import load_frames
    from .render import default_fps

    args = _blend_parser().parse_args(argv)
    if not args.output and not args.frames_out:
        raise InputError("output", "nowhere to write the result", "pass -o OUT.gif|.webp|.mp4 and/or --frames-out DIR")
    motion = MotionSettings(interpolate=args.interpolate, blend=args.blend, flow=args.flow, loop=args.loop,
                            color_match=args.color_match, color_mode=args.color_mode)
    output = check_output_path(args.output) if args.output else None
    frames_dir = check_frames_dir(args.frames_out) if args.frames_out else None
    if args.fps is not None:
        check_fps(args.fps)
    frames, source_fps = load_frames(args.input)
    if len(frames) < 2 and motion.interpolate:
        raise InputError("input", f"{Path(args.input).name} holds one frame", "give at least two frames to interpolate between")
    fps = check_fps(args.fps if args.fps is not None else default_fps(motion.interpolate, source_fps or 8.0))
    started = time.perf_counter()
    out = blend_frames(frames, motion)
    images = [Image.fromarray(a) for a in out]
    metrics = compute_metrics(out, motion.flow)
    metadata = {"generator": f"{PROG} {__version__}", "source": Path(args.input).name, "source_frames": len(frames),
                "motion": motion.to_dict(), "fps": fps}
    _write_outputs(images, output, frames_dir, fps=fps, metadata=metadata, metrics=metrics, dither=args.dither)
    where = ", ".join(str(x) for x in (output, frames_dir) if x)
    print(f"wrote {where} ({len(out)} frames from {len(frames)}, {fps:g} fps; {time.perf_counter() - started:.1f}s)")
    if args.metrics:
        print("input:\n" + table(compute_metrics(frames, motion.flow)))
    _print_metrics(metrics, args.metrics)
    return 0


def _comfy_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} comfy",
        description="Render on a running ComfyUI (with this pack installed): queue the pack's API workflow with the idea "
        "patched in, follow its progress over the websocket, and download the animation from /view.",
    )
    p.add_argument("prompt", nargs="?", help="the idea (default: the workflow's own)")
    p.add_argument("--server", default=os.environ.get("COMFYUI_URL", "http://127.0.0.1:8188"), help="ComfyUI's URL (default $COMFYUI_URL or %(default)s)")
    p.add_argument("--workflow", help="an API-format workflow (default: the pack's workflows/api/ghibli_animation.json)")
    p.add_argument("--frames", type=int, help="frames to plan")
    p.add_argument("--seed", type=int, help="noise seed")
    p.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT")
    p.add_argument("--preset", choices=list(PRESETS), help="speed/quality preset (default: the workflow's own)")
    p.add_argument("--steps", type=int, help="denoising steps (switches the workflow to the custom preset)")
    p.add_argument("-o", "--output", required=True, help="where to write it; .gif, .webp or .mp4 picks the format")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def run_comfy(argv: Sequence[str]) -> int:
    from .comfy_client import DEFAULT_WORKFLOW, ComfyClient, load_workflow, patch_workflow
    from .files import atomic_path
    from .plan import check_frame_count, clean_idea

    args = _comfy_parser().parse_args(argv)
    output = check_output_path(args.output)
    graph = load_workflow(args.workflow or DEFAULT_WORKFLOW)
    width, height = args.size or (None, None)
    if args.size:
        AnimationSettings(frames=1, width=width, height=height)  # the same checks the node makes, before queueing
    graph = patch_workflow(
        graph, idea=clean_idea(args.prompt) if args.prompt is not None else None,
        frames=check_frame_count(args.frames) if args.frames is not None else None, seed=args.seed, width=width, height=height,
        steps=args.steps, preset=args.preset, output_format=output.suffix.lower().lstrip("."),
    )
    client = ComfyClient(args.server)
    names: dict[str, str] = {k: v.get("_meta", {}).get("title") or v["class_type"] for k, v in graph.items()}

    def show(event) -> None:
        if args.quiet:
            return
        if event.kind == "progress":
            print(f"\r{names.get(event.node, event.node)}: {event.value}/{event.max}", end="", file=sys.stderr, flush=True)
        elif event.kind == "executing":
            print(f"\n{names.get(event.node, event.node)}", end="", file=sys.stderr, flush=True)
        elif event.kind == "done":
            print(file=sys.stderr)

    started = time.perf_counter()
    data, name = client.render(graph, on_event=show)
    with atomic_path(output) as tmp:
        tmp.write_bytes(data)
    print(f"wrote {output} ({len(data) // 1024} KiB, {name} on {client.base}, {time.perf_counter() - started:.1f}s)")
    return 0


def run_make_tiny(argv: Sequence[str]) -> int:
    from .tiny import make_tiny

    args = _tiny_parser().parse_args(argv)
    tiny = make_tiny(args.dir, seed=args.seed)
    print(f"wrote tiny models to {tiny.root}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "plan":
            return run_plan(argv[1:])
        if argv and argv[0] == "blend":
            return run_blend(argv[1:])
        if argv and argv[0] == "make-tiny":
            return run_make_tiny(argv[1:])
        if argv and argv[0] == "comfy":
            return run_comfy(argv[1:])
        if argv and argv[0] == "train-lora":
            from .cli_train import run_train_lora

            return run_train_lora(argv[1:])
        if argv and argv[0] == "batch":
            from .cli_batch import run_batch

            return run_batch(argv[1:])
        return run_generate(build_parser().parse_args(argv))
    except InputError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"{PROG}: {exc}; nothing was written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except GhibliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
