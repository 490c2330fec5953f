"""Music from the idea: a text-to-music model (transformers' MusicGen) writes a track for the animation, looped with the
soundtrack's own equal-power crossfade so the file loops without a click.

    music = MusicSettings(prompt=None, seed=7)                  # None: the plan's music prompt
    sound = music.compose("gentle piano and strings, warm", seconds=4.0)

MusicGen writes about 50 audio tokens a second at 32 kHz; its decoder has room for about 30 s, so a longer track is
written in windows, each continuing the last `CONTEXT` seconds of the one before (MusicGen's audio prompt) and joined
with a crossfade. The track is written `CROSSFADE` seconds longer than the animation and looped to its exact length.
Any model with MusicGen's interface can be named (a hub id or a folder); the default's weights (facebook/musicgen-small)
are licensed CC-BY-NC 4.0: non-commercial use only.
"""
from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from . import defaults
from .device import resolve_device
from .errors import InputError, ModelLoadError, check_range, first_line
from .models.holder import HELD
from .models.sources import ModelSource, resolve_source, safe_load_kwargs
from .sound import CROSSFADE, Sound, crossfade_join, fit_sound

#: The longest window one generate() call writes, and how much of the last window the next one continues from.
WINDOW = 30.0
CONTEXT = 10.0
#: Model types that write music from text (MusicGen and its melody-conditioned sibling's text path).
MUSIC_MODEL_TYPES = ("musicgen", "musicgen_melody")


def check_music_model(source: ModelSource) -> None:
    """A folder or cached hub model is a text-to-music model (its config says so): refused in one line otherwise."""
    config = Path(source.location, "config.json") if source.kind == "folder" else None
    if source.kind == "hub":
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(source.location, "config.json")
        config = Path(cached) if isinstance(cached, str) else None
    if config is None or not config.is_file():
        return  # a hub id not cached yet: transformers checks it when it loads
    model_type = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    if model_type not in MUSIC_MODEL_TYPES:
        raise InputError("music-model", f"{source.name} is a {model_type or 'model of unknown type'}, not a text-to-music model",
                         f"give a MusicGen model, e.g. {defaults.MUSIC_MODEL}, or its folder")


class MusicModel:
    """A loaded MusicGen and its processor; `generate` writes seconds of music for a prompt, seeded."""

    def __init__(self, source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> None:
        from transformers import AutoProcessor, MusicgenForConditionalGeneration
        from transformers.utils import logging as tlog

        self.source, self.device = source, device
        self._lock = threading.Lock()
        local = source.kind == "folder"
        verbosity, bars = tlog.get_verbosity(), tlog.is_progress_bar_enabled()
        tlog.set_verbosity_error()  # MusicGen's own configs put pad/bos one past the codebook: a harmless config note
        tlog.disable_progress_bar()  # a small model: its loading bar says nothing
        try:
            self.processor = AutoProcessor.from_pretrained(source.location, local_files_only=local)
            self.model = MusicgenForConditionalGeneration.from_pretrained(
                source.location, dtype=dtype, local_files_only=local, **safe_load_kwargs(allow_pickle)).to(device).eval()
        except Exception as exc:
            raise ModelLoadError(f"music-model: could not load {source.name} as a MusicGen model ({first_line(exc)}); "
                                 f"give a MusicGen model, e.g. {defaults.MUSIC_MODEL}") from exc
        finally:
            tlog.set_verbosity(verbosity)
            if bars:
                tlog.enable_progress_bar()
        self.rate = int(self.model.config.audio_encoder.sampling_rate)
        self.frame_rate = float(self.model.config.audio_encoder.frame_rate)
        self.codebooks = int(self.model.config.decoder.num_codebooks)

    def _window(self, prompt: str, seconds: float, guidance: float, context: np.ndarray | None) -> np.ndarray:
        """One generate() call: `seconds` of new music (after `context`, which the model continues), mono float32."""
        inputs: dict[str, Any] = dict(text=[prompt], padding=True, return_tensors="pt")
        if context is not None:
            inputs.update(audio=[context], sampling_rate=self.rate)
        batch = {k: v.to(self.device) for k, v in self.processor(**inputs).items()}
        if "input_values" in batch:
            batch["input_values"] = batch["input_values"].to(self.model.dtype)
        # the delay pattern costs one token per extra codebook at the end
        tokens = int(math.ceil(seconds * self.frame_rate)) + self.codebooks
        out = self.model.generate(**batch, do_sample=True, guidance_scale=guidance, max_new_tokens=tokens)
        audio = out[0].float().mean(0).cpu().numpy()  # (channels, samples) -> mono: a stereo model's channels averaged
        skip = 0 if context is None else len(context)  # the output starts with the context it continued
        return np.ascontiguousarray(audio[skip:skip + int(round(seconds * self.rate))], dtype=np.float32)

    @torch.inference_mode()
    def generate(self, prompt: str, seconds: float, *, seed: int, guidance: float = defaults.MUSIC_GUIDANCE,
                 on_window: Callable[[int, int], None] | None = None) -> np.ndarray:
        """`seconds` of music (mono float32 at `self.rate`) for `prompt`; the same seed gives the same samples."""
        # each later window adds WINDOW - CONTEXT - CROSSFADE seconds (its head is the crossfade with the one before)
        windows = 1 if seconds <= WINDOW else 1 + math.ceil((seconds - WINDOW) / (WINDOW - CONTEXT - CROSSFADE))
        n = int(round(seconds * self.rate))
        fade = int(round(CROSSFADE * self.rate))
        devices = [self.device] if self.device.type == "cuda" else []
        with self._lock, torch.random.fork_rng(devices=devices):  # MusicGen samples from torch's global generator
            torch.manual_seed(seed)
            track = self._window(prompt, min(seconds, WINDOW), guidance, None)
            if on_window:
                on_window(1, windows)
            k = 1
            while len(track) < n:
                context = track[-int(CONTEXT * self.rate):]
                more = self._window(prompt, min(WINDOW - CONTEXT, (n - len(track)) / self.rate + CROSSFADE), guidance,
                                    context)
                # the new window restarts `fade` samples before the end: an equal-power crossfade joins them
                track = crossfade_join(track, more, min(fade, len(more), len(track)))
                k += 1
                if on_window:
                    on_window(k, windows)
        return np.ascontiguousarray(track[:n], dtype=np.float32)


def held_music_model(source: ModelSource, device: torch.device, dtype: torch.dtype, allow_pickle: bool = False) -> MusicModel:
    """One MusicGen per (model, device, dtype) in the engine's holder (freed with every other held model)."""
    key = ("music", source.location, str(device), str(dtype), allow_pickle)
    return HELD.get(key, lambda: MusicModel(source, device, dtype, allow_pickle), label=f"music: {source.name} ({device})")


@dataclass(frozen=True)
class MusicSettings:
    """Music for an animation: the prompt (None: the plan's music prompt), the model, seed, guidance and gain; for
    formats that cannot carry sound, whether to write it beside the file (NAME.m4a)."""

    prompt: str | None = None
    model: str = defaults.MUSIC_MODEL
    seed: int | None = None
    guidance: float = defaults.MUSIC_GUIDANCE
    gain_db: float = 0.0
    sidecar: bool = False
    device: str = "auto"
    allow_pickle: bool = False

    def __post_init__(self) -> None:
        check_range("music-guidance", self.guidance, 1.0, 20.0)
        check_range("audio-gain", self.gain_db, -60.0, 24.0)
        if self.prompt is not None and not self.prompt.strip():
            object.__setattr__(self, "prompt", None)

    def source(self) -> ModelSource:
        """The model, checked (a folder, a cached hub id or a hub id to download) without loading it."""
        source = resolve_source(self.model, "music", "music-model", allow_pickle=self.allow_pickle)
        check_music_model(source)
        return source

    def seed_for(self, job_seed: int | None) -> int:
        """The music's seed: its own, else the animation's (so one seed reproduces picture and sound)."""
        return self.seed if self.seed is not None else (job_seed if job_seed is not None else 0)

    def compose(self, prompt: str, seconds: float, *, seed: int | None = None,
                on_window: Callable[[int, int], None] | None = None) -> Sound:
        """The track for an animation `seconds` long: written for `seconds` + the crossfade, looped to exactly `seconds`.
        `seed` is the animation's (used when the settings name none); `on_window(done, windows)` follows a long track."""
        device = resolve_device(self.device)
        dtype = torch.float32  # MusicGen's EnCodec decoder is sensitive to half precision; the model is small
        source = self.source()
        model = held_music_model(source, device, dtype, self.allow_pickle)
        seed = self.seed_for(seed)
        samples = model.generate(prompt, seconds + CROSSFADE, seed=seed, guidance=self.guidance, on_window=on_window)
        sound = Sound(samples[None, :], model.rate, name=source.name)
        return fit_sound(sound, seconds, "loop", self.gain_db)

    def summary(self, sound: Sound, prompt: str, seed: int) -> dict:
        """For metadata: the generator, its prompt and seed, the fit, what was written."""
        return {"generator": sound.name, "prompt": prompt, "seed": seed, "fit": "loop", "guidance": self.guidance,
                "gain_db": self.gain_db, **sound.summary()}
