#!/usr/bin/env bash
# What #30 measures on a GPU, as one run on a lent machine (carry .gpu, built by bench/gpu/bundle.sh):
#   1. the device paths' exactness: tests/test_camera.py and test_coherence.py, which then run on CUDA too;
#   2. the speed targets: balanced + camera against bare diffusers, and turbo, 32 output frames at 512²;
#   3. the engine's own time on the device (bench_engine: tiny models at 512², so only the engine's work is left).
# Results go to $OUT (the device tool brings them back). A dry run here, without the bundle or a GPU:
#     SITE=none PY=.venv/bin/python DEVICE=cpu SIZE=64 FRAMES=2 OUT=/tmp/gpu-dry bash bench/gpu/run.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-python3}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-512}
FRAMES=${FRAMES:-16}
OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT"
if [ "${SITE:-}" != none ]; then
  site=$(mktemp -d)
  tar -C "$site" -xJf .gpu/site.tar.xz
  export PYTHONPATH="$site:$PWD"
fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 GHIBLI_TINY_DIR=${GHIBLI_TINY_DIR:-$(mktemp -d)/tiny}
log() { echo "== $* ($(date +%T))" | tee -a "$OUT/run.log"; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"; } | tee "$OUT/gpu.txt"
"$PY" -c "import sys, torch, diffusers, transformers, cv2, numpy
print(sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'diffusers', diffusers.__version__,
      'transformers', transformers.__version__, 'cv2', cv2.__version__, 'numpy', numpy.__version__)" | tee -a "$OUT/gpu.txt"
log "1. device-path tests"
"$PY" -m pytest -q -p no:cacheprovider tests/test_camera.py tests/test_coherence.py 2>&1 | tail -15 | tee "$OUT/tests.txt"
log "2. bench_animate ($DEVICE, ${SIZE}², $FRAMES planned frames)"
"$PY" bench/bench_animate.py --device "$DEVICE" --size "$SIZE" --frames "$FRAMES" \
  --rows bare_diffusers,balanced,balanced+camera,balanced+camera+behind,turbo+tiny-vae \
  --json "$OUT/bench_animate_gpu.json" 2>&1 | grep -v "it/s" | tail -40 | tee "$OUT/bench_animate.txt"
log "3. bench_engine (${SIZE}², tiny models)"
"$PY" bench/bench_engine.py --size "$SIZE" --runs 2 --json "$OUT/bench_engine_gpu.json" 2>&1 | tail -12 | tee "$OUT/bench_engine.txt"
log "done"
