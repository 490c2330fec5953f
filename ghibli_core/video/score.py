"""How well a stylised clip follows its source: any stylised clip (ours or another tool's) scored against the source.

    figures = ClipScore()                               # measured pair by pair, as the frames come
    figures.add(source_frame, output_frame) ...
    figures.result()  # temporal warp error with the source's motion, the source's own, structure fidelity

- temporal warp error (Lai et al. 2018, with the source's flow): output frame t+1 against output frame t carried by the
  source's flow from t+1 to t, on the source's consistent pixels; beside it the same figure for the source itself.
- structure fidelity: how well the output's edges follow the source's: the correlation of their gradient magnitudes
  (luminance, lightly blurred so brush texture does not count as structure), averaged over frames; 1 = the same edges.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import cv2
import numpy as np

from ..blend.flow import FlowCache
from ..metrics import luminance
from .clip import ClipSettings, probe, read_clip
from .motion import source_warp_error


def edges(frame: np.ndarray) -> np.ndarray:
    """Gradient magnitude of the lightly blurred luminance."""
    grey = cv2.GaussianBlur(luminance(frame), (0, 0), 1.0)
    return cv2.magnitude(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))


def structure_fidelity(source: np.ndarray, output: np.ndarray) -> float:
    a, b = edges(source).ravel(), edges(output).ravel()
    if a.std() < 1e-6 or b.std() < 1e-6:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@dataclass
class ClipScore:
    """The clip figures, measured pair by pair as (source, output) frames arrive in order."""

    flows: FlowCache = field(default_factory=FlowCache)
    temporal: list[float] = field(default_factory=list)
    source_own: list[float] = field(default_factory=list)
    structure: list[float] = field(default_factory=list)
    _prev: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, source: np.ndarray, output: np.ndarray) -> None:
        if self._prev is not None:
            prev_src, prev_out = self._prev
            self.temporal.append(source_warp_error(prev_out, output, prev_src, source, self.flows))
            self.source_own.append(source_warp_error(prev_src, source, prev_src, source, self.flows))
        self.structure.append(structure_fidelity(source, output))
        self._prev = (source, output)

    def result(self) -> dict[str, float]:
        mean = lambda values: float(np.mean(values)) if values else 0.0  # noqa: E731
        return {"temporal_warp_error": round(mean(self.temporal), 6), "source_warp_error": round(mean(self.source_own), 6),
                "structure_fidelity": round(mean(self.structure), 4)}


def score_files(stylised: str | os.PathLike, source: str | os.PathLike, settings: ClipSettings | None = None) -> dict:
    """Score a stylised clip against its source: the source read with `settings` (the window the stylised clip was made
    from), the stylised clip frame for frame at the same size. Both are probed first (bad input: one line)."""
    from ..errors import InputError
    from ..metrics import MetricsStream

    src_info = probe(source, settings or ClipSettings())
    out_info = probe(stylised, ClipSettings(width=src_info.size[0], height=src_info.size[1]))
    if out_info.frames != src_info.frames:
        raise InputError("metrics-only", f"{out_info.path.name} has {out_info.frames} frames, the source's window "
                         f"{src_info.frames}", "give the window it was made from (--start/--duration/--every-nth/--fps)")
    score, stream = ClipScore(), None
    stream = MetricsStream(flows=score.flows)
    for src, out in zip(read_clip(src_info), read_clip(out_info)):
        score.add(src.image, out.image)
        stream.add([out.image])
    figures = stream.result()
    figures.pop("loop_seam")
    return {**figures, **score.result(), "source": src_info.summary(), "stylised": out_info.path.name}
