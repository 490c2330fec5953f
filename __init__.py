"""Ghibli Animation for ComfyUI: one sentence to a hand-painted, Studio-Ghibli-style looping animation.

ComfyUI loads this file from custom_nodes/<pack>/ and calls `comfy_entrypoint()` (V3 nodes). The engine,
`ghibli_core`, lives beside it and never imports ComfyUI; it is used from here when it is not installed
(ComfyUI-Manager installs requirements.txt, not the pack itself).
"""
import importlib.util
import os
import sys

if importlib.util.find_spec("ghibli_core") is None:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

#: The canvas script (preset widgets follow the chosen preset); ComfyUI serves it to the front end.
WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes.extension import GhibliExtension

    return GhibliExtension()
