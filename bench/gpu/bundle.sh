#!/usr/bin/env bash
# The Python packages a lent GPU machine lacks (it has Python 3.12 and torch, no numpy, OpenCV, diffusers or
# transformers, and no registry), unpacked into one archive to carry there:
#
#     bash bench/gpu/bundle.sh          # writes .gpu/site.tar.xz (ignored); then, with the device tool:
#     run(command="bash bench/gpu/run.sh", carry=[".gpu"], timeout_s=540)
#
# The versions are this checkout's, except OpenCV: 4.10's wheel keeps the carry under its 64 MiB limit, 5.0's does not.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
pkgs=(opencv-python-headless==4.10.0.84)
for name in numpy pillow diffusers transformers tokenizers safetensors huggingface_hub peft tqdm regex filelock fsspec \
            pyyaml packaging requests urllib3 idna certifi charset-normalizer typing_extensions pytest pluggy iniconfig; do
  pkgs+=("$name==$(version "$name")")
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp --abi cp312 --abi abi3 \
  --abi none --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform any -d "$tmp/wheels" "${pkgs[@]}"
for wheel in "$tmp"/wheels/*.whl; do
  "$PY" -c "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])" "$wheel" "$tmp/site"
done
# what the runs never import: the packages' own tests, type stubs, bytecode
find "$tmp/site" -depth \( -name "__pycache__" -o -name "tests" -o -name "*.pyi" \) -exec rm -rf {} +
mkdir -p .gpu
tar -C "$tmp/site" -cJf .gpu/site.tar.xz.tmp . && mv .gpu/site.tar.xz.tmp .gpu/site.tar.xz
du -h .gpu/site.tar.xz
