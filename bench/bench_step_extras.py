"""Two speed ideas measured before deciding on them, on SD1.5-size random weights (bench/random_sd15.py):

1. img2img from the previous frame's latents: what it could save is the VAE encode of each painted frame; timed here
   beside the decode and one UNet+ControlNet step, at 256² and 512².
2. token merging (tomesd, if installed: `pip install tomesd`): one guided UNet step with merging at ratio 0.5 against
   the same step without, at 256² and 512².

    .venv/bin/python bench/bench_step_extras.py --json bench/results/bench_step_extras_cpu.json

Each figure is the median of `--repeats` runs after a warm-up, in one process, fp32 unless `--dtype bf16`.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from random_sd15 import build_sd15  # noqa: E402


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="256,512", help="square sizes, comma-separated (default %(default)s)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dtype", choices=("fp32", "bf16"), default="fp32")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args(argv)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    pipe, controlnet = build_sd15()
    pipe.to(dtype=dtype)
    controlnet.to(dtype=dtype)
    unet, vae = pipe.unet, pipe.vae
    text = torch.randn(2, 77, 768, dtype=dtype)
    try:
        import tomesd
    except ImportError:
        tomesd = None
    rows = []
    with torch.inference_mode():
        for size in (int(s) for s in args.sizes.split(",")):
            image = torch.rand(1, 3, size, size, dtype=dtype) * 2 - 1
            latents = torch.randn(2, 4, size // 8, size // 8, dtype=dtype)
            control = torch.rand(2, 3, size, size, dtype=dtype)
            t = torch.tensor(500)

            def step():
                down, mid = controlnet(latents, t, encoder_hidden_states=text, controlnet_cond=control, return_dict=False)
                unet(latents, t, encoder_hidden_states=text, down_block_additional_residuals=down,
                     mid_block_additional_residual=mid, return_dict=False)

            row = {
                "size": size,
                "vae_encode_s": round(timed(lambda: vae.encode(image).latent_dist.mean, args.repeats), 3),
                "vae_decode_s": round(timed(lambda: vae.decode(latents[:1] / 0.18215, return_dict=False), args.repeats), 3),
                "guided_step_s": round(timed(step, args.repeats), 3),
            }
            if tomesd is not None:
                tomesd.apply_patch(pipe, ratio=0.5)
                row["guided_step_tome0.5_s"] = round(timed(step, args.repeats), 3)
                tomesd.remove_patch(pipe)
                row["tome_speedup"] = round(row["guided_step_s"] / row["guided_step_tome0.5_s"], 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"dtype": args.dtype, "threads": torch.get_num_threads(), "tomesd": tomesd is not None, "rows": rows}
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
