"""`ghibli-anim plan IDEA`: print (and save) the beats planned for an idea: a prompt and a camera move each."""
from __future__ import annotations

import argparse
import json
from typing import Sequence

from .. import defaults
from .common import Parser, PROG, planner_flags, planner_settings, warn


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} plan", description="Print the beats planned for an idea: each frame's prompt and camera move.",
        epilog=f"example:\n  {PROG} plan \"a ghibli forest with flickering sunlight\" --frames 7 --json -o plan.json",
        formatter_class=argparse.RawDescriptionHelpFormatter, parents=[planner_flags(main=False)],
    )
    p.add_argument("idea")
    p.add_argument("--frames", type=int, default=defaults.FRAMES, help="number of frames (default %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed, where the backend honours one")
    p.add_argument("--json", action="store_true",
                   help="print a JSON object: `frames` (the prompts) and `camera` (each beat's move, NAME or NAME:STRENGTH)")
    p.add_argument("-o", "--output", help="also write the plan as JSON here (for --plan-file)")
    return p


def run_plan(argv: Sequence[str]) -> int:
    from ..plan import check_frame_count, check_plan_output, clean_idea, make_planner, plan_json, save_plan_file

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
        print(json.dumps(plan_json(plan), indent=2, ensure_ascii=False))
    else:
        for i, line in enumerate(plan.lines(), start=1):
            print(f"{i:3d}. {line}")
    return 0
