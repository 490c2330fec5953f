"""Plans that direct the camera, from the outside in: `plan --json` (frames kept, a parallel `camera` list), plan
files old and new, the main command painting the plan's moves (an explicit --camera wins), batch rows, and per-frame
schedules from the CLI, the batch and the library reaching the painter."""
from __future__ import annotations

import json

import pytest
from chat_server import Step
from conftest import OPENAI_TEST_KEY

from ghibli_core import cli
from ghibli_core.animate import AnimationSettings
from ghibli_core.batch import load_jobs
from ghibli_core.blend import MotionSettings
from ghibli_core.camera import MOVES, CameraSettings, Move
from ghibli_core.errors import InputError
from ghibli_core.export import read_metadata
from ghibli_core.job import AnimationJob, run_job
from ghibli_core.plan import Plan, load_plan_file, make_plan, parse_plan_text, plan_json
from ghibli_core.schedule import denoising_steps

KEY = OPENAI_TEST_KEY  # the conftest `server` fixture sets it


def _moves(camera: list[str]) -> list[Move]:
    return [Move.parse(m) for m in camera]


def test_plan_json_keeps_frames_and_adds_a_parallel_camera_list(capsys):
    assert cli.main(["plan", "a harbour town at dusk", "--frames", "6", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert len(body["frames"]) == len(body["camera"]) == 6 and all(isinstance(f, str) for f in body["frames"])
    assert all(m.name in MOVES for m in _moves(body["camera"]))
    assert body["camera"] == make_plan("a harbour town at dusk", 6).camera
    assert cli.main(["plan", "a harbour town at dusk", "--frames", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(" | " in line for line in lines)  # the text view shows each beat's move


HOSTILE = [
    # a model that answers in prose around a fenced list of objects with its own key names
    'Sure! ```json\n[{"scene": "misty bay at dawn", "camera_motion": "slow dolly in"}, {"description": "gulls over the bay", '
    '"movement": {"type": "pan", "direction": "right", "speed": "50%"}}, {"visual": "boats rocking", "shot": "barrel roll!!"}]\n```',
    # strings and objects mixed, a camera as a number, a truncated tail
    '["misty bay at dawn | crane-up", {"prompt": "gulls over the bay", "camera": 3}, {"prompt": "boats rock',
    # too many beats and an unknown key for the camera
    json.dumps([{"prompt": f"bay {i}", "lens": "fisheye"} for i in range(7)]),
]


@pytest.mark.parametrize("reply", HOSTILE)
def test_plan_json_from_an_openai_server_has_n_known_moves(server, capsys, reply):
    server.push(Step(content=reply))
    rc = cli.main(["plan", "a harbour", "--frames", "3", "--json", "--backend", "openai", "--base-url", f"{server.url}/v1"])
    assert rc == 0
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert len(body["frames"]) == len(body["camera"]) == 3 and all("Ghibli" in f for f in body["frames"])
    assert all(m.name in MOVES for m in _moves(body["camera"]))
    assert KEY not in captured.out + captured.err
    assert "response_format" in server.requests[0]["json"]


def test_a_guessed_or_unknown_camera_word_is_a_warning(server, capsys):
    server.push(Step(content=json.dumps([{"prompt": "a bay", "camera": "slow dolly in"}, {"prompt": "a bay at noon", "camera": "warp drive"}])))
    assert cli.main(["plan", "a harbour", "--frames", "2", "--json", "--backend", "openai", "--base-url", f"{server.url}/v1"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["camera"] == ["push-in:0.5", "static"]
    assert "frame 1: camera 'slow dolly in' read as push-in:0.5" in captured.err
    assert "frame 2: camera 'warp drive' is not a known move; used static" in captured.err


def test_plan_files_round_trip_in_every_form(tmp_path):
    plan = make_plan("a windmill on a hill", 5)
    as_json = tmp_path / "p.json"
    as_json.write_text(json.dumps(plan_json(plan)))
    as_lines = tmp_path / "p.txt"
    as_lines.write_text("\n".join(plan.lines()) + "\n")
    as_objects = tmp_path / "o.json"
    as_objects.write_text(json.dumps([{"prompt": f, "camera": c} for f, c in zip(plan.frames, plan.camera)]))
    for path in (as_json, as_lines, as_objects):
        loaded = load_plan_file(path)
        assert (loaded.frames, loaded.camera) == (plan.frames, plan.camera), path.name
    old = tmp_path / "old.json"  # a plan written before plans had moves
    old.write_text(json.dumps({"idea": "x", "frames": ["a", "b"]}))
    assert load_plan_file(old).camera == [] and [str(m) for m in load_plan_file(old).moves()] == ["static", "static"]
    mixed = parse_plan_text("first | pan-left:0.5\n# a comment\nsecond\nthird|sway", "mixed.txt")
    assert mixed.camera == ["pan-left:0.5", "static", "sway"] and mixed.frames == ["first", "second", "third"]


@pytest.mark.parametrize("text,words", [
    ("a | zoomy\nb", "frame 1 in bad.txt: unknown move 'zoomy'"),
    ("a | push-in:9\nb", "frame 1 in bad.txt: strength 9.0 of push-in is out of range"),
    ('{"frames": ["a", "b"], "camera": ["sway"]}', "`camera` in bad.txt is not a list of one move per frame"),
    ('[{"prompt": "a", "camera": "orbit"}]', "frame 1 in bad.txt: unknown move 'orbit'"),
])
def test_a_person_s_bad_move_is_an_error_naming_the_frame(text, words):
    with pytest.raises(InputError, match="^plan-file: " + words.replace("(", r"\(").replace(")", r"\)")):
        parse_plan_text(text, "bad.txt")


def test_the_main_command_paints_the_plan_s_moves_and_camera_overrides(tiny, tmp_path):
    plan_file = tmp_path / "plan.txt"
    plan_file.write_text("a mill at dawn | truck-left\na mill at noon | truck-left\na mill at dusk | truck-right\n")
    base = ["--tiny", "--tiny-dir", str(tiny.root), "--plan-file", str(plan_file), "--steps", "4", "--quiet", "--seed", "2"]
    out = tmp_path / "planned.gif"
    assert cli.main(base + ["-o", str(out), "--fov", "55"]) == 0
    meta = read_metadata(out)
    assert meta["plan_camera"] == ["truck-left", "truck-left", "truck-right"]
    assert meta["camera"]["settings"]["beats"] == meta["plan_camera"] and meta["camera"]["settings"]["fov"] == 55
    poses = meta["camera"]["poses"]
    assert poses[1][0] < 0 and poses[2][0] < poses[1][0]  # two beats of truck-left: the camera went left twice
    over = tmp_path / "override.gif"
    assert cli.main(base + ["-o", str(over), "--camera", "push-in"]) == 0
    settings = read_metadata(over)["camera"]["settings"]
    assert settings["move"] == "push-in" and "beats" not in settings
    still = tmp_path / "still.gif"
    assert cli.main(base + ["-o", str(still), "--camera", "static"]) == 0
    assert all(pose == [0.0] * 6 for pose in read_metadata(still)["camera"]["poses"])


def test_an_old_plan_without_moves_holds_the_camera_still(pipes):
    job = AnimationJob(painting=AnimationSettings(frames=3, steps=4, seed=1, width=64, height=64),
                       motion=MotionSettings(cadence=1, interpolate=0), plan=Plan("x", ["a", "b", "c"], "file"))
    assert job.camera_for(job.plan) is None
    lens = CameraSettings(move=None, fov=60)
    assert AnimationJob(painting=job.painting, plan=job.plan, camera=lens).camera_for(job.plan) is None
    moving = Plan("x", ["a", "b", "c"], "file", camera=["sway", "sway", "sway"])
    assert AnimationJob(painting=job.painting, plan=moving, camera=lens).camera_for(moving).beats == tuple(_moves(moving.camera))


def test_batch_rows_carry_plan_moves_and_schedules(tmp_path, jobs_files):
    rows = [{"plan": [{"prompt": "a hill", "camera": "pan-left"}, {"prompt": "a hill at noon", "camera": "pan-right"}],
             "strength_schedule": "0:(0.6), 1:(0.4)", "sharpen": "auto", "noise": 0, "prompt_travel": True, "seed_schedule": "7+t"},
            {"prompt": "a lake", "contrast": "1.05", "guidance_schedule": "0:(7), 7:(5)", "sharpen": 0.1}]
    a, b = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    assert a.plan_camera == ("pan-left", "pan-right") and a.camera_settings() is None
    paint = a.animation()
    assert paint.prompt_travel and paint.values(1).strength == pytest.approx(0.4) and paint.values(1).seed == 8
    assert paint.values(0).sharpen == "auto" and paint.values(0).noise == 0
    other = b.animation()
    assert other.values(7).guidance == 5 and other.values(0).contrast == 1.05 and other.values(3).sharpen == 0.1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x", "strength_schedule": "0:(0.5), 5:(1.5)"}\n{"prompt": "y", "prompt_travel": "maybe"}\n'
                   '{"prompt": "z", "noise": "t*"}\n{"prompt": "w", "plan": [{"prompt": "a", "camera": "zoomy"}]}\n')
    with pytest.raises(InputError) as exc:
        load_jobs(bad)
    text = str(exc.value)
    assert "line 1: strength-schedule: 1.1 at frame 3 is out of range" in text  # 8 frames, keys 0 and 5 and "line 2: prompt_travel" in text
    assert "line 3: noise" in text and "line 4: plan: frame 1 in the plan of line 4: unknown move 'zoomy'" in text


def test_schedules_reach_the_painter_frame_by_frame(pipes, recorder):
    settings = AnimationSettings(frames=4, steps=8, seed=3, width=64, height=64, strength_schedule="0:(0.5), 3:(0.25)",
                                 guidance_schedule="0:(7.5), 2:(7.5), 3:(1)", controlnet_scale_schedule="0.5+t*0.25",
                                 seed_schedule="0:(40), 3:(43)", color_coherence=0, cache_interval=1, controlnet_end=1.0, cfg_end=1.0)
    motion = MotionSettings(cadence=1, interpolate=0)
    job = AnimationJob(painting=settings, motion=motion, plan=Plan("x", [f"a bay {i}" for i in range(4)], "test"))
    result = run_job(job, pipes, progress=False)
    painted = result.animation.painted
    assert [f.seed for f in painted] == [40, 41, 42, 43]
    # txt2img 8 steps, then int(8 x strength(k)) for k = 1, 2, 3: 0.4166 -> 3, 0.3333 -> 2, 0.25 -> 2
    assert recorder.unet_calls == 8 + 3 + 2 + 2 == denoising_steps(settings, motion)
    # guidance 1 at frame 3: no classifier-free guidance there (one conditioning instead of two)
    assert [t.shape[0] for t in recorder.texts] == [2] * (8 + 3 + 2) + [1] * 2
    assert recorder.control_scales == pytest.approx([0.75] * 3 + [1.0] * 2 + [1.25] * 2)
    assert [f.coherence["sharpen"] >= 0 for f in painted[1:]] == [True] * 3 and painted[0].coherence is None
    with pytest.raises(InputError, match=r"^strength-schedule: steps 8 x strength at frame 3 runs no denoising step"):
        AnimationSettings(frames=4, steps=8, strength_schedule="0:(0.5), 3:(0.1)")
    with pytest.raises(InputError, match=r"^seed-schedule: -1 at frame 0 is out of range"):
        AnimationSettings(frames=4, seed_schedule="t-1")
    assert AnimationSettings(seed_policy="iter", seed=5).frame_seed(2) == 7  # Deforum's name for incrementing


def test_cli_schedule_flags_reach_the_file_and_bad_ones_fail_first(tiny, tmp_path, no_model_loads, capsys):
    out = tmp_path / "s.gif"
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a bay", "--frames", "3", "-o", str(out), "--strength-schedule", "0:(2)"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "strength-schedule: 2 at frame 0 is out of range" in err
    for flag, value, words in (("--sharpen", "much", "sharpen"), ("--noise", "2", "noise: 2"), ("--contrast", "0", "contrast: 0"),
                               ("--sharpen-kernel", "4", "sharpen-kernel: 4 is even")):
        assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a bay", "--frames", "3", "-o", str(out), flag, value]) == 2
        assert words in capsys.readouterr().err
    assert not out.exists()


def test_cli_schedules_in_the_metadata(tiny, tmp_path):
    out = tmp_path / "s.gif"
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a bay", "--frames", "3", "--steps", "4", "-o", str(out), "--quiet",
                     "--strength-schedule", "0:(0.5), 2:(0.75)", "--seed-schedule", "9", "--sharpen", "0.1", "--noise", "0",
                     "--contrast", "0:(1), 2:(1.1)", "--prompt-travel", "--camera", "static"]) == 0
    meta = read_metadata(out)
    s = meta["settings"]
    assert (s["strength_schedule"], s["seed_schedule"], s["sharpen"], s["noise"], s["contrast"], s["prompt_travel"]) == \
        ("0:(0.5), 2:(0.75)", 9.0, 0.1, 0.0, "0:(1), 2:(1.1)", True)
    coherence = meta["schedule"]["coherence"]
    assert coherence[0] is None and coherence[1]["sharpen"] == 0.1 and coherence[1]["noise"] == 0
    for key in ("sharpness_drift", "contrast_drift", "saturation_drift"):
        assert isinstance(meta["metrics"][key], float)
