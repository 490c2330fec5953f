"""Reading frames made anywhere: a folder of images (natural order), an animated GIF/WebP/PNG, or a video."""
from __future__ import annotations

import functools
import itertools
import os
import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

from .errors import InputError
from .streams import main_stream

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".heic", ".heif")
VIDEO_EXTS = (".mp4", ".mov", ".m4v", ".webm", ".mkv", ".avi")
MAX_FRAMES = 5000
_FIX = "give a folder of frames (PNG/JPEG/WebP/HEIC), an animated GIF/WebP, or a video (MP4/MOV/WebM)"


#: what opening a picture raises when the file is no picture, is damaged, or is too large to open safely
UNREADABLE = (UnidentifiedImageError, OSError, Image.DecompressionBombError)


def unreadable(exc: BaseException, file: Path, input_name: str, fix: str) -> InputError:
    """The one-line error for a picture that could not be opened (`exc`, one of UNREADABLE)."""
    if isinstance(exc, Image.DecompressionBombError):
        return InputError(input_name, f"{file.name} has more pixels than are opened safely ({exc.args[0].split(',')[0]})",
                          "scale it down first (a few thousand pixels a side is plenty)")
    return InputError(input_name, f"{file.name} is not a readable image ({type(exc).__name__})", fix)


@functools.cache
def enable_heif() -> bool:
    """Let Pillow open HEIC/HEIF photos (an iPhone's own format) through pillow-heif, a dependency; False without it."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


def shown_rgb(image: Image.Image) -> Image.Image:
    """A user's picture as it is shown, in 8-bit RGB: turned upright by its EXIF orientation (a phone stores a portrait
    photo sideways), deep greys (16-bit or float PNG/TIFF, which Pillow's own conversion clips to white) scaled down."""
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        values = np.asarray(image, dtype=np.float64)
        top = values.max(initial=0.0)
        full = 65535.0 if image.mode.startswith("I;16") or top > 255 else (1.0 if image.mode == "F" and top <= 1 else 255.0)
        image = Image.fromarray(np.clip(values * (255.0 / full) + 0.5, 0, 255).astype(np.uint8), "L")
    return image.convert("RGB")


def natural_key(name: str) -> list:
    """frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def _same_size(frames: list[np.ndarray], names: list[str], input_name: str) -> list[np.ndarray]:
    size = frames[0].shape[:2]
    for frame, name in zip(frames, names):
        if frame.shape[:2] != size:
            raise InputError(input_name, f"{name} is {frame.shape[1]}x{frame.shape[0]} but the first frame is {size[1]}x{size[0]}",
                             "give frames of one size")
    return frames


def frame_files(folder: Path, input_name: str, limit: int = MAX_FRAMES) -> list[Path]:
    """A folder's pictures in natural order (frame_2 before frame_10), hidden files left out; an empty folder, or one
    of more than `limit`, refused in one line."""
    files = sorted((p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS and not p.name.startswith(".")),
                   key=lambda p: natural_key(p.name))
    if not files:
        raise InputError(input_name, f"folder {folder} holds no images", _FIX)
    if len(files) > limit:
        raise InputError(input_name, f"folder {folder} holds {len(files)} images", f"keep at most {limit}")
    return files


def open_picture(file: Path, input_name: str, fix: str = "remove it or re-export it") -> Image.Image:
    """One picture file, read whole now and as it is shown (`shown_rgb`); an unreadable one refused in one line
    naming `input_name` and `fix`."""
    enable_heif()
    try:
        with Image.open(file) as im:
            return shown_rgb(im)
    except UNREADABLE as exc:
        raise unreadable(exc, file, input_name, fix) from exc


def read_picture(file: Path, input_name: str, fix: str = "remove it or re-export it") -> np.ndarray:
    """`open_picture` as an HxWx3 uint8 array."""
    return np.asarray(open_picture(file, input_name, fix))


def _read_folder(folder: Path, input_name: str) -> tuple[list[np.ndarray], float | None]:
    files = frame_files(folder, input_name)
    frames = [read_picture(file, input_name) for file in files]
    return _same_size(frames, [f.name for f in files], input_name), None


def _read_animation(file: Path, input_name: str) -> tuple[list[np.ndarray], float | None]:
    enable_heif()
    try:
        with Image.open(file) as im:
            frames, durations = [], []
            for frame in ImageSequence.Iterator(im):
                frames.append(np.asarray(frame.convert("RGB")))  # Pillow composites GIF/WebP frames for us
                durations.append(frame.info.get("duration") or im.info.get("duration"))
                if len(frames) > MAX_FRAMES:
                    raise InputError(input_name, f"{file.name} has more than {MAX_FRAMES} frames", "trim it first")
    except UNREADABLE as exc:
        raise unreadable(exc, file, input_name, _FIX) from exc
    known = [d for d in durations if d]
    return frames, (1000.0 / float(np.median(known)) if known else None)


def _read_video(file: Path, input_name: str) -> tuple[list[np.ndarray], float | None]:
    """Every frame of the file's main video stream, as players show it (video/display.py: upright, square pixels;
    video/hdr.py: HDR in SDR colours)."""
    import av

    from .video.display import Display
    from .video.hdr import sdr_rgb

    try:
        with av.open(str(file)) as container:
            stream = main_stream(container, "video")
            if stream is None:
                raise InputError(input_name, f"{file.name} holds no video stream", _FIX)
            rate = float(stream.average_rate) if stream.average_rate else None
            decoded = container.decode(stream)
            first = next(decoded, None)
            if first is None:
                raise InputError(input_name, f"{file.name} has no video frames", _FIX)
            shown = Display.of(stream, first)  # how the first frame is shown is how they all are
            frames = []
            for frame in shown.progressive(itertools.chain([first], decoded), stream.time_base):
                frames.append(shown.apply(sdr_rgb(frame)))
                if len(frames) > MAX_FRAMES:
                    raise InputError(input_name, f"{file.name} has more than {MAX_FRAMES} frames", "trim it first")
    except av.FFmpegError as exc:
        raise InputError(input_name, f"{file.name} is not a readable video ({type(exc).__name__})", _FIX) from exc
    if not frames:
        raise InputError(input_name, f"{file.name} has no video frames", _FIX)
    return frames, rate


def load_frames(path: str | os.PathLike, input_name: str = "input") -> tuple[list[np.ndarray], float | None]:
    """RGB uint8 frames and the source's frame rate (None when the source has none)."""
    src = Path(path).expanduser()
    if src.is_dir():
        return _read_folder(src, input_name)
    if not src.is_file():
        raise InputError(input_name, f"no file or folder at {src.resolve()}", _FIX)
    ext = src.suffix.lower()
    if ext in VIDEO_EXTS:
        return _read_video(src, input_name)
    if ext in IMAGE_EXTS:
        return _read_animation(src, input_name)
    raise InputError(input_name, f"unknown input format {ext or '(none)'!r} in {src.name}", _FIX)
