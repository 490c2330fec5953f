"""The pack's HTTP routes: `GET /ghibli/presets`, the preset values the canvas script fills widgets with, and
`GET /ghibli/models`, the models the pack holds in memory (released by Unload Models)."""
from __future__ import annotations

from .preset_widgets import preset_table

_registered = False


def register_routes() -> None:
    """Add the route to ComfyUI's server once (a no-op without a running server, e.g. in tests)."""
    global _registered
    try:
        from aiohttp import web
        from server import PromptServer
    except ImportError:
        return
    if _registered or getattr(PromptServer, "instance", None) is None:
        return

    @PromptServer.instance.routes.get("/ghibli/presets")
    async def presets(_request):
        return web.json_response(preset_table())

    @PromptServer.instance.routes.get("/ghibli/models")
    async def models(_request):
        from ghibli_core.api import HELD

        return web.json_response(HELD.summary())

    _registered = True
