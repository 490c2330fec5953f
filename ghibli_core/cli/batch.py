"""`ghibli-anim batch`: render a jobs file (JSONL or CSV) here, or on a Ray cluster."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from .. import defaults
from ..export import FORMATS
from ..presets import DEFAULT_PRESET, PRESETS
from .common import Parser, PROG as MAIN, camera_flags, camera_settings, camera_values, model_flags, model_settings, planner_flags, preset_models, planner_settings

PROG = f"{MAIN} batch"

EXAMPLES = f"""
jobs file: one animation per row. JSONL (one object per line) or CSV (a header row, same names):
  {{"prompt": "a serene forest at dawn", "frames": 8, "seed": 1, "preset": "fast", "output": "forest.gif"}}
  {{"plan": ["a cat bus at a bus stop", "the cat bus leaps"], "size": "512x512", "loras": ["style.safetensors:0.8"]}}
  fields: id, prompt, plan, frames, seed, preset, size | width + height, loras, output, model, steps, strength,
  guidance, scheduler, controlnet_scale, negative_prompt, cadence, interpolate, fps, camera, translation_x/y/z,
  rotation_x/y/z, fov, near, far (only prompt or plan is needed)

examples:
  {PROG} jobs.jsonl --out-dir renders/                       # here, models loaded once
  {PROG} jobs.jsonl --out-dir renders/ --resume              # after a stop: skips outputs that exist and verify
  {PROG} jobs.csv --out-dir renders/ --ray                   # a local Ray cluster, one actor per CPU slot or GPU
  ray start --head && {PROG} jobs.jsonl --out-dir /shared/renders --ray auto   # an existing cluster
  {PROG} jobs.jsonl --tiny --out-dir /tmp/r --ray --workers 2   # offline, tiny random models
"""


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=PROG, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[model_flags(lora=False), planner_flags(main=True), camera_flags()],
        description="Render many animations: every row is checked first (bad rows listed with their line numbers), "
        "models load once and are reused, one failing job never stops the others, and a summary table and JSON "
        "report what was done, failed or skipped. --model is the batch's base; a row's `model` overrides it.",
    )
    p.add_argument("jobs", help="the jobs file (.jsonl or .csv)")
    p.add_argument("--out-dir", default="renders", help="where outputs go (default %(default)s/); with --ray, a path every node sees, or results come back as bytes")
    p.add_argument("--resume", action="store_true", help="skip jobs whose output exists and verifies (same job, complete file)")
    p.add_argument("--summary", help="summary JSON (default OUT_DIR/batch-summary.json)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    d = p.add_argument_group("defaults for rows that leave them out")
    d.add_argument("--preset", choices=list(PRESETS), default=DEFAULT_PRESET, help="(default %(default)s)")
    d.add_argument("--frames", type=int, default=defaults.FRAMES, help="(default %(default)s)")
    d.add_argument("--seed", type=int, default=0, help="(default %(default)s; give seeds per row for a sweep)")
    d.add_argument("--size", help="WIDTHxHEIGHT (default {0}x{0}; {1}x{1} with --tiny)".format(defaults.SIZE, defaults.TINY_SIZE))
    d.add_argument("--lora", action="append", default=[], metavar="FILE[:WEIGHT]", help="LoRA for rows without `loras` (repeatable)")
    d.add_argument("--format", choices=[f[1:] for f in FORMATS], default="gif", help="format of rows without `output` (default %(default)s)")
    r = p.add_argument_group("Ray (pip install 'ghibli-anim[ray]')")
    r.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                   help="render on Ray: alone = start a local cluster; auto = the running cluster (`ray start --head`); or ray://HOST:10001")
    r.add_argument("--workers", type=int, help="actors (default: one per GPU, else one per CPU)")
    r.add_argument("--retries", type=int, default=2, help="times a job is re-run after its worker dies (default %(default)s)")
    r.add_argument("--transfer", choices=("auto", "bytes"), default="auto",
                   help="auto: actors that see --out-dir write there, the others send bytes; bytes: always send bytes to this process")
    return p


def run_batch(argv: Sequence[str]) -> int:
    from ..animate import parse_size
    from ..batch import BatchContext, BatchInterrupted, load_jobs, preflight, run_local, table, write_summary
    from ..errors import InputError, check_range
    from ..models.lora import LoraSpec

    args = build_parser().parse_args(argv)
    if args.plan_file:
        raise InputError("plan-file", "does not apply to a batch", "give each row its own `plan`")
    if args.workers is not None:
        check_range("workers", args.workers, 1, 4096, integer=True)
    check_range("retries", args.retries, 0, 100, integer=True)
    size = parse_size(args.size) if args.size else defaults.size(tiny=args.tiny)
    camera_settings(args)  # checked once here; rows without camera fields take these values
    camera = {("camera" if k == "move" else k): v for k, v in camera_values(args).items()}
    row_defaults = {"preset": args.preset, "frames": args.frames, "seed": args.seed, "size": size, "format": f".{args.format}",
                    "loras": tuple(LoraSpec.parse(x) for x in args.lora), "camera": camera}
    jobs = load_jobs(args.jobs, row_defaults)
    models = model_settings(args, preset=False)  # each row's preset adds its own models (turbo's speed LoRA, TAESD)
    out_dir = Path(args.out_dir).expanduser().resolve()
    ctx = BatchContext(models, planner_settings(args, None), str(out_dir),
                       {name: preset_models(args, name) for name in PRESETS if PRESETS[name].models})
    preflight(jobs, ctx, Path(args.jobs).name)
    summary_path = Path(args.summary).expanduser() if args.summary else out_dir / "batch-summary.json"
    mode = f"ray ({args.ray})" if args.ray else "local"
    print(f"{MAIN} batch: {len(jobs)} jobs from {args.jobs} -> {out_dir} ({mode})")
    started = time.perf_counter()
    interrupted = False
    try:
        if args.ray:
            from ..batch.ray_pool import run_ray

            results = run_ray(jobs, ctx, address=None if args.ray == "local" else args.ray, workers=args.workers,
                              retries=args.retries, resume=args.resume, progress=not args.quiet, transfer=args.transfer)
        else:
            results = run_local(jobs, ctx, resume=args.resume, progress=not args.quiet)
    except BatchInterrupted as stop:
        results, interrupted = stop.results, True
    write_summary(results, summary_path, {"jobs_file": str(Path(args.jobs).resolve()), "out_dir": str(out_dir), "mode": mode,
                                          "seconds": round(time.perf_counter() - started, 2)})
    print(table(results))
    print(f"summary: {summary_path}")
    if interrupted:
        done = sum(r.status == "done" for r in results)
        print(f"{MAIN}: batch interrupted; {done} finished output{'s' * (done != 1)} kept, none half-written "
              "(run again with --resume for the rest)", file=sys.stderr)
        return 130
    return 1 if any(r.status == "failed" for r in results) else 0
