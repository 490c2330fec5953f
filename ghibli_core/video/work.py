"""The work folder of a clip's repaint: painted keyframes saved as they finish, so a rerun with the same input and
settings resumes after the last one and writes the same file as an uninterrupted run.

The folder is the engine's own: it holds `work.json` (what made it, and the job's fingerprint) and one lossless PNG per
painted keyframe, each written whole (temp file, then rename). A folder without that marker is never touched; a folder
of ours made by other settings is emptied of our files and started over.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError
from ..files import atomic_path

MARKER = "work.json"
KIND = "ghibli-anim video work folder"


class WorkFolder:
    def __init__(self, path: str | os.PathLike, fingerprint: str) -> None:
        self.path, self.fingerprint = Path(path), fingerprint
        self.resumed = 0  # keyframes taken from an earlier run

    def check(self) -> None:
        """Refuse a folder that is not ours (before any work): nothing a user owns is touched."""
        if self.path.exists() and not (self.path.is_dir() and (self.path / MARKER).is_file() and self._ours()):
            raise InputError("work-dir", f"{self.path} exists and is not a work folder of this tool",
                             "give another --work-dir (or remove that folder yourself)")

    def _ours(self) -> bool:
        try:
            return json.loads((self.path / MARKER).read_text()).get("kind") == KIND
        except (OSError, ValueError):
            return False

    def open(self) -> None:
        """Create the folder, or reuse it: the same fingerprint resumes, another starts over (our files removed)."""
        self.check()
        if self.path.exists():
            meta = json.loads((self.path / MARKER).read_text())
            if meta.get("fingerprint") == self.fingerprint:
                return
            for file in self.path.glob("key_*.png"):
                file.unlink()
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path / MARKER) as tmp:
            tmp.write_text(json.dumps({"kind": KIND, "fingerprint": self.fingerprint}))

    def _key(self, index: int) -> Path:
        return self.path / f"key_{index:07d}.png"

    def saved(self, index: int) -> np.ndarray | None:
        file = self._key(index)
        if not file.is_file():
            return None
        with Image.open(file) as im:
            self.resumed += 1
            return np.asarray(im.convert("RGB"))

    def save(self, index: int, painted: np.ndarray) -> None:
        with atomic_path(self._key(index)) as tmp:
            Image.fromarray(painted).save(tmp, format="PNG")

    def remove(self) -> None:
        """The finished run's folder goes (only ever one of ours)."""
        if self.path.is_dir() and self._ours():
            shutil.rmtree(self.path)
