"""Long img2img chains without weights: a degrading operator stands in for img2img (a small Gaussian blur and a
loss of contrast each step), and the chain runs 30 steps from synthetic first frames with detail at every scale.

    .venv/bin/python bench/bench_coherence.py                 # curves for the default operator, three scenes
    .venv/bin/python bench/bench_coherence.py --blur 0.8 --loss 0.05 --json r.json

Each link is prepared exactly as the renderer prepares it (colour match to frame 1, then contrast, unsharp mask and
grain before the next step). Rows compare:

    defaults   colour match 0.5, sharpen auto (holds frame 1's sharpness), grain 0.02
    deforum    colour match 0.5, a fixed unsharp amount 0.1 (kernel 5, sigma 1), grain 0.02
    colour     colour match 0.5 only
    off        nothing: the chain as it degrades

Prints sharpness (variance of the Laplacian) and RMS contrast relative to frame 1 every 5 steps, averaged over the
scenes. Exits 1 unless the defaults end within 25 % of frame 1 on both and `off` falls below half on both.
"""
from __future__ import annotations

import argparse
import json
import sys
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ghibli_core.animate import AnimationSettings  # noqa: E402
from ghibli_core.coherence import degrade, painted_texture, run_chain  # noqa: E402
from ghibli_core.metrics import rms_contrast, sharpness  # noqa: E402

ROWS = {
    "defaults": {},
    "deforum": {"sharpen": 0.1},
    "colour": {"sharpen": 0.0, "noise": 0.0},
    "off": {"sharpen": 0.0, "noise": 0.0, "color_coherence": 0.0},
}


def curves(settings: AnimationSettings, steps: int, seeds: list[int], size: int, step) -> tuple[np.ndarray, np.ndarray]:
    sharp, contrast = [], []
    for seed in seeds:
        first = painted_texture(seed, size)
        frames = run_chain(first, settings, steps, step)
        sharp.append([sharpness(f) / sharpness(first) for f in frames])
        contrast.append([rms_contrast(f) / rms_contrast(first) for f in frames])
    return np.mean(sharp, 0), np.mean(contrast, 0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--blur", type=float, default=0.6, help="Gaussian sigma of the stand-in's blur per step (default 0.6)")
    p.add_argument("--loss", type=float, default=0.03, help="contrast lost per step (default 0.03)")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--json", help="also write the curves here")
    args = p.parse_args(argv)
    step = partial(degrade, blur=args.blur, contrast_loss=args.loss)
    seeds = list(range(args.seeds))
    marks = list(range(0, args.steps + 1, 5)) + ([args.steps] if args.steps % 5 else [])
    print(f"chain of {args.steps} steps, stand-in: blur {args.blur:g} + contrast loss {args.loss:g} per step, "
          f"{len(seeds)} scenes at {args.size}px; value / frame 1's at steps {marks}")
    results = {}
    for name, values in ROWS.items():
        settings = AnimationSettings(frames=args.steps + 1, **values)
        sharp, contrast = curves(settings, args.steps, seeds, args.size, step)
        results[name] = {"sharpness": sharp.round(4).tolist(), "contrast": contrast.round(4).tolist()}
        print(f"  {name:9s} sharpness " + " ".join(f"{sharp[m]:5.2f}" for m in marks))
        print(f"  {'':9s} contrast  " + " ".join(f"{contrast[m]:5.2f}" for m in marks))
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "curves": results}, indent=2))
    kept, lost = results["defaults"], results["off"]
    ok = all(abs(kept[k][-1] - 1) <= 0.25 for k in kept) and all(lost[k][-1] < 0.5 for k in lost)
    print("targets (defaults within 25 % of frame 1, off below half): " + ("met" if ok else "MISSED"))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
