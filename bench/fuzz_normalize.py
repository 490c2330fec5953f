"""Fuzz the reply normaliser with many random replies (outside the test suite).

Mutates corpus replies (cuts, splices, inserted brackets/quotes/labels/tokens) and random text, and
checks that every reply gives exactly N distinct, non-empty frames naming the Ghibli style.
Usage: python bench/fuzz_normalize.py [--count 100000] [--seed 0]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from ghibli_core.plan.normalize import normalize_reply  # noqa: E402
from test_normalize import CORPUS  # noqa: E402

PIECES = ["[", "]", "{", "}", '"', "'", "“", "”", ",", "\n", "1. ", "- ", "Frame 2: ", "**", "```", "```json\n", "<|im_end|>",
          "[INST]", "null", ":", "frames = ", '{"frames": ', "\\", "\x00", "…", "🌲", "I'm sorry"]


def mutate(rng: random.Random, text: str) -> str:
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        i = rng.randint(0, len(text))
        if op < 0.3:
            text = text[:i]
        elif op < 0.6:
            text = text[:i] + rng.choice(PIECES) + text[i:]
        elif op < 0.8:
            j = rng.randint(0, len(text))
            text = text[:min(i, j)] + text[max(i, j):]
        else:
            text = text + rng.choice(CORPUS)[0]
    return text


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    start, failures = time.perf_counter(), 0
    for k in range(args.count):
        if rng.random() < 0.15:
            reply = "".join(chr(rng.randint(1, 0x2FFF)) for _ in range(rng.randint(0, 80)))
        else:
            reply = mutate(rng, rng.choice(CORPUS)[0])
        n = rng.randint(1, 16)
        try:
            frames = normalize_reply(reply, "a ghibli forest", n).frames
            ok = len(frames) == n and len({f.lower() for f in frames}) == n and all(f.strip() and "ghibli" in f.lower() for f in frames)
        except Exception as exc:  # noqa: BLE001 - the point is that nothing raises
            ok, frames = False, [repr(exc)]
        if not ok:
            failures += 1
            if failures <= 5:
                print(f"FAIL n={n} reply={reply[:200]!r} -> {frames[:3]}")
        if (k + 1) % 20_000 == 0:
            print(f"{k + 1} inputs, {failures} failures, {time.perf_counter() - start:.0f}s", flush=True)
    print(f"done: {args.count} inputs, {failures} failures, {time.perf_counter() - start:.0f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
