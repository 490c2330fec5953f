"""The pack's ComfyUI nodes: thin translations between ComfyUI (widgets, IMAGE, folder_paths, progress)
and the `ghibli_core` engine. Each node module is imported on its own so one failure cannot take the
others down; the failure is logged with its cause. `images` needs no ComfyUI, so it is tested alone."""
from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

NODE_MODULES = ("planner", "loaders", "camera", "generate", "video", "blend", "save", "sound")


def node_classes() -> list[type]:
    """Every node class whose module imports and whose schema is valid; a failing one is logged and left out (ComfyUI
    checks schemas for the whole list at once, so one bad schema would otherwise take every node down)."""
    from . import host

    host.register_folders()
    classes: list[type] = []
    for name in NODE_MODULES:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except Exception:
            log.exception("Ghibli Animation: the %s nodes could not be loaded", name)
            continue
        for cls in module.NODES:
            try:
                check = getattr(cls, "GET_SCHEMA", None)
                if check is not None:
                    check()
            except Exception:
                log.exception("Ghibli Animation: the %s node is left out (its schema is invalid)", cls.__name__)
                continue
            classes.append(cls)
    return classes

