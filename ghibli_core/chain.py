"""What a painting chain carries from one painted frame to the next, as one small serialisable object.

    state = ChainState.load(work / "state")          # the last finished frame of an interrupted run
    for frame in animate(pipes, plan, settings, resume=state): ...

A chain's next frame depends only on this state (the painted frame, its depth when known, the sharpness hold's memory,
the camera pose, the colour target and sharpness reference of frame 1) plus the settings and the plan, so a chain saved
after any frame resumes exactly where it stopped. `save` writes a folder atomically (PNG images, NumPy arrays, one
JSON), `load` reads it back bit for bit.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import InputError

STATE_VERSION = 1


@dataclass
class ChainState:
    """The chain after painted frame `index` (the `count`-th painted, 1-based).

    image: the painted frame (what the next link starts from). depth: its relative inverse depth (0..1, 1 = near) when
    already estimated, else None. coherence: the sharpness hold's record of this frame (None before the first link).
    pose: this frame's camera pose in frame 0's axes (camera chains). color_target: the frame later links are colour
    matched to (the chain's first painted frame); sharpness_reference: the sharpness `auto` sharpening holds them at.
    """

    index: int
    count: int
    seed: int
    image: Image.Image
    color_target: Image.Image
    sharpness_reference: float
    depth: np.ndarray | None = None
    coherence: dict | None = None
    pose: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON part (images and arrays are files beside it)."""
        return {"version": STATE_VERSION, "index": self.index, "count": self.count, "seed": self.seed,
                "sharpness_reference": self.sharpness_reference, "coherence": self.coherence,
                "has_depth": self.depth is not None, "has_pose": self.pose is not None}

    def save(self, folder: str | Path) -> Path:
        """Write the state to `folder` (replaced whole: written beside it, then renamed into place)."""
        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
        try:
            self.image.convert("RGB").save(tmp / "image.png")
            self.color_target.convert("RGB").save(tmp / "color_target.png")
            if self.depth is not None:
                np.save(tmp / "depth.npy", np.asarray(self.depth, np.float32))
            if self.pose is not None:
                np.save(tmp / "pose.npy", np.asarray(self.pose, np.float64))
            (tmp / "state.json").write_text(json.dumps(self.to_dict(), indent=1))
            old = None
            if folder.exists():
                if not (folder / "state.json").is_file():
                    raise InputError("work-dir", f"{folder} exists and is not a chain state", "give an empty or new folder")
                old = folder.with_name(folder.name + ".old")
                os.replace(folder, old)
            os.replace(tmp, folder)
            if old is not None:
                shutil.rmtree(old)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> "ChainState":
        folder = Path(folder)
        try:
            meta = json.loads((folder / "state.json").read_text())
        except (OSError, ValueError) as exc:
            raise InputError("resume", f"{folder} holds no readable chain state", "give a folder a run saved its state in") from exc
        if meta.get("version") != STATE_VERSION:
            raise InputError("resume", f"{folder} holds a chain state of version {meta.get('version')}", "start the run afresh")

        def image(name: str) -> Image.Image:
            with Image.open(folder / name) as im:
                return im.convert("RGB")

        return cls(index=int(meta["index"]), count=int(meta["count"]), seed=int(meta["seed"]), image=image("image.png"),
                   color_target=image("color_target.png"), sharpness_reference=float(meta["sharpness_reference"]),
                   depth=np.load(folder / "depth.npy") if meta.get("has_depth") else None, coherence=meta.get("coherence"),
                   pose=np.load(folder / "pose.npy") if meta.get("has_pose") else None)
