"""Writing animations: looping GIF, animated WebP, animated PNG, H.264 MP4, VP9 WebM (and PNG frames), atomically,
with the run's metadata and, from ComfyUI, the graph that made them (see `embedded` for where each format keeps it).

Nothing is ever half-written: each file is written to a temporary name in the target folder,
flushed, then renamed over the target; on any error (or Ctrl-C) the temporary file is removed.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import json
import os
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from PIL import Image

from .embedded import (METADATA_KEY, container_tags, ours_json, png_info, read_embedded, read_metadata,  # noqa: F401 (re-exported)
                       sanitize_metadata, sidecar_graph, sidecar_path, webp_exif, xmp_packet)
from .errors import InputError, check_range
from .files import atomic_path

if TYPE_CHECKING:
    from .sound import Sound

FPS_RANGE = (0.1, 100.0)
#: Output formats, chosen by the file's extension (.png: animated PNG).
FORMATS = (".gif", ".webp", ".png", ".mp4", ".webm")
#: Formats whose file carries a ComfyUI workflow the front end restores on drop (GIF has no such place).
WORKFLOW_FORMATS = (".webp", ".png", ".mp4", ".webm")
_TRANSPARENT = 255  # the GIF palette slot kept for "unchanged since the previous frame"


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


def shared_palette(frames: Sequence[Image.Image], colors: int = 256) -> Image.Image:
    """One palette for the whole animation (per-frame palettes shimmer from frame to frame)."""
    thumbs = [f.convert("RGB").resize((96, 96), Image.Resampling.BILINEAR) for f in frames[:64]]
    sheet = Image.new("RGB", (96 * len(thumbs), 96))
    for i, thumb in enumerate(thumbs):
        sheet.paste(thumb, (96 * i, 0))
    return sheet.quantize(colors=colors, method=Image.Quantize.MEDIANCUT)


Comfy = Mapping[str, Any] | None  # ComfyUI's entries: {"prompt": api graph, "workflow": canvas graph, ...}


def _check_frames(frames: Sequence[Image.Image]) -> None:
    if not frames:
        raise InputError("frames", "there is nothing to write", "generate at least one frame")


def _duration_ms(fps: float) -> int:
    return round(1000 / check_fps(fps))


def write_gif(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
              comfy: Comfy = None, dither: bool = False, optimize: bool = True, workflow_sidecar: bool = False) -> Path:
    """A GIF that loops forever, one shared palette, `1000/fps` ms per frame.

    `optimize`: pixels whose palette index did not change since the previous frame are written as
    transparent (one palette slot is kept for that), which LZW compresses to almost nothing; the
    decoded frames are identical. `dither`: Floyd-Steinberg against the shared palette (smoother
    gradients, but the dither pattern can crawl between frames). GIF has no place ComfyUI's front end
    reads a workflow from: `workflow_sidecar` writes ComfyUI's graph beside it as `NAME.json` instead.
    """
    _check_frames(frames)
    palette = shared_palette(frames, colors=255 if optimize else 256)
    mode = Image.Dither.FLOYDSTEINBERG if dither else Image.Dither.NONE
    images = [f.convert("RGB").quantize(palette=palette, dither=mode) for f in frames]
    colors = palette.getpalette()[: 3 * 256]
    info: dict[str, Any] = dict(loop=0, duration=_duration_ms(fps), optimize=False)
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
        info["comment"] = ours_json(metadata).encode("utf-8")
    graph = sidecar_graph(comfy) if workflow_sidecar else None
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", **info)
        if graph is not None:  # inside the GIF's block: a failed sidecar leaves no GIF either
            with atomic_path(sidecar_path(path)) as side:
                side.write_text(json.dumps(graph, indent=2), encoding="utf-8")
    return path


def write_webp(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
               comfy: Comfy = None, quality: int = 90, lossless: bool = False) -> Path:
    """An animated WebP that loops forever (full colour, much smaller than a GIF).

    ComfyUI's graph goes in EXIF tags as ComfyUI writes them (what the front end reads on drop); ours in XMP."""
    _check_frames(frames)
    images = [f.convert("RGB") for f in frames]
    # kmax=0: no key frames after the first. libwebp otherwise encodes frames near each key-frame slot twice (as a key
    # frame and as a change) to pick the smaller; for these animations that takes a third off the encoding time at the
    # same size and quality (docs/performance.md), and key frames only serve seeking, which a short loop never needs.
    info: dict[str, Any] = dict(save_all=True, append_images=images[1:], loop=0, duration=_duration_ms(fps),
                                quality=quality, lossless=lossless, method=4, minimize_size=False, kmin=0, kmax=0)
    if metadata:
        info["xmp"] = xmp_packet(metadata)
    exif = webp_exif(comfy)
    if exif is not None:
        info["exif"] = exif
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="WEBP", **info)
    return path


def write_apng(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
               comfy: Comfy = None, compress_level: int = 6) -> Path:
    """An animated PNG (APNG) that loops forever: lossless, animates in browsers and in ComfyUI's canvas, and keeps
    ComfyUI's graph in text chunks like every PNG ComfyUI saves."""
    _check_frames(frames)
    images = [f.convert("RGB") for f in frames]
    info: dict[str, Any] = dict(save_all=True, append_images=images[1:], loop=0, duration=_duration_ms(fps),
                                compress_level=compress_level, pnginfo=png_info(metadata, comfy))
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="PNG", **info)
    return path


def _even_rgb(frame: Image.Image, even: tuple[int, int]) -> np.ndarray:
    """yuv420p needs even dimensions: repeat the last row/column rather than add a black line."""
    rgb = np.asarray(frame.convert("RGB"))
    if rgb.shape[1::-1] != even:
        rgb = np.pad(rgb, ((0, even[1] - rgb.shape[0]), (0, even[0] - rgb.shape[1]), (0, 0)), mode="edge")
    return rgb


def _write_video(frames: Sequence[Image.Image], path: Path, *, fps: float, container_format: str, codec: str,
                 codec_options: dict[str, str], tags: dict[str, str], container_options: dict[str, str] | None = None,
                 sound: "Sound | None" = None) -> Path:
    """Encode `frames` with PyAV's bundled FFmpeg (yuv420p, odd sizes padded to even), `tags` as container metadata, and
    `sound` (fitted to the frames' exact duration) interleaved with them, starting with the first frame."""
    import av

    from .sound import SOUND_CODECS, SoundEncoder

    _check_frames(frames)
    width, height = frames[0].size
    even = (width + width % 2, height + height % 2)
    rate = Fraction(check_fps(fps)).limit_denominator(1001)
    with atomic_path(path) as tmp:
        with av.open(str(tmp), mode="w", format=container_format, options=container_options or {}) as container:
            for key, value in tags.items():
                container.metadata[key] = value
            stream = container.add_stream(codec, rate=rate)
            stream.width, stream.height = even
            stream.pix_fmt = "yuv420p"
            stream.options = codec_options
            audio = None
            if sound is not None:
                audio = SoundEncoder(container, sound.fitted(len(frames) / float(rate)), *SOUND_CODECS[path.suffix.lower()])
            for k, frame in enumerate(frames):
                for packet in stream.encode(av.VideoFrame.from_ndarray(_even_rgb(frame, even), format="rgb24")):
                    container.mux(packet)
                if audio is not None:
                    audio.until((k + 1) / float(rate))  # the sound that plays during this frame, beside it
            for packet in stream.encode():
                container.mux(packet)
            if audio is not None:
                audio.close()
    return path


def write_mp4(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
              comfy: Comfy = None, crf: int = 18, sound: "Sound | None" = None) -> Path:
    """H.264 MP4 that plays everywhere; tags as `udta/meta` keys (FFmpeg's `use_metadata_tags`), which ComfyUI's
    front end reads on drop, and the index at the front (`faststart`) so browsers play it while it loads."""
    return _write_video(frames, path, fps=fps, container_format="mp4", codec="libx264",
                        codec_options={"crf": str(crf), "preset": "medium"},
                        container_options={"movflags": "use_metadata_tags+faststart"},
                        tags=container_tags(metadata, comfy, upper=False), sound=sound)


def write_webm(frames: Sequence[Image.Image], path: Path, *, fps: float, metadata: dict[str, Any] | None = None,
               comfy: Comfy = None, crf: int = 32, sound: "Sound | None" = None) -> Path:
    """VP9 WebM in constant-quality mode; tags as Matroska SimpleTags (`WORKFLOW`, `PROMPT`, `COMMENT`)."""
    return _write_video(frames, path, fps=fps, container_format="webm", codec="libvpx-vp9",
                        codec_options={"crf": str(crf), "b": "0", "row-mt": "1", "deadline": "good", "cpu-used": "4"},
                        tags=container_tags(metadata, comfy, upper=True), sound=sound)


def write_png_frames(frames: Sequence[Image.Image], folder: Path, *, metadata: dict[str, Any] | None = None, prefix: str = "frame") -> list[Path]:
    """Numbered PNGs (frame_0001.png ...), each written atomically, metadata in an iTXt chunk."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, frame in enumerate(frames, start=1):
        target = folder / f"{prefix}_{i:04d}.png"
        with atomic_path(target) as tmp:
            frame.convert("RGB").save(tmp, format="PNG", pnginfo=png_info(metadata, None))
        paths.append(target)
    return paths


WRITERS = {".gif": write_gif, ".webp": write_webp, ".png": write_apng, ".mp4": write_mp4, ".webm": write_webm}


def save_animation(frames: Sequence[Image.Image], path: str | os.PathLike, *, fps: float = 8.0,
                   metadata: dict[str, Any] | None = None, comfy: Comfy = None, **options: Any) -> Path:
    """Write `frames` to `path`, the format chosen by its extension (options go to that writer).

    `comfy`: ComfyUI's entries ({"prompt": ..., "workflow": ...}), embedded where its front end reads them. `sound`
    (MP4 and WebM only) is written beside the frames, fitted to their exact duration."""
    out = check_output_path(path)
    if options.get("sound") is not None and out.suffix.lower() not in (".mp4", ".webm"):
        raise InputError("audio", f"a {out.suffix.lower()[1:].upper()} file cannot carry sound", "write .mp4 or .webm for an animation with sound")
    if "sound" in options and options["sound"] is None:
        options.pop("sound")
    return WRITERS[out.suffix.lower()](frames, out, fps=fps, metadata=metadata, comfy=comfy, **options)


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
