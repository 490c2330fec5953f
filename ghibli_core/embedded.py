"""Where metadata lives inside each animation format, in both directions.

Two kinds of entry are embedded:
- ours: one JSON object (plan, settings, schedule, metrics...) under `ghibli-anim`;
- ComfyUI's: `workflow` (the canvas graph) and `prompt` (the API graph), and any other `extra_pnginfo` key, each
  where ComfyUI's front end looks when a file is dropped on the canvas, so the graph that made it comes back:
  PNG/APNG text chunks; WebP the first EXIF IFD's ASCII entries `key:<json>` (0x0110 = prompt, 0x010F downwards for
  the rest, as ComfyUI's own SaveAnimatedWEBP); MP4 `udta/meta` keys (FFmpeg's `use_metadata_tags`); WebM Matroska
  SimpleTags named in capitals. GIF has no place the front end reads: a `NAME.json` sidecar carries the graph instead.

Everything here is about bytes in files; nothing imports ComfyUI.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any, Mapping

from PIL import Image, PngImagePlugin

from .comfy_client import is_api_graph
from .readers import VIDEO_EXTS

METADATA_KEY = "ghibli-anim"
XMP_NS = "https://github.com/ghibli-anim/ghibli-anim/ns/1.0/"
#: The keys `read_metadata` has always returned ComfyUI's graphs under (older files kept them inside our JSON).
WORKFLOW, API_PROMPT = "workflow", "comfyui_prompt"
_EXIF_PROMPT, _EXIF_FIRST_EXTRA = 0x0110, 0x010F  # ImageDescription-1 ... as ComfyUI numbers them
_SECRET_KEY = re.compile(r"(api[_-]?key|token|secret|password|authorization)", re.I)


def sanitize_metadata(value: Any) -> Any:
    """Drop secret-looking keys and replace the home folder in strings, recursively."""
    home = str(Path.home())
    if isinstance(value, dict):
        return {k: sanitize_metadata(v) for k, v in value.items() if not _SECRET_KEY.search(str(k))}
    if isinstance(value, (list, tuple)):
        return [sanitize_metadata(v) for v in value]
    if isinstance(value, str) and home not in ("", "/") and home in value:
        return value.replace(home, "~")
    return value


def ours_json(metadata: Mapping[str, Any]) -> str:
    return json.dumps(sanitize_metadata(dict(metadata)), ensure_ascii=False)


def comfy_entries(comfy: Mapping[str, Any] | None) -> dict[str, str]:
    """ComfyUI's entries as the JSON text it writes (ASCII escapes, as `json.dumps` does by default); None values dropped.

    Not sanitised: the graph must come back exactly as it was queued."""
    return {str(k): json.dumps(v) for k, v in (comfy or {}).items() if v is not None}


# --- writing ----------------------------------------------------------------------------------------------------
def xmp_packet(metadata: Mapping[str, Any]) -> bytes:
    """Our JSON inside a minimal XMP packet (WebP's metadata chunk)."""
    text = html.escape(ours_json(metadata), quote=False)
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description xmlns:ghibli="{XMP_NS}"><ghibli:metadata>{text}</ghibli:metadata>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode("utf-8")


def webp_exif(comfy: Mapping[str, Any] | None) -> Image.Exif | None:
    """ComfyUI's entries as EXIF ASCII tags `key:<json>`: prompt at 0x0110, the rest from 0x010F down."""
    entries = comfy_entries(comfy)
    if not entries:
        return None
    exif = Image.Exif()
    tag = _EXIF_FIRST_EXTRA
    for key, text in entries.items():
        if key == "prompt":
            exif[_EXIF_PROMPT] = f"prompt:{text}"
        else:
            exif[tag] = f"{key}:{text}"
            tag -= 1
    return exif


def png_info(metadata: Mapping[str, Any] | None, comfy: Mapping[str, Any] | None) -> PngImagePlugin.PngInfo:
    """PNG text chunks: ComfyUI's entries as tEXt (what ComfyUI writes), ours as one UTF-8 iTXt."""
    info = PngImagePlugin.PngInfo()
    for key, text in comfy_entries(comfy).items():
        info.add_text(key, text)
    if metadata:
        info.add_itxt(METADATA_KEY, ours_json(metadata))
    return info


def container_tags(metadata: Mapping[str, Any] | None, comfy: Mapping[str, Any] | None, *, upper: bool) -> dict[str, str]:
    """Container-level tags for MP4 (mdta keys, as given) and WebM (SimpleTags, in capitals as ComfyUI writes them)."""
    tags = {(k.upper() if upper else k): v for k, v in comfy_entries(comfy).items()}
    if metadata:
        tags["COMMENT" if upper else "comment"] = ours_json(metadata)
    return tags


def sidecar_path(animation: str | Path) -> Path:
    """The workflow written beside a GIF: `forest_00001_.gif` -> `forest_00001_.json` (drop it on the canvas)."""
    return Path(animation).with_suffix(".json")


def sidecar_graph(comfy: Mapping[str, Any] | None) -> Any | None:
    """What a sidecar holds: the canvas workflow, else the API prompt (the front end loads either from a .json)."""
    comfy = comfy or {}
    return comfy.get("workflow") if comfy.get("workflow") is not None else comfy.get("prompt")


# --- reading ----------------------------------------------------------------------------------------------------
def _json_or_none(raw: Any) -> Any:
    if raw is None:
        return None
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    try:
        return json.loads(text)
    except ValueError:
        return None


def _container_metadata(path: Path) -> dict[str, str]:
    import av

    with av.open(str(path)) as container:
        return {str(k).lower(): v for k, v in container.metadata.items()}


def _image_entries(path: Path) -> tuple[Any, dict[str, Any]]:
    """(our raw JSON, ComfyUI's entries) from a GIF / WebP / PNG."""
    with Image.open(path) as im:
        info = dict(im.info)
        exif = im.getexif() if im.format == "WEBP" else None
    ours = info.get("comment") or info.get(METADATA_KEY)
    xmp = info.get("xmp")
    if ours is None and xmp:
        found = re.search(r"<ghibli:metadata>(.*?)</ghibli:metadata>", xmp.decode("utf-8") if isinstance(xmp, bytes) else xmp, re.S)
        ours = html.unescape(found.group(1)) if found else None
    comfy: dict[str, Any] = {}
    if exif:
        for value in exif.values():  # the front end reads every ASCII entry as key:value
            if isinstance(value, str) and ":" in value:
                key, text = value.split(":", 1)
                comfy[key] = text
    for key in ("workflow", "prompt"):
        if isinstance(info.get(key), str):
            comfy[key] = info[key]
    return ours, comfy


def read_embedded(path: str | Path) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """(our metadata or None, ComfyUI's entries decoded: {'workflow': ..., 'prompt': ...}) from any format we write."""
    path = Path(path)
    if path.suffix.lower() in VIDEO_EXTS:
        tags = _container_metadata(path)
        ours_raw = tags.pop("comment", None)
        comfy_raw = {k: v for k, v in tags.items() if k in ("workflow", "prompt")}
    else:
        ours_raw, comfy_raw = _image_entries(path)
    ours = _json_or_none(ours_raw)
    comfy = {k: v for k, v in ((k, _json_or_none(raw)) for k, raw in comfy_raw.items()) if v is not None}
    if path.suffix.lower() == ".gif" and sidecar_path(path).is_file() and "workflow" not in comfy:
        graph = _json_or_none(sidecar_path(path).read_bytes())
        if isinstance(graph, dict):
            comfy["prompt" if graph and is_api_graph(graph) else "workflow"] = graph
    return (ours if isinstance(ours, dict) else None), comfy


def read_metadata(path: str | Path) -> dict[str, Any] | None:
    """The metadata embedded by `save_animation` / `write_png_frames` (files of every version), or None.

    ComfyUI's graphs come back under `workflow` and `comfyui_prompt`, where older files kept them inside our JSON."""
    ours, comfy = read_embedded(path)
    if ours is None and not comfy:
        return None
    merged = dict(ours or {})
    for ours_key, comfy_key in ((WORKFLOW, "workflow"), (API_PROMPT, "prompt")):
        if merged.get(ours_key) is None and comfy_key in comfy:
            merged[ours_key] = comfy[comfy_key]
    return merged
