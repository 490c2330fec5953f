"""The V3 extension object ComfyUI asks `comfy_entrypoint()` for."""
from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io

from . import node_classes

log = logging.getLogger(__name__)


def _add_routes() -> None:
    try:
        from .routes import register_routes

        register_routes()
    except Exception:  # the nodes work without the route; only the canvas' preset filling needs it
        log.exception("Ghibli Animation: the /ghibli/presets route could not be added")


class GhibliExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        # ComfyUI 0.3.75 does not call on_load; the node list is asked for before the server adds its routes.
        _add_routes()
        return node_classes()
