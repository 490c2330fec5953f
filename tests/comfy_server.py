"""A real ComfyUI server for the end-to-end tests: tiny models under the names the shipped workflows use,
this checkout linked into custom_nodes, `main.py --cpu` on 127.0.0.1. No mocks.
"""
from __future__ import annotations

import json
import os
import shutil
import random
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from ghibli_core import defaults
from ghibli_core.tiny import TinyModels

REPO = Path(__file__).resolve().parents[1]
PACK_DIR_NAME = "ghibli-anim"
#: The model names the shipped workflows preset (common SD1.5 / depth ControlNet files), and a style LoRA.
SHIPPED = {
    "checkpoint": "v1-5-pruned-emaonly-fp16.safetensors",
    "controlnet": "control_v11f1p_sd15_depth_fp16.safetensors",
    "depth": "Depth-Anything-V2-Small-hf",
    "lora": "ghibli_style.safetensors",
}


def comfyui_dir() -> Path | None:
    """ComfyUI's folder: $COMFYUI_DIR, else the copy `make comfyui` installs in .comfyui/ComfyUI."""
    path = Path(os.environ.get("COMFYUI_DIR") or REPO / ".comfyui" / "ComfyUI")
    return path if (path / "main.py").is_file() else None


#: The model folders the test servers get (vae_approx: where ComfyUI's previewer finds TAESD).
MODEL_KINDS = ("checkpoints", "controlnet", "loras", "depth", "diffusers", "vae_approx", "musicgen", "annotators")


def write_taesd_decoder(comfy: Path, target: Path) -> Path:
    """A random-weight TAESD decoder in ComfyUI's own format, built by ComfyUI's own module (the real weights are a
    download; the previews only need the format)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); out = sys.argv[2]; sys.argv = [sys.argv[0], '--cpu']; "
            "import comfy.options; comfy.options.enable_args_parsing(); import torch, safetensors.torch; "
            "from comfy.taesd.taesd import Decoder; torch.manual_seed(0); safetensors.torch.save_file(Decoder(4).state_dict(), out)")
    subprocess.run([sys.executable, "-c", code, str(comfy), str(target)], check=True, capture_output=True, timeout=120)
    return target


def newest_front_end(comfy: Path) -> Path | None:
    """The pinned newest front end `make comfyui` installs beside ComfyUI (served with --front-end-root), if there."""
    static = comfy.parent / "frontend" / "comfyui_frontend_package" / "static"
    return static if (static / "index.html").is_file() else None


def _copy_configs(src: Path, dst: Path) -> None:
    """A diffusers folder's configs and tokenizer, without weights (the config beside a single file)."""
    for file in src.rglob("*"):
        if file.is_file() and file.suffix in (".json", ".txt"):
            target = dst / file.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, target)


def write_hub_cache(cache: Path, repos: dict[str, Path]) -> Path:
    """A real Hugging Face hub cache (HF_HUB_CACHE) holding local folders as the named repos: the shipped workflows'
    hub ids load offline, as they would from a user's cache."""
    for repo, src in repos.items():
        base = cache / f"models--{repo.replace('/', '--')}"
        snapshot = base / "snapshots" / ("0" * 40)
        if not snapshot.exists():
            snapshot.parent.mkdir(parents=True, exist_ok=True)
            snapshot.symlink_to(src, target_is_directory=True)
            (base / "refs").mkdir(parents=True, exist_ok=True)
            (base / "refs" / "main").write_text("0" * 40)
    return cache


def write_models_dir(tiny: TinyModels, root: Path) -> Path:
    """ComfyUI model folders holding the tiny models under the shipped names; returns the YAML for them."""
    models = root / "models"
    for kind in MODEL_KINDS:
        (models / kind).mkdir(parents=True, exist_ok=True)
    ckpt = models / "checkpoints" / SHIPPED["checkpoint"]
    ckpt.symlink_to(tiny.checkpoint)
    _copy_configs(tiny.pipeline_dir, ckpt.with_suffix(""))  # tiny shapes, so the config sits beside the file
    cn = models / "controlnet" / SHIPPED["controlnet"]
    cn.symlink_to(tiny.controlnet_file)
    _copy_configs(tiny.controlnet_dir, cn.with_suffix(""))
    (models / "depth" / SHIPPED["depth"]).symlink_to(tiny.depth_dir, target_is_directory=True)
    (models / "loras" / SHIPPED["lora"]).symlink_to(tiny.lora)
    (models / "loras" / "tiny-style-kohya.safetensors").symlink_to(tiny.lora_kohya)
    (models / "loras" / "tiny-lcm.safetensors").symlink_to(tiny.speed_lora)
    (models / "diffusers" / "tiny-sd15").symlink_to(tiny.pipeline_dir, target_is_directory=True)
    (models / "controlnet" / "tiny-controlnet-depth").symlink_to(tiny.controlnet_dir, target_is_directory=True)
    (models / "controlnet" / "tiny-controlnet-canny").symlink_to(tiny.edge_controlnet_dir, target_is_directory=True)
    (models / "annotators").mkdir(exist_ok=True)
    (models / "annotators" / "tiny-annotators").symlink_to(tiny.annotators_dir, target_is_directory=True)
    # the tiny TAESD under its own names (the previewer test writes ComfyUI's taesd_decoder.safetensors there)
    for half in ("decoder", "encoder"):
        (models / "vae_approx" / f"tiny-taesd_{half}.safetensors").symlink_to(tiny.taesd_decoder.with_name(f"taesd_{half}.safetensors"))
    (models / "musicgen" / "tiny-musicgen").symlink_to(tiny.music_dir, target_is_directory=True)
    write_hub_cache(root / "hf", {defaults.MUSIC_MODEL: tiny.music_dir})
    yaml = root / "extra_model_paths.yaml"
    lines = ["ghibli_tests:", f"    base_path: {models}"] + [f"    {k}: {k}" for k in MODEL_KINDS]
    yaml.write_text("\n".join(lines) + "\n")
    return yaml


def random_port() -> int:
    """A port to try; `ComfyServer.start` tries another one if it is taken (no bind-and-release race)."""
    return random.randint(20000, 60000)


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ComfyServer:
    """A running ComfyUI; `url`, its `base` folder (output/, temp/, custom_nodes/) and its `log`."""

    comfy: Path
    root: Path
    tiny: TinyModels
    extra_args: tuple[str, ...] = ()
    front_end: Path | None = None  # a front end's static folder; None: the one ComfyUI's requirements installed
    port: int = field(default_factory=random_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> Path:
        return self.root / "base"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    @property
    def output(self) -> Path:
        return self.base / "output"

    def start(self, timeout: float = 180.0) -> "ComfyServer":
        for sub in ("custom_nodes", "user"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        link = self.base / "custom_nodes" / PACK_DIR_NAME
        if not link.exists():
            link.symlink_to(REPO, target_is_directory=True)
        yaml = self.root / "extra_model_paths.yaml"
        if not yaml.exists():
            yaml = write_models_dir(self.tiny, self.root)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "HF_HUB_CACHE": str(self.root / "hf")}
        deadline = time.monotonic() + timeout
        for _attempt in range(5):
            while _listening(self.port):  # someone already serves there (a probe, nothing is held)
                self.port = random_port()
            cmd = [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(self.port), "--disable-auto-launch",
                   "--base-directory", str(self.base), "--extra-model-paths-config", str(yaml), *self.extra_args]
            if self.front_end is not None:
                cmd += ["--front-end-root", str(self.front_end)]
            self.proc = subprocess.Popen(cmd, cwd=self.comfy, env=env, stdout=self.log.open("wb"), stderr=subprocess.STDOUT)
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    if "address already in use" in self.log_text().lower():
                        break  # someone else has the port: try another
                    raise RuntimeError(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_text()[-4000:]}")
                if self._answers():
                    return self
                time.sleep(0.2)
            else:
                self.stop()
                raise RuntimeError(f"ComfyUI did not answer within {timeout:.0f}s:\n{self.log_text()[-4000:]}")
            self.port = random_port()
        raise RuntimeError("no free port for ComfyUI after 5 tries")

    def _answers(self) -> bool:
        try:
            return "system" in self.get("/system_stats") and self.proc.poll() is None
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def alive(self) -> bool:
        return self.proc is None or self.proc.poll() is None  # None: a server this object did not start

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    # --- HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, path: str, body: dict | None = None, timeout: float = 30.0) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get(self, path: str) -> dict:
        status, body = self.request("GET", path)
        if status != 200:
            raise urllib.error.URLError(f"GET {path}: HTTP {status}")
        return json.loads(body)

    def queue(self, graph: dict, client_id: str | None = None) -> tuple[int, dict]:
        status, body = self.request("POST", "/prompt", {"prompt": graph, "client_id": client_id or uuid.uuid4().hex})
        return status, json.loads(body)

    def wait_history(self, prompt_id: str, timeout: float = 300.0) -> dict:
        """The finished entry of `prompt_id` in /history (success, error or interrupted)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            entry = self.get(f"/history/{prompt_id}").get(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None and entry["status"].get("status_str") in ("success", "error"):
                return entry
            if not self.alive():
                raise RuntimeError("ComfyUI died:\n" + self.log_text()[-4000:])
            time.sleep(0.3)
        raise TimeoutError(f"prompt {prompt_id} did not finish in {timeout:.0f}s:\n{self.log_text()[-3000:]}")
