"""Writing animations: looping GIF, animated WebP, H.264 MP4 (and PNG frames), atomically, with the run's metadata.

Nothing is ever half-written: each file is written to a temporary name in the target folder,
flushed, then renamed over the target; on any error (or Ctrl-C) the temporary file is removed.
"""
from __future__ import annotations

import html
import json
import os
import re
from fractions import Fraction
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from PIL import Image, PngImagePlugin

from .errors import InputError, check_range
from .files import atomic_path

FPS_RANGE = (0.1, 100.0)
#: Output formats, chosen by the file's extension.
FORMATS = (".gif", ".webp", ".mp4")
METADATA_KEY = "ghibli-anim"
XMP_NS = "https://github.com/ghibli-anim/ghibli-anim/ns/1.0/"
_TRANSPARENT = 255  # the GIF palette slot kept for "unchanged since the previous frame"
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)


def check_fps(fps: float) -> float:
    check_range("fps", fps, *FPS_RANGE)
    return float(fps)


def check_output_path(path: str | os.PathLike, input_name: str = "output", formats: Sequence[str] = FORMATS) -> Path:
    """Refuse an unknown extension, a missing or unwritable folder, or a folder given as the file."""
    out = Path(path).expanduser()
    example = f"such as {'forest.gif' if formats is FORMATS else 'name' + formats[0]}"
    if str(path).strip() == "":
        raise InputError(input_name, "is empty", f"give a file name {example}")
    if out.suffix.lower() not in formats:
        raise InputError(input_name, f"unknown output format {out.suffix or '(none)'!r} in {out.name}", f"use one of {', '.join(formats)}")
    if out.is_dir():
        raise InputError(input_name, f"{out} is a folder", f"give a file name {example}")
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


def write_gif(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
              dither: bool = False, optimize: bool = True) -> Path:
    """A GIF that loops forever, one shared palette, `1000/fps` ms per frame.

    `optimize`: pixels whose palette index did not change since the previous frame are written as
    transparent (one palette slot is kept for that), which LZW compresses to almost nothing; the
    decoded frames are identical. `dither`: Floyd-Steinberg against the shared palette (smoother
    gradients, but the dither pattern can crawl between frames).
    """
    if not frames:
        raise InputError("frames", "there is nothing to write", "generate at least one frame")
    palette = shared_palette(frames, colors=255 if optimize else 256)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    images = [f.convert("RGB").quantize(palette=palette, dither=mode) for f in frames]
    colors = palette.getpalette()[: 3 * 256]
    info: dict[str, Any] = dict(loop=0, duration=round(1000 / check_fps(fps)), optimize=False)
    if optimize:
        colors = colors[:765] + [0, 0, 0]
        indices = [np.asarray(im) for im in images]
        deltas = [images[0]]
        for prev, cur in zip(indices, indices[1:]):
            delta = cur.copy()
            delta[cur == prev] = _TRANSPARENT
            deltas.append(Image.fromarray(delta, "P"))
        images = deltas
        info.update(transparency=_TRANSPARENT, disposal=1)  # keep the previous frame under transparent pixels
    for im in images:
        im.putpalette(colors)
    info.update(save_all=True, append_images=images[1:], palette=colors)  # one global colour table
    if metadata:
        info["comment"] = json.dumps(sanitize_metadata(metadata), ensure_ascii=False).encode("utf-8")
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", **info)
    return path


def _xmp(metadata: dict[str, Any]) -> bytes:
    """Our JSON inside a minimal XMP packet (WebP's metadata chunk)."""
    text = html.escape(json.dumps(sanitize_metadata(metadata), ensure_ascii=False), quote=False)
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:ghibli="{XMP_NS}"><ghibli:metadata>{text}</ghibli:metadata>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode("utf-8")


def write_webp(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
               quality: int = 90, lossless: bool = False) -> Path:
    """An animated WebP that loops forever (full colour, much smaller than a GIF)."""
    if not frames:
        raise InputError("frames", "there is nothing to write", "generate at least one frame")
    images = [f.convert("RGB") for f in frames]
    info: dict[str, Any] = dict(save_all=True, append_images=images[1:], loop=0, duration=round(1000 / check_fps(fps)),
                                quality=quality, lossless=lossless, method=4, minimize_size=False)
    if metadata:
        info["xmp"] = _xmp(metadata)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="WEBP", **info)
    return path


def write_mp4(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
              crf: int = 18) -> Path:
    """H.264 MP4 (yuv420p, plays everywhere) through PyAV's bundled FFmpeg; odd sizes are padded to even."""
    import av

    if not frames:
        raise InputError("frames", "there is nothing to write", "generate at least one frame")
    width, height = frames[0].size
    even = (width + width % 2, height + height % 2)  # yuv420p needs even dimensions
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format="mp4") as container:
            if metadata:
                container.metadata["comment"] = json.dumps(sanitize_metadata(metadata), ensure_ascii=False)
            stream = container.add_stream("libx264", rate=Fraction(check_fps(fps)).limit_denominator(1001))
            stream.width, stream.height = even
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(crf), "preset": "medium"}
            for frame in frames:
                rgb = np.asarray(frame.convert("RGB"))
                if rgb.shape[1::-1] != even:  # repeat the last row/column rather than add a black line
                    rgb = np.pad(rgb, ((0, even[1] - rgb.shape[0]), (0, even[0] - rgb.shape[1]), (0, 0)), mode="edge")
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
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


WRITERS = {".gif": write_gif, ".webp": write_webp, ".mp4": write_mp4}


def save_animation(frames: Sequence[Image.Image], path: str | os.PathLike, *, fps: float = 8.0,
                   metadata: dict[str, Any] | None = None, **options: Any) -> Path:
    """Write `frames` to `path`, the format chosen by its extension (options go to that writer)."""
    out = check_output_path(path)
    return WRITERS[out.suffix.lower()](frames, out, fps=fps, metadata=metadata, **options)


def write_json(data: Any, path: str | os.PathLike) -> Path:
    """JSON written atomically (used for the metrics file beside an animation)."""
    target = Path(path)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(sanitize_metadata(data), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


def metrics_path(output: str | os.PathLike) -> Path:
    """Where the metrics JSON of an animation goes: `forest.gif` -> `forest.metrics.json`."""
    out = Path(output)
    return out.with_name(out.stem + ".metrics.json")


def read_metadata(path: str | os.PathLike) -> dict[str, Any] | None:
    """The metadata embedded by `save_animation` / `write_png_frames`, or None."""
    if str(path).lower().endswith(".mp4"):
        import av

        with av.open(str(path)) as container:
            raw = container.metadata.get("comment")
        return json.loads(raw) if raw else None
    with Image.open(path) as im:
        raw = im.info.get("comment") or im.info.get(METADATA_KEY)
        xmp = im.info.get("xmp")
    if raw is None and xmp:
        found = re.search(r"<ghibli:metadata>(.*?)</ghibli:metadata>", xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp, re.S)
        raw = html.unescape(found.group(1)) if found else None
    if raw is None:
        return None
    return json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
