"""`ghibli-anim blend FRAMES`: smooth frames made anywhere (flow in-betweens, colour match, loop closure)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from .. import __version__, defaults
from ..blend import MotionSettings
from ..errors import InputError
from ..export import FORMATS, check_fps, check_frames_dir, check_output_path
from .common import Parser, PROG, motion_flags, metrics_flag, print_metrics, sound_flags, sound_settings


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} blend", description="Smooth frames made anywhere: optical-flow in-betweens, colour match, loop closure.",
        epilog=f"examples:\n  {PROG} blend frames/ --interpolate 3 --frames-out smooth/\n"
               f"  {PROG} blend input.gif --interpolate 2 --loop --color-match 0.5 -o smooth.webp --metrics",
        formatter_class=argparse.RawDescriptionHelpFormatter, parents=[motion_flags(generate=False), sound_flags()],
    )
    p.add_argument("input", help="a folder of frames (natural order: frame_2 before frame_10), an animated GIF/WebP, or a video")
    p.add_argument("-o", "--output", help=f"animation to write ({', '.join(FORMATS)})")
    p.add_argument("--frames-out", help="also (or only) write the result as numbered PNGs into this folder")
    p.add_argument("--fps", type=float, default=None, help="output frame rate (default: the input's x (interpolate + 1), at most 50)")
    metrics_flag(p, " of input and output")
    p.add_argument("--dither", action="store_true", help="GIF only: Floyd-Steinberg dithering against the shared palette")
    return p


def run_blend(argv: Sequence[str]) -> int:
    from ..blend import FlowCache, blend_frames
    from ..finish import Outputs, finish
    from ..metrics import compute_metrics, table
    from ..readers import load_frames
    from ..schedule import default_fps

    args = build_parser().parse_args(argv)
    if not args.output and not args.frames_out:
        raise InputError("output", "nowhere to write the result", "pass -o OUT.gif|.webp|.mp4 and/or --frames-out DIR")
    motion = MotionSettings(interpolate=args.interpolate, blend=args.blend, flow=args.flow, loop=args.loop,
                            color_match=args.color_match, color_mode=args.color_mode)
    output = check_output_path(args.output) if args.output else None
    frames_dir = check_frames_dir(args.frames_out) if args.frames_out else None
    if args.fps is not None:
        check_fps(args.fps)
    sound = sound_settings(args)
    if sound is not None:
        from ..job import check_sound_output

        check_sound_output(sound, output)
    frames, source_fps = load_frames(args.input)
    if len(frames) < 2 and motion.interpolate:
        raise InputError("input", f"{Path(args.input).name} holds one frame", "give at least two frames to interpolate between")
    fps = check_fps(args.fps if args.fps is not None else default_fps(motion.interpolate, source_fps or 8.0))
    started = time.perf_counter()
    flows = FlowCache()  # the input's pairs: blending and the input's own figures share their flows
    out = blend_frames(frames, motion, flows)
    track = sound.load(len(out) / fps) if sound is not None else None
    metadata = {"generator": f"{PROG} {__version__}", "source": Path(args.input).name, "source_frames": len(frames),
                "motion": motion.to_dict(), "fps": fps, "sound": sound.summary(track) if track is not None else None}
    metrics = finish(out, metadata, Outputs(fps=fps, output=output, frames_dir=frames_dir, dither=args.dither, sound=track,
                                            sound_sidecar=bool(sound and sound.sidecar), full_metrics=args.metrics == "full"),
                     flow=motion.flow, flows=flows).metrics
    where = ", ".join(str(x) for x in (output, frames_dir) if x)
    print(f"wrote {where} ({len(out)} frames from {len(frames)}, {fps:g} fps; {time.perf_counter() - started:.1f}s)")
    if args.metrics:
        side = None if args.metrics == "full" else defaults.METRICS_SIDE
        print("input:\n" + table(compute_metrics(frames, motion.flow, flows, side)))
    print_metrics(metrics, args.metrics)
    return 0
