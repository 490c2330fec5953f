"""The pack's ComfyUI nodes: thin translations between ComfyUI (widgets, IMAGE, folder_paths, progress)
and the `ghibli_core` engine. Each node module is imported on its own so one failure cannot take the
others down; the failure is logged with its cause. `images` needs no ComfyUI, so it is tested alone."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

NODE_MODULES = ("planner", "loaders", "generate", "blend", "save")


def node_classes() -> list[type]:
    """Every node class whose module imports; a failing module is logged and left out."""
    from . import host

    host.register_folders()
    classes: list[type] = []
    for name in NODE_MODULES:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except Exception:
            log.exception("Ghibli Animation: the %s nodes could not be loaded", name)
            continue
        classes.extend(module.NODES)
    return classes

