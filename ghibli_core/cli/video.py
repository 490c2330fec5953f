"""`ghibli-anim video CLIP -o OUT`: a user's clip repainted in the Ghibli style, frame for frame."""
from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

from .. import registry
from ..export import FORMATS
from .common import Parser, PROG, every_bad_flag, metrics_flag, model_flags, model_settings, preset_values, sound_flags, sound_settings, warn

EXAMPLES = f"""
examples:
  {PROG} video walk.mp4 --prompt "a quiet street in a seaside town" -o walk-ghibli.mp4
  {PROG} video cat.mov --idea "a cat napping in a sunny garden" --start 2 --duration 6 --fps 12 -o cat.webm
  {PROG} video street.mp4 --prompt "a market street" --size 512x288 --keyframe-max 8 --preset quality -o street.mp4
  {PROG} video --tiny walk.mp4 --prompt "a forest path" -o check.gif        # offline, tiny random models

Keyframes are painted from their source frames (img2img under the depth ControlNet, the previous painted keyframe
carried along the source's motion); every other frame is carried from the painted keyframes around it. The output has
the clip's frame count, rate and duration (after --start/--duration/--every-nth/--fps).
"""
#: The painting settings a clip's keyframes take (the chain's schedules and long-chain steps are the animations').
PAINT_FLAGS = ("steps", "strength", "guidance", "controlnet_scale", "negative_prompt", "seed", "seed_policy", "scheduler",
               "color_coherence", "color_mode", "reveal_boost", "cache_interval", "controlnet_end", "cfg_end")


def build_parser() -> argparse.ArgumentParser:
    from ..presets import DEFAULT_PRESET, PRESETS
    from ..video.clip import MAX_SIDE
    from ..video.repaint import KeyframeSettings

    p = Parser(prog=f"{PROG} video", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
                                parents=[model_flags(), sound_flags()], description="Repaint a clip in the Ghibli style, in sync, "
                                "temporally consistent, streamed.")
    p.add_argument("clip", help="the video (MP4, MOV, WebM, MKV, AVI, or an animated GIF/WebP), or a folder of its "
                   "frames with --fps")
    p.add_argument("-o", "--output", help=f"the repainted clip ({', '.join(FORMATS)})")
    p.add_argument("--metrics-only", metavar="STYLISED", help="paint nothing: score STYLISED (any tool's stylised version "
                   "of the clip's window) against the clip, print the figures and exit")
    what = p.add_argument_group("what it becomes (one of)")
    what.add_argument("--prompt", help="the scene in words; the Ghibli style words are added")
    what.add_argument("--idea", help="an idea for the planner to turn into the prompt")
    c = p.add_argument_group("which part of the clip")
    c.add_argument("--start", type=float, default=0.0, metavar="SEC", help="from this time (default 0)")
    c.add_argument("--duration", type=float, metavar="SEC", help="this long (default: to the end)")
    c.add_argument("--every-nth", type=int, default=1, metavar="N", help="every N-th frame (default 1)")
    c.add_argument("--max-frames", type=int, metavar="N", help="at most N frames")
    c.add_argument("--fps", type=float, help="resample to this rate (default: the clip's); a folder of frames: the rate "
                   "they were taken at")
    c.add_argument("--size", metavar="WxH", help="exactly this size (scaled to cover, centre-cropped); multiples of 8")
    c.add_argument("--width", type=int, help="this width, the clip's aspect kept")
    c.add_argument("--height", type=int, help="this height, the clip's aspect kept")
    c.add_argument("--max-side", type=int, default=MAX_SIDE, help="the long side's cap when no size is given (default %(default)s)")
    a = p.add_argument_group("painting (--preset sets steps, strength, scheduler, controlnet-scale and the step reuse; a flag given wins)")
    a.add_argument("--preset", default=DEFAULT_PRESET, choices=list(PRESETS), help=f"default {DEFAULT_PRESET}")
    for name in PAINT_FLAGS:
        s = registry.SETTINGS[name]
        registry.add_flag(a, s, preset_values=preset_values(name) if s.preset else None)
    d = KeyframeSettings()
    k = p.add_argument_group("keyframes")
    k.add_argument("--keyframe-min", type=int, default=d.min_interval, metavar="N", help="at least N frames apart (default %(default)s)")
    k.add_argument("--keyframe-max", type=int, default=d.max_interval, metavar="N", help="at most N frames apart (default %(default)s)")
    k.add_argument("--keyframe-threshold", type=float, default=d.threshold, metavar="S",
                   help="a new keyframe once this share of pixels cannot be followed from the last (default %(default)s)")
    k.add_argument("--flow-blend", type=float, default=d.flow_blend, metavar="S",
                   help="the carried painting's share of a keyframe's start where the flow holds (default %(default)s)")
    k.add_argument("--cross-frame", action=argparse.BooleanOptionalAction, default=d.cross_frame,
                   help="each keyframe's self-attention also sees its scene's first keyframe: textures and colours shared "
                        "across keyframes, at the cost of memory for that reference (default off)")
    o = p.add_argument_group("output")
    o.add_argument("--frames-dir", help="also write every frame as a numbered PNG into this folder")
    o.add_argument("--work-dir", help="where painted keyframes are kept as they finish, so a rerun resumes after the last "
                   "(default: beside the output, NAME.work; removed after success)")
    o.add_argument("--keep-work", action="store_true", help="keep the work folder after success")
    metrics_flag(o)
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    o.add_argument("--verbose", action="store_true", help="also print the seconds spent in each stage (always in NAME.metrics.json)")
    return p


def job_from_args(args: argparse.Namespace):
    """Every flag checked and the clip probed, before any model loads."""
    from ..errors import InputError
    from ..presets import get_preset
    from ..video.job import VideoJob
    from ..video.repaint import KeyframeSettings

    if not args.output and not args.frames_dir:
        raise InputError("output", "nowhere to write the result", "pass -o OUT.mp4|.webm|.gif|.webp|.png and/or --frames-dir DIR")
    if args.prompt and args.idea:
        raise InputError("prompt", "and --idea were both given", "give one: the scene in words, or an idea to plan")
    clip = clip_settings(args)
    keys = KeyframeSettings(args.keyframe_min, args.keyframe_max, args.keyframe_threshold, args.flow_blend, args.cross_frame)
    preset = get_preset(args.preset)
    painting = preset.animation(frames=1, **{n: getattr(args, n) for n in PAINT_FLAGS})
    return VideoJob(clip=args.clip, prompt=args.prompt, idea=args.idea, clip_settings=clip, painting=painting, keys=keys,
                    models=model_settings(args), preset=preset.name, output=args.output, frames_dir=args.frames_dir,
                    work_dir=args.work_dir, keep_work=args.keep_work, soundtrack=sound_settings(args),
                    full_metrics=args.metrics == "full")


def clip_settings(args: argparse.Namespace):
    from ..animate import parse_size
    from ..video import ClipSettings

    width, height = (parse_size(args.size) if args.size else (args.width, args.height))
    return ClipSettings(start=args.start, duration=args.duration, every_nth=args.every_nth, max_frames=args.max_frames,
                        fps=args.fps, width=width, height=height, max_side=args.max_side)


def score_only(args: argparse.Namespace) -> int:
    """`--metrics-only STYLISED`: the clip figures of any stylised clip against its source; nothing is written."""
    from ..metrics import table
    from ..video.score import score_files

    m = score_files(args.metrics_only, args.clip, clip_settings(args))
    print(f"{m['stylised']} against {m['source']['source']} ({m['frames']} frames at {m['source']['fps']:g} fps):")
    print(table(m))
    return 0


def run_video(argv: Sequence[str]) -> int:
    from ..device import peak_memory_mb
    from ..metrics import table
    from ..video.job import run_video_job

    args = build_parser().parse_args(argv)
    if args.metrics_only:
        return score_only(args)
    job = every_bad_flag(job_from_args, args, build_parser())  # every bad flag reported at once
    info = job.info
    capped = "" if (args.size or args.width or args.height) else f", long side capped at {args.max_side}"
    shown = info.display.size(*info.source_size)
    stored = f" (stored {info.source_size[0]}x{info.source_size[1]})" if shown != info.source_size else ""
    hdr = (f", {info.hdr} HDR shown in SDR" if info.hdr else "") + (", deinterlaced" if info.display.interlaced else "")
    print(f"{info.path.name}: {info.frames} frames at {info.fps:.3f} fps, {shown[0]}x{shown[1]}{stored}{hdr} -> "
          f"{info.size[0]}x{info.size[1]}{capped}", file=sys.stderr)
    for line in info.warnings:
        warn(line)
    if job.sound_dropped:
        warn(f"the clip's sound is dropped: {str(job.output or 'a frames folder')} cannot carry sound (write .mp4 or .webm to keep it)")
    started, warned = time.perf_counter(), len(info.warnings)
    from ..timing import StageTimes, measuring

    times = StageTimes(job.models.resolve().device if job.models is not None else None)
    with measuring(times):
        result = run_video_job(job, progress=not args.quiet)
    for line in info.warnings[warned:] + list(result.sound.warnings if result.sound else ()):  # packets skipped on the way
        warn(line)
    m = result.metrics
    where = ", ".join(str(x) for x in (job.output, job.frames_dir) if x)
    resumed = f" ({m['resumed_keyframes']} resumed from {job.work_dir})" if m.get("resumed_keyframes") else ""
    print(f"wrote {where} ({m['frames']} frames, {info.fps:.3f} fps, {len(result.log.keyframes)} keyframes painted{resumed}, "
          f"{m['unet_steps_per_frame']:.2f} UNet steps per frame; {time.perf_counter() - started:.1f}s, "
          f"peak memory {peak_memory_mb():.0f} MB)")
    print(f"temporal warp error {m['temporal_warp_error']:.5f} (the source's own {m['source_warp_error']:.5f}), "
          f"structure fidelity {m['structure_fidelity']:.3f}, flicker {m['flicker']:.4f}, colour drift {m['color_drift']:.2f} dE")
    if args.verbose:
        print(f"time per stage: {times.line()}")
    if args.metrics:
        print(table(m))
    return 0
