"""`ghibli-anim make-tiny DIR`: tiny random-weight SD1.5-shaped models in every real format."""
from __future__ import annotations

import argparse
from typing import Sequence

from .common import Parser, PROG


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog=f"{PROG} make-tiny", description="Write tiny random-weight SD1.5-shaped models in every real format.")
    p.add_argument("dir", help="folder to write: new, empty, or an earlier make-tiny output (never a folder holding other files)")
    p.add_argument("--seed", type=int, default=0)
    return p


def run_make_tiny(argv: Sequence[str]) -> int:
    from ..tiny import make_tiny

    args = build_parser().parse_args(argv)
    tiny = make_tiny(args.dir, seed=args.seed)
    print(f"wrote tiny models to {tiny.root}")
    return 0
