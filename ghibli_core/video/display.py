"""How a stored video picture is shown: its pixels' aspect, its display matrix and its fields, as players show them.

A phone stores a portrait clip as landscape pictures with a display matrix saying "turn a quarter clockwise"; an
anamorphic clip (DV, HDV, some DVDs) stores pixels wider or narrower than square; an interlaced one (DV, broadcast)
stores two fields taken a field apart in time, which combs wherever something moves. Players, and FFmpeg's command
line (which turns by default), show the picture upright at its display aspect, deinterlaced; so does a clip read here:

    shown = Display.of(stream, first_frame)   # from the stream's sample aspect ratio and the frame's display matrix
    shown.size(w, h)                           # the picture's (width, height) as shown
    frames = shown.progressive(decoded, tb)    # decoded frames, deinterlaced when they are interlaced (FFmpeg's bwdif)
    shown.apply(rgb)                           # the stored HxWx3 picture, as shown

The turns are FFmpeg's own choice of filters for each display matrix (fftools' autorotate: `transpose`, `hflip`,
`vflip`), so a clip comes out the way `ffmpeg -i clip.mp4 out.mp4` would give it. A matrix that turns by an angle that
is not a quarter turn is not applied (rare outside test files): the picture is kept as stored, with a warning.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Iterable, Iterator

import cv2
import numpy as np

#: FFmpeg's transpose/flip filters, on HxWxC arrays
TURNS = {
    "clock": lambda a: np.rot90(a, -1),  # a quarter turn clockwise
    "cclock": lambda a: np.rot90(a, 1),  # a quarter turn counter-clockwise
    "cclock_flip": lambda a: a.transpose(1, 0, *range(2, a.ndim)),  # counter-clockwise, then upside down: the transpose
    "clock_flip": lambda a: np.rot90(a, -1)[::-1],  # clockwise, then upside down
    "hflip": lambda a: a[:, ::-1],
    "vflip": lambda a: a[::-1],
}
_QUARTER = ("clock", "cclock", "cclock_flip", "clock_flip")


def turns_for(matrix: np.ndarray) -> tuple[tuple[str, ...], float]:
    """FFmpeg's autorotate filters for a display matrix (3x3, 16.16 fixed point as stored), and the angle (degrees,
    clockwise) of a turn that is not a quarter turn, which no filter here applies (0 when there is none)."""
    m = np.asarray(matrix, np.float64).ravel() / 65536.0
    scale_x, scale_y = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale_x == 0 or scale_y == 0:
        return (), 0.0
    theta = float(round(math.degrees(math.atan2(m[1] / scale_y, m[0] / scale_x))))  # minus av_display_rotation_get
    theta -= 360 * math.floor(theta / 360 + 0.9 / 360)  # as fftools' get_rotation: into [0, 360)
    if abs(theta - 90) < 1:
        return (("cclock_flip",) if m[3] > 0 else ("clock",)), 0.0
    if abs(theta - 180) < 1:
        return tuple(name for name, flipped in (("hflip", m[0] < 0), ("vflip", m[4] < 0)) if flipped), 0.0
    if abs(theta - 270) < 1:
        return (("clock_flip",) if m[3] < 0 else ("cclock",)), 0.0
    if abs(theta) < 1:
        return (("vflip",) if m[4] < 0 else ()), 0.0
    return (), theta


@dataclass(frozen=True)
class Display:
    """The stored picture's pixel aspect (width / height of one pixel), the turns that show it upright, and whether
    its frames are interlaced."""

    turns: tuple[str, ...] = ()
    pixel_aspect: Fraction = Fraction(1)
    unapplied_angle: float = 0.0  # a display matrix's turn that is not a quarter turn (kept as stored)
    interlaced: bool = False

    @classmethod
    def of(cls, stream: Any, frame: Any = None) -> "Display":
        """From a PyAV video stream (its sample aspect ratio) and one of its decoded frames (its display matrix, and
        whether it is interlaced)."""
        sar = stream.sample_aspect_ratio or getattr(stream.codec_context, "sample_aspect_ratio", None)
        aspect = Fraction(sar) if sar and Fraction(1, 4) <= sar <= 4 else Fraction(1)  # beyond: broken metadata
        matrix = _display_matrix(frame) if frame is not None else None
        turns, unapplied = turns_for(matrix) if matrix is not None else ((), 0.0)
        return cls(turns, aspect, unapplied, bool(getattr(frame, "interlaced_frame", False)))

    def progressive(self, frames: Iterable[Any], time_base: Any) -> Iterator[Any]:
        """The decoded PyAV frames as shown: through FFmpeg's bwdif deinterlacer (one frame out per frame in, same
        timestamps; frames not flagged interlaced pass untouched) when the clip is interlaced, else as they are."""
        if not self.interlaced:
            yield from frames
            return
        import av

        graph = None
        for frame in frames:
            if graph is None:
                graph = av.filter.Graph()
                source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format, time_base=time_base)
                deinterlace = graph.add("bwdif", "mode=send_frame:parity=auto:deint=interlaced")
                source.link_to(deinterlace)
                deinterlace.link_to(graph.add("buffersink"))
                graph.configure()
            graph.push(frame)
            yield from _drain(graph)
        if graph is not None:
            graph.push(None)  # the last frame waits for a next one: flush it
            yield from _drain(graph)

    @property
    def swaps_sides(self) -> bool:
        return any(name in _QUARTER for name in self.turns)

    def size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of a stored width x height picture as shown."""
        shown = (max(1, int(round(width * self.pixel_aspect))), height)
        return shown[::-1] if self.swaps_sides else shown

    def apply(self, image: np.ndarray) -> np.ndarray:
        """The stored HxWxC picture as shown: stretched to square pixels, then turned."""
        h, w = image.shape[:2]
        if self.pixel_aspect != 1:
            sw = self.size(w, h)[1 if self.swaps_sides else 0]
            image = cv2.resize(image, (sw, h), interpolation=cv2.INTER_AREA if sw < w else cv2.INTER_CUBIC)
        for name in self.turns:
            image = TURNS[name](image)
        return np.ascontiguousarray(image)

    def summary(self) -> dict | None:
        """For metadata: what was done to show the picture (None when nothing was)."""
        if not self.turns and self.pixel_aspect == 1 and not self.interlaced:
            return None
        return {"turns": list(self.turns), "pixel_aspect": f"{self.pixel_aspect.numerator}:{self.pixel_aspect.denominator}",
                "deinterlaced": self.interlaced}


def _drain(graph: Any) -> Iterator[Any]:
    import av

    while True:
        try:
            yield graph.pull()
        except (av.BlockingIOError, av.EOFError):
            return


def _display_matrix(frame: Any) -> np.ndarray | None:
    """The DISPLAYMATRIX side data of a decoded PyAV frame (nine int32), if it has one."""
    for data in getattr(frame, "side_data", None) or ():
        if getattr(getattr(data, "type", None), "name", "") == "DISPLAYMATRIX":
            raw = bytes(data)
            if len(raw) >= 36:
                return np.frombuffer(raw[:36], np.int32).reshape(3, 3)  # native int32, as FFmpeg keeps it
    return None
