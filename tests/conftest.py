"""Shared fixtures: tiny random-weight models in every real format, built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ghibli_core.models.pipelines import GhibliPipelines, load_pipelines  # noqa: E402
from ghibli_core.tiny import TinyModels, ensure_tiny  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyModels:
    """The tiny set from $GHIBLI_TINY_DIR when CI shares one, else a fresh one for this session."""
    root = os.environ.get("GHIBLI_TINY_DIR")
    return ensure_tiny(Path(root) if root else tmp_path_factory.mktemp("tiny") / "models")


@pytest.fixture(scope="session")
def pipes(tiny) -> GhibliPipelines:
    """Pipelines loaded from the tiny diffusers folders (no LoRA)."""
    return load_pipelines(tiny.model_settings(), progress=False)


@pytest.fixture(scope="session")
def hf_cache(tiny, tmp_path_factory) -> Path:
    """A real Hugging Face hub cache holding the tiny models as `tiny-org/*` repos, for the hub-id path."""
    cache = tmp_path_factory.mktemp("hf") / "hub"
    for repo, src in (("tiny-org/tiny-sd15", tiny.pipeline_dir), ("tiny-org/tiny-controlnet-depth", tiny.controlnet_dir),
                      ("tiny-org/tiny-dpt", tiny.depth_dir)):
        base = cache / f"models--{repo.replace('/', '--')}"
        snapshot = base / "snapshots" / ("0" * 40)
        shutil.copytree(src, snapshot)
        (base / "refs").mkdir(parents=True)
        (base / "refs" / "main").write_text("0" * 40)
    return cache
