"""Which planned prompts condition each painted frame, and with what weight: every beat reaches the picture.

With a cadence, a painted keyframe stands for the planned frames around it (the others are filled by flow or the
camera). Each planned frame j lies between two painted keyframes a <= j <= b and is shared between them by time,
as a linear interpolation would share it: (b - j) / (b - a) to a and (j - a) / (b - a) to b. A keyframe's text
conditioning is then the weighted blend of those frames' prompt embeddings, so with cadence 2 the 8 beats of a plan
all condition the 4 painted frames; with cadence 1 each frame is painted from its own prompt alone.

Prompt travel (`travel=True`) goes further: the conditioning is a continuous path through the beats, each one
travelling to the next by spherical interpolation (slerp) of their embeddings, and a keyframe takes that path's
time-weighted average over the span it stands for, so even at cadence 1 a beat leans toward its neighbours and the
beats flow into each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

#: samples per beat along the travel path (the blend of a span is their weighted mean)
TRAVEL_SAMPLES = 4


@dataclass(frozen=True)
class PromptMix:
    """A painted frame's text conditioning: sum of weight x slerp(embedding of plan[a], embedding of plan[b], t)."""

    terms: tuple[tuple[int, int, float, float], ...]  # (plan index a, plan index b, t in [0, 1), weight); weights sum to 1

    def plan_weights(self) -> dict[int, float]:
        """Each plan index's share of the conditioning (a slerp term counted as its lerp share), summing to 1."""
        out: dict[int, float] = {}
        for a, b, t, w in self.terms:
            out[a] = out.get(a, 0.0) + w * (1 - t)
            if t > 0:
                out[b] = out.get(b, 0.0) + w * t
        return {k: v for k, v in sorted(out.items()) if v > 1e-9}

    def to_list(self) -> list[list[float]]:
        """[[plan index, weight], ...] rounded, for metadata."""
        return [[k, round(v, 4)] for k, v in self.plan_weights().items()]


def prompt_mixes(frames: int, keyframes: Sequence[int], loop: bool, travel: bool = False) -> list[PromptMix]:
    """The conditioning of each painted keyframe of an animation of `frames` planned frames."""
    keys = list(keyframes)
    mixes = []
    for n, k in enumerate(keys):
        # the painted neighbours; a loop wraps (before the first keyframe is the last one of the previous loop)
        prev = keys[n - 1] if n > 0 else (keys[-1] - frames if loop else None)
        nxt = keys[n + 1] if n + 1 < len(keys) else (keys[0] + frames if loop else None)
        if travel:
            mixes.append(_travel_mix(k, prev, nxt, frames, loop))
            continue
        first = prev + 1 if prev is not None else k
        last = nxt - 1 if nxt is not None else k
        mixes.append(_normalised([(j % frames, j % frames, 0.0, _tent(j, k, prev, nxt)) for j in range(first, last + 1)]))
    return mixes


def _tent(t: float, k: int, prev: int | None, nxt: int | None) -> float:
    """Keyframe k's share of time t between its neighbours (1 at k, 0 at the neighbouring keyframes)."""
    if t == k:
        return 1.0
    if t < k:
        return 0.0 if prev is None else max(0.0, (t - prev) / (k - prev))
    return 0.0 if nxt is None else max(0.0, (nxt - t) / (nxt - k))


def _travel_mix(k: int, prev: int | None, nxt: int | None, frames: int, loop: bool) -> PromptMix:
    start = prev if prev is not None else k
    end = nxt if nxt is not None else k
    terms = []
    steps = int(round((end - start) * TRAVEL_SAMPLES))
    for s in range(steps + 1):
        t = start + s / TRAVEL_SAMPLES
        weight = _tent(t, k, prev, nxt)
        if weight <= 0:
            continue
        j = int(t // 1)
        frac = t - j
        if not loop and j >= frames - 1:  # the path ends at the last beat
            j, frac = frames - 1, 0.0
        a, b = j % frames, (j + 1) % frames
        terms.append((a, b if frac > 0 else a, frac, weight))
    return _normalised(terms)


def _normalised(terms: list[tuple[int, int, float, float]]) -> PromptMix:
    total = sum(w for *_, w in terms)
    merged: dict[tuple[int, int, float], float] = {}
    for a, b, t, w in terms:
        if w > 0:
            key = (a, b, round(t, 6))
            merged[key] = merged.get(key, 0.0) + w / total
    return PromptMix(tuple((a, b, t, w) for (a, b, t), w in merged.items()))


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, eps: float = 1e-6) -> torch.Tensor:
    """Spherical interpolation of each token vector (last dimension) of `a` toward `b`, magnitudes interpolated
    linearly; nearly parallel vectors fall back to a linear mix."""
    if t <= 0:
        return a
    if t >= 1:
        return b
    na, nb = a.norm(dim=-1, keepdim=True), b.norm(dim=-1, keepdim=True)
    ua, ub = a / na.clamp_min(eps), b / nb.clamp_min(eps)
    dot = (ua * ub).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.acos(dot)
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-4
    wa = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / torch.where(parallel, 1.0, sin))
    wb = torch.where(parallel, t, torch.sin(t * omega) / torch.where(parallel, 1.0, sin))
    return (wa * ua + wb * ub) * ((1 - t) * na + t * nb)


def mix_embeddings(mix: PromptMix, embedding_of: "callable[[int], torch.Tensor]") -> torch.Tensor:
    """The conditioning tensor of `mix`, given each plan index's prompt embedding."""
    if len(mix.terms) == 1 and mix.terms[0][2] == 0:
        return embedding_of(mix.terms[0][0])
    out = None
    for a, b, t, w in mix.terms:
        term = slerp(embedding_of(a), embedding_of(b), t) * w
        out = term if out is None else out + term
    return out
