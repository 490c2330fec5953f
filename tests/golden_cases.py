"""The cases whose frames must stay the same across refactors (tests/test_golden_frames.py): every preset, with and
without the camera, a scheduled chain, an init image and prompt travel, on the tiny models at 64x64.

`python tests/golden_cases.py OUT.npz` records them with the code it imports (run it against the engine before a change
that must not change frames, commit the file, and the test compares). fp32 on the CPU, so the recording does not depend
on whether a CPU has bf16 hardware (`auto` would pick bf16 there); the CPU's kernel family is stored beside the frames."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CASES: dict[str, dict[str, Any]] = {
    **{f"{p}": {"preset": p} for p in ("quality", "balanced", "fast")},
    **{f"{p}+camera": {"preset": p, "camera": "orbit-right"} for p in ("quality", "balanced", "fast")},
    "balanced+schedules": {"preset": "balanced", "paint": {"strength_schedule": "0:(0.6), 3:(0.4)", "seed_policy": "incrementing",
                                                           "sharpen": "0.2", "noise": "0.03", "contrast": "1.05"}},
    "fast+init+travel": {"preset": "fast", "init": True, "paint": {"prompt_travel": True, "color_mode": "histogram"}},
    "balanced+push-in+reveal": {"preset": "balanced", "camera": "push-in", "paint": {"reveal_boost": 0.5}},
}
GOLDEN = Path(__file__).parent / "data" / "golden_frames.npz"
PLAN = ["a mossy forest at dawn", "a river through the forest", "a meadow under clouds", "a hill with a windmill"]


def init_image() -> Image.Image:
    y, x = np.mgrid[0:64, 0:64]
    return Image.fromarray(np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8))


def render_case(pipes: Any, name: str) -> np.ndarray:
    """The output frames of case `name` as one uint8 array [T, H, W, 3]."""
    from ghibli_core.camera.path import CameraSettings
    from ghibli_core.camera.moves import Move
    from ghibli_core.presets import get_preset
    from ghibli_core.render import render_animation

    case = CASES[name]
    preset = get_preset(case["preset"])
    settings = preset.animation(frames=len(PLAN), seed=11, width=64, height=64, **case.get("paint", {}))
    camera = CameraSettings(move=Move.parse(case["camera"])) if "camera" in case else None
    anim = render_animation(pipes, PLAN, settings, preset.motion(), init_image=init_image() if case.get("init") else None,
                            progress=False, camera=camera)
    return np.stack([np.asarray(f.convert("RGB")) for f in anim.output_frames])


def main(out: str) -> None:
    from ghibli_core.models.pipelines import load_pipelines
    from ghibli_core.tiny import ensure_tiny
    import os
    from pathlib import Path

    import torch

    tiny = ensure_tiny(Path(os.environ.get("GHIBLI_TINY_DIR", "/tmp/ghibli-tiny")))
    pipes = load_pipelines(tiny.model_settings(device="cpu", dtype="fp32"), progress=False)
    np.savez_compressed(out, cpu_capability=np.array(torch.backends.cpu.get_cpu_capability()),
                        **{name: render_case(pipes, name) for name in CASES})


if __name__ == "__main__":
    main(sys.argv[1])
