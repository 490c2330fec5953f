"""Sound nodes: Ghibli Music (music written for an animation, as ComfyUI's AUDIO) and Audio Schedule (AUDIO turned into
the schedule strings the Camera and painting nodes take)."""
from __future__ import annotations

from comfy_api.latest import io

from ghibli_core.api import AUDIO_FEATURES, AudioFeatures, Cancelled, InputError, MusicSettings, defaults

from . import host, validation
from .audio import to_audio, to_sound
from .types import CATEGORY, Run


class GhibliMusic(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliMusic",
            display_name="Ghibli Music",
            category=f"{CATEGORY}/sound",
            description="Writes music for the animation with a text-to-music model (MusicGen, from models/musicgen or the "
            "Hugging Face cache), looped to the animation's exact length without a click. Connect the run of Sequential "
            "Img2Img to take its plan's music prompt and its length; the AUDIO goes to the saver (MP4/WebM) or "
            f"PreviewAudio. The default model's weights ({defaults.MUSIC_MODEL}) are licensed CC-BY-NC 4.0 (non-commercial).",
            inputs=[
                io.String.Input("prompt", multiline=True, default="",
                                tooltip="The music in words (instruments, mood, tempo). Empty: the connected run's plan's music prompt."),
                io.Float.Input("seconds", default=0.0, min=0.0, max=600.0, step=0.5,
                               tooltip="How long the track is. 0: exactly as long as the connected run's animation."),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1, control_after_generate=True,
                             tooltip="The same seed writes the same music."),
                io.Combo.Input("model", options=list(host.music_models()), default=defaults.MUSIC_MODEL,
                               tooltip="A MusicGen folder in models/musicgen, or a hub id (from the Hugging Face cache; "
                               "downloaded once when online)."),
                io.Float.Input("guidance", default=defaults.MUSIC_GUIDANCE, min=1.0, max=20.0, step=0.5,
                               tooltip="How closely the music follows its prompt."),
                Run.Input("run", optional=True, tooltip="Optional: the run output of Sequential Img2Img or Ghibli Video "
                          "Stylize, for its music prompt and its length."),
            ],
            outputs=[io.Audio.Output("audio", display_name="audio", tooltip="The track (32 kHz), for the saver or PreviewAudio.")],
            hidden=[io.Hidden.unique_id],
        )

    @classmethod
    @validation.checks("model")
    def validate_inputs(cls, model=None) -> bool | str:
        listing = host.music_models()
        errors = [] if model is None or model in listing else [host.missing_model_message("model", model, host.MUSIC_FOLDER)]
        return validation.report(errors)

    @classmethod
    def execute(cls, prompt: str, seconds: float, seed: int, model: str, guidance: float, run=None) -> io.NodeOutput:
        if seconds <= 0 and run is None:
            raise InputError("seconds", "is 0 (match the animation) but no run is connected",
                             "connect Sequential Img2Img's run, or give the seconds")
        text = prompt.strip() or (run.music_prompt if run is not None else "")
        if not text:
            raise InputError("prompt", "is empty and no run is connected", "write the music in words, or connect a run")
        length = seconds if seconds > 0 else run.duration
        location = host.resolve_listed(model, host.music_models(), host.MUSIC_FOLDER, "model")
        settings = MusicSettings(prompt=text, model=location, seed=seed, guidance=guidance, device=host.torch_device())
        import comfy.utils

        bar, check = None, host.cancel_check()

        def on_window(done: int, windows: int) -> None:  # a track past 30 s is written in windows: progress and cancel
            nonlocal bar
            bar = bar or comfy.utils.ProgressBar(windows, node_id=cls.hidden.unique_id)
            bar.update_absolute(done)
            if done < windows and check():
                raise Cancelled(f"cancelled after {done} of {windows} music windows")

        try:
            sound = settings.compose(text, length, on_window=on_window)
        except Cancelled as exc:
            host.raise_if_cancelled(exc)
        return io.NodeOutput(to_audio(sound, settings.summary(sound, text, seed)))


class GhibliAudioSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="GhibliAudioSchedule",
            display_name="Ghibli Audio Schedule",
            category=f"{CATEGORY}/sound",
            description="Turns a sound into a schedule string (one keyframe per frame, Deforum's 0:(v) form) for any "
            "schedule input of the Camera and painting nodes: offset + scale x the feature, where amplitude is the "
            "loudness, onset the new sound appearing, beat 1 on each beat decaying over it (each 0..1).",
            inputs=[
                io.Audio.Input("audio", tooltip="LoadAudio, Ghibli Music, or a video's sound."),
                io.Combo.Input("feature", options=list(AUDIO_FEATURES), default="onset",
                               tooltip="amplitude: loudness; onset: new sound appearing; beat: on the beat, decaying."),
                io.Float.Input("fps", default=8.0, min=0.1, max=1000.0, step=0.5,
                               tooltip="The rate of the frames the schedule drives (the painted frames' rate: the "
                               "animation's fps / (interpolate + 1))."),
                io.Int.Input("frames", default=16, min=1, max=100000, tooltip="How many frames the schedule covers."),
                io.Float.Input("scale", default=0.05, min=-100.0, max=100.0, step=0.01, tooltip="Multiplies the feature."),
                io.Float.Input("offset", default=0.0, min=-100.0, max=100.0, step=0.01, tooltip="Added after scaling."),
            ],
            outputs=[io.String.Output("schedule", display_name="schedule",
                                      tooltip="Keyframes like 0:(0.01), 1:(0.034), ... for a schedule input."),
                     io.Float.Output("tempo", display_name="tempo", tooltip="The sound's tempo in beats per minute.")],
        )

    @classmethod
    def execute(cls, audio, feature: str, fps: float, frames: int, scale: float, offset: float) -> io.NodeOutput:
        sound = to_sound(audio)
        features = AudioFeatures.of(sound, fps, frames)
        return io.NodeOutput(features.keyframes(feature, scale, offset), float(features.tempo))


NODES = [GhibliMusic, GhibliAudioSchedule]
