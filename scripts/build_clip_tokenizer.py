"""Build the CLIP ViT-L/14 tokenizer files (vocab.json, merges.txt) that SD1.5 uses.

Why: single-file checkpoints must load offline, so the tokenizer ships inside
`ghibli_core/configs/sd15/tokenizer`. The files are derived from OpenAI CLIP's
BPE merge list (`bpe_simple_vocab_16e6.txt.gz`, shipped by the `open_clip_torch`
wheel), giving the same 49 408-token vocabulary as `openai/clip-vit-large-patch14`.

Usage: python scripts/build_clip_tokenizer.py BPE_GZ OUT_DIR
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

N_MERGES = 49152 - 256 - 2  # CLIP keeps this many merges (vocab = 2*256 bytes + merges + 2 specials)


def byte_alphabet() -> list[str]:
    """The 256 stand-in characters BPE uses for raw bytes, in CLIP's order: printable bytes
    (which stand for themselves) first, then the rest mapped to code points from 256 up."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + i) for i in range(len(others))]


def build(bpe_gz: Path, out_dir: Path) -> None:
    lines = gzip.open(bpe_gz, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1 : N_MERGES + 1]]
    alphabet = byte_alphabet()
    tokens = alphabet + [c + "</w>" for c in alphabet] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == 49408, len(tokens)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False), encoding="utf-8")
    (out_dir / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n", encoding="utf-8")


if __name__ == "__main__":
    build(Path(sys.argv[1]), Path(sys.argv[2]))
