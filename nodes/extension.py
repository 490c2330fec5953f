"""The V3 extension object ComfyUI asks `comfy_entrypoint()` for."""
from __future__ import annotations

from comfy_api.latest import ComfyExtension, io

from . import node_classes


class GhibliExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return node_classes()
