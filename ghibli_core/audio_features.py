"""What a soundtrack does at every frame, for schedules that follow the music (NumPy only, no librosa).

    features = AudioFeatures.of(sound, fps=12, frames=48)
    features.amplitude[k], features.onset[k], features.beat[k]      # each 0..1, one value per frame
    features.tempo                                                  # beats per minute
    features.keyframes("onset", scale=0.05)                         # '0:(0), 1:(0.0206), ...' (Deforum's form)

- amplitude: RMS loudness over the frame's span, normalised to the loudest frame.
- onset: spectral flux (how much new energy appears, summed over frequency bins, half-wave rectified), the strongest
  within the frame's span, normalised to the strongest.
- beat: 1 on the frame nearest each beat, decaying over the beat (exp(-3 x fraction of the beat since it)); beats come
  from the tempo found by autocorrelating the onset envelope (60-200 BPM) and its best-aligned phase.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .sound import Sound

FEATURES = ("amplitude", "onset", "beat")
HOP = 512
WINDOW = 2048


def _mono(sound: Sound) -> np.ndarray:
    return sound.samples.mean(0).astype(np.float64)


def _flux(x: np.ndarray) -> np.ndarray:
    """Spectral flux per hop (log-magnitude spectra, half-wave rectified differences summed over bins)."""
    if x.size < WINDOW:
        x = np.pad(x, (0, WINDOW - x.size))
    frames = 1 + (x.size - WINDOW) // HOP
    idx = np.arange(WINDOW)[None, :] + HOP * np.arange(frames)[:, None]
    spectra = np.log1p(100 * np.abs(np.fft.rfft(x[idx] * np.hanning(WINDOW), axis=1)))
    flux = np.maximum(np.diff(spectra, axis=0, prepend=np.zeros_like(spectra[:1])), 0).sum(1)  # from silence: a start is an onset
    return flux


def tempo_and_phase(flux: np.ndarray, hop_seconds: float, lo_bpm: float = 60.0, hi_bpm: float = 200.0) -> tuple[float, float]:
    """(tempo in BPM, time of the first beat in seconds) from the onset envelope's autocorrelation, weighted by a
    log-normal prior around 120 BPM (a lag and its double correlate alike: the prior picks the common tempo)."""
    env = flux - flux.mean()
    if not np.any(env):
        return 0.0, 0.0
    corr = np.correlate(env, env, mode="full")[env.size - 1:]
    lags = np.arange(corr.size)
    lo = max(1, int(60.0 / hi_bpm / hop_seconds))
    hi = min(corr.size - 1, int(math.ceil(60.0 / lo_bpm / hop_seconds)))
    if hi <= lo:
        return 0.0, 0.0
    if corr[0] <= 0 or corr[lo:hi + 1].max() < 0.1 * corr[0]:
        return 0.0, 0.0  # nothing repeats: no beat (a held tone, speech)
    bpm = 60.0 / (lags[lo:hi + 1] * hop_seconds)
    prior = np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)  # a lag and its double correlate alike: lean to common tempos
    score = np.maximum(corr[lo:hi + 1], 0) * prior
    best = lo + int(np.argmax(score))
    # refine the lag to a fraction of a hop (parabolic fit on the autocorrelation peak)
    if 0 < best < corr.size - 1:
        a, b, c = corr[best - 1], corr[best], corr[best + 1]
        shift = 0.5 * (a - c) / (a - 2 * b + c) if (a - 2 * b + c) != 0 else 0.0
    else:
        shift = 0.0
    period = (best + shift) * hop_seconds
    # phase: the offset within one period where the onset envelope lines up best with a pulse train of that period
    period_hops = period / hop_seconds
    totals = []
    for start in range(max(1, int(math.ceil(period_hops)))):
        idx = np.round(start + np.arange(int((flux.size - start) / period_hops) + 1) * period_hops).astype(int)
        totals.append(float(flux[idx[idx < flux.size]].sum()))
    phase = int(np.argmax(totals)) * hop_seconds
    return 60.0 / period, phase


@dataclass(frozen=True)
class AudioFeatures:
    """One value per frame of each feature (0..1), the tempo, and the beat times (seconds)."""

    fps: float
    amplitude: np.ndarray
    onset: np.ndarray
    beat: np.ndarray
    tempo: float
    beats: tuple[float, ...]

    @classmethod
    def of(cls, sound: Sound, fps: float, frames: int) -> "AudioFeatures":
        """The features of `sound` over `frames` frames at `fps` (frame k covers [k/fps, (k+1)/fps))."""
        x = _mono(sound)
        rate = sound.rate
        hop_seconds = HOP / rate
        flux = _flux(x)
        tempo, phase = tempo_and_phase(flux, hop_seconds)
        spans = [(int(round(k / fps * rate)), int(round((k + 1) / fps * rate))) for k in range(frames)]
        rms = np.array([math.sqrt(float(np.mean(x[a:b] ** 2))) if b > a and a < x.size else 0.0 for a, b in spans])
        # the flux value at hop h describes the window centred near h*HOP + WINDOW/2
        centres = np.arange(flux.size) * hop_seconds + WINDOW / 2 / rate
        onset = np.array([float(flux[(centres >= k / fps) & (centres < (k + 1) / fps)].max(initial=0.0)) for k in range(frames)])
        # an onset within the first hops of its window is seen early: align the window's centre, not its start
        duration = x.size / rate
        beats: list[float] = []
        if tempo > 0:
            period = 60.0 / tempo
            t = phase + WINDOW / 2 / rate
            while t < duration:
                beats.append(round(float(t), 6))
                t += period
        beat = np.zeros(frames)
        for k in range(frames):
            t = k / fps
            before = [b for b in beats if b <= t + 0.5 / fps]
            if before and tempo > 0:
                since = max(0.0, t - before[-1])
                beat[k] = math.exp(-3.0 * since / (60.0 / tempo))
        norm = lambda v: v / v.max() if v.size and v.max() > 0 else v  # noqa: E731
        return cls(float(fps), norm(rms), norm(onset), beat, round(tempo, 3), tuple(beats))

    def value(self, feature: str, t: float) -> float:
        """Feature `feature` at frame `t` (linear between frames; the last value past the end)."""
        series = getattr(self, feature)
        if series.size == 0:
            return 0.0
        return float(np.interp(t, np.arange(series.size), series))

    def functions(self) -> dict:
        """amplitude(t), onset(t), beat(t) for schedule expressions (t: the frame)."""
        return {name: (lambda t, name=name: self.value(name, t)) for name in FEATURES}

    def series(self, feature: str, scale: float = 1.0, offset: float = 0.0) -> list[float]:
        """`offset + scale x feature` per frame."""
        return [offset + scale * float(v) for v in getattr(self, feature)]

    def keyframes(self, feature: str, scale: float = 1.0, offset: float = 0.0) -> str:
        """A Deforum-style keyframe string of `offset + scale x feature`: `0:(0.01), 1:(0.0306), ...` (what every
        schedule takes)."""
        return ", ".join(f"{k}:({v:.4g})" for k, v in enumerate(self.series(feature, scale, offset)))
