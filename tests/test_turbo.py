"""Few-step sampling on the tiny models: the lcm and tcd schedulers, a speed LoRA beside the style LoRAs (a file or a
hub repo's file from the cache), guidance 1 painting one conditional batch, and the turbo preset (at most half a UNet
step per output frame) from the command line, with the speed LoRA named in the metadata."""
from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from PIL import Image

from ghibli_core.cli import main
from ghibli_core.errors import InputError, ModelNotFoundError
from ghibli_core.export import read_metadata
from ghibli_core.models.lora import LoraSpec
from ghibli_core.models.pipelines import load_pipelines
from ghibli_core.models.speed_lora import resolve_speed_lora
from ghibli_core.painter import Conditioning, PaintRequest, Painter
from ghibli_core.presets import get_preset

INIT = Image.fromarray(np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8))


def _paint(pipes, scheduler: str, guidance: float = 7.5) -> tuple[np.ndarray, list[int]]:
    """One img2img frame (4 steps x strength 0.5) and the batch size of every UNet call."""
    batches: list[int] = []
    hook = pipes.txt2img.unet.register_forward_pre_hook(lambda m, args: batches.append(args[0].shape[0]))
    try:
        painter = Painter.of(pipes, scheduler)
        request = PaintRequest(index=1, conditioning=Conditioning("a forest"), seed=3, steps=4, guidance=guidance, width=64,
                               height=64, init=INIT, strength=0.5, controls=painter.run.controls(pipes.depth(INIT), 0.7, INIT))
        return np.asarray(painter.paint(request).image), batches
    finally:
        hook.remove()


@pytest.mark.parametrize("scheduler", ["lcm", "tcd"])
def test_few_step_schedulers_paint_int_steps_x_strength_steps(pipes, scheduler):
    image, batches = _paint(pipes, scheduler)
    assert image.shape == (64, 64, 3) and len(batches) == 2 and set(batches) == {2}  # int(4 x 0.5) steps, guided
    _, unguided = _paint(pipes, scheduler, guidance=1.0)
    assert unguided == [1, 1]  # guidance 1: one conditional batch, no CFG doubling


def test_the_speed_lora_is_a_second_adapter_beside_the_style_loras(tiny):
    style = (LoraSpec(str(tiny.lora), 0.8),)
    plain = load_pipelines(tiny.model_settings(loras=style), progress=False)
    fast = load_pipelines(tiny.model_settings(loras=style, speed_lora=LoraSpec(str(tiny.speed_lora), 1.0)), progress=False)
    a, _ = _paint(plain, "lcm", 1.0)
    b, _ = _paint(fast, "lcm", 1.0)
    assert not np.array_equal(a, b) and len(fast.activate_loras()) == 2
    assert fast.with_loras(()).adapters == (fast.resolved.speed_lora,)  # another LoRA chain keeps the speed LoRA
    assert fast.model_names()["speed_lora"] == {"name": "tiny-lcm.safetensors", "weight": 1.0}


def test_a_hub_repo_names_its_lora_file_from_the_cache(tiny, tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = tmp_path / "hub" / "models--tiny-org--lcm-lora" / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    shutil.copyfile(tiny.speed_lora, snapshot / "pytorch_lora_weights.safetensors")
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text("0" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    found = resolve_speed_lora(LoraSpec("tiny-org/lcm-lora", 0.9))
    assert found.weight == 0.9 and found.path.endswith("pytorch_lora_weights.safetensors")
    with pytest.raises(ModelNotFoundError, match=r"^speed-lora: tiny-org/other/pytorch_lora_weights\.safetensors is not in "
                                                 r"the local Hugging Face cache and HF_HUB_OFFLINE=1"):
        resolve_speed_lora(LoraSpec("tiny-org/other"))
    with pytest.raises(InputError, match=r"^speed-lora: x\.bin is not a \.safetensors file"):
        resolve_speed_lora(LoraSpec("tiny-org/lcm-lora/x.bin"))


def test_turbo_paints_at_most_half_a_unet_step_per_output_frame():
    turbo = get_preset("turbo")
    assert turbo.steps_per_output_frame() <= 0.5 < get_preset("fast").steps_per_output_frame()
    settings = turbo.animation()
    assert (settings.scheduler, settings.guidance, int(settings.steps * settings.strength)) == ("lcm", 1.0, 2)
    assert turbo.animation(guidance=3.0).guidance == 3.0  # a value given wins
    assert get_preset("fast").animation().guidance == 7.5 and "guidance" not in get_preset("fast").values()


def test_the_command_paints_turbo_with_the_tiny_speed_lora(tiny_env, tmp_path, capsys):
    out = tmp_path / "turbo.gif"
    assert main(["a forest", "--tiny", "--preset", "turbo", "--frames", "8", "--quiet", "-o", str(out)]) == 0
    meta = read_metadata(out)
    assert meta["preset"] == "turbo" and meta["models"]["speed_lora"]["name"] == "tiny-lcm.safetensors"
    assert meta["models"]["tiny_vae"] == "tiny-taesd"  # turbo drafts through the tiny set's TAESD
    assert meta["settings"]["scheduler"] == "lcm" and meta["settings"]["guidance"] == 1.0
    plain = tmp_path / "plain.gif"  # both models dropped by name: the model's own VAE, no speed LoRA (and a warning)
    assert main(["a forest", "--tiny", "--preset", "turbo", "--frames", "8", "--quiet", "--speed-lora", "none",
                 "--tiny-vae", "none", "-o", str(plain)]) == 0
    assert "speed_lora" not in read_metadata(plain)["models"] and "tiny_vae" not in read_metadata(plain)["models"]
    assert "without one" in capsys.readouterr().err
    assert main(["a forest", "--tiny", "--speed-lora", "x.safetensors", "-o", str(tmp_path / "y.gif")]) == 2
    assert "tiny: cannot be combined with --speed-lora" in capsys.readouterr().err


def test_a_jobs_file_row_names_its_speed_lora_and_a_bad_one_is_listed_by_line(tiny, tmp_path, jobs_files):
    from ghibli_core.batch import JobsFileError, load_jobs, run_local

    shutil.copy(tiny.speed_lora, tmp_path / "lcm.safetensors")
    rows = jobs_files.rows(2, preset="turbo")
    rows[0]["speed_lora"] = "lcm.safetensors:0.8"  # relative to the jobs file's folder
    with pytest.raises(JobsFileError) as bad:
        load_jobs(jobs_files.write(tmp_path / "bad.jsonl", [*rows, {**rows[1], "id": "x", "speed_lora": "loras/none.safetensors"},
                                                           {**rows[1], "id": "y", "speed_lora": 3}]))
    assert [p.split(":")[0] for p in bad.value.problems] == ["line 3", "line 4"]
    assert "speed_lora: no file at" in bad.value.problems[0] and "is not text" in bad.value.problems[1]

    jobs = load_jobs(jobs_files.write(tmp_path / "jobs.jsonl", rows))
    assert jobs[0].speed_lora == LoraSpec(str(tmp_path / "lcm.safetensors"), 0.8) and jobs[1].speed_lora is None
    ctx = jobs_files.ctx(tiny, tmp_path / "out")
    assert ctx.fingerprint(jobs[0]) != ctx.fingerprint(dataclasses.replace(jobs[0], speed_lora=LoraSpec(jobs[0].speed_lora.path, 0.5)))
    results = run_local(jobs, ctx, progress=False)
    assert [r.status for r in results] == ["done", "done"]
    first, second = (read_metadata(tmp_path / "out" / j.output) for j in jobs)
    assert first["models"]["speed_lora"] == {"name": "lcm.safetensors", "weight": 0.8} and "speed_lora" not in second["models"]
    assert first["settings"]["scheduler"] == "lcm" and first["settings"]["guidance"] == 1.0


@pytest.mark.parametrize("flags,speed,tiny_vae", [
    ([], "latent-consistency/lcm-lora-sdv1-5", "madebyollin/taesd"),           # turbo's own models
    (["--speed-lora", "h1t/TCD-SD15:0.9"], "h1t/TCD-SD15", "madebyollin/taesd"),  # a named one wins
    (["--speed-lora", "none", "--tiny-vae", "NONE"], None, None),                # dropped by name
    (["--preset", "fast"], None, None),                                          # other presets name none
])
def test_turbo_paints_with_its_speed_lora_and_taesd_unless_the_flags_name_others(flags, speed, tiny_vae):
    from ghibli_core.cli.common import model_settings
    from ghibli_core.cli.generate import build_parser

    args = build_parser().parse_args(["a forest", "-o", "x.gif", "--preset", "turbo", *flags])
    models = model_settings(args)
    assert (models.speed_lora.path if models.speed_lora else None, models.tiny_vae) == (speed, tiny_vae)
    if speed == "h1t/TCD-SD15":
        assert models.speed_lora.weight == 0.9


def test_a_batchs_turbo_rows_paint_with_turbos_models_and_its_other_rows_without(tiny_env, tiny, tmp_path, jobs_files):
    import json

    rows = jobs_files.rows(2)
    rows[1]["preset"] = "turbo"
    out = tmp_path / "out"
    assert main(["batch", str(jobs_files.write(tmp_path / "jobs.jsonl", rows)), "--tiny", "--out-dir", str(out), "-q"]) == 0
    summary = json.loads((out / "batch-summary.json").read_text())
    fast, turbo = (read_metadata(out / j["output"]) for j in summary["jobs"])
    assert "speed_lora" not in fast["models"] and "tiny_vae" not in fast["models"]
    assert turbo["models"]["speed_lora"]["name"] == "tiny-lcm.safetensors" and turbo["models"]["tiny_vae"] == "tiny-taesd"
