"""The V3 extension object ComfyUI asks `comfy_entrypoint()` for."""
from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

from . import node_classes

log = logging.getLogger(__name__)


def _hook_into_comfyui() -> None:
    """Routes, the Unload Models hook and one message per problem at queue time, each once; a failure is logged and
    the nodes still load."""
    try:
        from .routes import register_routes

        register_routes()
    except Exception:  # the nodes work without the routes; only the canvas' preset filling needs them
        log.exception("Ghibli Animation: the /ghibli routes could not be added")
    try:
        from .host import release_with_comfyui

        release_with_comfyui()
    except Exception:
        log.exception("Ghibli Animation: Unload Models will not release the pack's models")
    try:
        from .validation import one_message_per_problem

        one_message_per_problem()
    except Exception:  # the checks still run; ComfyUI then repeats each message under every input a node checks
        log.exception("Ghibli Animation: queue-time messages will be repeated under each input a node checks")


class GhibliExtension(ComfyExtension):
    async def on_load(self) -> None:
        """Called by ComfyUI 0.14 and later, before the node list."""
        _hook_into_comfyui()

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        # ComfyUI 0.3.75 does not call on_load; it asks for the node list before the server adds its routes.
        _hook_into_comfyui()
        return node_classes()
