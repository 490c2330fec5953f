"""Music from the idea on the tiny random MusicGen (the real transformers classes and file layout): seeded, exactly the
animation's length, looped without a click, written into the MP4 in sync with its metadata; longer tracks in windows
that continue each other; the plan's music prompt (offline rules, an LLM reply's field, plan files); bad input refused
in one line before anything loads."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ghibli_core import music as music_mod
from ghibli_core.cli import main
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata
from ghibli_core.models.holder import HELD
from ghibli_core.models.sources import resolve_source
from ghibli_core.music import MusicModel, MusicSettings
from ghibli_core.plan import OfflinePlanner
from ghibli_core.plan.music import music_prompt
from ghibli_core.plan.normalize import normalize_reply
from ghibli_core.plan.plan_file import parse_plan_text, plan_json


@pytest.fixture(scope="module")
def model(tiny):
    import torch

    return MusicModel(resolve_source(str(tiny.music_dir), "music", "music-model"), torch.device("cpu"), torch.float32)


def test_the_same_seed_writes_the_same_samples_and_another_seed_other_ones(model):
    a = model.generate("gentle piano", 0.5, seed=3)
    b = model.generate("gentle piano", 0.5, seed=3)
    c = model.generate("gentle piano", 0.5, seed=4)
    assert a.dtype == np.float32 and a.shape == (16000,) and np.isfinite(a).all() and a.std() > 0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_a_long_track_is_written_in_windows_that_continue_each_other(model, monkeypatch):
    monkeypatch.setattr(music_mod, "WINDOW", 1.0)
    monkeypatch.setattr(music_mod, "CONTEXT", 0.3)
    windows = []
    track = model.generate("calm strings", 1.5, seed=1, on_window=lambda k, n: windows.append((k, n)))
    assert track.shape == (48000,) and np.isfinite(track).all()
    # 1 s, then windows of up to 0.7 s continuing the last 0.3 s, each joined by a 0.25 s crossfade
    assert windows == [(1, 3), (2, 3), (3, 3)]
    # a continuation returns only the new music (the context it was given is cut off its head)
    context = track[:8000]
    assert model._window("calm strings", 0.3, 3.0, context).shape == (9600,)


def test_music_for_an_animation_is_exactly_its_length_and_loops_without_a_click(tiny):
    settings = MusicSettings(model=str(tiny.music_dir), seed=5)
    sound = settings.compose("soft flute", 1.25)
    assert sound.rate == 32000 and sound.samples.shape == (1, 40000) and sound.samples.flags.c_contiguous
    s = sound.samples[0]
    step = np.abs(np.diff(s)).mean()
    assert abs(float(s[-1] - s[0])) < 6 * step  # the seam is no bigger a jump than the music's own steps
    assert settings.summary(sound, "soft flute", 5)["fit"] == "loop"
    assert any("music" in str(k) for k in HELD.keys())  # held like the other models (freed by release_models)


@pytest.mark.parametrize("idea,words", [("a harbour town at night", "music box"), ("rain on a forest shrine", "harp"),
                                        ("a seaside cliff", "accordion"), ("a cat", "piano and warm strings")])
def test_the_offline_planner_writes_a_music_prompt_from_the_ideas_mood(idea, words):
    plan = OfflinePlanner().plan(idea, 4)
    assert plan.music == music_prompt(idea) and words in plan.music and "Ghibli" in plan.music
    assert OfflinePlanner().plan(idea, 4).music == plan.music


def test_an_llm_reply_carries_its_music_prompt_and_a_reply_without_one_gets_the_rules():
    reply = json.dumps({"frames": [{"prompt": f"a meadow, beat {i}, Studio Ghibli style", "camera": "sway"} for i in range(3)],
                        "music": '  Music: "warm   harp and strings, slow waltz"  '})
    plan = normalize_reply(reply, "a meadow", 3, "openai")
    assert plan.music == "warm harp and strings, slow waltz" and not plan.warnings
    fenced = "Here you go:\n```json\n" + reply + "\n```"
    assert normalize_reply(fenced, "a meadow", 3).music == plan.music
    bare = json.dumps([{"prompt": f"a meadow {i}, Studio Ghibli style", "camera": "sway"} for i in range(3)])
    assert normalize_reply(bare, "a meadow", 3).music == music_prompt("a meadow")
    saved = plan_json(plan)
    assert saved["music"] == plan.music and parse_plan_text(json.dumps(saved), "plan.json").music == plan.music


def test_the_command_writes_music_into_the_mp4_in_sync(tiny_env, tmp_path, capsys):
    import av

    out = tmp_path / "harbour.mp4"
    assert main(["a harbour town at night", "--tiny", "--frames", "2", "--steps", "4", "--fps", "4", "--music",
                 "--music-seed", "9", "-o", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "sound: music by tiny-musicgen from \"slow dreamy music box" in printed and "seed 9" in printed
    with av.open(str(out)) as c:
        video, audio = c.streams.video[0], c.streams.audio[0]
        seconds = video.frames / 4
        assert audio.codec_context.name == "aac" and audio.rate == 32000
        assert abs(float(audio.duration * audio.time_base) - seconds) < 1 / 32000 + 1e-9
    meta = read_metadata(out)
    assert meta["sound"]["generator"] == "tiny-musicgen" and meta["sound"]["seed"] == 9
    assert meta["sound"]["prompt"] == meta["music_prompt"] and meta["sound"]["fit"] == "loop"


@pytest.mark.parametrize("args,match", [
    (["--music", "--music-model", "{chat}"], r"^music-model: tiny-chat is a llama, not a text-to-music model"),
    (["--music-seed", "3"], r"^music: --music-seed was given without --music"),
    (["--music", "--audio", "{sound}"], r"^music: and --audio were both given"),
    (["--music", "-o", "{gif}"], r"^music: a GIF file cannot carry sound; .*--audio-sidecar"),
    (["--music", "--music-model", "{missing}"], r"^music-model: no file or folder at"),
])
def test_bad_music_input_is_one_line_before_any_model_loads(tiny, tiny_env, tmp_path, capsys, no_model_loads, args, match):
    import re

    import clips

    fill = dict(chat=tiny.chat_dir, sound=clips.write_sound(tmp_path / "tone.wav"), gif=tmp_path / "x.gif",
                missing=tmp_path / "nothing")
    argv = [a.format(**fill) for a in args]
    out = [] if "-o" in argv else ["-o", str(tmp_path / "x.mp4")]
    assert main(["a forest", "--tiny", *argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(match, err[-1].split("error: ", 1)[1]), err[-1]
    assert not list(tmp_path.glob("x.*"))


def test_settings_check_their_values():
    with pytest.raises(InputError, match="^music-guidance: "):
        MusicSettings(guidance=0.5)
    assert MusicSettings(prompt="  ").prompt is None
