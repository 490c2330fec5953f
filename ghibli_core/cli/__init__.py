"""`ghibli-anim`: one sentence to a looping Ghibli-style animation.

    ghibli-anim "a serene forest at dawn" --frames 8 -o forest.gif     (generate.py)
    ghibli-anim plan "a serene forest at dawn" --frames 8 [--json]     (plan.py)
    ghibli-anim blend frames/ --interpolate 3 -o smooth.webp           (blend.py)
    ghibli-anim move photo.png --camera push-in -o push.gif            (move.py)
    ghibli-anim video walk.mp4 --prompt "a quiet street" -o walk.mp4   (video.py)
    ghibli-anim audio-keys song.mp3 --fps 12 --frames 48              (audio_keys.py)
    ghibli-anim comfy "a cat bus" -o catbus.gif                        (comfy.py)
    ghibli-anim make-tiny DIR                                          (make_tiny.py)
    ghibli-anim train-lora --data my_images/ --out style.safetensors   (train_lora.py)
    ghibli-anim batch jobs.jsonl --out-dir renders/                    (batch.py)

One module per command; the flags they share are defined once in common.py.
"""
from __future__ import annotations

import importlib
import sys
from typing import Sequence

from ..errors import Cancelled, GhibliError, InputError, InputErrors
from .common import PROG

#: command -> (module, function taking the remaining argv). Each module is imported only when its command runs,
#: so `ghibli-anim plan` does not pay for the training or Ray imports of the others.
SUBCOMMANDS = {
    "plan": ("plan", "run_plan"),
    "blend": ("blend", "run_blend"),
    "move": ("move", "run_move"),
    "video": ("video", "run_video"),
    "audio-keys": ("audio_keys", "run_audio_keys"),
    "make-tiny": ("make_tiny", "run_make_tiny"),
    "comfy": ("comfy", "run_comfy"),
    "train-lora": ("train_lora", "run_train_lora"),
    "batch": ("batch", "run_batch"),
}


def build_parser():
    """The main command's parser (`ghibli-anim IDEA -o OUT`)."""
    from .generate import build_parser as build

    return build(tuple(SUBCOMMANDS))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in SUBCOMMANDS:
            module, function = SUBCOMMANDS[argv[0]]
            return getattr(importlib.import_module(f".{module}", __name__), function)(argv[1:])
        from .generate import run_generate

        return run_generate(build_parser().parse_args(argv))
    except InputError as exc:
        for line in exc.lines() if isinstance(exc, InputErrors) else [str(exc)]:
            print(f"{PROG}: error: {line}", file=sys.stderr)
        return 2
    except Cancelled as exc:
        print(f"{PROG}: {exc}; nothing was written", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; nothing was written", file=sys.stderr)
        return 130
    except GhibliError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
