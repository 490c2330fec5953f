"""Depth and chat models load safetensors only unless --allow-pickle: a folder with pickle weights only is refused in
one line naming the file, before anything loads; with the opt-in it loads; the loaders tell transformers the same."""
from __future__ import annotations

from pathlib import Path

import pytest

from ghibli_core.cli import main
from ghibli_core.errors import InputError
from ghibli_core.models.sources import resolve_source, safe_load_kwargs


def _pickle_copy(src: Path, dst: Path) -> Path:
    """The model's folder with its weights as a pickle (`pytorch_model.bin`, as older hub repos hold them)."""
    import torch
    from safetensors.torch import load_file

    dst.mkdir(parents=True)
    for extra in src.iterdir():  # config, tokenizer and processor files travel as they are
        if extra.is_file() and not extra.name.endswith(".safetensors"):
            (dst / extra.name).write_bytes(extra.read_bytes())
    weights = {}
    for file in src.glob("*.safetensors"):
        weights.update(load_file(file))
    torch.save(weights, dst / "pytorch_model.bin")
    assert not list(dst.glob("*.safetensors")) and list(dst.glob("*.bin"))
    return dst


@pytest.fixture(scope="module")
def pickled(tiny, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("pickled")
    return {"depth": _pickle_copy(tiny.depth_dir, root / "depth"), "chat": _pickle_copy(tiny.chat_dir, root / "chat")}


@pytest.mark.parametrize("role,input_name", [("depth", "depth-model"), ("chat", "plan-model")])
def test_a_pickle_only_folder_is_refused_in_one_line_naming_the_file(pickled, role, input_name):
    with pytest.raises(InputError) as err:
        resolve_source(str(pickled[role]), role, input_name)
    text = str(err.value)
    assert text.startswith(f"{input_name}: ") and "\n" not in text
    assert "pytorch_model.bin" in text and "pickle" in text and "--allow-pickle" in text
    assert resolve_source(str(pickled[role]), role, input_name, allow_pickle=True).kind == "folder"


def test_the_main_command_refuses_a_pickle_depth_model_before_loading_anything(pickled, tiny, tmp_path, capsys, no_model_loads):
    out = tmp_path / "x.gif"
    code = main(["a hill", "--frames", "2", "--size", "64x64", "--model", str(tiny.pipeline_dir), "--controlnet",
                 str(tiny.controlnet_dir), "--depth-model", str(pickled["depth"]), "-o", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "pytorch_model.bin" in err and not out.exists()


def test_with_the_opt_in_a_pickle_depth_model_loads_and_paints(pickled, tiny):
    from ghibli_core.models.depth import DepthEstimator
    from PIL import Image
    import torch

    source = resolve_source(str(pickled["depth"]), "depth", "depth-model", allow_pickle=True)
    estimator = DepthEstimator(source, torch.device("cpu"), torch.float32, allow_pickle=True)
    assert estimator(Image.new("RGB", (32, 32), (90, 120, 60))).size == (32, 32)
    with pytest.raises(Exception, match="depth-model: could not load"):  # transformers itself is told: safetensors only
        DepthEstimator(source, torch.device("cpu"), torch.float32)


def test_the_loaders_ask_transformers_for_safetensors_only():
    assert safe_load_kwargs(False) == {"use_safetensors": True} and safe_load_kwargs(True) == {}


def test_a_pickle_chat_model_is_refused_by_the_planner(pickled, tiny_env, capsys):
    code = main(["plan", "a hill", "--frames", "2", "--backend", "transformers", "--plan-model", str(pickled["chat"])])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "plan-model:" in err and "pytorch_model.bin" in err
