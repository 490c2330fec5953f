"""`ghibli-anim plan IDEA`: print (and save) the frame prompts planned for an idea."""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from .. import defaults
from .common import PROG, planner_flags, planner_settings, warn


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"{PROG} plan", description="Print the frame prompts planned for an idea.",
        epilog=f"example:\n  {PROG} plan \"a ghibli forest with flickering sunlight\" --frames 7 --json -o plan.json",
        formatter_class=argparse.RawDescriptionHelpFormatter, parents=[planner_flags(main=False)],
    )
    p.add_argument("idea")
    p.add_argument("--frames", type=int, default=defaults.FRAMES, help="number of frames (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed, where the backend honours one")
    p.add_argument("--json", action="store_true", help="print a JSON object with a `frames` list")
    p.add_argument("-o", "--output", help="also write the plan as JSON here (for --plan-file)")
    return p


def run_plan(argv: Sequence[str]) -> int:
    from ..plan import check_frame_count, check_plan_output, clean_idea, make_planner, save_plan_file

    args = build_parser().parse_args(argv)
    clean_idea(args.idea)
    check_frame_count(args.frames)
    if args.output:
        check_plan_output(args.output)
    plan = make_planner(planner_settings(args, args.seed)).plan(args.idea, args.frames)
    for message in plan.warnings:
        warn(message)
    if args.output:
        save_plan_file(plan, args.output)
    if args.json:
        body = {"idea": plan.idea, "backend": plan.backend, "model": plan.model, "frames": plan.frames, "warnings": plan.warnings}
        print(json.dumps(body, indent=2, ensure_ascii=False))
    else:
        for i, frame in enumerate(plan.frames, start=1):
            print(f"{i:3d}. {frame}")
    return 0
