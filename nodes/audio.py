"""ComfyUI AUDIO <-> the engine's Sound. No ComfyUI import, so it is testable on its own.

ComfyUI's AUDIO is `{"waveform": float tensor [B, C, T], "sample_rate": int}` (LoadAudio, VHS, GetVideoComponents);
the engine's Sound is float32 (channels, samples), contiguous. The first item of a batch is the sound.
"""
from __future__ import annotations

import numpy as np
import torch

from ghibli_core.api import InputError, Sound


def to_sound(audio, input_name: str = "audio") -> Sound:
    """An AUDIO mapping as a Sound (more than two channels down-mixed to stereo, as the engine does for files)."""
    try:
        waveform, rate = audio["waveform"], int(audio["sample_rate"])
    except (TypeError, KeyError, ValueError) as exc:
        raise InputError(input_name, "is not an AUDIO (waveform and sample_rate)", "connect LoadAudio or a video's audio") from exc
    if not isinstance(waveform, torch.Tensor) or waveform.ndim != 3 or waveform.shape[-1] == 0 or rate <= 0:
        shape = tuple(waveform.shape) if isinstance(waveform, torch.Tensor) else type(waveform).__name__
        raise InputError(input_name, f"expected a waveform [B, C, T] with samples, got {shape}", "connect LoadAudio or a video's audio")
    samples = waveform[0].detach().to("cpu", torch.float32).numpy()
    if samples.shape[0] > 2:
        rest = samples[2:].mean(0)
        samples = np.stack([samples[0] + 0.5 * rest, samples[1] + 0.5 * rest]) / 1.5
    return Sound(np.ascontiguousarray(samples, dtype=np.float32), rate, "audio")


#: The key an AUDIO made by the pack carries its story under (what wrote it: model, prompt, seed); other nodes read
#: only `waveform` and `sample_rate`, and the Ghibli saver puts it in the file's metadata.
ABOUT = "ghibli_sound"


def to_audio(sound: Sound, about: dict | None = None) -> dict:
    audio = {"waveform": torch.from_numpy(np.ascontiguousarray(sound.samples)).unsqueeze(0), "sample_rate": int(sound.rate)}
    if about:
        audio[ABOUT] = dict(about)
    return audio


def about(audio) -> dict:
    """What the pack recorded of how an AUDIO was made (empty for anyone else's)."""
    return dict(audio.get(ABOUT) or {}) if isinstance(audio, dict) else {}
