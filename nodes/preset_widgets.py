"""The Sequential Img2Img node's `preset` widget: which widgets a preset sets, and their values.

No ComfyUI import: the node, the HTTP route and the tests share it.
"""
from __future__ import annotations

from typing import Any

from ghibli_core.api import DEFAULT_PRESET, PRESETS, SETTINGS

#: Paint with the widgets as set; any other option is a preset name.
CUSTOM = "custom"
PRESET_OPTIONS = (*PRESETS, CUSTOM)
#: The widgets a preset sets (the canvas script fills them in when a preset is picked).
PRESET_WIDGETS = tuple(PRESETS[DEFAULT_PRESET].painting_values())
#: Widgets only some presets set (turbo's guidance), with the value they go back to under a preset that does not.
SOMETIMES_SET = {k: SETTINGS[k].default for p in PRESETS.values() for k in p.painting_values() if k not in PRESET_WIDGETS}


def preset_widget_values(name: str) -> dict[str, Any]:
    """The widget values the named preset sets ({} for custom)."""
    return {} if name == CUSTOM else PRESETS[name].painting_values()


def preset_table() -> dict[str, Any]:
    """What `GET /ghibli/presets` answers: {"default", "custom", "widgets", "presets": {name: {widget: value}}}."""
    return {"default": DEFAULT_PRESET, "custom": CUSTOM, "widgets": list(PRESET_WIDGETS), "resets": SOMETIMES_SET,
            "presets": {name: preset_widget_values(name) for name in PRESETS}}
