"""The engine's own time around the models, per output frame: camera moves, optical flow, in-betweens, colour and
sharpening, quality figures, writing. The models are the tiny random ones, so they take next to nothing and what is
measured is the engine's work at the real frame size, with little noise from the models' share of the machine.

    .venv/bin/python bench/bench_engine.py                       # balanced + camera, 512², 16 output frames, 3 runs
    .venv/bin/python bench/bench_engine.py --metrics full --json r.json
    git worktree add /tmp/old OLD && .venv/bin/python bench/bench_engine.py --repo /tmp/old   # the same on older code

Prints, per stage, the median over the runs of its seconds per output frame (timing.py's breakdown, each thread's
time counted), their sum (the engine's work), and the wall-clock time the run spent outside the model stages (what the
painting waited for: the engine's work less what ran behind the painting).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: the engine's own stages (timing.ENGINE_STAGES; written out so the script also measures older code)
ENGINE = ("camera", "flow", "inbetweens", "coherence", "metrics", "write")
MODEL = ("load", "plan", "text", "unet", "vae", "depth")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repo", default=str(Path(__file__).resolve().parent.parent), help="the checkout to measure (default: this one)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--frames", type=int, default=8, help="planned frames (default 8: 16 output frames with balanced)")
    p.add_argument("--preset", default="balanced")
    p.add_argument("--camera", default="push-in:0.5", help="a camera move, or 'none'")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--metrics", choices=("copy", "full"), default="copy", help="full: measure the frames themselves")
    p.add_argument("--overlap", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    sys.path.insert(0, args.repo)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import inspect

    from ghibli_core.camera import CameraSettings
    from ghibli_core.job import AnimationJob, run_job
    from ghibli_core.models.pipelines import load_pipelines
    from ghibli_core.plan import Plan
    from ghibli_core.presets import get_preset
    from ghibli_core.tiny import ensure_tiny
    from ghibli_core.timing import StageTimes, measuring

    tiny = ensure_tiny(Path(os.environ["GHIBLI_TINY_DIR"]) if os.environ.get("GHIBLI_TINY_DIR") else None)
    pipes = load_pipelines(tiny.model_settings(), progress=False)
    preset = get_preset(args.preset)
    plan = Plan("a serene forest at dawn", [f"a serene forest at dawn, beat {i}" for i in range(args.frames)], "bench")
    extra = {}
    if "full_metrics" in inspect.signature(AnimationJob).parameters:
        extra["full_metrics"] = args.metrics == "full"
    elif args.metrics == "full":
        print("this checkout always measures the frames themselves")
    run_kw = {}
    if "overlap" in inspect.signature(run_job).parameters and args.overlap != "auto":
        run_kw["overlap"] = args.overlap == "on"
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs + 1):  # the first run warms up (caches, threads), and is not counted
            job = AnimationJob(painting=preset.animation(frames=args.frames, width=args.size, height=args.size, seed=3),
                               motion=preset.motion(), plan=plan, preset=args.preset, output=Path(tmp) / f"run{i}.webp",
                               camera=CameraSettings(args.camera) if args.camera != "none" else None, **extra)
            times = StageTimes(pipes.device)
            started = time.perf_counter()
            with measuring(times):
                result = run_job(job, pipes, progress=False, **run_kw)
            wall = time.perf_counter() - started
            if i:
                stages = times.to_dict()
                n = len(result.output_frames)
                runs.append({"frames": n, "wall": wall, "stages": stages,
                             "engine": sum(stages.get(s, 0.0) for s in ENGINE) / n,
                             "outside_models": (wall - sum(stages.get(s, 0.0) for s in MODEL)) / n})
    med = {s: statistics.median(r["stages"].get(s, 0.0) / r["frames"] for r in runs) for s in ENGINE}
    out = {"repo": args.repo, "size": args.size, "preset": args.preset, "camera": args.camera, "metrics": args.metrics,
           "overlap": args.overlap, "runs": args.runs, "output_frames": runs[0]["frames"],
           "per_output_frame": {k: round(v, 4) for k, v in med.items()},
           "engine_per_output_frame": round(statistics.median(r["engine"] for r in runs), 4),
           "outside_models_per_output_frame": round(statistics.median(r["outside_models"] for r in runs), 4)}
    print(f"{args.preset} + camera {args.camera}, {args.size}², {out['output_frames']} output frames, median of {args.runs} runs")
    for k, v in out["per_output_frame"].items():
        print(f"  {k:<11} {v * 1000:8.1f} ms per output frame")
    print(f"  engine work {out['engine_per_output_frame'] * 1000:8.1f} ms per output frame "
          f"(wall-clock outside the models: {out['outside_models_per_output_frame'] * 1000:.1f} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
