"""`ghibli-anim move IMAGE`: a 3D camera move over one still, no diffusion (a "3D photo" / Ken Burns effect)."""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Sequence

from .. import __version__, defaults
from ..export import FORMATS
from .common import Parser, PROG, camera_flags, camera_values, metrics_flag, print_metrics, sound_flags, sound_settings

EXAMPLES = f"""
frame 0 is the image itself, frame k the view after k steps of the camera.

examples:
  {PROG} move photo.png --camera push-in -o push.gif                     # depth from the depth model
  {PROG} move photo.png --camera orbit-right:0.5 --frames 36 -o orbit.mp4
  {PROG} move room.png --depth room.npy --fov 60 --translation-x 0.02 --frames 12 --frames-out views/
  {PROG} move room.png --depth room_mm.png --depth-scale 0.001 --rotation-y "0:(0), 11:(1.5)" --masks-out holes/ -o pan.webp
  {PROG} move photo.png --tiny --camera sway -o sway.gif                 # offline, tiny random depth model

depth files: .npy (float z-depth, one value per pixel, in the units the translations use), a 16-bit PNG
(z-depth = value x --depth-scale), or an 8-bit image (relative inverse depth, white = near, mapped with --near/--far).
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} move", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[camera_flags(), sound_flags()],
        description="Move a camera through one still image using its depth (given, or estimated): occlusion-aware 3D "
        f"warps, revealed areas painted in from their surroundings. Without --camera or an axis schedule the move is "
        f"{defaults.MOVE_CAMERA} (a gentle loop).",
    )
    p.add_argument("image", help="the still (PNG, JPEG, WebP)")
    p.add_argument("--frames", type=int, default=defaults.MOVE_FRAMES, help="frames, the still included (default %(default)s)")
    d = p.add_argument_group("depth")
    d.add_argument("--depth", metavar="FILE", help="a depth map of the image (.npy z-depth, 16-bit PNG z-depth, or 8-bit inverse depth); "
                   "default: estimate it with the depth model")
    d.add_argument("--depth-scale", type=float, default=None, help="scene units per step of a 16-bit PNG depth (default 0.001)")
    d.add_argument("--depth-model", help=f"transformers depth model: hub id or folder (default {defaults.DEPTH_MODEL})")
    d.add_argument("--tiny", action="store_true", help="the tiny random depth model (offline checks)")
    d.add_argument("--tiny-dir", help="where --tiny keeps its models (default $GHIBLI_TINY_DIR or ~/.cache/ghibli-anim)")
    d.add_argument("--device", default="auto", help="for the depth model and the warps: auto, cuda, mps or cpu")
    o = p.add_argument_group("output (at least one)")
    o.add_argument("-o", "--output", help=f"the animation ({', '.join(FORMATS)})")
    o.add_argument("--frames-out", metavar="DIR", help="every frame as a numbered PNG (frame_0001.png is frame 0)")
    o.add_argument("--masks-out", metavar="DIR", help="every frame's revealed-area mask as a numbered PNG (white = nothing seen there)")
    o.add_argument("--fps", type=float, default=defaults.MOVE_FPS, help="frame rate of the animation (default %(default)s)")
    o.add_argument("--no-fill", dest="fill", action="store_false", help="leave revealed areas black instead of painting them in")
    o.add_argument("-q", "--quiet", action="store_true", help="no progress bars (the depth model's loading)")
    metrics_flag(o)
    return p


def run_move(argv: Sequence[str]) -> int:
    from PIL import Image

    from ..camera import AXES, CameraSettings, load_depth, move_still
    from ..camera.depth import DEFAULT_PNG_SCALE, inverse_depth_to_z
    from ..errors import InputError, check_range
    from ..export import check_fps, check_frames_dir, check_output_path, write_png_frames
    from ..finish import Outputs, finish
    from ..job import open_init_image

    args = build_parser().parse_args(argv)
    if not (args.output or args.frames_out or args.masks_out):
        raise InputError("output", "nowhere to write the frames", "pass -o OUT.gif|.webp|.mp4, --frames-out DIR and/or --masks-out DIR")
    check_range("frames", args.frames, 1, 10_000, integer=True)
    values = camera_values(args)
    if values.get("move") is None and all(values.get(axis) is None for axis in AXES):
        values["move"] = defaults.MOVE_CAMERA  # a still that does not move is no 3D photo
    camera = CameraSettings(**values)
    path = camera.path(args.frames)  # every schedule evaluated for every frame: a failing one fails here
    output = check_output_path(args.output) if args.output else None
    frames_dir = check_frames_dir(args.frames_out) if args.frames_out else None
    masks_dir = check_frames_dir(args.masks_out) if args.masks_out else None
    fps = check_fps(args.fps)
    sound = sound_settings(args)
    if sound is not None:
        from ..job import check_sound_output

        check_sound_output(sound, output)
    if args.depth_scale is not None:
        check_range("depth-scale", args.depth_scale, 0.0, 1e6, lo_open=True)
    image = open_init_image(args.image, "image")
    width, height = image.size
    if args.depth:
        if args.tiny or args.depth_model:
            raise InputError("depth", "a depth file and a depth model were both given", "drop --tiny / --depth-model, or --depth")
        z = load_depth(args.depth, (width, height), near=camera.near, far=camera.far,
                       scale=args.depth_scale if args.depth_scale is not None else DEFAULT_PNG_SCALE)
        depth_source = Path(args.depth).name
    else:
        estimator = _depth_estimator(args)
        z = inverse_depth_to_z(estimator.relative(image), camera.near, camera.far)
        depth_source = estimator.source.name
    import numpy as np

    started = time.perf_counter()
    from ..device import resolve_device, work_device

    result = move_still(np.asarray(image), z, path, fill=args.fill, device=work_device(resolve_device(args.device)))
    metadata = {"generator": f"{PROG} {__version__} move", "source": Path(args.image).name, "depth": depth_source,
                "camera": camera.to_dict(), "camera_path": path.to_list(), "frames": len(result.frames), "fps": fps,
                "revealed": [round(float(m.mean()), 5) for m in result.masks]}
    track = sound.load(len(result.frames) / fps) if sound is not None else None
    metadata["sound"] = sound.summary(track) if track is not None else None
    done = finish(result.frames, metadata, Outputs(fps=fps, output=output, frames_dir=frames_dir, sound=track,
                                                   sound_sidecar=bool(sound and sound.sidecar), full_metrics=args.metrics == "full"))
    frames, metrics = done.frames, done.metrics
    if masks_dir is not None:
        masks = [Image.fromarray((m * 255).astype(np.uint8)) for m in result.masks]
        write_png_frames(masks, masks_dir, metadata=None, prefix="mask")
    where = ", ".join(str(x) for x in (output, frames_dir, masks_dir) if x)
    revealed = max(float(m.mean()) for m in result.masks)
    moved = camera.describe()
    print(f"wrote {where} ({len(frames)} frames, {width}x{height}, camera: {moved}, depth from {depth_source}; "
          f"at most {revealed:.1%} revealed; {time.perf_counter() - started:.1f}s)")
    print_metrics(metrics, args.metrics)
    return 0


def _depth_estimator(args: argparse.Namespace):
    from ..device import resolve_device, resolve_dtype
    from ..models.depth import load_depth_estimator
    from ..models.pipelines import loading_bars
    from ..models.sources import resolve_source

    if args.tiny:
        from ..tiny import ensure_tiny

        if args.depth_model:
            from ..errors import InputError

            raise InputError("tiny", "cannot be combined with --depth-model", "drop --tiny to use your own depth model")
        location = str(ensure_tiny(Path(args.tiny_dir) if args.tiny_dir else None).depth_dir)
    else:
        location = args.depth_model or defaults.DEPTH_MODEL
    allow_pickle = getattr(args, "allow_pickle", False)
    source = resolve_source(location, "depth", "depth-model", allow_pickle=allow_pickle)
    device = resolve_device(args.device)
    with loading_bars(not args.quiet):
        return load_depth_estimator(source, device, resolve_dtype("auto", device), allow_pickle)
