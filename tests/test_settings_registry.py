"""One definition of every setting (ghibli_core/registry.py): the dataclasses, the command line, the jobs files and
docs/settings.md agree with it on names, defaults, ranges and choices; a surface that lacks a setting fails here.
(The ComfyUI widgets are checked against it through a real ComfyUI's /object_info in test_comfyui.py.)"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from ghibli_core import registry
from ghibli_core.animate import AnimationSettings
from ghibli_core.batch import load_jobs
from ghibli_core.batch.jobs import FIELDS
from ghibli_core.blend import MotionSettings
from ghibli_core.camera import CameraSettings
from ghibli_core.errors import InputError
from ghibli_core.presets import DEFAULT_PRESET, PRESETS

REPO = Path(__file__).resolve().parent.parent
from ghibli_core.plan import PlannerSettings  # noqa: E402

OWNERS = {"painting": AnimationSettings, "motion": MotionSettings, "camera": CameraSettings, "planner": PlannerSettings}


def _expected_default(s: registry.Setting):
    value = getattr(PRESETS[DEFAULT_PRESET], s.name) if s.preset else None
    return s.default if value is None else value  # (guidance: set by the turbo preset only)


@pytest.mark.parametrize("s", [s for s in registry.SETTINGS.values() if s.owner == "painting"], ids=lambda s: s.name)
def test_the_painting_settings_defaults_are_the_tables(s):
    assert getattr(AnimationSettings(), s.name) == _expected_default(s)


def test_motion_and_camera_defaults_are_the_tables():
    motion, camera = MotionSettings(), CameraSettings()
    for s in registry.of("motion"):
        if not s.preset:  # the blend stage's own defaults add nothing; the presets set cadence and in-betweens
            assert getattr(motion, s.name) == s.default, s.name
    for name in ("fov", "near", "far"):
        assert getattr(camera, name) == registry.SETTINGS[name].default
    assert {f for f in AnimationSettings.__dataclass_fields__ if not f.startswith("_")} - {"audio_features"} == \
        {s.name for s in registry.of("painting")}, "a painting setting is missing from the table (or the table has one too many)"
    assert {f for f in MotionSettings.__dataclass_fields__} == {s.name for s in registry.of("motion")}
    assert {f for f in CameraSettings.__dataclass_fields__ if not f.startswith("_")} - {"move", "beats", "audio_features"} == \
        {s.name for s in registry.of("camera")} - {"camera"}


def _out_of_range(s: registry.Setting) -> list:
    step = 1 if s.kind == "int" else 0.01
    values = [s.hi + (0 if s.hi_open else step) if s.hi < 1e6 else s.hi * 2]
    values.append(s.lo if s.lo_open else s.lo - step)
    return values


@pytest.mark.parametrize("s", [s for s in registry.SETTINGS.values() if s.kind in ("int", "float") and s.owner in OWNERS],
                         ids=lambda s: s.name)
def test_each_settings_dataclass_refuses_what_the_table_refuses(s):
    for value in _out_of_range(s):
        kwargs = {s.name: int(value) if s.kind == "int" else float(value)}
        if s.name == "near":
            kwargs["far"] = 2e6
        with pytest.raises(InputError, match=rf"^{s.label}: .*out of range"):
            OWNERS[s.owner](**kwargs)


def _parser(command: str):
    from ghibli_core.cli import SUBCOMMANDS
    from ghibli_core.cli.generate import build_parser

    if command == "main":
        return build_parser()
    module = __import__(f"ghibli_core.cli.{SUBCOMMANDS[command][0]}", fromlist=["build_parser"])
    return module.build_parser()


def test_every_flag_of_the_main_command_is_the_tables():
    parser = _parser("main")
    by_option = {o: a for a in parser._actions for o in a.option_strings}
    for s in registry.SETTINGS.values():
        if s.cli_flag is None:
            continue
        assert s.cli_flag in by_option, f"{s.name}: no {s.cli_flag} on the main command"
        action = by_option[s.cli_flag]
        if s.name == "loop":
            assert action.option_strings == ["--no-loop"] and action.default is True
            continue
        if s.kind == "choice":
            assert list(action.choices) == list(s.choices), s.name
        if s.owner == "camera" or s.owner == "models" and s.kind == "text":
            expected = None if s.kind in ("schedule", "text") else s.default  # no model flag: the table's default model
        elif s.kind == "bool":
            expected = None if s.owner == "painting" else (s.default or (None if s.default is None else False))
        else:
            expected = None if (s.preset or s.kind in ("schedule", "amount")) else s.default
        assert action.default == expected, (s.name, action.default, expected)
        if s.kind in ("int", "float"):
            assert action.type is (int if s.kind == "int" else float), s.name
            assert s.range_text() in action.help or s.owner == "camera", (s.name, action.help)
        if s.owner == "models" and s.kind == "text" and s.default:
            assert str(s.default) in action.help, s.name  # the default model is named in the help
    for flag in ("--frames", "--size", "--color-match"):  # the beats, the size, the old name of colour coherence
        assert flag in by_option
    blend = {a.dest: a for a in _parser("blend")._actions}
    assert blend["color_match"].default == registry.SETTINGS["color_match"].default
    assert list(blend["color_mode"].choices) == list(registry.SETTINGS["color_mode"].choices)
    plan = {o for a in _parser("plan")._actions for o in a.option_strings}
    assert {"--model", "--plan-model", "--backend", "--temperature"} <= plan


def test_model_and_planner_settings_are_checked_by_the_table():
    from ghibli_core.models.pipelines import ModelSettings
    from ghibli_core.plan import PlannerSettings

    models, planner = ModelSettings(), PlannerSettings()
    for s in registry.of("models"):
        assert getattr(models, s.name) == s.default, s.name
    for s in registry.of("planner"):
        if s.owner == "planner":
            assert getattr(planner, s.name) == s.default, s.name
    # LoRAs and edge controls have flags of their own (--lora, --speed-lora, --control)
    assert {f for f in ModelSettings.__dataclass_fields__} - {"loras", "speed_lora", "edges"} == {s.name for s in registry.of("models")}
    assert {f for f in PlannerSettings.__dataclass_fields__} == {s.name for s in registry.of("planner")}
    with pytest.raises(InputError, match="^dtype: unknown dtype 'fp8'"):
        ModelSettings(dtype="fp8")
    with pytest.raises(InputError, match="^compile: unknown mode 'fastest'"):
        ModelSettings(compile="fastest")
    with pytest.raises(InputError, match="^backend: unknown plan backend 'x'"):
        PlannerSettings(backend="x")
    with pytest.raises(InputError, match="^temperature: 3.0 is out of range"):
        PlannerSettings(temperature=3.0)
    assert ModelSettings(device="cuda:1").device == "cuda:1"  # an indexed device is resolve_device's to check


def test_the_old_flag_name_sets_the_renamed_setting(tiny_env, tmp_path):
    from ghibli_core.cli.generate import build_parser, job_from_args

    args = build_parser().parse_args(["--tiny", "x", "-o", str(tmp_path / "x.gif"), "--color-match", "0.25", "--reveal-boost", "0.5"])
    job = job_from_args(args)
    assert job.painting.color_coherence == 0.25 and job.painting.reveal_boost == 0.5


def test_every_jobs_field_is_a_setting_or_the_jobs_own_and_each_reaches_the_render(tmp_path):
    settings = [s for s in registry.SETTINGS.values() if s.jobs]
    assert set(registry.JOBS_FIELDS) <= set(FIELDS)
    assert set(FIELDS) - set(registry.JOBS_FIELDS) == {"id", "prompt", "plan", "preset", "size", "output", "model", "loras", "speed_lora", "fps",
                                                        "video", "start", "duration", "every_nth", "max_frames",  # clip rows
                                                        "audio", "audio_fit", "audio_start", "audio_gain", "audio_sidecar"}
    valid = {"int": None, "float": None, "bool": True, "choice": None, "text": None, "schedule": "0:(0.1)", "amount": "0:(0.5)"}
    row = {"prompt": "a hill", "frames": 4}
    for s in settings:
        if s.name in ("frames",):
            continue
        value = valid[s.kind]
        if value is None:
            value = s.choices[-1] if s.kind == "choice" else (s.default if s.default is not None else 7)
            if s.kind == "float" and s.name not in ("fov", "near", "far"):
                value = s.hi if not s.hi_open else s.lo + 0.5
            if s.kind == "int" and s.name not in ("width", "height", "sharpen_kernel"):
                value = min(int(s.hi), 3) if s.hi >= 3 else int(s.hi)
        row[s.name] = value
    row.update({"camera": "push-in", "sharpen": "auto", "seed_policy": "incrementing", "strength": 0.9, "steps": 10,
                "width": 64, "height": 64, "color_mode": "histogram", "cadence": 2})
    (tmp_path / "jobs.jsonl").write_text(json.dumps(row) + "\n" + json.dumps({"prompt": "old names", "color_match": 0.3}) + "\n")
    job, old = load_jobs(tmp_path / "jobs.jsonl")
    painting, motion, camera = job.animation(), job.motion(), job.camera_settings()
    for s in settings:
        holder = {"painting": painting, "motion": motion, "camera": camera}[s.owner]
        got = getattr(holder, s.name if s.name != "camera" else "move")
        want = row[s.name]
        if s.name == "camera":
            assert str(got) == want
        elif s.kind == "schedule" and s.owner == "camera":
            assert got == want, s.name
        elif s.name != "seed_policy":
            assert got == want or (isinstance(got, float) and math.isclose(got, want)), (s.name, got, want)
    assert old.animation().color_coherence == 0.3  # the old name is still read


def test_the_settings_page_is_what_the_table_writes():
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from write_settings_doc import PAGE, page
    finally:
        sys.path.pop(0)
    assert PAGE.read_text(encoding="utf-8") == page(), "docs/settings.md is stale: run scripts/write_settings_doc.py"
    for s in registry.SETTINGS.values():
        assert f"| `{s.name}` |" in page()
