"""Writing animations: a looping GIF (and PNG frames), atomically, with the run's metadata.

Nothing is ever half-written: each file is written to a temporary name in the target folder,
flushed, then renamed over the target; on any error (or Ctrl-C) the temporary file is removed.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Sequence

from PIL import Image, PngImagePlugin

from .errors import InputError
from .files import atomic_path

FPS_RANGE = (0.1, 100.0)
#: Output writers by extension (the motion issue adds .webp and .mp4).
FORMATS = (".gif",)
METADATA_KEY = "ghibli-anim"
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)


def check_fps(fps: float) -> float:
    lo, hi = FPS_RANGE
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not lo <= fps <= hi:
        raise InputError("fps", f"{fps!r} is out of range", f"use a number in [{lo}, {hi}]")
    return float(fps)


def check_output_path(path: str | os.PathLike, input_name: str = "output") -> Path:
    """Refuse an unknown extension, a missing or unwritable folder, or a folder given as the file."""
    out = Path(path).expanduser()
    if str(path).strip() == "":
        raise InputError(input_name, "is empty", "give a file name such as forest.gif")
    if out.suffix.lower() not in FORMATS:
        raise InputError(input_name, f"unknown output format {out.suffix or '(none)'!r} in {out.name}", f"use one of {', '.join(FORMATS)}")
    if out.is_dir():
        raise InputError(input_name, f"{out} is a folder", "give a file name such as forest.gif")
    folder = out.resolve().parent
    if not folder.is_dir():
        raise InputError(input_name, f"folder {folder} does not exist", "create it first or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(input_name, f"folder {folder} is not writable", "choose a folder you can write to")
    return out


def check_frames_dir(path: str | os.PathLike) -> Path:
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError("frames-dir", f"{out} exists and is not a folder", "give a folder path")
    parent = out.resolve().parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise InputError("frames-dir", f"cannot create {out} (parent folder missing or not writable)", "choose a writable location")
    return out


def sanitize_metadata(value: Any) -> Any:
    """Drop secret-looking keys and replace the home folder in strings, recursively."""
    home = str(Path.home())
    if isinstance(value, dict):
        return {k: sanitize_metadata(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [sanitize_metadata(v) for v in value]
    if isinstance(value, str) and home not in ("", "/") and home in value:
        return value.replace(home, "~")
    return value


def shared_palette(frames: Sequence[Image.Image], colors: int = 256) -> Image.Image:
    """One palette for the whole animation (per-frame palettes shimmer from frame to frame)."""
    thumbs = [f.convert("RGB").resize((96, 96), Image.Resampling.BILINEAR) for f in frames[:64]]
    sheet = Image.new("RGB", (96 * len(thumbs), 96))
    for i, thumb in enumerate(thumbs):
        sheet.paste(thumb, (96 * i, 0))
    return sheet.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)


def write_gif(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None, dither: bool = False) -> Path:
    """A GIF that loops forever, one shared palette, `1000/fps` ms per frame."""
    if not frames:
        raise InputError("frames", "there is nothing to write", "generate at least one frame")
    palette = shared_palette(frames)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    images = [f.convert("RGB").quantize(palette=palette, dither=mode) for f in frames]
    info: dict[str, Any] = dict(
        save_all=True, append_images=images[1:], loop=0, duration=round(1000 / check_fps(fps)), optimize=False,
        palette=palette.getpalette(),  # written once as the global colour table; no per-frame tables
    )
    if metadata:
        info["comment"] = json.dumps(sanitize_metadata(metadata), ensure_ascii=False).encode("utf-8")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", **info)
    return path


def write_png_frames(frames: Sequence[Image.Image], folder: Path, *, metadata: dict[str, Any] | None = None, prefix: str = "frame") -> list[Path]:
    """Numbered PNGs (frame_0001.png ...), each written atomically, metadata in a tEXt chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(sanitize_metadata(metadata), ensure_ascii=False) if metadata else None
    paths = []
    for i, frame in enumerate(frames, start=1):
        target = folder / f"{prefix}_{i:04d}.png"
        info = PngImagePlugin.PngInfo()
        if text:
            info.add_itxt(METADATA_KEY, text)
        with atomic_path(target) as tmp:
            frame.convert("RGB").save(tmp, format="PNG", pnginfo=info)
        paths.append(target)
    return paths


def save_animation(frames: Sequence[Image.Image], path: str | os.PathLike, *, fps: float = 8.0, metadata: dict[str, Any] | None = None) -> Path:
    """Write `frames` to `path`, the format chosen by its extension."""
    out = check_output_path(path)
    return write_gif(frames, out, fps=fps, metadata=metadata)


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The metadata embedded by `save_animation` / `write_png_frames`, or None."""
    with Image.open(path) as im:
        raw = im.info.get("comment") or im.info.get(METADATA_KEY)
    if raw is None:
        return None
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
