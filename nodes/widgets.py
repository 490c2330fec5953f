"""Widgets made from the engine's settings table: the default, range, choices and tooltip of a setting are defined once
(ghibli_core/registry.py) and the canvas shows what the command line and the jobs files take."""
from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ghibli_core.api import PRESETS, SETTINGS, DEFAULT_PRESET

#: Float widgets' step, where the default (0.01) is not what a user wants to drag by.
STEPS = {"guidance": 0.1, "controlnet_scale": 0.05, "color_coherence": 0.05, "color_match": 0.05, "reveal_boost": 0.05,
         "controlnet_end": 0.05, "cfg_end": 0.05, "sharpen_sigma": 0.1, "fov": 1.0, "near": 0.1, "far": 0.1}


def tooltip(name: str) -> str:
    """The setting's help as a sentence, with its unit."""
    s = SETTINGS[name]
    text = s.help[0].upper() + s.help[1:]
    return f"{text} ({s.unit})." if s.unit else f"{text}."


def default(name: str) -> Any:
    """The widget's default: the default preset's value for a preset-set setting, else the table's."""
    s = SETTINGS[name]
    value = getattr(PRESETS[DEFAULT_PRESET], name) if s.preset else None
    return s.default if value is None else value  # (guidance: set by some presets only)


def setting_input(name: str, **overrides: Any) -> io.Input:
    """The widget of setting `name` (its ComfyUI name may differ: `widget_name`); `overrides` go to the widget as they are."""
    s = SETTINGS[name]
    kw: dict[str, Any] = {"default": default(name), "tooltip": tooltip(name)}
    if s.kind in ("int", "float"):
        step = 1 if s.kind == "int" else STEPS.get(name, 0.01)
        kw.update(min=s.lo + step if s.lo_open else s.lo, max=s.hi)
        if s.kind == "float":
            kw["step"] = step
    kw.update(overrides)
    widget = s.widget_name
    if s.kind == "int":
        return io.Int.Input(widget, **kw)
    if s.kind == "float":
        return io.Float.Input(widget, **kw)
    if s.kind == "bool":
        return io.Boolean.Input(widget, **kw)
    if s.kind == "choice":
        return io.Combo.Input(widget, options=list(s.choices), **kw)
    if s.kind in ("schedule", "amount"):
        value = kw["default"]
        kw["default"] = "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return io.String.Input(widget, **kw)
