"""The planner from the command line: `plan` with every backend flag, the main command's plan flags,
`--plan-file`, and faults that end in a warning and a valid plan, never a traceback or a leaked key."""
from __future__ import annotations

import json
import os

import pytest
from chat_server import Step, openai_error
from conftest import OPENAI_TEST_KEY

from ghibli_core import cli
from ghibli_core.export import read_metadata

KEY = OPENAI_TEST_KEY  # the conftest `server` fixture sets it


@pytest.fixture
def run(run_cli, tiny):
    """The installed command with extra environment variables."""
    def call(args, **env):
        return run_cli(args, env=dict(os.environ, HF_HUB_OFFLINE="1", GHIBLI_TINY_DIR=str(tiny.root), **env))

    return call


@pytest.mark.slow
def test_done_when_offline_plan_of_seven(run, tiny):
    res = run(["plan", "a ghibli forest with flickering sunlight", "--frames", "7", "--json"])
    assert res.returncode == 0, res.stderr
    frames = json.loads(res.stdout)["frames"]
    assert len(frames) == 7 and len(set(frames)) == 7 and all("Ghibli" in f for f in frames)


@pytest.mark.slow
def test_plan_command_against_an_openai_server(run, tiny, server, tmp_path):
    server.push(Step(content="Here you go:\n- misty cedars at dawn\n- sun shafts flicker between trunks\n- a spirit crosses the path"))
    out = tmp_path / "plan.json"
    res = run(["plan", "a ghibli forest", "--frames", "3", "--backend", "openai", "--base-url", f"{server.url}/v1",
               "--model", "llama3.2", "--json", "-o", str(out), "--temperature", "0.2", "--seed", "5"], OPENAI_API_KEY=KEY)
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed["backend"] == "openai" and printed["model"] == "llama3.2"
    assert printed["frames"][0].startswith("misty cedars at dawn") and all("Ghibli" in f for f in printed["frames"])
    assert json.loads(out.read_text())["frames"] == printed["frames"]
    assert server.requests[0]["json"]["seed"] == 5
    assert KEY not in res.stdout + res.stderr + out.read_text()


@pytest.mark.slow
def test_plan_command_fault_is_a_warning_not_a_traceback(run, tiny, server):
    server.push(*[Step(status=503, headers={"Retry-After": "0"}, body=openai_error(f"overloaded, key {KEY}"))] * 5)
    res = run(["plan", "a ghibli forest", "--frames", "4", "--backend", "openai", "--base-url", f"{server.url}/v1", "--json"],
              OPENAI_API_KEY=KEY)
    assert res.returncode == 0
    assert "Traceback" not in res.stderr
    assert "ghibli-anim: warning: openai backend" in res.stderr and "HTTP 503" in res.stderr
    assert len(json.loads(res.stdout)["frames"]) == 4
    assert KEY not in res.stdout + res.stderr and "SECRET" not in res.stderr


@pytest.mark.slow
def test_plan_command_missing_key_is_one_line(run_cli):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    res = run_cli(["plan", "x", "--backend", "openai"], env=env, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "OPENAI_API_KEY is not set" in res.stderr
    fallback = run_cli(["plan", "x", "--frames", "2", "--backend", "openai", "--plan-fallback", "--json"], env=env, timeout=120)
    assert fallback.returncode == 0 and len(json.loads(fallback.stdout)["frames"]) == 2


def test_main_command_plans_with_the_server_and_keeps_the_key_out_of_the_gif(tiny, server, tmp_path):
    frames = ["a lantern glows by the river, Studio Ghibli style", "the lantern drifts downstream, Studio Ghibli style"]
    server.push(Step(content=json.dumps(frames)))
    out = tmp_path / "r.gif"
    rc = cli.main(["--tiny", "--tiny-dir", str(tiny.root), "lanterns on a river", "--frames", "2", "-o", str(out), "--quiet",
                   "--backend", "openai", "--base-url", f"http://user:pw@127.0.0.1:{server.url.rsplit(':', 1)[1]}/v1"])
    assert rc == 0
    meta = read_metadata(out)
    assert meta["plan"] == frames and meta["plan_backend"] == "openai" and meta["plan_model"] == "gpt-4o-mini"
    assert KEY.encode() not in out.read_bytes() and b"pw@" not in out.read_bytes()


def test_plan_file_round_trip(tiny, tmp_path, capsys):
    plan_path = tmp_path / "plan.json"
    assert cli.main(["plan", "a cat bus in the rain", "--frames", "3", "-o", str(plan_path)]) == 0
    data = json.loads(plan_path.read_text())
    data["frames"][1] = "the cat bus leaps over a puddle, my own words"  # a hand edit, kept verbatim
    plan_path.write_text(json.dumps(data))
    out = tmp_path / "c.gif"
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "--plan-file", str(plan_path), "-o", str(out), "--quiet"]) == 0
    meta = read_metadata(out)
    assert meta["plan"] == data["frames"] and meta["prompt"] == "a cat bus in the rain" and meta["plan_backend"] == "file"
    assert meta["settings"]["frames"] == 3


def test_text_plan_file(tiny, tmp_path):
    plan_path = tmp_path / "plan.txt"
    plan_path.write_text("# my plan\nfirst frame, Studio Ghibli style\n\nsecond frame, Studio Ghibli style\n")
    from ghibli_core.plan import load_plan_file

    plan = load_plan_file(plan_path)
    assert plan.frames == ["first frame, Studio Ghibli style", "second frame, Studio Ghibli style"] and plan.warnings == []


def test_main_command_with_the_tiny_chat_model(tiny, tmp_path):
    out = tmp_path / "t.gif"
    assert cli.main(["--tiny", "--tiny-dir", str(tiny.root), "a forest", "--frames", "2", "-o", str(out), "--quiet",
                     "--backend", "transformers", "--seed", "1"]) == 0
    meta = read_metadata(out)
    assert meta["plan_backend"] == "transformers" and meta["plan_model"] == "tiny-chat" and len(meta["plan"]) == 2


def bad_plan_files(tmp_path):
    cases = {
        "broken.json": ('{"frames": ["a", ', r"plan-file: broken.json is not valid JSON \(line 1"),
        "nolist.json": ('{"idea": "x"}', "plan-file: nolist.json has no `frames` list"),
        "str.json": ('{"frames": "a forest"}', "plan-file: `frames` in str.json is a str, not a list"),
        "empty.json": ('{"frames": []}', "plan-file: empty.json holds no frames"),
        "blank.json": ('["a forest", "  "]', "plan-file: frame 2 in blank.json is empty"),
        "number.json": ('["a forest", 3]', "plan-file: frame 2 in number.json is not text"),
        "empty.txt": ("# only a comment\n\n", "plan-file: empty.txt holds no frames"),
    }
    for name, (text, _) in cases.items():
        (tmp_path / name).write_text(text)
    return [(str(tmp_path / name), match) for name, (_, match) in cases.items()] + [(str(tmp_path / "none.json"), "plan-file: no file at")]


def test_bad_plan_files_and_flags_are_refused_before_loading(tiny, tmp_path, capsys, monkeypatch):
    def boom(*a, **k):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr("ghibli_core.models.pipelines.load_pipelines", boom)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    out = str(tmp_path / "x.gif")
    t = ["--tiny", "--tiny-dir", str(tiny.root)]
    good = tmp_path / "good.txt"
    good.write_text("one, Studio Ghibli style\ntwo, Studio Ghibli style\n")
    cases = [(["--plan-file", path, "-o", out] + t, match) for path, match in bad_plan_files(tmp_path)] + [
        (["--plan-file", str(good), "--frames", "5", "-o", out] + t, "frames: --frames 5 but the plan file holds 2 frames"),
        (["idea", "-o", out, "--backend", "openai"] + t, "backend: the openai backend needs an API key"),
        (["idea", "-o", out, "--backend", "openai", "--base-url", "127.0.0.1:11434"] + t, "base-url: '127.0.0.1:11434' is not an http"),
        (["idea", "-o", out, "--backend", "transformers", "--plan-model", str(tmp_path / "nope")] + t, "plan-model: no file or folder"),
        (["idea", "-o", out, "--temperature", "-1"] + t, "temperature: -1.0 is out of range"),
        (["-o", out] + t, "prompt: is empty"),
    ]
    for argv, match in cases:
        rc = cli.main(argv)
        err = capsys.readouterr().err.strip()
        assert rc == 2, (argv, err)
        assert len(err.splitlines()) == 1 and err.startswith("ghibli-anim: error: "), err
        import re

        assert re.search(match, err), (match, err)
    assert not (tmp_path / "x.gif").exists()
