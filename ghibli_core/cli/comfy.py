"""`ghibli-anim comfy IDEA -o OUT`: render on a running ComfyUI through the pack's API workflow."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Sequence

from ..animate import AnimationSettings, parse_size
from ..export import check_output_path
from ..presets import PRESETS
from .common import Parser, PROG


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog=f"{PROG} comfy",
        description="Render on a running ComfyUI (with this pack installed): queue the pack's API workflow with the idea "
        "patched in, follow its progress over the websocket, and download the animation from /view.",
    )
    p.add_argument("prompt", nargs="?", help="the idea (default: the workflow's own)")
    p.add_argument("--server", default=os.environ.get("COMFYUI_URL", "http://127.0.0.1:8188"), help="ComfyUI's URL (default $COMFYUI_URL or %(default)s)")
    p.add_argument("--workflow", help="an API-format workflow (default: the pack's workflows/api/ghibli_animation.json)")
    p.add_argument("--frames", type=int, help="frames to plan")
    p.add_argument("--seed", type=int, help="noise seed")
    p.add_argument("--size", type=parse_size, help="WIDTHxHEIGHT")
    p.add_argument("--preset", choices=list(PRESETS), help="speed/quality preset (default: the workflow's own)")
    p.add_argument("--steps", type=int, help="denoising steps (switches the workflow to the custom preset)")
    p.add_argument("--camera", metavar="MOVE[:STRENGTH]", help="the Ghibli Camera node's move, e.g. push-in:0.5 (default: the workflow's own)")
    p.add_argument("-o", "--output", required=True, help="where to write it; its extension (.gif, .webp, .png, .mp4, .webm) picks the format")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    return p


def run_comfy(argv: Sequence[str]) -> int:
    from ..comfy_client import DEFAULT_WORKFLOW, ComfyClient, load_workflow, patch_workflow, saver_format
    from ..files import atomic_path
    from ..plan import check_frame_count, clean_idea

    args = build_parser().parse_args(argv)
    output = check_output_path(args.output)
    graph = load_workflow(args.workflow or DEFAULT_WORKFLOW)
    width, height = args.size or (None, None)
    if args.size:
        AnimationSettings(frames=1, width=width, height=height)  # the same checks the node makes, before queueing
    graph = patch_workflow(
        graph, idea=clean_idea(args.prompt) if args.prompt is not None else None,
        frames=check_frame_count(args.frames) if args.frames is not None else None, seed=args.seed, width=width, height=height,
        steps=args.steps, preset=args.preset, output_format=saver_format(output), camera=args.camera,
    )
    client = ComfyClient(args.server)
    names: dict[str, str] = {k: v.get("_meta", {}).get("title") or v["class_type"] for k, v in graph.items()}

    def show(event) -> None:
        if args.quiet:
            return
        if event.kind == "progress":
            print(f"\r{names.get(event.node, event.node)}: {event.value}/{event.max}", end="", file=sys.stderr, flush=True)
        elif event.kind == "executing":
            print(f"\n{names.get(event.node, event.node)}", end="", file=sys.stderr, flush=True)
        elif event.kind == "done":
            print(file=sys.stderr)

    started = time.perf_counter()
    data, name = client.render(graph, on_event=show)
    with atomic_path(output) as tmp:
        tmp.write_bytes(data)
    print(f"wrote {output} ({len(data) // 1024} KiB, {name} on {client.base}, {time.perf_counter() - started:.1f}s)")
    return 0
