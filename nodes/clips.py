"""ComfyUI's clip inputs (an IMAGE batch with its rate and AUDIO, or a VIDEO) -> the engine's clip and window.
No ComfyUI import, so it is testable on its own.

A VIDEO that is a file (Load Video's) is handed to the engine as that file: the engine reads it as players show it
(turned as a phone recorded it, HDR brought to SDR, deinterlaced, square pixels, its sound in sync with the first
picture) one frame at a time, where ComfyUI's own decode (`get_components`) holds every frame as float32 and does none
of that on older versions. A trim kept on the VIDEO (newer ComfyUI's `get_active_trim_window`) becomes the window.
"""
from __future__ import annotations

import os

from ghibli_core.api import ClipSettings, InMemoryClip, InputError

from .audio import to_sound
from .images import to_arrays


def clip_source(images=None, video=None, fps: float = 24.0, audio=None, max_side: int = 768
                ) -> tuple[str | InMemoryClip, ClipSettings]:
    """The clip to repaint and its settings: the IMAGE input's frames at `fps` with `audio`; else a VIDEO's file within
    its trim; else, for a VIDEO held only in memory, its decoded components (`audio`, when connected, replaces theirs)."""
    settings = ClipSettings(max_side=max_side)
    if images is not None:
        return _in_memory(to_arrays(images, "images"), fps, audio), settings
    if video is None:
        raise InputError("images", "nothing is connected", "connect a video's frames (IMAGE) or a VIDEO")
    source = video.get_stream_source() if hasattr(video, "get_stream_source") else None
    if isinstance(source, (str, os.PathLike)) and os.path.isfile(source):
        start, duration = video.get_active_trim_window() if hasattr(video, "get_active_trim_window") else (0.0, 0.0)
        return os.fspath(source), ClipSettings(start=float(start), duration=float(duration) or None, max_side=max_side)
    parts = video.get_components()
    return _in_memory(to_arrays(parts.images, "video"), float(parts.frame_rate),
                      audio if audio is not None else parts.audio), settings


def _in_memory(frames, fps: float, audio) -> InMemoryClip:
    return InMemoryClip(frames, float(fps), sound=to_sound(audio) if audio is not None else None)
