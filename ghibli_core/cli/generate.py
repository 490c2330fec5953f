"""`ghibli-anim IDEA -o OUT`: plan, paint, blend and write one animation."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .. import __version__, defaults, registry
from ..animate import parse_size
from ..device import dtype_note, peak_memory_mb
from ..errors import InputError
from ..export import FORMATS
from ..job import AnimationJob, run_job
from ..models.lora import LoraSpec
from ..presets import get_preset
from ..schedule import denoising_steps
from ..timing import StageTimes, measuring, stage
from .common import Parser, PROG, camera_flags, camera_settings, model_flags, model_settings, motion_flags, painting_flags, \
    painting_values, planner_flags, planner_settings, metrics_flag, print_metrics, sound_flags, sound_settings, tiny_models, warn, \
    music_flags, music_settings, every_bad_flag

EXAMPLES = f"""
examples:
  {PROG} "a serene forest at dawn, sunlight through swaying trees" --frames 8 -o forest.gif
  {PROG} "a cat bus in the rain" --model ~/ComfyUI/models/checkpoints/v1-5-pruned-emaonly.safetensors \\
      --lora ~/ComfyUI/models/loras/ghibli_style.safetensors:0.8 --seed 42 -o catbus.gif
  {PROG} --tiny "a ghibli forest" --frames 4 -o x.gif        # offline, tiny random models (no download)
  {PROG} "a windy hill" --preset fast --frames 16 -o hill.gif   # 32-frame loop, every 4th frame painted
  {PROG} "a windy hill" --frames 8 --interpolate 3 --metrics -o hill.webp   # flow in-betweens, quality table
  {PROG} "a forest path at dawn" --camera push-in:0.5 -o path.gif          # a 3D camera move through the painting
  {PROG} "a harbour town" --rotation-y "0:(0), 7:(2)" --translation-x 0.01 --fov 50 -o pan.webp   # per-axis schedules
  {PROG} "a lighthouse in a storm" --frames 24 --strength-schedule "0:(0.5), 23:(0.35)" --prompt-travel -o storm.mp4
  {PROG} move photo.png --camera orbit-right -o orbit.gif      # a camera move over one still, no diffusion
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


def build_parser(subcommands: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, description="Turn one sentence into a hand-painted, Studio-Ghibli-style looping animation.",
        epilog=EXAMPLES + (f"\nother commands: {', '.join(subcommands)} (see `{PROG} COMMAND --help`)" if subcommands else ""),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[planner_flags(main=True), model_flags(), painting_flags(), motion_flags(generate=True), camera_flags(),
                 sound_flags(), music_flags()],
    )
    p.add_argument("prompt", nargs="?", help="the idea, e.g. 'a serene forest at dawn' (optional with --plan-file)")
    p.add_argument("-o", "--output", required=True, help=f"output file ({', '.join(FORMATS)})")
    p.add_argument("--frames", type=int, default=None, metavar="BEATS",
                   help=f"{registry.SETTINGS['frames'].help} (default {defaults.FRAMES}, or the plan file's count)")
    o = p.add_argument_group("output")
    o.add_argument("--fps", type=float, default=None, help="frames per second (default 8 x (interpolate + 1), at most 50)")
    metrics_flag(o, " (a one-line summary is always printed)")
    o.add_argument("--dither", action="store_true", help="GIF only: Floyd-Steinberg dithering against the shared palette")
    o.add_argument("--frames-dir", help="also write every frame as a numbered PNG into this folder")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    o.add_argument("--verbose", action="store_true",
                   help="also print the seconds spent in each stage (load, plan, text, unet, vae, depth, camera, flow, "
                        "in-betweens, coherence, metrics, write; always in NAME.metrics.json)")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def soundtrack_features(sound, frames: int, motion, fps: float | None):
    """The soundtrack's features per planned frame (planned frame k plays at k x (interpolate + 1) / fps), so schedules
    can follow it: amplitude(t), onset(t), beat(t). The file is checked first (one line if it is not sound)."""
    from ..audio_features import AudioFeatures
    from ..export import check_fps
    from ..schedule import default_fps

    sound.check()
    rate = check_fps(fps if fps is not None else default_fps(motion.interpolate))
    seconds = motion.output_count(frames) / rate
    return AudioFeatures.of(sound.load(seconds), rate / (motion.interpolate + 1), frames)


def job_from_args(args: argparse.Namespace) -> AnimationJob:
    """Every flag checked and turned into one AnimationJob, before any model loads."""
    from ..plan import load_plan_file

    file_plan = load_plan_file(args.plan_file) if args.plan_file else None
    idea = args.prompt if args.prompt and args.prompt.strip() else None
    if file_plan is None and idea is None:
        raise InputError("prompt", "is empty", 'give an idea, e.g. "a serene forest at dawn", or --plan-file')
    if file_plan is not None and args.frames is not None and args.frames != len(file_plan):
        raise InputError("frames", f"--frames {args.frames} but the plan file holds {len(file_plan)} frames",
                         "drop --frames (the plan's count is used) or edit the plan")
    frames = args.frames if args.frames is not None else (len(file_plan) if file_plan is not None else defaults.FRAMES)
    width, height = parse_size(args.size) if args.size else defaults.size(tiny=args.tiny)
    preset = get_preset(args.preset)
    motion = preset.motion(interpolate=args.interpolate, blend=args.blend, flow=args.flow, cadence=args.cadence, loop=args.loop)
    sound = sound_settings(args)
    music = music_settings(args)
    features = soundtrack_features(sound, frames, motion, args.fps) if sound is not None else None
    painting = preset.animation(frames=frames, width=width, height=height, audio_features=features,
                                **painting_values(args)).with_seed()
    planner = planner_settings(args, painting.seed)
    camera = camera_settings(args, audio_features=features)
    job = AnimationJob(
        painting=painting, motion=motion, camera=camera, idea=idea, plan=file_plan, planner=planner,
        preset=preset.name, output=args.output,
        fps=args.fps, init_image=args.init_image, frames_dir=args.frames_dir, full_metrics=args.metrics == "full", dither=args.dither, sound=sound,
        music=music,
    )
    loras = tuple(LoraSpec.parse(x) for x in args.lora)
    models = model_settings(args, loras)
    if args.tiny and planner.backend == "transformers" and not planner.model:
        planner = planner.replace(model=str(tiny_models(args).chat_dir))
    return job.replace(models=models, planner=planner)


def run_generate(args: argparse.Namespace) -> int:
    # 1. Every cheap check first: nothing loads until all inputs are known good (every bad flag reported at once).
    job = every_bad_flag(job_from_args, args, build_parser())
    resolved = job.models.resolve()
    # 2. Plan (a missing key fails here; a failing LLM falls back to the offline plan with a warning), then paint;
    # every stage's seconds are measured (NAME.metrics.json's `timings`; --verbose prints them)
    times = StageTimes(resolved.device)
    with measuring(times):
        return paint_and_write(job, resolved, args, times)


def paint_and_write(job: AnimationJob, resolved, args: argparse.Namespace, times: StageTimes) -> int:
    """Plan, load, paint and write `job` (checked), printing what the command prints; inside the run's measuring."""
    from ..models.pipelines import load_pipelines

    plan = job.make_plan()
    for message in plan.warnings:
        warn(f"plan: {message}")
    if job.painting.scheduler in ("lcm", "tcd") and job.models.speed_lora is None:
        warn(f"the {job.painting.scheduler} scheduler paints in a few steps with a speed LoRA: without one (--speed-lora "
             "latent-consistency/lcm-lora-sdv1-5) the frames come out blurred")
    settings, motion, camera = job.painting, job.motion, job.camera_for(plan)
    started = time.perf_counter()
    log = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=sys.stderr))
    log(f"{PROG}: {settings.frames} frames at {settings.width}x{settings.height}, seed {settings.seed}, preset {job.preset} "
        f"({denoising_steps(settings, motion, init_image=job.init_image is not None)} denoising steps for "
        f"{motion.output_count(settings.frames)} output frames)" + (f", camera {camera.describe()}" if camera else "") +
        f", on {resolved.device} in {dtype_note(job.models.dtype, resolved.device, resolved.dtype)}")
    with stage("load"):
        pipes = load_pipelines(resolved, progress=not args.quiet)
    loaded = time.perf_counter()
    result = run_job(job, pipes, plan=plan, progress=not args.quiet)
    print(f"wrote {job.output} ({len(result.output_frames)} frames from {len(result.animation.painted)} painted, "
          f"{settings.width}x{settings.height}, {job.fps:g} fps, seed {settings.seed}; load {loaded - started:.1f}s, "
          f"paint {result.paint_seconds:.1f}s, finish {result.finish_seconds:.1f}s, peak memory {peak_memory_mb(resolved.device):.0f} MB)")
    sound = result.metadata.get("sound")
    if sound:
        where = "beside it as " + str(Path(job.output).with_suffix(".m4a").name) if job.outputs().sound_sidecar and \
            Path(job.output).suffix.lower() not in (".mp4", ".webm") else "in it"
        written = f"music by {sound['generator']} from \"{sound['prompt']}\", seed {sound['seed']}" if job.music else sound["name"]
        print(f"sound: {written} ({sound['fit']}, {sound['seconds']:.3f} s at {sound['rate']} Hz) {where}")
    if args.verbose:
        print(f"time per stage: {times.line()}")
    print_metrics(result.metrics, args.metrics)
    return 0
