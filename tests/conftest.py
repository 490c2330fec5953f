"""Shared fixtures: tiny random-weight models in every real format (built once per session), and the helpers
several test modules use (the installed command, UNet/ControlNet call recorders, jobs files).

Tests that start servers, browsers, Ray clusters or the installed command, or that train, are marked `slow`:
`pytest -m "not slow"` runs the rest in about four minutes on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from ghibli_core.models.pipelines import GhibliPipelines, load_pipelines  # noqa: E402
from ghibli_core.tiny import TinyModels, ensure_tiny  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
#: The installed `ghibli-anim` command of this environment.
SCRIPT = Path(sys.executable).parent / "ghibli-anim"


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
                      ("tiny-org/tiny-dpt", tiny.depth_dir), ("tiny-org/tiny-taesd", tiny.tiny_vae_dir)):
        base = cache / f"models--{repo.replace('/', '--')}"
        snapshot = base / "snapshots" / ("0" * 40)
        shutil.copytree(src, snapshot)
        (base / "refs").mkdir(parents=True)
        (base / "refs" / "main").write_text("0" * 40)
    return cache


# --- the installed command -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def run_cli(tiny) -> Callable[..., subprocess.CompletedProcess]:
    """run_cli(args, env=None, **subprocess_kw): the installed `ghibli-anim` offline, `--tiny` on this session's set.
    `env` replaces the environment (None: ours, plus HF_HUB_OFFLINE and GHIBLI_TINY_DIR)."""
    def run(args: list[str], env: dict[str, str] | None = None, **kw: Any) -> subprocess.CompletedProcess:
        full = env if env is not None else dict(os.environ, HF_HUB_OFFLINE="1", GHIBLI_TINY_DIR=str(tiny.root))
        kw.setdefault("timeout", 600)
        return subprocess.run([str(SCRIPT), *args], env=full, capture_output=True, text=True, **kw)

    return run


@pytest.fixture(scope="session")
def cli_script() -> Path:
    return SCRIPT


@pytest.fixture
def no_model_loads(monkeypatch):
    """Fail the test if anything tries to load weights (bad input must be refused before that)."""
    def boom(*a, **k):
        raise AssertionError("a model was loaded before the inputs were checked")

    monkeypatch.setattr("ghibli_core.models.pipelines.load_pipelines", boom)
    monkeypatch.setattr("ghibli_core.models.pipelines._load_base", boom)
    monkeypatch.setattr("ghibli_core.models.depth.DepthEstimator.__init__", boom)


@pytest.fixture
def tiny_env(tiny, monkeypatch):
    """`--tiny` in the CLI (in this process) uses this session's tiny set."""
    monkeypatch.setenv("GHIBLI_TINY_DIR", str(tiny.root))


# --- an OpenAI-compatible chat server -----------------------------------------------------------------------------

#: The key the CLI tests put in the environment (and check never leaks).
OPENAI_TEST_KEY = "sk-test-SECRETKEY-cli-0123456789"


@pytest.fixture
def server(monkeypatch):
    """A real chat-completions server on 127.0.0.1 (tests/chat_server.py), with OPENAI_API_KEY set to OPENAI_TEST_KEY."""
    from chat_server import ChatServer

    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_TEST_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with ChatServer() as srv:
        yield srv


# --- model call recorder -----------------------------------------------------------------------------------------

class Recorder:
    """Forward hooks on the real UNet and ControlNet: count calls, keep the text conditioning each UNet call received
    and the control images."""

    def __init__(self, pipes: GhibliPipelines):
        self.unet_calls = 0
        self.texts: list = []
        self.controls: list = []
        self.control_scales: list[float] = []
        self.handles = [
            pipes.txt2img.unet.register_forward_pre_hook(self._unet, with_kwargs=True),
            pipes.img2img.controlnet.register_forward_pre_hook(self._control, with_kwargs=True),
        ]

    def _unet(self, module, args, kwargs):
        self.unet_calls += 1
        text = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        self.texts.append(None if text is None else text.detach().clone())

    def _control(self, module, args, kwargs):
        self.controls.append(kwargs["controlnet_cond"].detach().clone())
        self.control_scales.append(float(kwargs.get("conditioning_scale", 1.0)))

    def close(self):
        for h in self.handles:
            h.remove()


@pytest.fixture
def recorder(pipes):
    """A Recorder on the session pipelines, removed after the test."""
    rec = Recorder(pipes)
    yield rec
    rec.close()


# --- jobs files --------------------------------------------------------------------------------------------------

class JobsFiles:
    """Writing jobs files for the batch tests."""

    TINY_ROW = {"size": "64x64", "preset": "fast"}

    @staticmethod
    def write(path: Path, rows: list) -> Path:
        path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
        return path

    @classmethod
    def rows(cls, n: int, **extra: Any) -> list[dict]:
        return [{"prompt": f"a windy hill, scene {i}", "frames": 2, "seed": i, **cls.TINY_ROW, **extra} for i in range(n)]

    @staticmethod
    def ctx(tiny: TinyModels, out_dir: Path):
        from ghibli_core.batch import BatchContext
        from ghibli_core.plan import PlannerSettings

        return BatchContext(tiny.model_settings(), PlannerSettings(), str(out_dir))


@pytest.fixture(scope="session")
def jobs_files() -> type[JobsFiles]:
    return JobsFiles
